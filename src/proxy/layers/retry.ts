import type { ProxyError } from '../errors.js';
import type { Exchange, HttpLayer, RouteContext } from '../http/exchange.js';
import { ReplayBody } from '../http/replay-body.js';
import { ResponseRecorder } from './metrics.js';

/** Bodies up to this size are kept so a retry can send them again (Linkerd's limit). */
export const MAX_REPLAY_BODY_BYTES = 64 * 1024;

/** Proxy errors worth another endpoint: the upstream failed or could not be reached in time. */
const RETRYABLE_PROXY_ERRORS = new Set([502, 504]);

function declaredLength(ex: Exchange): number | undefined {
  const text = ex.requestHeader('content-length');
  return text === undefined ? undefined : Number(text);
}

/**
 * Sends one request, retrying it while it may be: only on routes marked `isRetryable`,
 * only after a failure by the route's response classes (or the proxy's own 502/504),
 * only while the authority's retry budget allows, and only when the body fits in
 * MAX_REPLAY_BODY_BYTES. Decided at the response's headers; a failed response that is
 * retried never reaches the client. Each attempt is counted in route_actual_*.
 */
function sendWithRetries<E extends Exchange>(ex: E, routing: RouteContext, next: (ex: E) => void): void {
  const { route, budget, stats } = routing;
  budget?.deposit();
  const retryable = route.isRetryable && budget !== undefined;
  if (!retryable) {
    stats.actual.requests.inc();
    ex.observe(new ResponseRecorder(stats.actual, ex.startedAt));
    next(ex);
    return;
  }
  const body = ex.requestBody;
  const length = body ? declaredLength(ex) : undefined;
  const replay =
    body && !(length !== undefined && length > MAX_REPLAY_BODY_BYTES)
      ? new ReplayBody(body, MAX_REPLAY_BODY_BYTES)
      : undefined;
  const target = ex.target;

  const policy = (status: number, error?: ProxyError): boolean => {
    if (error ? !RETRYABLE_PROXY_ERRORS.has(error.status) : !route.isFailure(status, undefined, false)) {
      return false;
    }
    if (body && !replay?.replayable) {
      stats.skipped('body_too_large').inc();
      return false;
    }
    if (!budget?.withdraw()) {
      stats.skipped('budget').inc();
      return false;
    }
    stats.retries?.inc();
    ex.dropAttempt(status);
    // After the leaf that asked has finished with its attempt.
    queueMicrotask(attempt);
    return true;
  };

  const attempt = (): void => {
    if (ex.finished || ex.clientGone) return;
    ex.failure = undefined;
    ex.failedWith = undefined;
    ex.target = target;
    ex.backendAuthority = undefined;
    ex.dst = undefined;
    ex.serverId = undefined;
    ex.markAttempt();
    if (replay) ex.replayBody = replay.attempt();
    ex.retryPolicy = policy;
    stats.actual.requests.inc();
    ex.observe(new ResponseRecorder(stats.actual, performance.now()));
    next(ex);
  };
  attempt();
}

/**
 * The retry layer (outbound): requests on a profile route go through sendWithRetries;
 * others go on as they are.
 */
export function retryLayer<E extends Exchange>(): HttpLayer<E> {
  return (next) => (ex) => {
    const routing = ex.routing;
    if (routing) sendWithRetries(ex, routing, next);
    else next(ex);
  };
}
