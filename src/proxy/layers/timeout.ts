import { ProxyError } from '../errors.js';
import type { Exchange, ExchangeObserver, HttpLayer } from '../http/exchange.js';

/**
 * Why a request was answered 504 by the timeout layer: no response headers within
 * `timeoutMs`. `unresponsive` says the deadline was long enough (at least the proxy's
 * response-headers timeout) that the endpoint is taken to have stopped answering, and the
 * balancer takes it out as it does one that refused a connect.
 */
export class ResponseTimeoutError extends Error {
  constructor(
    readonly timeoutMs: number,
    readonly unresponsive: boolean,
  ) {
    super(`no response headers within ${timeoutMs}ms`);
    this.name = 'ResponseTimeoutError';
  }
}

/** Whether a request's failure says its endpoint stopped answering (see ResponseTimeoutError). */
export function isUnresponsive(error: ProxyError | undefined): boolean {
  const cause = error?.cause;
  return cause instanceof ResponseTimeoutError && cause.unresponsive;
}

/** Used to decide `unresponsive` when the default timeout is off: Linkerd's ServiceProfile route default. */
const UNRESPONSIVE_FLOOR_MS = 10_000;

/** Stops a request's timer once the response's headers go out, or the exchange ends first. */
class HeadersDeadline implements ExchangeObserver {
  constructor(private readonly timer: NodeJS.Timeout) {}
  head(): void {
    clearTimeout(this.timer);
  }
  end(): void {
    clearTimeout(this.timer);
  }
}

function expire(ex: Exchange, ms: number, fromRoute: boolean, unresponsiveMs: number): void {
  if (ex.responded || ex.finished) return;
  ex.retryPolicy = undefined;
  const error = new ProxyError(504, fromRoute ? 'request timeout' : 'response headers timeout', {
    cause: new ResponseTimeoutError(ms, ms >= unresponsiveMs),
  });
  // A request still waiting for an endpoint is answered with it by the balance layer,
  // as not sent, when its wait is cancelled.
  ex.failure = error;
  ex.cancelInFlight();
  if (!ex.finished) ex.fail(error);
}

/**
 * The timeout layer (outbound): a request must have its response's headers within its
 * profile route's timeout (a ServiceProfile route's default is 10 s) or, when its route sets
 * none (no profile, the default route, an HTTPRoute without `timeouts.request`), within
 * `defaultMs` (`--response-headers-timeout`; 0: no limit). Retries and the wait for an
 * endpoint count. Past it the attempt in flight is cancelled and the client gets 504 with
 * `weft-proxy-error: request timeout` (a route's) or `response headers timeout` (the
 * default). It bounds the time to the response's headers only: a response already
 * streaming (gRPC streams, server-sent events, a WebSocket after its 101, a long body) is
 * never cut. One timer per request, cleared at the headers.
 */
export function timeoutLayer<E extends Exchange>(defaultMs: number): HttpLayer<E> {
  const unresponsiveMs = defaultMs > 0 ? defaultMs : UNRESPONSIVE_FLOOR_MS;
  return (next) => (ex) => {
    const routeMs = ex.routing?.route.timeoutMs ?? 0;
    const ms = routeMs > 0 ? routeMs : defaultMs;
    if (ms > 0) {
      ex.observe(new HeadersDeadline(setTimeout(expire, ms, ex, ms, routeMs > 0, unresponsiveMs)));
    }
    next(ex);
  };
}
