import type { Query, Sample, Series } from './query.js';

/**
 * Where viz reads metrics: the embedded store (the local platform: it scrapes every
 * registered proxy itself) or Prometheus over its HTTP API. Both answer the same
 * queries with the same semantics (rates extrapolated and histogram quantiles
 * interpolated as Prometheus does).
 */
export interface MetricsSource {
  /** What this source is, for messages: `embedded` or the Prometheus URL. */
  readonly name: string;
  /** Evaluates `query` at `atMs` (default: now). NaN values (0/0) are left out. */
  instant(query: Query, atMs?: number): Promise<Sample[]>;
  /** Evaluates `query` at each step from `startMs` to `endMs`, both included. */
  range(query: Query, startMs: number, endMs: number, stepMs: number): Promise<Series[]>;
  close(): void;
}

/** A source that failed to answer (Prometheus unreachable, a refused query): the message says why. */
export class MetricsSourceError extends Error {
  override readonly name = 'MetricsSourceError';
}
