import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { AuthorityStats } from '../../metrics/http.js';
import type { Labels } from '../../metrics/registry.js';
import { ProxyError, upstreamError } from '../errors.js';
import { CLIENT_ID_HEADER, setHeader, stripHopByHop } from '../http/headers.js';
import { failRaw, writeHead } from '../http/raw.js';
import { NO_TLS_NOT_DISCOVERED, peerOf } from '../tls/peer.js';
import type { UpstreamTls } from '../tls/upstream.js';
import { originalDstOf } from '../transparent/tag.js';
import { ResponseRecorder } from './metrics.js';
import { type OpaqueDeps, relayOpaque } from './opaque.js';
import type { Router } from './route.js';
import { splice } from './splice.js';

/**
 * What upgrades and tunnels need. CONNECT to a mesh service goes, with discovery, to its
 * least-loaded endpoint, over mutual TLS when this proxy has an identity (`mesh`).
 */
export interface TunnelDeps extends OpaqueDeps {
  readonly inbound: boolean;
  readonly router: Router;
  readonly stats: (authority: string) => AuthorityStats;
  /** How endpoints are reached (mTLS or not), and their metric labels. */
  readonly upstream: UpstreamTls;
}

/**
 * HTTP/1 upgrades (WebSocket and others): the request goes upstream on a connection of
 * its own; on `101 Switching Protocols` both connections are spliced together, and any
 * other answer is relayed as an ordinary response before the connection closes.
 */
export function upgradeHandler(deps: TunnelDeps) {
  return (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => {});
    const filtered = stripHopByHop(req.rawHeaders);
    const route = deps.router.route(filtered.host, req.url ?? '/', originalDstOf(req.socket));
    if (route instanceof ProxyError) {
      failRaw(socket, route);
      return;
    }
    const peer = deps.inbound ? peerOf(req.socket) : NO_TLS_NOT_DISCOVERED;
    const stats = deps.stats(route.authority).with(peer.labels);
    stats.requests.inc();
    const recorder = new ResponseRecorder(stats, performance.now());
    const headers = filtered.headers;
    if (deps.inbound) setHeader(headers, CLIENT_ID_HEADER, peer.id);
    if (route.authority !== filtered.host) headers.push('host', route.authority);
    headers.push('connection', 'upgrade', 'upgrade', filtered.upgrade ?? '');
    const upstream = http.request({
      host: route.target.host,
      port: route.target.port,
      method: req.method,
      path: route.path,
      headers,
      setHost: false,
      agent: false,
      createConnection: () => deps.connector.connect(route.target, true),
    });

    upstream.once('upgrade', (upRes, upSocket, upHead) => {
      const status = upRes.statusCode ?? 101;
      writeHead(socket, status, upRes.statusMessage ?? 'Switching Protocols', upRes.rawHeaders);
      recorder.head(status);
      if (upHead.length > 0) socket.write(upHead);
      if (head.length > 0) upSocket.write(head);
      splice(socket, upSocket, () => recorder.end(status, undefined, false));
    });
    upstream.once('response', (upRes) => {
      // The upstream declined the upgrade: relay its answer, then close.
      const status = upRes.statusCode ?? 502;
      const out = stripHopByHop(upRes.rawHeaders).headers;
      out.push('connection', 'close');
      writeHead(socket, status, upRes.statusMessage ?? '', out);
      recorder.head(status);
      upRes.pipe(socket);
      upRes.once('end', () => recorder.end(status, undefined, false));
    });
    upstream.once('error', (err) => {
      const error = upstreamError(err, route.target);
      if (socket.writable) failRaw(socket, error);
      else socket.destroy();
      recorder.head(error.status);
      recorder.end(error.status, undefined, false);
    });
    socket.once('close', () => upstream.destroy());
    upstream.end();
  };
}

/**
 * CONNECT tunnels (outbound): any TCP, e.g. gRPC clients using `grpc_proxy`. With
 * discovery, a tunnel to a mesh service goes to its least-loaded endpoint (`relayOpaque`).
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
    const stats = (labels: Labels): AuthorityStats => deps.stats(route.authority).with(labels);
    relayOpaque(deps, socket, route.authority, route.target, {
      unavailable: (error) => {
        const recorder = new ResponseRecorder(stats(NO_TLS_NOT_DISCOVERED.labels), performance.now());
        recorder.head(error.status);
        recorder.end(error.status, undefined, false);
        if (socket.writable) failRaw(socket, error);
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
            if (socket.writable) failRaw(socket, error);
          },
          established: (upstream) => {
            socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
            recorder.head(200);
            if (head.length > 0) upstream.write(head);
          },
          ended: () => recorder.end(200, undefined, false),
        };
      },
    });
  };
}

/** Inbound CONNECT has nowhere to go: the application is the only destination. */
export function refuseConnect(_req: http.IncomingMessage, socket: Duplex): void {
  socket.on('error', () => {});
  failRaw(socket, new ProxyError(405, 'CONNECT is only served on the outbound listener'));
}
