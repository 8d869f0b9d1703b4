import { AuthorityStats, type Classifier, type Direction, type HttpFamilies, httpFamilies } from './http.js';
import { CounterFamily, type CounterSeries, type Labels, type Registry } from './registry.js';

/** Why a retryable request was not retried. */
export type RetrySkipped = 'budget' | 'body_too_large';

/** One route's series: the requests as the client sent them, each attempt, and the retries. */
export interface RouteStats {
  /** route_request_total, route_response_total, route_response_latency_ms: one per request. */
  readonly logical: AuthorityStats;
  /** route_actual_*: one per attempt, retries included. */
  readonly actual: AuthorityStats;
  /** route_retries_total: outbound only, where the proxy retries. */
  readonly retries: CounterSeries | undefined;
  skipped(reason: RetrySkipped): CounterSeries;
}

/** What the metrics need of a profile route: its label, and how it classifies responses. */
export interface LabelledRoute {
  /** Empty for the default route. */
  readonly name: string;
  readonly isFailure: Classifier;
}

/** Authorities a peer can make the proxy count are bounded, as for request_total. */
const MAX_DSTS = 2000;

/**
 * Linkerd's per-route metrics, labelled `direction`, `dst` (the authority) and `rt_route`
 * (absent for the default route, as in Linkerd). Responses are classified by the route's
 * response classes.
 */
export class RouteMetrics {
  private readonly logical: HttpFamilies;
  private readonly actual: HttpFamilies;
  private readonly retries: CounterFamily;
  private readonly skipped: CounterFamily;
  /** Per route object (a profile update makes new ones, which find the same series). */
  private readonly cache: Record<Direction, WeakMap<LabelledRoute, Map<string, RouteStats>>> = {
    inbound: new WeakMap(),
    outbound: new WeakMap(),
  };
  private readonly dsts = new Set<string>();

  constructor(registry: Registry) {
    this.logical = httpFamilies(registry, 'route_', 'requests by profile route');
    this.actual = httpFamilies(registry, 'route_actual_', 'attempts (retries included) by profile route');
    this.retries = registry.register(
      new CounterFamily('route_retries_total', 'Total count of retries sent, by profile route.'),
    );
    this.skipped = registry.register(
      new CounterFamily(
        'route_retry_skipped_total',
        'Total count of failed requests on retryable routes that were not retried, by reason.',
      ),
    );
  }

  /** The `dst` label: the authority, or `overflow` once MAX_DSTS others have been seen. */
  private boundedDst(dst: string): string {
    if (this.dsts.has(dst)) return dst;
    if (this.dsts.size >= MAX_DSTS) return 'overflow';
    this.dsts.add(dst);
    return dst;
  }

  stats(direction: Direction, dst: string, route: LabelledRoute): RouteStats {
    const cache = this.cache[direction];
    let byDst = cache.get(route);
    if (!byDst) {
      byDst = new Map();
      cache.set(route, byDst);
    }
    let stats = byDst.get(dst);
    if (!stats) {
      const label = this.boundedDst(dst);
      const base: Labels = [
        ['direction', direction],
        ['dst', label],
        ...(route.name ? [['rt_route', route.name] as const] : []),
      ];
      const classify = route.isFailure.bind(route);
      const skippedBy = new Map<RetrySkipped, CounterSeries>();
      stats = {
        logical: new AuthorityStats(this.logical, base, classify),
        actual: new AuthorityStats(this.actual, base, classify),
        retries: direction === 'outbound' ? this.retries.get(base) : undefined,
        skipped: (reason) => {
          let s = skippedBy.get(reason);
          if (!s) {
            s = this.skipped.get([...base, ['reason', reason]]);
            skippedBy.set(reason, s);
          }
          return s;
        },
      };
      byDst.set(dst, stats);
    }
    return stats;
  }
}
