/**
 * viz's tap identity (`tap.weft-viz.serviceaccount.identity.weft.<trust domain>`): the one
 * client the proxies' tap servers answer. Its key is generated in memory and never written
 * anywhere; its certificate comes straight from the control plane's CA and is renewed
 * before it expires.
 */
import { generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import type { CertificateAuthority } from '../../controlplane/identity/ca.js';
import { CONTROL_PLANE_NAMESPACE, tapIdentityName } from '../../identity/names.js';
import type { Logger } from '../../util/log.js';
import { after } from '../../util/timer.js';
import type { TapCredentials } from './client.js';

export interface TapIdentityOptions {
  readonly log?: Logger;
}

/** Renew when this fraction of the certificate's remaining lifetime has passed (as the proxy does). */
const RENEW_AT = 0.7;
/** Never renew sooner than this after an issuance. */
const MIN_RENEW_MS = 500;
/** The first retry after a failed issuance, doubling up to MAX_RETRY_MS. */
const RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;

/** The certificate in use and when it expires. */
interface Issued {
  readonly credentials: TapCredentials;
  readonly serialNumber: string;
  readonly notAfter: Date;
}

export class TapIdentity {
  /** The identity on the certificate. */
  readonly name: string;
  readonly #keyPem: string;
  readonly #publicKey: KeyObject;
  #issued: Issued;
  #timer: { cancel(): void } | undefined;
  #closed = false;
  #failures = 0;
  readonly #listeners = new Set<(identity: TapIdentity) => void>();

  private constructor(
    private readonly ca: CertificateAuthority,
    private readonly opts: TapIdentityOptions,
    key: { keyPem: string; publicKey: KeyObject },
    name: string,
    first: Issued,
  ) {
    this.name = name;
    this.#keyPem = key.keyPem;
    this.#publicKey = key.publicKey;
    this.#issued = first;
    this.schedule(this.renewDelay(first));
  }

  /** Generates the key, gets the first certificate from `ca`, and keeps it renewed. */
  static async start(ca: CertificateAuthority, opts: TapIdentityOptions = {}): Promise<TapIdentity> {
    const name = tapIdentityName({
      trustDomain: ca.trustDomain,
      controlPlaneNamespace: CONTROL_PLANE_NAMESPACE,
    });
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    // node:tls takes the key as PEM: this string stays in memory only.
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const first = await issue(ca, name, publicKey, keyPem);
    return new TapIdentity(ca, opts, { keyPem, publicKey }, name, first);
  }

  /** The current certificate chain, its key and the trust anchors. */
  get current(): TapCredentials {
    return this.#issued.credentials;
  }

  /** The current certificate's notAfter. */
  get notAfter(): Date {
    return this.#issued.notAfter;
  }

  /** The current certificate's serial number (hex). */
  get serialNumber(): string {
    return this.#issued.serialNumber;
  }

  /** Calls `listener` after each renewal; returns the unsubscriber. */
  onRenew(listener: (identity: TapIdentity) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops renewing. */
  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
  }

  private renewDelay(issued: Issued): number {
    const lifetime = issued.notAfter.getTime() - Date.now();
    return Math.max(MIN_RENEW_MS, RENEW_AT * lifetime);
  }

  private schedule(ms: number): void {
    if (this.#closed) return;
    this.#timer = after(ms, () => void this.renew());
  }

  private async renew(): Promise<void> {
    if (this.#closed) return;
    try {
      const issued = await issue(this.ca, this.name, this.#publicKey, this.#keyPem);
      if (this.#closed) return;
      this.#issued = issued;
      this.#failures = 0;
      this.opts.log?.debug(
        { identity: this.name, expires: issued.notAfter.toISOString() },
        'tap certificate renewed',
      );
      this.schedule(this.renewDelay(issued));
      for (const l of this.#listeners) l(this);
    } catch (err) {
      const retry = Math.min(MAX_RETRY_MS, RETRY_MS * 2 ** this.#failures++);
      this.opts.log?.warn(
        { identity: this.name, error: (err as Error).message, retryInMs: retry },
        'tap certificate renewal failed; the current one stays in use',
      );
      this.schedule(retry);
    }
  }
}

async function issue(
  ca: CertificateAuthority,
  name: string,
  publicKey: KeyObject,
  keyPem: string,
): Promise<Issued> {
  const issued = await ca.issue(name, publicKey);
  const leaf = new X509Certificate(issued.leafPem);
  return {
    credentials: { certChainPem: issued.chainPem, keyPem, trustAnchorsPem: ca.trustAnchorsPem },
    serialNumber: leaf.serialNumber,
    notAfter: issued.validUntil,
  };
}
