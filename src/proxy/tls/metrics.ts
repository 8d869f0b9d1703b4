import type { Direction } from '../../metrics/http.js';
import { CounterFamily, type CounterSeries, type Registry } from '../../metrics/registry.js';
import type { TlsFailureReason } from './errors.js';

/** tls_handshake_failures_total{direction, reason}: mTLS handshakes refused, by why. */
export class TlsMetrics {
  private readonly family: CounterFamily;
  private readonly series = new Map<string, CounterSeries>();

  constructor(registry: Registry) {
    this.family = registry.register(
      new CounterFamily(
        'tls_handshake_failures_total',
        'Total count of mutual TLS handshakes between proxies that failed or were refused.',
      ),
    );
  }

  failed(direction: Direction, reason: TlsFailureReason): void {
    const key = `${direction}/${reason}`;
    let s = this.series.get(key);
    if (!s) {
      s = this.family.get([
        ['direction', direction],
        ['reason', reason],
      ]);
      this.series.set(key, s);
    }
    s.inc();
  }
}
