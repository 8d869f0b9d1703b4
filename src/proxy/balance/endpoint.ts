import type { HostPort } from '../../util/addr.js';
import { type BackoffSettings, Breaker, type BreakerSettings, sameBreakerSettings } from './breaker.js';
import { PeakEwma } from './peak-ewma.js';

/** One endpoint of a service, as discovery reports it. */
export interface EndpointSpec {
  /** The address as `host:port`; unique within a set. */
  readonly key: string;
  readonly addr: HostPort;
  /** A positive integer; Linkerd's default is 10000. */
  readonly weight: number;
  /** Metric labels, such as dst_pod. */
  readonly labels: ReadonlyArray<readonly [string, string]>;
  readonly identity?: string;
  readonly protocolHint?: 'h2' | 'opaque';
  /** A meshed endpoint's proxy inbound port, where opaque TCP goes behind a transport header. */
  readonly opaqueTransportPort?: number;
}

/**
 * How long an endpoint whose connect failed stays out: 1 s doubling to 1 min, plus up to
 * half. Linkerd's reconnect backoff is shorter (100 to 500 ms), but its reconnects are its
 * own connection attempts; here the probe is a request, which fails if the endpoint still
 * refuses.
 */
export const CONNECT_BACKOFF: BackoffSettings = { minMs: 1000, maxMs: 60_000, jitterRatio: 0.5 };

export interface EndpointOptions {
  readonly defaultRttMs?: number;
  readonly decayMs?: number;
  /** The Service's consecutive-failures breaker; absent, responses never take the endpoint out. */
  readonly failureAccrual?: BreakerSettings;
  /** Backoffs after failed connects; default CONNECT_BACKOFF. */
  readonly connectBackoff?: BackoffSettings;
  readonly now?: () => number;
  readonly random?: () => number;
}

/**
 * The live state of one endpoint: its latency estimate, its breakers and what is in flight.
 * Two breakers may take it out: `connect`, opened by one failed connect (refused, timed
 * out, a refused mTLS handshake) or one request left without response headers for the
 * response-headers timeout, and closed by the next request or connection that gets
 * through, always there; and `accrual`, the Service's failure accrual over responses, only
 * when the Service asks for it. It is available when both let it be.
 *
 * Per request: `begin()`, then `responded(startedAt)` on response headers, then exactly one
 * of `finished(failure)`, `cancelled()`, `connectFailed()` or `unresponsive()`. Per opaque connection:
 * `openConnection()` before connecting, `connected()` once connected, `closeConnection()`.
 */
export class Endpoint {
  readonly key: string;
  pending = 0;
  connections = 0;
  /** Set when the endpoint leaves its set; requests in flight may still finish on it. */
  removed = false;
  readonly latency: PeakEwma;
  readonly connect: Breaker;
  private accrualBreaker: Breaker | undefined;
  private accrualSettings: BreakerSettings | undefined;
  private current: EndpointSpec;
  private readonly now: () => number;
  private readonly random: () => number;

  /** `onChange` runs when the breaker changes state in a way that may free a waiter. */
  constructor(
    spec: EndpointSpec,
    options: EndpointOptions = {},
    private readonly onChange?: (endpoint: Endpoint) => void,
  ) {
    this.key = spec.key;
    this.current = spec;
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
    this.latency = new PeakEwma(options.defaultRttMs, options.decayMs, this.now);
    this.connect = new Breaker(
      { maxFailures: 1, backoff: options.connectBackoff ?? CONNECT_BACKOFF },
      this.now,
      this.random,
    );
    this.accrualSettings = options.failureAccrual;
    this.accrualBreaker = this.accrualSettings && new Breaker(this.accrualSettings, this.now, this.random);
  }

  /** The failure accrual breaker, when the Service has one. */
  get accrual(): Breaker | undefined {
    return this.accrualBreaker;
  }

