import { createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContext } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { identityClient, unary } from '../../grpc/client.js';
import type { CertifyRequestMessage, CertifyResponseMessage } from '../../grpc/protos.js';
import { parseCertificates, signedBy } from '../../identity/x509.js';
import {
  CounterFamily,
  type CounterSeries,
  GaugeFamily,
  type GaugeSeries,
  type Registry,
} from '../../metrics/registry.js';
import type { Logger } from '../../util/log.js';
import { after } from '../../util/timer.js';
import { Backoff } from '../discovery/backoff.js';
import { buildCsr } from './csr.js';
import type { LocalIdentity } from './local.js';
import type { IdentitySettings } from './settings.js';

export interface IdentityClientOptions extends IdentitySettings {
  readonly registry: Registry;
  readonly log: Logger;
  /** Delays between failed attempts: jittered, doubling from `baseMs` (1 s) to `maxMs` (60 s). */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
  /** The deadline of one Certify call (10 s). */
  readonly callTimeoutMs?: number;
}

/** Why an attempt failed: the `reason` label of identity_cert_refresh_failures_total. */
export type FailureReason = 'token' | 'trust_anchors' | 'unavailable' | 'refused' | 'invalid_certificate';

/** The certificate in use. */
export interface CurrentCertificate {
  readonly leaf: X509Certificate;
  /** The leaf, then the intermediates. */
  readonly chainPem: string;
  /** The leaf's notAfter, in milliseconds since the Unix epoch. */
  readonly notAfterMs: number;
}

/** Renew when this fraction of the certificate's remaining lifetime has passed (as Linkerd does). */
const RENEW_AT = 0.7;
/** Never renew sooner than this after a success, whatever the CA hands out. */
const MIN_REFRESH_MS = 1000;
/** How far in the future a new certificate's notBefore may be (clock skew with the CA). */
const NOT_BEFORE_SKEW_MS = 60_000;

class CertifyError extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
    readonly grpc?: { code: string; details: string },
  ) {
    super(message);
  }
}

/**
 * This proxy's identity: an ECDSA P-256 key generated in memory at start, which never
 * leaves the process (it is never written, logged or sent; only its public half goes out,
 * in the CSR), and a certificate for it from the Identity API over TLS. The first
 * certificate settles `ready`; each one is renewed at 70% of its remaining lifetime, and
 * while the Identity API is away the current certificate stays in use and attempts repeat
 * with jittered backoff. One key serves the proxy's whole life, as in Linkerd.
 */
export class IdentityClient implements LocalIdentity {
  readonly name: string;
  /** Settles with the first certificate; rejects only if the client is closed before it. */
  readonly ready: Promise<void>;
  readonly #keyPem: string;
  readonly #spki: Buffer;
  readonly #csr: Buffer;
  #context: SecureContext | undefined;
  #current: CurrentCertificate | undefined;
  #anchorsPem: string | undefined;
  #anchors: X509Certificate[] = [];
  #client: grpc.Client | undefined;
  #next: { cancel(): void } | undefined;
  #expiry: { cancel(): void } | undefined;
  #closed = false;
  #started = false;
  #resolveReady: () => void = () => {};
  #rejectReady: (err: Error) => void = () => {};
  readonly #listeners = new Set<(identity: IdentityClient) => void>();
  readonly #backoff: Backoff;
  readonly #expiration: GaugeSeries;
  readonly #refreshes: CounterSeries;
  readonly #failures: CounterFamily;

