/**
 * The mesh's certificate authority: a trust anchor signs an issuer, which signs short-lived
 * ECDSA P-256 leaf certificates for proxies. Loaded only by the control plane and the CLI
 * (`@peculiar/x509` and its polyfill cost megabytes of memory): never import this from the
 * proxy.
 */
import 'reflect-metadata';
import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  X509Certificate as NodeCertificate,
  randomBytes,
  webcrypto,
} from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { CONTROL_PLANE_NAMESPACE, DEFAULT_TRUST_DOMAIN } from '../../identity/names.js';
import { type PemBlock, pemBlocks, toPem } from '../../identity/pem.js';
import { signedBy } from '../../identity/x509.js';

export { type PemBlock, pemBlocks, toPem };

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const HOUR = 3600_000;
const DAY = 24 * HOUR;
export const ANCHOR_LIFETIME_MS = 3650 * DAY;
export const ISSUER_LIFETIME_MS = 365 * DAY;
export const DEFAULT_ISSUANCE_LIFETIME_MS = DAY;
export const DEFAULT_CLOCK_SKEW_MS = 20_000;

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** Which of the CA's inputs a problem is in. */
export type CredentialPart = 'trust-anchors' | 'issuer-certificate' | 'issuer-key';

const PART_LABEL: Record<CredentialPart, string> = {
  'trust-anchors': 'trust anchors',
  'issuer-certificate': 'issuer certificate',
  'issuer-key': 'issuer key',
};

/** A refused trust anchor, issuer certificate or issuer key: `problem` says what is wrong. */
export class CredentialError extends Error {
  constructor(
    readonly part: CredentialPart,
    readonly problem: string,
  ) {
    super(`${PART_LABEL[part]}: ${problem}`);
    this.name = 'CredentialError';
  }
}

/** Why a CSR is refused; `reason` is a short label for metrics. */
export class CsrError extends Error {
  constructor(
    readonly reason: 'csr_malformed' | 'csr_signature' | 'csr_key' | 'csr_names',
    message: string,
  ) {
    super(message);
    this.name = 'CsrError';
  }
}

// ---------------------------------------------------------------------------------------
// Certificates and keys

/** A certificate as both libraries see it: node:crypto verifies, @peculiar/x509 reads extensions. */
interface Cert {
  readonly der: Buffer;
  readonly pem: string;
  readonly node: NodeCertificate;
  readonly x: x509.X509Certificate;
}

function parseCert(der: Buffer): Cert {
  const node = new NodeCertificate(der);
  const x = new x509.X509Certificate(new Uint8Array(der));
  return { der: node.raw, pem: toPem('CERTIFICATE', node.raw), node, x };
}

const describe = (c: Cert): string => `"${c.x.subject}"`;

/** What is wrong with a certificate meant to sign others, at `now`, or undefined. */
function caProblem(c: Cert, now: number): string | undefined {
  if (now < c.x.notBefore.getTime()) {
    return `certificate ${describe(c)} is not valid yet (notBefore ${c.x.notBefore.toISOString()})`;
  }
  if (now > c.x.notAfter.getTime()) {
    return `certificate ${describe(c)} expired on ${c.x.notAfter.toISOString()}`;
  }
  const bc = c.x.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) {
    return `certificate ${describe(c)} is not a CA (its basicConstraints extension ${bc ? 'says CA:FALSE' : 'is missing'})`;
  }
  const ku = c.x.getExtension(x509.KeyUsagesExtension);
  if (ku && (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    return `certificate ${describe(c)} may not sign certificates (its keyUsage lacks keyCertSign)`;
  }
  return undefined;
}

function certificates(part: CredentialPart, text: string): Cert[] {
  const blocks = pemBlocks(text);
  if (blocks.length === 0)
    throw new CredentialError(part, 'not a PEM file (no -----BEGIN CERTIFICATE----- block)');
  const certs: Cert[] = [];
  for (const [i, b] of blocks.entries()) {
    if (b.label !== 'CERTIFICATE') {
      throw new CredentialError(
        part,
        `block ${i + 1} is a ${b.label}, not a CERTIFICATE (this file must hold certificates only)`,
      );
    }
    try {
      certs.push(parseCert(b.der));
    } catch (err) {
      throw new CredentialError(
        part,
        `block ${i + 1} is not a valid X.509 certificate (${(err as Error).message})`,
      );
    }
  }
  return certs;
}

const isP256 = (k: KeyObject): boolean =>
  k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1';

const keyDescription = (k: KeyObject): string =>
  k.asymmetricKeyType === 'ec'
    ? `an EC ${k.asymmetricKeyDetails?.namedCurve ?? ''} key`
    : `an ${(k.asymmetricKeyType ?? 'unknown').toUpperCase()} key`;

