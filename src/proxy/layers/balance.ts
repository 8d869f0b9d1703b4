import { isFailure } from '../../metrics/http.js';
import type { Balancer } from '../balance/balancer.js';
import type { Endpoint } from '../balance/endpoint.js';
import type { DestinationClient, Resolution } from '../discovery/destination.js';
import { ConnectTimeoutError, ProxyError } from '../errors.js';
import type { Exchange, ExchangeObserver, HttpLayer, HttpService, Redispatcher } from '../http/exchange.js';
import { MeshTlsError } from '../tls/errors.js';
import { NO_TLS_NOT_SENT } from '../tls/peer.js';
import type { UpstreamTls } from '../tls/upstream.js';
import { isUnresponsive } from './timeout.js';

const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNTIMEOUT']);

/**
 * Whether the proxy's own error says the endpoint could not be connected to. A refused
 * mTLS handshake counts: the endpoint will not prove the identity it should.
 */
function isConnectFailure(error: ProxyError | undefined): boolean {
  const cause = error?.cause;
  if (cause instanceof ConnectTimeoutError || cause instanceof MeshTlsError) return true;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && CONNECT_FAILURES.has(code);
}

/**
 * How many times a request may go to another endpoint after a failed connect: each
 * failed endpoint is out (its connect breaker opened), so this bounds a request's cost
 * when several endpoints died at once.
 */
export const MAX_REDISPATCHES = 2;

/**
 * Feeds one request's outcome back to its endpoint: latency at the response's headers (a
 * timed-out request's are the proxy's 504, so its wait counts), then the result. And,
 * while the request may still go elsewhere, takes a connect that failed before anything
 * was sent to send it to another endpoint (see `redispatch`).
 */
class EndpointRecorder<E extends Exchange> implements ExchangeObserver, Redispatcher {
  constructor(
    private readonly endpoint: Endpoint,
    private readonly startedAt: number,
    private readonly ex: E,
    private readonly balancer: Balancer,
    private readonly upstream: UpstreamTls,
    private readonly next: HttpService<E>,
    /** The exchange's observers before this dispatch's own (endpoint, metrics, tap). */
    private readonly mark: number,
    private readonly attempt: number,
    private readonly redispatches: number,
  ) {}
  head(): void {
    this.endpoint.responded(this.startedAt);
  }
  end(status: number, grpcStatus: number | undefined, errored: boolean): void {
    const ep = this.endpoint;
    const failed = this.ex.failedWith;
    if (isConnectFailure(failed)) ep.connectFailed();
    else if (isUnresponsive(failed)) ep.unresponsive();
    else if (this.ex.cancelledByClient || (errored && status === 0)) ep.cancelled();
    else ep.finished(isFailure(status, grpcStatus, errored));
  }

  /**
   * A connect that failed before anything was sent (refused, unreachable, timed out, a
   * refused mTLS handshake) sent nothing the endpoint could have acted on, so the request
   * goes to another available endpoint of the balancer whatever its route's retry policy
   * (Linkerd's balancer never dispatches to an endpoint it has not connected to; Envoy
   * does this under `retry_on: connect-failure`): this dispatch's observers see it end with the
   * error (the endpoint is taken out), and the request is dispatched again. Only requests
   * without a body: a leaf starts streaming the body before the connect has succeeded,
   * so what it took cannot be sent again (a retryable route's retries replay it).
   * Declined, the error goes on to the retry policy or the client: when the attempt is no
   * longer this dispatch's (a retry, a timeout), the bound is reached, the request has a
   * body, or no other endpoint is available.
   */
  redispatch(error: ProxyError): boolean {
    const ex = this.ex;
    if (
      ex.redispatcher !== this ||
      ex.attempt !== this.attempt ||
      this.redispatches >= MAX_REDISPATCHES ||
      ex.requestBody !== undefined ||
      !isConnectFailure(error)
    ) {
      return false;
    }
    ex.redispatcher = undefined;
    ex.dropAttempt(error.status, this.mark);
    const ep = this.balancer.pick();
    if (!ep) return false;
    ex.failedWith = undefined;
    const count = this.redispatches + 1;
    // After the leaf that failed has finished with its attempt.
    queueMicrotask(() => {
      if (ex.finished) {
        // Answered meanwhile (its deadline passed): gives back a probe the pick may have claimed.
        ep.begin();
        ep.cancelled();
        return;
      }
      dispatch(ex, ep, this.balancer, this.upstream, this.next, count);
    });
    return true;
  }
}

