/**
 * The tap server: `weft.tap.v1.Tap` on the proxy's tap port, over mutual TLS with the
 * proxy's current certificate, answering one client identity (viz's tap identity). Loaded
 * only by a proxy that has an identity.
 */
import * as grpc from '@grpc/grpc-js';
import { type ObserveRequestMessage, serviceConstructor, type TapEventMessage } from '../../grpc/protos.js';
import { DEFAULT_DOMAIN, type TrustDomain } from '../../identity/names.js';
import { certificateIdentity, dnsNames } from '../../identity/x509.js';
import {
  CounterFamily,
  type CounterSeries,
  GaugeFamily,
  type GaugeSeries,
  type Registry,
} from '../../metrics/registry.js';
import { formatHostPort, type HostPort } from '../../util/addr.js';
import type { Logger } from '../../util/log.js';
import { compileMatch, MatchError, type TapMatcher } from './match.js';
import { Tap, type TapRegistry, TokenBucket } from './registry.js';

/** What the tap server needs of the proxy's identity (the IdentityClient). */
export interface TapServerIdentity {
  readonly name: string;
  /** The current chain, key and anchors as PEM; undefined before the first certificate. */
  tlsPems(): { certChainPem: string; keyPem: string; trustAnchorsPem: string } | undefined;
  /** Calls `listener` after each new certificate; returns the unsubscriber. */
  onChange(listener: () => void): () => void;
}

export interface TapLimits {
  /** Observe streams open at once, over all clients; beyond, RESOURCE_EXHAUSTED. */
  readonly maxStreams: number;
  /** The highest max_rps a stream gets (larger asks are lowered to it). */
  readonly maxRps: number;
  /** The max_rps of a request that asks for 0. */
  readonly defaultRps: number;
  /** Events a stream holds while its client is slow; beyond, events are dropped and counted. */
  readonly maxQueuedEvents: number;
  /** The largest ObserveRequest accepted, in bytes. */
  readonly maxRequestBytes: number;
  /** The largest event sent, in bytes (a request's path and authority are bounded by the proxy's header limits). */
  readonly maxEventBytes: number;
}

export const DEFAULT_TAP_LIMITS: TapLimits = {
  maxStreams: 16,
  maxRps: 1000,
  defaultRps: 100,
  maxQueuedEvents: 1024,
  maxRequestBytes: 16 * 1024,
  maxEventBytes: 256 * 1024,
};

export interface TapServerOptions {
  readonly identity: TapServerIdentity;
  /** The one identity allowed to observe (viz's tap identity). */
  readonly clientIdentity: string;
  readonly taps: TapRegistry;
  readonly registry: Registry;
  readonly log: Logger;
  readonly limits?: Partial<TapLimits>;
}

/**
 * The trust domain of an identity name (`<sa>.<ns>.serviceaccount.identity.<cp-ns>.<domain>`),
 * or undefined when it is not one.
 */
export function trustDomainOf(identity: string): TrustDomain | undefined {
  const marker = '.serviceaccount.identity.';
  const at = identity.indexOf(marker);
  if (at < 0) return undefined;
  const rest = identity.slice(at + marker.length);
  const dot = rest.indexOf('.');
  if (dot <= 0 || dot === rest.length - 1) return undefined;
  return { controlPlaneNamespace: rest.slice(0, dot), trustDomain: rest.slice(dot + 1) };
}

/** The trust domain to derive the default tap client identity from; the default domain otherwise. */
export function domainForTap(identity: string): TrustDomain {
  return trustDomainOf(identity) ?? DEFAULT_DOMAIN;
}

/**
 * grpc-js's view of the proxy's identity: the trust anchors (to verify clients) and the
 * current chain and key, pushed again at each renewal, so new connections get the new
 * certificate without a restart. The first update is delivered after the listener is
 * added (grpc-js adds its watcher only after it has added the listeners).
 */
class IdentityCertificates implements grpc.experimental.CertificateProvider {
  private readonly caListeners = new Set<grpc.experimental.CaCertificateUpdateListener>();
  private readonly identityListeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();
  private readonly unsubscribe: () => void;

