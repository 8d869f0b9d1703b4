/**
 * A mesh PKI for tests, made by the control plane's own CA code: a trust anchor, an
 * issuer, and leaf certificates for any identity (expired or tampered ones too), as the
 * LocalIdentity a proxy's data plane uses.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { CertificateAuthority, createIssuer, createTrustAnchor } from '../../src/controlplane/identity/ca.js';
import { identityName } from '../../src/identity/names.js';
import type { LocalIdentity } from '../../src/proxy/identity/local.js';

export interface TestIdentity extends LocalIdentity {
  readonly chainPem: string;
  readonly keyPem: string;
  readonly anchorsPem: string;
}

export class TestPki {
  private constructor(
    readonly anchorPem: string,
    readonly ca: CertificateAuthority,
  ) {}

  static async create(): Promise<TestPki> {
    const anchor = await createTrustAnchor();
    const issuer = await createIssuer(anchor);
    const ca = await CertificateAuthority.create({
      trustAnchorsPem: anchor.certPem,
      issuerCertPem: issuer.certPem,
      issuerKeyPem: issuer.keyPem,
    });
    return new TestPki(anchor.certPem, ca);
  }

  /**
   * An identity for service account `sa` in `default`, as a proxy holds it. `anchorsPem`
   * is what it trusts (its own anchor by default); `tamper` flips a byte of the leaf's
   * signature; `notAfter` in the past makes an expired leaf.
   */
  async identity(
    sa: string,
    opts: { notBefore?: Date; notAfter?: Date; tamper?: boolean; anchorsPem?: string; name?: string } = {},
  ): Promise<TestIdentity> {
    const name = opts.name ?? identityName(sa, 'default');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const issued = await this.ca.issue(name, publicKey as KeyObject, {
      ...(opts.notBefore ? { notBefore: opts.notBefore } : {}),
      ...(opts.notAfter ? { notAfter: opts.notAfter } : {}),
    });
    let chainPem = issued.chainPem;
    if (opts.tamper) chainPem = tamperFirstCertificate(chainPem);
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const anchorsPem = opts.anchorsPem ?? this.anchorPem;
    return {
      name,
      chainPem,
      keyPem,
      anchorsPem,
      secureContext: createSecureContext({
        key: keyPem,
        cert: chainPem,
        ca: anchorsPem,
        minVersion: 'TLSv1.3',
      }),
    };
  }
}

/** Flips the last byte of the first certificate's DER (inside its signature). */
function tamperFirstCertificate(pem: string): string {
  const match = /-----BEGIN CERTIFICATE-----\n([\s\S]+?)\n-----END CERTIFICATE-----/.exec(pem);
  if (!match) throw new Error('no certificate to tamper with');
  const der = Buffer.from((match[1] as string).replace(/\s+/g, ''), 'base64');
  der[der.length - 1] = (der[der.length - 1] as number) ^ 0xff;
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return pem.replace(match[0], `-----BEGIN CERTIFICATE-----\n${b64.trim()}\n-----END CERTIFICATE-----`);
}