  constructor(private readonly opts: IdentityClientOptions) {
    this.name = opts.name;
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    // node:tls takes the key as PEM, not as a KeyObject: this string stays in memory only.
    this.#keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    this.#spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
    // The CSR depends only on the key and the name, so one serves every renewal.
    this.#csr = buildCsr(opts.name, privateKey);
    this.#backoff = new Backoff(opts.backoff?.baseMs ?? 1000, opts.backoff?.maxMs ?? 60_000);
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {});
    const { registry } = opts;
    this.#expiration = registry
      .register(
        new GaugeFamily(
          'identity_cert_expiration_timestamp_seconds',
          "The current certificate's notAfter, in seconds since the Unix epoch",
        ),
      )
      .get([]);
    this.#refreshes = registry
      .register(
        new CounterFamily('identity_cert_refresh_count', 'Certificates obtained from the Identity API'),
      )
      .get([]);
    this.#failures = registry.register(
      new CounterFamily(
        'identity_cert_refresh_failures_total',
        'Failed attempts to get a certificate from the Identity API, by reason',
      ),
    );
  }

  /** Starts asking for a certificate; returns `ready`. */
  start(): Promise<void> {
    if (!this.#started && !this.#closed) {
      this.#started = true;
      void this.attempt();
    }
    return this.ready;
  }

  /** The TLS settings for new connections: the current chain and key, the trust anchors, TLS 1.3. */
  get secureContext(): SecureContext {
    if (!this.#context) throw new Error(`no certificate yet for ${this.name}`);
    return this.#context;
  }

  /** The certificate in use, once there is one. */
  get certificate(): CurrentCertificate | undefined {
    return this.#current;
  }

  /** The trust anchors (PEM) peers' certificates are checked against, once read. */
  get trustAnchorsPem(): string | undefined {
    return this.#anchorsPem;
  }

  /**
   * The current chain, private key and trust anchors as PEM, for a TLS server that takes
   * them as text (the tap server's gRPC credentials); undefined before the first
   * certificate. The key stays in this process.
   */
  tlsPems(): { certChainPem: string; keyPem: string; trustAnchorsPem: string } | undefined {
    const current = this.#current;
    const anchors = this.#anchorsPem;
    if (!current || anchors === undefined) return undefined;
    return { certChainPem: current.chainPem, keyPem: this.#keyPem, trustAnchorsPem: anchors };
  }

  /** Calls `listener` after each new certificate (the first included); returns the unsubscriber. */
  onChange(listener: (identity: IdentityClient) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#next?.cancel();
    this.#expiry?.cancel();
    this.#client?.close();
    this.#rejectReady(new Error(`the identity client for ${this.name} was closed`));
  }

  private async attempt(): Promise<void> {
    let delay: number;
    try {
      const notAfterMs = await this.certify();
      if (this.#closed) return;
      this.#backoff.reset();
      delay = Math.max(MIN_REFRESH_MS, RENEW_AT * (notAfterMs - Date.now()));
    } catch (err) {
      if (this.#closed) return;
      delay = this.#backoff.next();
      this.recordFailure(err, delay);
    }
    this.#next = after(delay, () => void this.attempt());
  }

  private recordFailure(err: unknown, retryInMs: number): void {
    const e =
      err instanceof CertifyError
        ? err
        : new CertifyError('invalid_certificate', (err as Error).message ?? String(err));
    this.#failures.get([['reason', e.reason]]).inc();
    const fields = {
      identity: this.name,
      reason: e.reason,
      error: e.message,
      ...(e.grpc ? { code: e.grpc.code, details: e.grpc.details } : {}),
      retryInMs: Math.round(retryInMs),
    };
    if (this.#current) {
      this.opts.log.warn(
        { ...fields, currentExpires: new Date(this.#current.notAfterMs).toISOString() },
        'certificate renewal failed; the current certificate stays in use',
      );
    } else {
      this.opts.log.warn(fields, 'no certificate yet: cannot get one from the identity service');
    }
  }

  /** One request for a certificate; installs it and returns its notAfter, or throws a CertifyError. */
  private async certify(): Promise<number> {
    const client = await this.grpcClient();
    let token: Buffer;
    try {
      token = await readFile(this.opts.tokenFile);
    } catch (err) {
      throw new CertifyError(
        'token',
        `cannot read the token file ${this.opts.tokenFile}: ${errnoMessage(err)}`,
      );
    }
    if (token.length === 0) throw new CertifyError('token', `the token file ${this.opts.tokenFile} is empty`);
    let res: CertifyResponseMessage;
    try {
      res = await unary<CertifyRequestMessage, CertifyResponseMessage>(
        client,
        'certify',
        { identity: this.name, token, certificateSigningRequest: this.#csr },
        this.opts.callTimeoutMs ?? 10_000,
      );
    } catch (err) {
      const e = err as grpc.ServiceError;
      const code = grpc.status[e.code] ?? String(e.code);
      const away = e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED;
      throw new CertifyError(
        away ? 'unavailable' : 'refused',
        away ? 'the identity service is unreachable' : 'the identity service refused the request',
        { code, details: e.details },
      );
    }
    if (this.#closed) return 0;
    const current = this.check(res);
    this.install(current);
    return current.notAfterMs;
  }

  /** The gRPC client, made once the trust anchors have been read (retried until they are). */
  private async grpcClient(): Promise<grpc.Client> {
    if (this.#client) return this.#client;
    const file = this.opts.trustAnchorsFile;
    let pem: string;
    try {
      pem = await readFile(file, 'utf8');
    } catch (err) {
      throw new CertifyError(
        'trust_anchors',
        `cannot read the trust anchors file ${file}: ${errnoMessage(err)}`,
      );
    }
    let anchors: X509Certificate[];
    try {
      anchors = parseCertificates(pem, `the trust anchors file ${file}`);
    } catch (err) {
      throw new CertifyError('trust_anchors', (err as Error).message);
    }
    this.#anchors = anchors;
    this.#anchorsPem = anchors.map((a) => a.toString()).join('');
    this.#client = identityClient(this.opts.addr, this.#anchorsPem, this.opts.serverName);
    return this.#client;
  }

  /**
   * Checks an answer: the leaf names exactly our identity, carries our public key, is valid
   * now, and chains through the intermediates to one of the trust anchors.
   */
  private check(res: CertifyResponseMessage): CurrentCertificate {
    const bad = (why: string): CertifyError =>
      new CertifyError('invalid_certificate', `the identity service's certificate ${why}`);
    let leaf: X509Certificate;
    let intermediates: X509Certificate[];
    try {
      leaf = new X509Certificate(res.leafCertificate);
      intermediates = res.intermediateCertificates.map((d) => new X509Certificate(d));
    } catch (err) {
      throw bad(`cannot be parsed: ${(err as Error).message}`);
    }
    if (leaf.subjectAltName !== `DNS:${this.name}`) {
      throw bad(`names ${JSON.stringify(leaf.subjectAltName ?? '')}, not exactly DNS:${this.name}`);
    }
    if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(this.#spki)) {
      throw bad("is not for this proxy's key");
    }
    if (leaf.ca) throw bad('is a CA certificate');
    const now = Date.now();
    const chain = [leaf, ...intermediates];
    for (const c of chain) {
      if (Date.parse(c.validFrom) > now + NOT_BEFORE_SKEW_MS)
        throw bad(`chain has ${c.subject} not valid before ${c.validFrom}`);
      if (Date.parse(c.validTo) <= now) throw bad(`chain has ${c.subject} expired at ${c.validTo}`);
    }
    for (let i = 0; i + 1 < chain.length; i++) {
      const child = chain[i] as X509Certificate;
      const parent = chain[i + 1] as X509Certificate;
      if (!parent.ca || !signedBy(child, parent))
        throw bad(`chain is broken: ${child.subject} is not signed by CA ${parent.subject}`);
    }
    const top = chain[chain.length - 1] as X509Certificate;
    if (!this.#anchors.some((a) => signedBy(top, a))) throw bad('does not chain to a trust anchor');
    return {
      leaf,
      chainPem: chain.map((c) => c.toString()).join(''),
      notAfterMs: Date.parse(leaf.validTo),
    };
  }

  private install(current: CurrentCertificate): void {
    this.#context = createSecureContext({
      key: this.#keyPem,
      cert: current.chainPem,
      ca: this.#anchorsPem,
      minVersion: 'TLSv1.3',
    });
    const previous = this.#current;
    this.#current = current;
    this.#expiration.set(Math.floor(current.notAfterMs / 1000));
    this.#refreshes.inc();
    this.#expiry?.cancel();
    this.#expiry = after(current.notAfterMs - Date.now(), () => {
      if (this.#current !== current || this.#closed) return;
      this.opts.log.error(
        { identity: this.name, expired: new Date(current.notAfterMs).toISOString() },
        'the certificate expired before it could be renewed: peers will refuse it',
      );
    });
    this.opts.log.info(
      {
        identity: this.name,
        expires: new Date(current.notAfterMs).toISOString(),
        serial: current.leaf.serialNumber,
        ...(previous ? {} : { first: true }),
      },
      'certificate issued',
    );
    this.#resolveReady();
    for (const listener of this.#listeners) listener(this);
  }
}

function errnoMessage(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file';
  if (e.code === 'EACCES') return 'permission denied';
  return e.message ?? String(err);
}
