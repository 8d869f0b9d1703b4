import type { AuthorityStats, Direction, HttpMetrics } from '../../metrics/http.js';
import type { Exchange, ExchangeObserver, HttpLayer } from '../http/exchange.js';
import { NO_TLS_NOT_DISCOVERED } from '../tls/peer.js';

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
 * The metrics layer: request_total, response_total and response_latency_ms per authority
 * and peer. Inbound, the peer is the client as its connection's TLS proved it (`tls`,
 * `client_id`); outbound, the endpoint the balance layer picked (`tls`, `server_id`,
 * `dst_*`), or a name discovery did not know.
 */
export function metricsLayer<E extends Exchange>(metrics: HttpMetrics, direction: Direction): HttpLayer<E> {
  const inbound = direction === 'inbound';
  return (next) => (ex) => {
    const labels = ex.dst ?? (inbound ? ex.peer.labels : NO_TLS_NOT_DISCOVERED.labels);
    const stats = metrics.stats(direction, ex.authority).with(labels);
    stats.requests.inc();
    ex.observe(new ResponseRecorder(stats, ex.startedAt));
    next(ex);
  };
}