/** Reads an unencrypted private key: PKCS#8 ("PRIVATE KEY"), SEC1 ("EC PRIVATE KEY") or PKCS#1. */
export function parsePrivateKey(text: string, part: CredentialPart = 'issuer-key'): KeyObject {
  const blocks = pemBlocks(text).filter((b) => b.label !== 'EC PARAMETERS');
  if (blocks.length === 0)
    throw new CredentialError(part, 'not a PEM file (no -----BEGIN ... PRIVATE KEY----- block)');
  const keys = blocks.filter((b) => b.label.endsWith('PRIVATE KEY'));
  if (keys.length === 0) {
    throw new CredentialError(part, `holds no private key (found ${blocks.map((b) => b.label).join(', ')})`);
  }
  if (keys.length > 1) throw new CredentialError(part, `holds ${keys.length} private keys; give one`);
  const block = keys[0] as PemBlock;
  if (block.label === 'ENCRYPTED PRIVATE KEY' || /ENCRYPTED/.test(block.headers)) {
    throw new CredentialError(
      part,
      'the key is encrypted; weft needs it unencrypted (for example `openssl pkey -in KEY -out PLAIN`, or `step crypto change-pass KEY --no-password --insecure`)',
    );
  }
  try {
    return createPrivateKey({ key: block.pem, format: 'pem' });
  } catch (err) {
    throw new CredentialError(part, `the ${block.label} cannot be read (${(err as Error).message})`);
  }
}

async function signingKey(key: KeyObject): Promise<CryptoKey> {
  const der = key.export({ type: 'pkcs8', format: 'der' });
  return (await webcrypto.subtle.importKey('pkcs8', der, EC_P256, false, ['sign'])) as CryptoKey;
}

async function newKeyPair(): Promise<{ keys: CryptoKeyPair; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as webcrypto.CryptoKey);
  return { keys, keyPem: toPem('PRIVATE KEY', new Uint8Array(pkcs8)) };
}

/** A random positive 16-byte serial number, as hex. */
function serialNumber(): string {
  const b = randomBytes(16);
  b[0] = ((b[0] as number) & 0x7f) | 0x01;
  return b.toString('hex');
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

export function isDnsName(name: string): boolean {
  return DNS_NAME.test(name);
}

function checkTrustDomain(trustDomain: string): void {
  if (!isDnsName(trustDomain)) throw new Error(`trust domain "${trustDomain}" is not a DNS domain`);
}

const CA_USAGES = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

export interface CaCertOptions {
  trustDomain?: string;
  lifetimeMs?: number;
  notBefore?: Date;
}

/** A new self-signed trust anchor (10 years by default), CN root.weft.<trust domain>. */
export async function createTrustAnchor(
  opts: CaCertOptions = {},
): Promise<{ certPem: string; keyPem: string }> {
  const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  checkTrustDomain(trustDomain);
  const notBefore = opts.notBefore ?? new Date(Date.now() - DEFAULT_CLOCK_SKEW_MS);
  const { keys, keyPem } = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: [{ CN: [`root.${CONTROL_PLANE_NAMESPACE}.${trustDomain}`] }],
    notBefore,
    notAfter: new Date(notBefore.getTime() + (opts.lifetimeMs ?? ANCHOR_LIFETIME_MS)),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(CA_USAGES, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: toPem('CERTIFICATE', new Uint8Array(cert.rawData)), keyPem };
}

/** A new issuer (1 year by default, never past the anchor), CN identity.weft.<trust domain>, pathLen 0. */
export async function createIssuer(
  anchor: { certPem: string; keyPem: string },
  opts: CaCertOptions = {},
): Promise<{ certPem: string; keyPem: string }> {
  const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  checkTrustDomain(trustDomain);
  const anchorCerts = certificates('trust-anchors', anchor.certPem);
  const anchorCert = anchorCerts[0] as Cert;
  const anchorKey = parsePrivateKey(anchor.keyPem, 'trust-anchors');
  if (!isP256(anchorKey))
    throw new CredentialError(
      'trust-anchors',
      `the anchor's key is ${keyDescription(anchorKey)}, not EC P-256`,
    );
  if (!anchorCert.node.checkPrivateKey(anchorKey)) {
    throw new CredentialError('trust-anchors', 'the key does not match the anchor certificate');
  }
  const notBefore = opts.notBefore ?? new Date(Date.now() - DEFAULT_CLOCK_SKEW_MS);
  const notAfter = Math.min(
    notBefore.getTime() + (opts.lifetimeMs ?? ISSUER_LIFETIME_MS),
    anchorCert.x.notAfter.getTime(),
  );
  const { keys, keyPem } = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: [{ CN: [`identity.${CONTROL_PLANE_NAMESPACE}.${trustDomain}`] }],
    issuer: anchorCert.x.subjectName,
    notBefore,
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: await signingKey(anchorKey),
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(CA_USAGES, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await authorityKeyId(anchorCert),
    ],
  });
  return { certPem: toPem('CERTIFICATE', new Uint8Array(cert.rawData)), keyPem };
}

