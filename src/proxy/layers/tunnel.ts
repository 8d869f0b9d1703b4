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
import type { Protocol } from './detect.js';
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
  /** Whether an authority's port carries opaque TCP (no detection: server-speaks-first works). */
  readonly whenOpaque: (authority: string, port: number, cb: (opaque: boolean) => void) => void;
  /** The direction's protocol detection (a timeout makes the tunnel opaque, counted). */
  readonly detect: (socket: Duplex, done: (protocol: Protocol | undefined) => void) => void;
  /** Serves HTTP found inside a tunnel with the direction's HTTP stack. */
  readonly serveHttp: (socket: Duplex, protocol: 'http1' | 'h2') => void;
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
  deps.detect(socket, (protocol) => {
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

/** Counts a tunnel as one request to its authority, under its upstream's labels. */
function countTunnel(
  deps: TunnelDeps,
  route: Route,
  labels: Labels,
  startedAt = performance.now(),
): ResponseRecorder {
  const stats = deps.stats(route.authority).with(labels);
  stats.requests.inc();
  return new ResponseRecorder(stats, startedAt);
}

/**
 * A tunnel that failed before it carried anything: the proxy's error is counted, and
 * answered when the client still waits for the CONNECT's answer (else the tunnel closes).
 */
function failTunnel(socket: Duplex, recorder: ResponseRecorder, error: ProxyError, answer: boolean): void {
  recorder.head(error.status);
  recorder.end(error.status, undefined, false);
  if (answer && socket.writable) failRaw(socket, error);
  else socket.destroy();
}

/**
 * A tunnel to an authority the mesh does not know: answered once a connection to it
 * succeeds; the connection then carries the tunnel's bytes if they are not HTTP, and is
 * closed if they are (the HTTP stack makes its own). Counted as one request, unless HTTP.
 */
function connectThenDetect(deps: TunnelDeps, socket: Duplex, head: Buffer, route: Route): void {
  const started = performance.now();
  const target = route.target;
  const upstream = deps.connector.connect(target, true);
  const onError = (err: Error): void => {
    const recorder = countTunnel(deps, route, NO_TLS_NOT_DISCOVERED.labels, started);
    failTunnel(socket, recorder, upstreamError(err, target), true);
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
        const recorder = countTunnel(deps, route, NO_TLS_NOT_DISCOVERED.labels, started);
        recorder.head(200);
        splice(socket, upstream, () => recorder.end(200, undefined, false));
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
  relayOpaque(deps, socket, route.authority, route.target, {
    unavailable: (error) =>
      failTunnel(socket, countTunnel(deps, route, NO_TLS_NOT_SENT.labels), error, answer),
    connecting: (target, spec) => {
      const recorder = countTunnel(
        deps,
        route,
        spec ? deps.upstream.labelsFor(spec) : NO_TLS_NOT_DISCOVERED.labels,
      );
      return {
        failed: (err) => failTunnel(socket, recorder, upstreamError(err, target), answer),
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
