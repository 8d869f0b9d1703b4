import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { AuthorityStats } from '../../metrics/http.js';
import type { Labels } from '../../metrics/registry.js';
import { ProxyError, upstreamError } from '../errors.js';
import { failRaw } from '../http/raw.js';
import { tagTunnel } from '../http/tunnel-tag.js';
import { NO_TLS_NOT_DISCOVERED, NO_TLS_NOT_SENT } from '../tls/peer.js';
import type { UpstreamTls } from '../tls/upstream.js';
import { whenResolved } from './balance.js';
import { detectProtocol } from './detect.js';
import { ResponseRecorder } from './metrics.js';
import { type OpaqueDeps, relayOpaque } from './opaque.js';
import type { Route, Router } from './route.js';
import { splice } from './splice.js';

/** What CONNECT tunnels need of their direction. */
export interface TunnelDeps extends OpaqueDeps {
  readonly router: Router;
  readonly stats: (authority: string) => AuthorityStats;
  /** How endpoints are reached (mTLS or not), and their metric labels. */
  readonly upstream: UpstreamTls;
  readonly detectTimeoutMs: number;
  /** Whether an authority's port carries opaque TCP (no detection: server-speaks-first works). */
  readonly whenOpaque: (authority: string, port: number, cb: (opaque: boolean) => void) => void;
  /** Serves HTTP found inside a tunnel with the direction's HTTP stack. */
  readonly serveHttp: (socket: Duplex, protocol: 'http1' | 'h2') => void;
  /** Detection gave up on a tunnel's bytes and carries it on as opaque TCP. */
  readonly detectTimedOut: () => void;
}

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';
const NOTHING = Buffer.alloc(0);

/**
 * CONNECT tunnels (outbound, explicit mode: gRPC clients with `grpc_proxy`, any TCP). What
 * the client sends through a tunnel is detected: HTTP/1 and HTTP/2 are served by the
 * direction's HTTP stack as if they had come straight to it, each request going to the
 * tunnel's authority (balanced per request, with its routes, retries and metrics);
 * anything else is relayed as it is. A tunnel to a mesh authority is answered at once and
 * its opaque bytes go to an endpoint picked by discovery, over mutual TLS to meshed ones
 * (`relayOpaque`). A tunnel to any other authority is answered once a connection to it
 * succeeds (502 or 504 otherwise), which then carries its opaque bytes. A tunnel to an
 * opaque port is relayed without detection, answered once its upstream is connected.
 */
export function connectHandler(deps: TunnelDeps) {
  return (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => {});
    const authority = req.url ?? '';
    if (!/^[^/\s]+:\d+$/.test(authority)) {
      failRaw(socket, new ProxyError(400, `CONNECT needs host:port, got "${authority.slice(0, 100)}"`));
      return;
    }
    const route = deps.router.route(authority, '/');
    if (route instanceof ProxyError) {
      failRaw(socket, route);
      return;
    }
    deps.whenOpaque(route.authority, route.target.port, (opaque) => {
      if (socket.destroyed) return;
      if (opaque) {
        relayTunnel(deps, socket, head, route, true);
        return;
      }
      const discovery = deps.discovery;
      if (!discovery) {
        connectThenDetect(deps, socket, head, route);
        return;
      }
      whenResolved(discovery, route.authority, (status) => {
        if (socket.destroyed) return;
        if (status === 'dns') {
          connectThenDetect(deps, socket, head, route);
          return;
        }
        socket.write(ESTABLISHED);
        detectInTunnel(deps, socket, head, route, {
          opaque: () => relayTunnel(deps, socket, NOTHING, route, false),
        });
      });
    });
  };
}

/** What becomes of a tunnel once its first bytes are detected (HTTP is served by the stack). */
interface TunnelOutcome {
  opaque(): void;
  /** The tunnel is HTTP, or closed having sent nothing. */
  notOpaque?(): void;
}

