import http from 'node:http';
import { ProxyError, upstreamError } from '../errors.js';
import type { HttpService } from '../http/exchange.js';
import { responseFault, SERVER_MAX_HEADERS_COUNT } from '../http/h1-rules.js';
import { stripHopByHop } from '../http/headers.js';
import { writeHead } from '../http/raw.js';
import type { UpgradeExchange } from '../http/upgrade-exchange.js';
import { ALPN_HTTP1, type MeshConnector } from '../tls/client.js';
import type { Connector } from './connect.js';
import { splice } from './splice.js';

/**
 * The leaf for HTTP/1 upgrades (WebSocket and others): the request goes to its target on
 * a connection of its own (to a meshed endpoint, mutual TLS carrying HTTP/1.1, which the
 * peer proxy serves like any upgrade). On `101 Switching Protocols` the two connections
 * are spliced, and the exchange ends when both have closed; any other answer is relayed
 * as an ordinary response before the connection closes.
 */
export function forwardUpgrade(
  connector: Connector,
  mesh: MeshConnector | undefined,
): HttpService<UpgradeExchange> {
  return (ex) => {
    const target = ex.target;
    if (!target) {
      ex.fail(ex.failure ?? new ProxyError(502, 'no route to an upstream'));
      return;
    }
    const client = ex.socket;
    const serverId = ex.serverId;
    const upstream = http.request({
      host: target.host,
      port: target.port,
      method: ex.method,
      path: ex.path,
      headers: [...ex.request.headers, 'connection', 'upgrade', 'upgrade', ex.request.upgrade ?? ''],
      setHost: false,
      // No agent: with one (even `agent: false`), Node ignores createConnection and dials
      // host:port itself, in plaintext and without the connect timeout.
      createConnection: () =>
        serverId !== undefined && mesh
          ? mesh.connect(target, serverId, ALPN_HTTP1, true)
          : connector.connect(target, true),
    });
    // Node would keep 2,000 fields and drop the rest: one past the limit shows it was passed.
    upstream.maxHeadersCount = SERVER_MAX_HEADERS_COUNT;
    const attempt = ex.startAttempt(() => upstream.destroy());
    const current = (): boolean => ex.attempt === attempt;
    let spliced = false;

    upstream.once('upgrade', (res, upSocket, upHead) => {
      if (!current() || client.destroyed) {
        upSocket.destroy();
        return;
      }
      const status = res.statusCode ?? 101;
      const fault = responseFault(res.rawHeaders, stripHopByHop(res.rawHeaders));
      if (fault) {
        upSocket.destroy();
        ex.fail(fault);
        return;
      }
      writeHead(client, status, res.statusMessage ?? 'Switching Protocols', res.rawHeaders);
      ex.sentStatus = status;
      ex.responseHead(status);
      if (upHead.length > 0) client.write(upHead);
      if (ex.head.length > 0) upSocket.write(ex.head);
      spliced = true;
      splice(client, upSocket, () => ex.responseEnd(status, undefined, false));
    });
    upstream.once('response', (res) => {
      const status = res.statusCode ?? 502;
      if (!current() || ex.retriesResponse(status)) {
        res.destroy();
        return;
      }
      // The upstream declined the upgrade: relay its answer, then close.
      const filtered = stripHopByHop(res.rawHeaders);
      const fault = responseFault(res.rawHeaders, filtered);
      if (fault) {
        res.destroy();
        ex.fail(fault);
        return;
      }
      const out = filtered.headers;
      out.push('connection', 'close');
      writeHead(client, status, res.statusMessage ?? '', out);
      ex.sentStatus = status;
      ex.responseHead(status);
      res.pipe(client);
      res.once('end', () => ex.responseEnd(status, undefined, false));
    });
    upstream.once('error', (err) => {
      if (!current()) return;
      if (!ex.responded) ex.fail(upstreamError(err, target));
      else {
        client.destroy();
        ex.responseEnd(ex.sentStatus, undefined, true);
      }
    });
    client.once('close', () => {
      if (spliced || ex.finished || !current()) return;
      upstream.destroy();
      ex.clientCancelled(ex.sentStatus);
    });
    upstream.end();
  };
}
