import type { Direction } from '../../metrics/http.js';
import type { RouteMetrics } from '../../metrics/route.js';
import type { ProfileWatch } from '../discovery/profile-watch.js';
import { ProxyError } from '../errors.js';
import type { Exchange, HttpLayer, HttpService } from '../http/exchange.js';
import { ResponseRecorder } from './metrics.js';

/** Where the profile layer finds an authority's profile: the Destination client's watches. */
export type ProfileSource = (authority: string) => ProfileWatch;

/**
 * The profile layer: finds the request's route in its authority's profile (the first
 * route whose condition holds; none: the default route) and counts it in the route
 * metrics (route_request_total, route_response_total, route_response_latency_ms),
 * classified by the route's response classes. A profile from HTTPRoutes answers 404 to a
 * request no route matches. Authorities without a ServiceProfile or
 * HTTPRoute have no route metrics. The first request to an authority waits for its
 * profile, at most PROFILE_WAIT_MS.
 */
export function profileLayer<E extends Exchange>(
  source: ProfileSource | undefined,
  metrics: RouteMetrics,
  direction: Direction,
): HttpLayer<E> {
  if (!source) return (next) => next;
  return (next) => {
    const routed = (ex: E, watch: ProfileWatch): void => {
      const profile = watch.profile;
      if (!profile?.defined) {
        next(ex);
        return;
      }
      const route = profile.route(ex);
      const stats = metrics.stats(direction, watch.dst, route);
      ex.routing = { route, profile, budget: watch.budget, stats };
      stats.logical.requests.inc();
      ex.observe(new ResponseRecorder(stats.logical, ex.startedAt));
      if (route === profile.defaultRoute && profile.rejectUnmatched) {
        ex.fail(new ProxyError(404, 'no route found for request'));
        return;
      }
      next(ex);
    };
    const service: HttpService<E> = (ex) => {
      const watch = source(ex.authority);
      if (watch.answered) routed(ex, watch);
      else watch.whenAnswered(() => routed(ex, watch));
    };
    return service;
  };
}