/** The AKI for certificates `issuer` signs: its own SKI when it has one. */
async function authorityKeyId(issuer: Cert): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = issuer.x.getExtension(x509.SubjectKeyIdentifierExtension);
  return ski
    ? new x509.AuthorityKeyIdentifierExtension(ski.keyId)
    : x509.AuthorityKeyIdentifierExtension.create(issuer.x.publicKey);
}

// ---------------------------------------------------------------------------------------
// The CA

export interface CertificateAuthorityOptions {
  /** PEM bundle: one or more trust anchors. */
  trustAnchorsPem: string;
  /** PEM: the issuer, optionally followed by the intermediates between it and an anchor. */
  issuerCertPem: string;
  /** PEM: the issuer's unencrypted EC P-256 key (PKCS#8 or SEC1). */
  issuerKeyPem: string;
  /** How long leaf certificates live (24 h). */
  issuanceLifetimeMs?: number;
  /** How far back a leaf's notBefore goes, for peers whose clocks are behind (20 s). */
  clockSkewMs?: number;
  trustDomain?: string;
}

export interface IssuedCertificate {
  leafPem: string;
  /** The leaf, then the issuer (and any intermediates above it). */
  chainPem: string;
  validUntil: Date;
}

/**
 * Signs leaf certificates with a validated issuer. `create` refuses credentials that cannot
 * work: anything expired or not yet valid, an issuer or anchor that is not a CA, a key that
 * is not the issuer certificate's or is not EC P-256, an issuer that no anchor signed.
 */
export class CertificateAuthority {
  private constructor(
    readonly trustAnchorsPem: string,
    /** The issuer and any intermediates, as served after a leaf. */
    readonly issuerChainPem: string,
    private readonly issuer: Cert,
    private readonly intermediates: readonly Cert[],
    private readonly key: CryptoKey,
    private readonly aki: x509.AuthorityKeyIdentifierExtension,
    readonly issuanceLifetimeMs: number,
    readonly clockSkewMs: number,
    readonly trustDomain: string,
  ) {}

  static async create(opts: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    checkTrustDomain(trustDomain);
    const now = Date.now();
    const anchors = certificates('trust-anchors', opts.trustAnchorsPem);
    for (const [i, a] of anchors.entries()) {
      const p = caProblem(a, now);
      if (p) throw new CredentialError('trust-anchors', anchors.length > 1 ? `anchor ${i + 1}: ${p}` : p);
    }
    const chain = certificates('issuer-certificate', opts.issuerCertPem);
    for (const c of chain) {
      const p = caProblem(c, now);
      if (p) throw new CredentialError('issuer-certificate', p);
    }
    const issuer = chain[0] as Cert;
    const key = parsePrivateKey(opts.issuerKeyPem, 'issuer-key');
    if (!isP256(key)) {
      throw new CredentialError(
        'issuer-key',
        `the key is ${keyDescription(key)}; the issuer needs an ECDSA P-256 key (step: --kty EC --crv P-256; openssl: -newkey ec -pkeyopt ec_paramgen_curve:P-256)`,
      );
    }
    if (!issuer.node.checkPrivateKey(key)) {
      throw new CredentialError(
        'issuer-key',
        `the key does not match the issuer certificate ${describe(issuer)}`,
      );
    }
    // Each certificate of the issuer file is signed by the next; the last by an anchor.
    for (let i = 0; i + 1 < chain.length; i++) {
      const child = chain[i] as Cert;
      const parent = chain[i + 1] as Cert;
      if (!signedBy(child.node, parent.node)) {
        throw new CredentialError(
          'issuer-certificate',
          `certificate ${describe(child)} is not signed by the next one in the file, ${describe(parent)}`,
        );
      }
    }
    const top = chain[chain.length - 1] as Cert;
    const isAnchor = (c: Cert): boolean => anchors.some((a) => a.der.equals(c.der));
    if (!anchors.some((a) => signedBy(top.node, a.node))) {
      const names = anchors.map(describe).join(', ');
      throw new CredentialError(
        'issuer-certificate',
        `${describe(top)} is not signed by any of the trust anchors (${names})`,
      );
    }
    // Served after the leaf: the issuer and what is above it, without the anchor itself.
    const intermediates = chain.filter((c, i) => i === 0 || !isAnchor(c));
    return new CertificateAuthority(
      anchors.map((a) => a.pem).join(''),
      intermediates.map((c) => c.pem).join(''),
      issuer,
      intermediates,
      await signingKey(key),
      await authorityKeyId(issuer),
      opts.issuanceLifetimeMs ?? DEFAULT_ISSUANCE_LIFETIME_MS,
      opts.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS,
      trustDomain,
    );
  }

