import { ProxyError } from '../errors.js';
import type { Exchange, ExchangeObserver, HttpLayer } from '../http/exchange.js';

/** Stops a timer once the response's headers go out, or the exchange ends first. */
class TimerStop implements ExchangeObserver {
  constructor(private readonly timer: NodeJS.Timeout) {}
  head(): void {
    clearTimeout(this.timer);
  }
  end(): void {
    clearTimeout(this.timer);
  }
}

/**
 * The timeout layer (outbound): a request on a profile route must have its response's
 * headers within the route's timeout (default 10 s), retries included; past it the
 * attempt in flight is cancelled and the client gets 504 with `weft-proxy-error:
 * request timeout`. A response already streaming is not cut. Requests on the default
 * route, or to authorities without a profile, have no timeout.
 */
export function timeoutLayer<E extends Exchange>(): HttpLayer<E> {
  return (next) => (ex) => {
    const ms = ex.routing?.route.timeoutMs ?? 0;
    if (ms > 0) {
      const timer = setTimeout(() => {
        if (ex.responded || ex.finished) return;
        ex.retryPolicy = undefined;
        const error = new ProxyError(504, 'request timeout');
        // A request still waiting for an endpoint is answered with it by the balance layer,
        // as not sent, when its wait is cancelled.
        ex.failure = error;
        ex.cancelInFlight();
        if (!ex.finished) ex.fail(error);
      }, ms);
      ex.observe(new TimerStop(timer));
    }
    next(ex);
  };
}
