import { isFailure } from '../../metrics/http.js';
import type { Endpoint } from '../balance/endpoint.js';
import type { DestinationClient, Resolution } from '../discovery/destination.js';
import { ConnectTimeoutError, ProxyError } from '../errors.js';
import type { Exchange, ExchangeObserver, HttpLayer, HttpService } from '../http/exchange.js';
import { MeshTlsError } from '../tls/errors.js';
import type { UpstreamTls } from '../tls/upstream.js';

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

/** Feeds one request's outcome back to its endpoint: latency at the response's headers, then the result. */
class EndpointRecorder implements ExchangeObserver {
  constructor(
    private readonly endpoint: Endpoint,
    private readonly startedAt: number,
    private readonly ex: Exchange,
  ) {}
  head(): void {
    this.endpoint.responded(this.startedAt);
  }
  end(status: number, grpcStatus: number | undefined, errored: boolean): void {
    const ep = this.endpoint;
    if (isConnectFailure(this.ex.failedWith)) ep.connectFailed();
    else if (this.ex.cancelledByClient || (errored && status === 0)) ep.cancelled();
    else ep.finished(isFailure(status, grpcStatus, errored));
  }
}

function dispatch<E extends Exchange>(
  ex: E,
  ep: Endpoint,
  upstream: UpstreamTls,
  next: HttpService<E>,
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
  ex.observe(new EndpointRecorder(ep, startedAt, ex));
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
      dispatch(ex, ep, upstream, next);
      return;
    }
    balancer.acquire((found, reason) => {
      // A timeout may have answered the request while it waited.
      if (ex.finished) {
        // Gives back a probe the pick may have claimed.
        found?.begin();
        found?.cancelled();
        return;
      }
      if (found) dispatch(ex, found, upstream, next);
      else if (resolution.status === 'dns') next(ex);
      else {
        ex.target = undefined;
        ex.failure = new ProxyError(
          503,
          `no endpoint of ${ex.backendAuthority ?? ex.authority} is available: ${reason ?? 'unknown'}`,
        );
        next(ex);
      }
    });
  };
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