  /** The issuer's own notAfter: no leaf lives past it. */
  get issuerNotAfter(): Date {
    return this.issuer.x.notAfter;
  }

  get issuerCertPem(): string {
    return this.issuer.pem;
  }

  /**
   * Issues a leaf certificate for `identity` (its CN and only DNS name) to `publicKey`:
   * from now − clock skew to now + issuance lifetime unless given, never past the issuer.
   */
  async issue(
    identity: string,
    publicKey: KeyObject,
    opts: { notBefore?: Date; notAfter?: Date } = {},
  ): Promise<IssuedCertificate> {
    if (!isDnsName(identity)) throw new Error(`"${identity.slice(0, 100)}" is not a DNS name`);
    const now = Date.now();
    const notBefore = opts.notBefore ?? new Date(now - this.clockSkewMs);
    const notAfter = new Date(
      Math.min(
        (opts.notAfter ?? new Date(now + this.issuanceLifetimeMs)).getTime(),
        this.issuer.x.notAfter.getTime(),
      ),
    );
    if (notAfter.getTime() <= notBefore.getTime()) {
      throw new Error(
        `cannot issue a certificate valid from ${notBefore.toISOString()} to ${notAfter.toISOString()} (the issuer expires ${this.issuer.x.notAfter.toISOString()})`,
      );
    }
    const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: [{ CN: [identity] }],
      issuer: this.issuer.x.subjectName,
      notBefore,
      notAfter,
      publicKey: spki,
      signingKey: this.key,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        await x509.SubjectKeyIdentifierExtension.create(spki),
        this.aki,
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: identity }]),
      ],
    });
    const leafPem = toPem('CERTIFICATE', new Uint8Array(cert.rawData));
    // X.509 times have a one-second resolution.
    return { leafPem, chainPem: leafPem + this.issuerChainPem, validUntil: cert.notAfter };
  }

  /**
   * Checks a DER PKCS#10 request (an ECDSA P-256 key, a valid self-signature, `identity` as
   * its only DNS name and no other names, its CN absent or `identity`) and issues its leaf.
   */
  async sign(
    csrDer: Buffer,
    identity: string,
  ): Promise<{ leafDer: Buffer; intermediatesDer: Buffer[]; validUntil: Date }> {
    const publicKey = await checkCsr(csrDer, identity);
    const issued = await this.issue(identity, publicKey);
    return {
      leafDer: (pemBlocks(issued.leafPem)[0] as PemBlock).der,
      intermediatesDer: this.intermediates.map((c) => c.der),
      validUntil: issued.validUntil,
    };
  }
}

const SAN_OID = '2.5.29.17';
const CN_OID = '2.5.4.3';

/** Validates a CSR for `identity`; returns its public key. */
export async function checkCsr(csrDer: Buffer, identity: string): Promise<KeyObject> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(new Uint8Array(csrDer));
  } catch (err) {
    throw new CsrError('csr_malformed', `the CSR is not a DER PKCS#10 request (${(err as Error).message})`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  } catch (err) {
    throw new CsrError('csr_malformed', `the CSR's public key cannot be read (${(err as Error).message})`);
  }
  if (!isP256(key))
    throw new CsrError('csr_key', `the CSR's key is ${keyDescription(key)}; it must be ECDSA P-256`);
  let valid = false;
  try {
    valid = await csr.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new CsrError('csr_signature', "the CSR's signature does not verify with its key");
  const cns: string[] = [];
  for (const rdn of csr.subjectName.toJSON()) {
    for (const [type, values] of Object.entries(rdn)) {
      if (type === 'CN' || type === CN_OID) cns.push(...values);
    }
  }
  if (cns.some((cn) => cn !== identity)) {
    throw new CsrError(
      'csr_names',
      `the CSR's common name "${cns.join(', ').slice(0, 260)}" is not "${identity}"`,
    );
  }
  const sans = csr.extensions.filter((e) => e.type === SAN_OID);
  const names: Array<{ type: string; value: string }> = [];
  for (const e of sans) {
    const san = new x509.SubjectAlternativeNameExtension(e.rawData);
    names.push(...san.names.toJSON());
  }
  const others = names.filter((n) => n.type !== 'dns');
  if (others.length > 0) {
    throw new CsrError(
      'csr_names',
      `the CSR has names other than DNS names (${[...new Set(others.map((n) => n.type))].join(', ')})`,
    );
  }
  const dns = names.map((n) => n.value);
  if (dns.length !== 1 || dns[0] !== identity) {
    throw new CsrError(
      'csr_names',
      `the CSR's DNS names must be exactly ["${identity}"], not ${JSON.stringify(dns).slice(0, 300)}`,
    );
  }
  return key;
}