  constructor(private readonly identity: TapServerIdentity) {
    this.unsubscribe = identity.onChange(() => this.push());
  }

  private push(): void {
    for (const l of this.caListeners) this.sendCa(l);
    for (const l of this.identityListeners) this.sendIdentity(l);
  }

  private sendCa(l: grpc.experimental.CaCertificateUpdateListener): void {
    const pems = this.identity.tlsPems();
    if (pems) l({ caCertificate: Buffer.from(pems.trustAnchorsPem) });
  }

  private sendIdentity(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    const pems = this.identity.tlsPems();
    if (pems) l({ certificate: Buffer.from(pems.certChainPem), privateKey: Buffer.from(pems.keyPem) });
  }

  addCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(l);
    queueMicrotask(() => {
      if (this.caListeners.has(l)) this.sendCa(l);
    });
  }

  removeCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(l);
  }

  addIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(l);
    queueMicrotask(() => {
      if (this.identityListeners.has(l)) this.sendIdentity(l);
    });
  }

  removeIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(l);
  }

  close(): void {
    this.unsubscribe();
    this.caListeners.clear();
    this.identityListeners.clear();
  }
}

type ObserveCall = grpc.ServerWritableStream<ObserveRequestMessage, TapEventMessage>;

/**
 * One Observe stream's sending side: events are written while the transport takes them;
 * once it pushes back, up to `maxQueued` wait for its drain, and the rest are dropped and
 * counted. Nothing is ever buffered without bound.
 */
class ObserveStream {
  private queue: TapEventMessage[] = [];
  private head = 0;
  private blocked = false;
  private closed = false;
  sent = 0;
  dropped = 0;

  constructor(
    private readonly call: ObserveCall,
    private readonly maxQueued: number,
    private readonly droppedTotal: CounterSeries,
  ) {}

  emit(event: TapEventMessage): void {
    if (this.closed) return;
    if (this.blocked) {
      if (this.queue.length - this.head >= this.maxQueued) {
        this.dropped++;
        this.droppedTotal.inc();
        return;
      }
      this.queue.push(event);
      return;
    }
    this.write(event);
  }

  private write(event: TapEventMessage): void {
    this.sent++;
    if (!this.call.write(event)) {
      this.blocked = true;
      this.call.once('drain', this.flush);
    }
  }

  private readonly flush = (): void => {
    this.blocked = false;
    while (!this.closed && !this.blocked && this.head < this.queue.length) {
      const event = this.queue[this.head] as TapEventMessage;
      this.head++;
      this.write(event);
    }
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 256) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  };

  /** Stops sending (the client went away, or the server ends the stream). */
  close(): void {
    this.closed = true;
    this.queue = [];
    this.head = 0;
  }

  /** Ends the stream with OK (the proxy is shutting down). */
  end(): void {
    if (this.closed) return;
    this.close();
    try {
      this.call.end();
    } catch {
      // Already over.
    }
  }
}

type RefusalReason = 'permission_denied' | 'resource_exhausted' | 'invalid_argument';

export class TapServer {
  private readonly server: grpc.Server;
  private readonly certificates: IdentityCertificates;
  private readonly streams = new Set<ObserveStream>();
  private readonly limits: TapLimits;
  private readonly open: GaugeSeries;
  private readonly dropped: CounterSeries;
  private readonly refused: CounterFamily;
  private closed = false;

