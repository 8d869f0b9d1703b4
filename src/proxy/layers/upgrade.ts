import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { AuthorityStats } from '../../metrics/http.js';
import type { HostPort } from '../../util/addr.js';
import type { Endpoint } from '../balance/endpoint.js';
import type { DestinationClient } from '../discovery/destination.js';
import { ProxyError, upstreamError } from '../errors.js';
import { CLIENT_ID_HEADER, setHeader, stripHopByHop } from '../http/headers.js';
import { failRaw, writeHead } from '../http/raw.js';
import { ALPN_TRANSPORT, type MeshConnector } from '../tls/client.js';
import { NO_TLS_NOT_DISCOVERED, peerOf } from '../tls/peer.js';
import { encodeTransportHeader } from '../tls/transport-header.js';
import type { UpstreamTls } from '../tls/upstream.js';
import { originalDstOf } from '../transparent/tag.js';
import { pickForConnection } from './balance.js';
import type { Connector } from './connect.js';
import { ResponseRecorder } from './metrics.js';
import type { Router } from './route.js';
import { splice } from './splice.js';

export interface TunnelDeps {
  readonly inbound: boolean;
  readonly router: Router;
  readonly connector: Connector;
  readonly stats: (authority: string) => AuthorityStats;
  /** How endpoints are reached (mTLS or not), and their metric labels. */
  readonly upstream: UpstreamTls;
  /** Outbound with a control plane: CONNECT to a mesh service goes to its least-loaded endpoint. */
  readonly discovery?: DestinationClient;
  /** Outbound with an identity: tunnels to meshed endpoints go over mutual TLS. */
  readonly mesh?: MeshConnector;
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

/** CONNECT tunnels (outbound): any TCP, e.g. gRPC clients using `grpc_proxy`. */
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
    if (!deps.discovery) {
      tunnel(deps, socket, head, route.authority, route.target, undefined);
      return;
    }
    pickForConnection(deps.discovery, route.authority, (picked) => {
      if (picked instanceof ProxyError) {
        const recorder = new ResponseRecorder(
          deps.stats(route.authority).with(NO_TLS_NOT_DISCOVERED.labels),
          performance.now(),
        );
        recorder.head(picked.status);
        recorder.end(picked.status, undefined, false);
        if (socket.writable) failRaw(socket, picked);
      } else if (picked === 'dns') {
        tunnel(deps, socket, head, route.authority, route.target, undefined);
      } else {
        tunnel(deps, socket, head, route.authority, picked.spec.addr, picked);
      }
    });
  };
}

/** Opens a CONNECT tunnel's upstream connection and splices it to the client. */
function tunnel(
  deps: TunnelDeps,
  socket: Duplex,
  head: Buffer,
  authority: string,
  target: HostPort,
  endpoint: Endpoint | undefined,
): void {
  const spec = endpoint?.spec;
  const stats = deps
    .stats(authority)
    .with(spec ? deps.upstream.labelsFor(spec) : NO_TLS_NOT_DISCOVERED.labels);
  stats.requests.inc();
  const recorder = new ResponseRecorder(stats, performance.now());
  endpoint?.openConnection();
  if (socket.destroyed) {
    // The client left while waiting for an endpoint: give back a probe it may have claimed.
    endpoint?.closeConnection();
    return;
  }
  const serverId = spec && deps.mesh ? deps.upstream.serverId(spec) : undefined;
  const upstream =
    serverId !== undefined && deps.mesh
      ? deps.mesh.connect(target, serverId, ALPN_TRANSPORT, true)
      : deps.connector.connect(target, true);
  const onError = (err: Error): void => {
    endpoint?.closeConnection(true);
    const error = upstreamError(err, target);
    recorder.head(error.status);
    recorder.end(error.status, undefined, false);
    if (socket.writable) failRaw(socket, error);
  };
  upstream.once('error', onError);
  let established = false;
  socket.once('close', () => {
    if (!established) upstream.destroy();
  });
  upstream.once(serverId !== undefined ? 'secureConnect' : 'connect', () => {
    established = true;
    upstream.off('error', onError);
    if (serverId !== undefined) upstream.write(encodeTransportHeader(target.port));
    endpoint?.connected();
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    recorder.head(200);
    if (head.length > 0) upstream.write(head);
    splice(socket, upstream, () => {
      endpoint?.closeConnection();
      recorder.end(200, undefined, false);
    });
  });
}

/** Inbound CONNECT has nowhere to go: the application is the only destination. */
export function refuseConnect(_req: http.IncomingMessage, socket: Duplex): void {
  socket.on('error', () => {});
  failRaw(socket, new ProxyError(405, 'CONNECT is only served on the outbound listener'));
}
