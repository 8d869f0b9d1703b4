import type { AuthorityStats, Direction, HttpMetrics } from '../../metrics/http.js';
import type { Exchange, ExchangeObserver, HttpLayer } from '../http/exchange.js';

/** Records one response: latency to its headers, then its classification when it ends. */
export class ResponseRecorder implements ExchangeObserver {
  constructor(
    private readonly stats: AuthorityStats,
    private readonly startedAt: number,
  ) {}
  head(status: number): void {
    this.stats.latency(status).observe(performance.now() - this.startedAt);
  }
  end(status: number, grpcStatus: number | undefined, errored: boolean): void {
    this.stats.response(status, grpcStatus, errored).inc();
  }
}

/**
 * The metrics layer: request_total, response_total and response_latency_ms per authority,
 * and per endpoint (dst_* labels) when the balance layer has picked one.
 */
export function metricsLayer<E extends Exchange>(
  metrics: HttpMetrics,
  direction: Direction,
  tls: string,
): HttpLayer<E> {
  return (next) => (ex) => {
    const byAuthority = metrics.stats(direction, tls, ex.authority);
    const stats = ex.dst === undefined ? byAuthority : byAuthority.withDst(ex.dst);
    stats.requests.inc();
    ex.observe(new ResponseRecorder(stats, ex.startedAt));
    next(ex);
  };
}