function dispatch<E extends Exchange>(
  ex: E,
  ep: Endpoint,
  balancer: Balancer,
  upstream: UpstreamTls,
  next: HttpService<E>,
  redispatches = 0,
): void {
  const startedAt = ep.begin();
  if (ex.clientGone) {
    ep.cancelled();
    return;
  }
  const spec = ep.spec;
  ex.target = spec.addr;
  ex.dst = upstream.labelsFor(spec);
  ex.serverId = upstream.serverId(spec);
  const recorder = new EndpointRecorder(
    ep,
    startedAt,
    ex,
    balancer,
    upstream,
    next,
    ex.observerCount,
    ex.attempt,
    redispatches,
  );
  ex.redispatcher = recorder;
  ex.observe(recorder);
  next(ex);
}

/**
 * The balance layer (outbound): for an authority the mesh knows, picks the endpoint by
 * power of two choices over peak-EWMA load, or waits in the balancer's bounded queue
 * and fails with 503 after the failfast timeout. Authorities the mesh does not know go
 * on unchanged, to be resolved by DNS.
 */
export function balanceLayer<E extends Exchange>(
  discovery: DestinationClient | undefined,
  upstream: UpstreamTls,
): HttpLayer<E> {
  if (!discovery) return (next) => next;
  return (next) => (ex) => {
    const resolution: Resolution = discovery.resolve(ex.backendAuthority ?? ex.authority);
    if (resolution.status === 'dns') {
      next(ex);
      return;
    }
    const balancer = resolution.balancer;
    const ep = balancer.pick();
    if (ep) {
      dispatch(ex, ep, balancer, upstream, next);
      return;
    }
    let waiting = true;
    const giveUp = balancer.acquire((found, reason) => {
      waiting = false;
      // The client may have gone while the request waited.
      if (ex.finished) {
        // Gives back a probe the pick may have claimed.
        found?.begin();
        found?.cancelled();
        return;
      }
      if (found) dispatch(ex, found, balancer, upstream, next);
      else if (resolution.status === 'dns') next(ex);
      else {
        answerNotSent(
          ex,
          new ProxyError(
            503,
            `no endpoint of ${ex.backendAuthority ?? ex.authority} is available: ${reason ?? 'unknown'}`,
          ),
          next,
        );
      }
    });
    if (!waiting) return;
    // A route timeout while the request waits: it leaves the queue and is answered with the
    // timeout's error, counted as not sent.
    ex.holdAttempt(() => {
      if (!waiting) return;
      waiting = false;
      giveUp();
      answerNotSent(ex, ex.failure ?? new ProxyError(504, 'request timeout'), next);
    });
  };
}

/** Sends a request on to be answered with the proxy's error and counted as never sent. */
function answerNotSent<E extends Exchange>(ex: E, error: ProxyError, next: HttpService<E>): void {
  ex.target = undefined;
  ex.dst = NO_TLS_NOT_SENT.labels;
  ex.failure = error;
  next(ex);
}

/**
 * Picks the endpoint for an opaque connection (`relayOpaque`: a CONNECT tunnel, or TCP
 * intercepted in transparent mode): the least loaded by open connections per weight.
 * Answers 'dns' for authorities the mesh does not know, and a 503 when no endpoint
 * becomes available within the failfast timeout.
 */
export function pickForConnection(
  discovery: DestinationClient,
  authority: string,
  cb: (result: Endpoint | 'dns' | ProxyError) => void,
): void {
  const resolution = discovery.resolve(authority);
  if (resolution.status === 'dns') {
    cb('dns');
    return;
  }
  const ep = resolution.balancer.pickLeastLoaded();
  if (ep) {
    cb(ep);
    return;
  }
  resolution.balancer.acquire((found, reason) => {
    if (found) cb(found);
    else if (resolution.status === 'dns') cb('dns');
    else cb(new ProxyError(503, `no endpoint of ${authority} is available: ${reason ?? 'unknown'}`));
  });
}

/**
 * Waits until discovery knows what an authority is: `mesh` (a Service, which may have no
 * endpoint available yet) or `dns` (a name the mesh does not know). Resolving, it waits
 * for an endpoint as a request would, at most the failfast timeout, then gives it back.
 */
export function whenResolved(
  discovery: DestinationClient,
  authority: string,
  cb: (status: 'mesh' | 'dns') => void,
): void {
  const resolution = discovery.resolve(authority);
  if (resolution.status !== 'resolving') {
    cb(resolution.status);
    return;
  }
  resolution.balancer.acquire((found) => {
    // Gives back a probe the pick may have claimed.
    found?.begin();
    found?.cancelled();
    cb(resolution.status === 'dns' ? 'dns' : 'mesh');
  });
}
