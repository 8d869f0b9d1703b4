import type { HostPort } from '../../util/addr.js';
import { FailureAccrual, type FailureAccrualOptions } from './failure-accrual.js';
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

export interface EndpointOptions {
  readonly defaultRttMs?: number;
  readonly decayMs?: number;
  readonly accrual?: FailureAccrualOptions;
  readonly now?: () => number;
}

/**
 * The live state of one endpoint: its latency estimate, its breaker and what is in flight.
 *
 * Per request: `begin()`, then `responded(startedAt)` on response headers, then exactly one
 * of `finished(failure)`, `cancelled()` or `connectFailed()`. Per opaque connection:
 * `openConnection()` before connecting, `connected()` once connected, `closeConnection()`.
 */
export class Endpoint {
  readonly key: string;
  pending = 0;
  connections = 0;
  /** Set when the endpoint leaves its set; requests in flight may still finish on it. */
  removed = false;
  readonly latency: PeakEwma;
  readonly accrual: FailureAccrual;
  private current: EndpointSpec;
  private readonly now: () => number;

  /** `onChange` runs when the breaker changes state in a way that may free a waiter. */
  constructor(
    spec: EndpointSpec,
    options: EndpointOptions = {},
    private readonly onChange?: (endpoint: Endpoint) => void,
  ) {
    this.key = spec.key;
    this.current = spec;
    this.now = options.now ?? (() => performance.now());
    this.latency = new PeakEwma(options.defaultRttMs, options.decayMs, this.now);
    this.accrual = new FailureAccrual({ now: this.now, ...options.accrual });
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
    return this.accrual.isAvailable(now);
  }

  /** Takes the endpoint for one request or connection, claiming the probe in probation. */
  claim(now = this.now()): boolean {
    return this.accrual.stateAt(now) === 'closed' || this.accrual.tryProbe(now);
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

  finished(failure: boolean): void {
    this.done();
    this.changed(failure ? this.accrual.failure() : this.accrual.success());
  }

  /** The client went away: neither a success nor a failure of the endpoint. */
  cancelled(): void {
    this.done();
    this.changed(this.accrual.releaseProbe());
  }

  /** The TCP connect for a request failed. */
  connectFailed(): void {
    this.done();
    this.changed(this.accrual.connectFailure());
  }

  openConnection(): void {
    this.connections++;
  }

  connected(): void {
    this.changed(this.accrual.success());
  }

  /** `connectFailed` when the connect itself failed; a probe closed unjudged is given back. */
  closeConnection(connectFailed = false): void {
    if (this.connections > 0) this.connections--;
    this.changed(connectFailed ? this.accrual.connectFailure() : this.accrual.releaseProbe());
  }

  private done(): void {
    if (this.pending > 0) this.pending--;
  }

  private changed(changed: boolean): void {
    if (changed && !this.removed) this.onChange?.(this);
  }
}
