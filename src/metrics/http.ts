import {
  type CounterFamily as CF,
  CounterFamily,
  type CounterSeries,
  HistogramFamily,
  type HistogramSeries,
  type Labels,
  type Registry,
} from './registry.js';

export type Direction = 'inbound' | 'outbound';

/** Linkerd's response_latency_ms buckets, in milliseconds. */
export const LATENCY_BUCKETS_MS = [
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000, 20000,
  30000, 40000, 50000,
];

/** Peer-chosen authorities are bounded so a client cannot grow the metrics without limit. */
export const MAX_AUTHORITIES = 2000;
const OVERFLOW_AUTHORITY = 'overflow';

/** How a finished response is classified, as Linkerd does: 5xx or a non-zero grpc-status is a failure. */
export function isFailure(status: number, grpcStatus: number | undefined, errored: boolean): boolean {
  return errored || status >= 500 || (grpcStatus !== undefined && grpcStatus !== 0);
}

/** Decides a finished response's `classification` label: whether it is a failure. */
export type Classifier = (status: number, grpcStatus: number | undefined, errored: boolean) => boolean;

/**
 * The series for one label set (direction and authority, or a route), resolved once and
 * then reused; `with(labels)` adds a peer's labels (tls, client_id / server_id, dst_*).
 */
export class AuthorityStats {
  private requestSeries: CounterSeries | undefined;
  private readonly responses = new Map<number, CounterSeries>();
  private readonly latencies = new Map<number, HistogramSeries>();
  /** The same authority's series with a peer's labels added, by label-list identity. */
  private byLabels: WeakMap<Labels, AuthorityStats> | undefined;

  constructor(
    private readonly families: HttpFamilies,
    private readonly base: Labels,
    private readonly classify: Classifier = isFailure,
  ) {}

  /** Resolved on first use, so an authority counted only per endpoint has no empty series. */
  get requests(): CounterSeries {
    this.requestSeries ??= this.families.requestTotal.get(this.base);
    return this.requestSeries;
  }

  /** These series with a peer's labels added; resolved once per label list (keep lists shared). */
  with(labels: Labels): AuthorityStats {
    this.byLabels ??= new WeakMap();
    let stats = this.byLabels.get(labels);
    if (!stats) {
      stats = new AuthorityStats(this.families, [...this.base, ...labels], this.classify);
      this.byLabels.set(labels, stats);
    }
    return stats;
  }

  latency(status: number): HistogramSeries {
    let s = this.latencies.get(status);
    if (!s) {
      s = this.families.latency.get([...this.base, ['status_code', String(status)]]);
      this.latencies.set(status, s);
    }
    return s;
  }

  response(status: number, grpcStatus: number | undefined, errored: boolean): CounterSeries {
    const key = status + 1000 * (grpcStatus === undefined ? 0 : grpcStatus + 1) + (errored ? 1_000_000 : 0);
    let s = this.responses.get(key);
    if (!s) {
      const labels: Array<readonly [string, string]> = [...this.base, ['status_code', String(status)]];
      if (grpcStatus !== undefined) labels.push(['grpc_status', String(grpcStatus)]);
      labels.push(['classification', this.classify(status, grpcStatus, errored) ? 'failure' : 'success']);
      if (errored) labels.push(['error', 'stream_reset']);
      s = this.families.responseTotal.get(labels);
      this.responses.set(key, s);
    }
    return s;
  }
}

export interface HttpFamilies {
  requestTotal: CF;
  responseTotal: CF;
  latency: HistogramFamily;
}

/** `<prefix>request_total`, `<prefix>response_total` and `<prefix>response_latency_ms`. */
export function httpFamilies(registry: Registry, prefix: string, what: string): HttpFamilies {
  return {
    requestTotal: registry.register(new CounterFamily(`${prefix}request_total`, `Total count of ${what}.`)),
    responseTotal: registry.register(
      new CounterFamily(`${prefix}response_total`, `Total count of responses to ${what}.`),
    ),
    latency: registry.register(
      new HistogramFamily(
        `${prefix}response_latency_ms`,
        `Elapsed times between the headers of ${what} being received and their responses' headers being sent, in milliseconds.`,
        LATENCY_BUCKETS_MS,
      ),
    ),
  };
}

/** request_total, response_total and response_latency_ms, with Linkerd's names and labels. */
export class HttpMetrics {
  private readonly families: HttpFamilies;
  private readonly byDirection = new Map<string, Map<string, AuthorityStats>>();

  constructor(registry: Registry) {
    this.families = httpFamilies(registry, '', 'HTTP requests');
  }

  /** The cached stats for an authority; the map lookup is the only per-request cost. */
  stats(direction: Direction, authority: string): AuthorityStats {
    let byAuthority = this.byDirection.get(direction);
    if (!byAuthority) {
      byAuthority = new Map();
      this.byDirection.set(direction, byAuthority);
    }
    let stats = byAuthority.get(authority);
    if (!stats) {
      if (byAuthority.size >= MAX_AUTHORITIES && authority !== OVERFLOW_AUTHORITY) {
        return this.stats(direction, OVERFLOW_AUTHORITY);
      }
      stats = new AuthorityStats(this.families, [
        ['direction', direction],
        ['authority', authority],
      ]);
      byAuthority.set(authority, stats);
    }
    return stats;
  }
}