  /**
   * Applies the Service's failure accrual: new settings start a fresh (closed) breaker,
   * none removes it, the same settings keep its state.
   */
  setFailureAccrual(settings: BreakerSettings | undefined): void {
    if (sameBreakerSettings(settings, this.accrualSettings)) return;
    const wasOut = this.accrualBreaker?.isAvailable(this.now()) === false;
    this.accrualSettings = settings;
    this.accrualBreaker = settings && new Breaker(settings, this.now, this.random);
    this.changed(wasOut);
  }

  get spec(): EndpointSpec {
    return this.current;
  }

  /** A new spec for the same key (weight, labels...); latency and breaker state are kept. */
  update(spec: EndpointSpec): void {
    this.current = spec;
  }

  get weight(): number {
    const w = this.current.weight;
    return w > 0 ? w : 1;
  }

  /** The peak-EWMA cost: latency times the requests it would have, per unit of weight. */
  load(now = this.now()): number {
    return (this.latency.estimate(now) * (this.pending + 1)) / this.weight;
  }

  isAvailable(now = this.now()): boolean {
    return this.connect.isAvailable(now) && (this.accrualBreaker?.isAvailable(now) ?? true);
  }

  /** When it is next available (see Breaker.availableAt): the later of its breakers'. */
  availableAt(now = this.now()): number {
    return Math.max(this.connect.availableAt(now), this.accrualBreaker?.availableAt(now) ?? now);
  }

  /** Takes the endpoint for one request or connection, claiming the probe of each breaker in probation. */
  claim(now = this.now()): boolean {
    if (!this.isAvailable(now)) return false;
    this.connect.claim(now);
    this.accrualBreaker?.claim(now);
    return true;
  }

  /** A request starts; returns its start time for `responded`. */
  begin(): number {
    this.pending++;
    return this.now();
  }

  /** Response headers arrived for the request started at `startedAt`. */
  responded(startedAt: number): void {
    const now = this.now();
    this.latency.observe(now - startedAt, now);
  }

  /** The request got an answer (it connected); `failure` as the response was classified. */
  finished(failure: boolean): void {
    this.done();
    const connected = this.connect.success();
    const judged = failure ? this.accrualBreaker?.failure() : this.accrualBreaker?.success();
    this.changed(connected || judged === true);
  }

  /** The client went away: neither a success nor a failure of the endpoint. */
  cancelled(): void {
    this.done();
    this.changed(this.releaseProbes());
  }

  /** The connect for a request failed: the endpoint is out. */
  connectFailed(): void {
    this.done();
    this.connectOutcome(false);
  }

  /**
   * The request got no response headers within the proxy's response-headers timeout: the
   * endpoint stopped answering. It is out as after a failed connect (and probed back the
   * same way), and failure accrual counts the 504 as the failure it is.
   */
  unresponsive(): void {
    this.done();
    const connect = this.connect.failure();
    const judged = this.accrualBreaker?.failure() === true;
    this.changed(connect || judged);
  }

  openConnection(): void {
    this.connections++;
  }

  /** An opaque connection connected. */
  connected(): void {
    this.connectOutcome(true);
  }

  /** `connectFailed` when the connect itself failed; a probe closed unjudged is given back. */
  closeConnection(connectFailed = false): void {
    if (this.connections > 0) this.connections--;
    if (connectFailed) this.connectOutcome(false);
    else this.changed(this.releaseProbes());
  }

  /**
   * Whether a connect got through judges the connect breaker. It says nothing of responses
   * (an endpoint that was never asked did not fail): a failure accrual probe is given back.
   */
  private connectOutcome(connected: boolean): void {
    const connect = connected ? this.connect.success() : this.connect.failure();
    const released = this.accrualBreaker?.releaseProbe() ?? false;
    this.changed(connect || released);
  }

  private releaseProbes(): boolean {
    const connect = this.connect.releaseProbe();
    return (this.accrualBreaker?.releaseProbe() ?? false) || connect;
  }

  private done(): void {
    if (this.pending > 0) this.pending--;
  }

  private changed(changed: boolean): void {
    if (changed && !this.removed) this.onChange?.(this);
  }
}