  constructor(private readonly opts: TapServerOptions) {
    this.limits = { ...DEFAULT_TAP_LIMITS, ...opts.limits };
    const { registry } = opts;
    this.open = registry
      .register(new GaugeFamily('tap_observe_streams', 'Tap Observe streams open on this proxy'))
      .get([]);
    this.dropped = registry
      .register(
        new CounterFamily(
          'tap_events_dropped_total',
          'Tap events dropped because their stream was full (the client read too slowly)',
        ),
      )
      .get([]);
    this.refused = registry.register(
      new CounterFamily('tap_observe_refused_total', 'Tap Observe calls refused, by reason'),
    );
    this.certificates = new IdentityCertificates(opts.identity);
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': this.limits.maxRequestBytes,
      'grpc.max_send_message_length': this.limits.maxEventBytes,
      // Above the proxy-wide limit, so a client multiplexing its streams gets RESOURCE_EXHAUSTED too.
      'grpc.max_concurrent_streams': 2 * this.limits.maxStreams,
    });
    this.server.addService(serviceConstructor('tap').service, {
      observe: (call: ObserveCall) => this.observe(call),
    });
  }

  /** Binds `addr` (TLS with the proxy's certificate, client certificates required); resolves with the bound address. */
  listen(addr: HostPort): Promise<HostPort> {
    const credentials = grpc.experimental.createCertificateProviderServerCredentials(
      this.certificates,
      this.certificates,
      true,
    );
    return new Promise((resolve, reject) => {
      this.server.bindAsync(formatHostPort(addr), credentials, (err, port) => {
        if (err) {
          const e = err as NodeJS.ErrnoException;
          if (/EADDRINUSE/.test(err.message)) e.code = 'EADDRINUSE';
          else if (/EACCES/.test(err.message)) e.code = 'EACCES';
          reject(e);
          return;
        }
        resolve({ host: addr.host, port });
      });
    });
  }

  /** Open Observe streams. */
  get streamCount(): number {
    return this.streams.size;
  }

  private refuse(call: ObserveCall, code: grpc.status, reason: RefusalReason, details: string): void {
    this.refused.get([['reason', reason]]).inc();
    call.emit('error', { code, details });
  }

  private observe(call: ObserveCall): void {
    const expected = this.opts.clientIdentity;
    const san = call.getAuthContext().sslPeerCertificate?.subjectaltname;
    const seen = dnsNames(san).join(', ') || undefined;
    if (certificateIdentity(san) !== expected) {
      const details = `tap is only for ${expected}; this client is ${seen ?? 'not identified by its certificate'}`;
      this.opts.log.warn({ client: seen ?? null, peer: call.getPeer() }, 'refused a tap client');
      this.refuse(call, grpc.status.PERMISSION_DENIED, 'permission_denied', details);
      return;
    }
    if (this.closed || this.streams.size >= this.limits.maxStreams) {
      this.refuse(
        call,
        grpc.status.RESOURCE_EXHAUSTED,
        'resource_exhausted',
        `this proxy has ${this.streams.size} tap streams open, its limit`,
      );
      return;
    }
    let matches: TapMatcher;
    try {
      matches = compileMatch(call.request.match);
    } catch (err) {
      if (!(err instanceof MatchError)) throw err;
      this.refuse(call, grpc.status.INVALID_ARGUMENT, 'invalid_argument', err.message);
      return;
    }
    const asked = call.request.maxRps;
    const rps = asked > 0 ? Math.min(asked, this.limits.maxRps) : this.limits.defaultRps;
    const stream = new ObserveStream(call, this.limits.maxQueuedEvents, this.dropped);
    const remove = this.opts.taps.add(new Tap(matches, new TokenBucket(rps), (e) => stream.emit(e)));
    this.streams.add(stream);
    this.open.inc();
    // The response's headers now: the client knows its tap is open before any event.
    call.sendMetadata(new grpc.Metadata());
    this.opts.log.info({ client: seen, maxRps: rps, peer: call.getPeer() }, 'tap stream opened');
    let over = false;
    const done = (): void => {
      if (over) return;
      over = true;
      remove();
      stream.close();
      this.streams.delete(stream);
      this.open.dec();
      this.opts.log.info({ client: seen, sent: stream.sent, dropped: stream.dropped }, 'tap stream closed');
    };
    call.once('cancelled', done);
    call.once('error', done);
    call.once('close', done);
    call.once('finish', done);
  }

  /** Ends every stream with OK and stops serving. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams) s.end();
    this.certificates.close();
    this.server.tryShutdown(() => {});
    setTimeout(() => this.server.forceShutdown(), 1000).unref();
  }
}