function detectInTunnel(
  deps: TunnelDeps,
  socket: Duplex,
  head: Buffer,
  route: Route,
  outcome: TunnelOutcome,
): void {
  if (head.length > 0) socket.unshift(head);
  tagTunnel(socket, route.authority);
  detectProtocol(socket, deps.detectTimeoutMs, (protocol, timedOut) => {
    if (timedOut) deps.detectTimedOut();
    if (protocol === 'http1' || protocol === 'h2') {
      outcome.notOpaque?.();
      deps.serveHttp(socket, protocol);
    } else if (protocol === undefined) {
      outcome.notOpaque?.();
      socket.destroy();
    } else {
      outcome.opaque();
    }
  });
}

/**
 * A tunnel to an authority the mesh does not know: answered once a connection to it
 * succeeds; the connection then carries the tunnel's bytes if they are not HTTP, and is
 * closed if they are (the HTTP stack makes its own). Counted as one request, unless HTTP.
 */
function connectThenDetect(deps: TunnelDeps, socket: Duplex, head: Buffer, route: Route): void {
  const started = performance.now();
  const target = route.target;
  const recorder = (status: number): ResponseRecorder => {
    const stats = deps.stats(route.authority).with(NO_TLS_NOT_DISCOVERED.labels);
    stats.requests.inc();
    const r = new ResponseRecorder(stats, started);
    r.head(status);
    return r;
  };
  const upstream = deps.connector.connect(target, true);
  const onError = (err: Error): void => {
    const error = upstreamError(err, target);
    recorder(error.status).end(error.status, undefined, false);
    if (socket.writable) failRaw(socket, error);
    else socket.destroy();
  };
  upstream.once('error', onError);
  const onClientClose = (): void => {
    upstream.destroy();
  };
  socket.once('close', onClientClose);
  upstream.once('connect', () => {
    upstream.off('error', onError);
    upstream.on('error', () => upstream.destroy());
    socket.write(ESTABLISHED);
    detectInTunnel(deps, socket, head, route, {
      opaque: () => {
        socket.off('close', onClientClose);
        const r = recorder(200);
        splice(socket, upstream, () => r.end(200, undefined, false));
      },
      notOpaque: () => upstream.destroy(),
    });
  });
}

/**
 * Relays a tunnel's bytes to its authority, counted as one request (its status 200 once
 * connected, or the proxy's error). `answer`: the client still waits for the CONNECT's
 * answer, sent once the upstream is connected; otherwise it has it, and a failure closes
 * the tunnel.
 */
function relayTunnel(deps: TunnelDeps, socket: Duplex, head: Buffer, route: Route, answer: boolean): void {
  const stats = (labels: Labels): AuthorityStats => deps.stats(route.authority).with(labels);
  const refuse = (error: ProxyError): void => {
    if (answer && socket.writable) failRaw(socket, error);
    else socket.destroy();
  };
  relayOpaque(deps, socket, route.authority, route.target, {
    unavailable: (error) => {
      const s = stats(NO_TLS_NOT_SENT.labels);
      s.requests.inc();
      const recorder = new ResponseRecorder(s, performance.now());
      recorder.head(error.status);
      recorder.end(error.status, undefined, false);
      refuse(error);
    },
    connecting: (target, spec) => {
      const s = stats(spec ? deps.upstream.labelsFor(spec) : NO_TLS_NOT_DISCOVERED.labels);
      s.requests.inc();
      const recorder = new ResponseRecorder(s, performance.now());
      return {
        failed: (err) => {
          const error = upstreamError(err, target);
          recorder.head(error.status);
          recorder.end(error.status, undefined, false);
          refuse(error);
        },
        established: (upstream) => {
          if (answer) socket.write(ESTABLISHED);
          recorder.head(200);
          if (head.length > 0) upstream.write(head);
        },
        ended: () => recorder.end(200, undefined, false),
      };
    },
  });
}

/** Inbound CONNECT has nowhere to go: the application is the only destination. */
export function refuseConnect(_req: http.IncomingMessage, socket: Duplex): void {
  socket.on('error', () => {});
  failRaw(socket, new ProxyError(405, 'CONNECT is only served on the outbound listener'));
}
