import type { Exchange, HttpLayer } from '../http/exchange.js';

/**
 * The traffic split layer (outbound): when the request's route or profile sends shares
 * of the traffic elsewhere (a ServiceProfile's dstOverrides, an HTTPRoute's weighted
 * backendRefs), picks the backend by weight for each attempt. The balance layer then
 * resolves that authority; the metrics keep the authority the request named.
 */
export function splitLayer<E extends Exchange>(): HttpLayer<E> {
  return (next) => (ex) => {
    const routing = ex.routing;
    const split = routing ? (routing.route.backends ?? routing.profile.split) : undefined;
    if (split) {
      const { authority, target } = split.pick();
      if (target) {
        ex.backendAuthority = authority;
        // Where it goes if the mesh does not know the backend (DNS).
        ex.target = target;
      }
    }
    next(ex);
  };
}
