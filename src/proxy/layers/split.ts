import { type HostPort, parseHostPort } from '../../util/addr.js';
import type { Exchange, HttpLayer } from '../http/exchange.js';

const MAX_CACHED = 1000;

/**
 * The traffic split layer (outbound): when the request's route or profile sends shares
 * of the traffic elsewhere (a ServiceProfile's dstOverrides, an HTTPRoute's weighted
 * backendRefs), picks the backend by weight for each attempt. The balance layer then
 * resolves that authority; the metrics keep the authority the request named.
 */
export function splitLayer<E extends Exchange>(): HttpLayer<E> {
  const targets = new Map<string, HostPort>();
  const targetOf = (authority: string): HostPort | undefined => {
    let t = targets.get(authority);
    if (!t) {
      try {
        t = parseHostPort(authority, 'backend', 80);
      } catch {
        return undefined;
      }
      if (targets.size >= MAX_CACHED) targets.clear();
      targets.set(authority, t);
    }
    return t;
  };
  return (next) => (ex) => {
    const routing = ex.routing;
    const split = routing ? (routing.route.backends ?? routing.profile.split) : undefined;
    if (split) {
      const backend = split.pick();
      const target = targetOf(backend);
      if (target) {
        ex.backendAuthority = backend;
        // Where it goes if the mesh does not know the backend (DNS).
        ex.target = target;
      }
    }
    next(ex);
  };
}
