import http from 'node:http';
import http2 from 'node:http2';
import { ProxyError, upstreamError } from '../errors.js';
import type { HttpLayer, HttpService } from '../http/exchange.js';
import type { H1Exchange } from '../http/h1-exchange.js';
import type { H2Pool } from '../http/h2-pool.js';
import { h2HeadersToRaw, ORIG_PROTO_HEADER, rawToH2Headers, trailersObject } from '../http/headers.js';
import { countResponseBody } from '../tap/layer.js';

const { NGHTTP2_CANCEL } = http2.constants;
const RESPONSE_SKIP = new Set([ORIG_PROTO_HEADER]);

/**
 * The HTTP/1 leaf for meshed endpoints: the request goes to the peer proxy as an HTTP/2
 * stream marked `weft-orig-proto: HTTP/1.1`, on one of the endpoint's mutual-TLS sessions,
 * and the peer proxy restores it to HTTP/1 for its application. Bodies stream both ways
 * with back-pressure; chunked trailers travel as HTTP/2 trailers.
 */
export function forwardMeshH1(pool: H2Pool): HttpService<H1Exchange> {
  return (ex) => {
    const target = ex.target;
    if (!target) {
      ex.fail(ex.failure ?? new ProxyError(502, 'no route to an upstream'));
      return;
    }
    const { req, res } = ex;
    const chunked = ex.request.chunked;
    const hasBody = chunked || ex.request.hasLength;
    const headers: Record<string, string | string[]> = {
      ':method': ex.method,
      ':path': ex.path,
      ':scheme': 'http',
      // The Host the client sent (a request in a CONNECT tunnel keeps its own).
      ':authority': ex.requestAuthority ?? ex.authority,
      [ORIG_PROTO_HEADER]: 'HTTP/1.1',
    };
    rawToH2Headers(ex.request.headers, headers);

    let session: http2.ClientHttp2Session;
    let upstream: http2.ClientHttp2Stream;
    try {
      ({ session, stream: upstream } = pool.request(target, ex.serverId, headers, {
        endStream: !hasBody,
        waitForTrailers: chunked,
      }));
    } catch (err) {
      ex.fail(upstreamError(err, target));
      return;
    }
    const attempt = ex.startAttempt(() => {
      if (!upstream.closed) upstream.close(NGHTTP2_CANCEL);
    });
    const current = (): boolean => ex.attempt === attempt;
    let status = 0;
    let complete = false;
    let responseTrailers: http2.IncomingHttpHeaders | undefined;

    upstream.on('response', (resHeaders) => {
      const code = Number(resHeaders[':status'] ?? 502);
      if (!current() || ex.retriesResponse(code)) return;
      status = code;
      if (res.destroyed) return;
      const out = h2HeadersToRaw(resHeaders, RESPONSE_SKIP, false);
      if (ex.draining) out.push('connection', 'close');
      res.writeHead(status, http.STATUS_CODES[status] ?? '', out);
      ex.responseHead(status);
      upstream.pipe(res, { end: false });
      // Counted only for a tapped exchange.
      if (ex.responseBytes !== undefined) countResponseBody(ex, upstream);
    });
    upstream.on('trailers', (t) => {
      responseTrailers = t;
    });
    upstream.once('end', () => {
      complete = true;
      if (!current() || status === 0 || res.destroyed) return;
      if (responseTrailers)
        res.addTrailers(trailersObject(h2HeadersToRaw(responseTrailers, RESPONSE_SKIP, false)));
      res.end();
      ex.responseEnd(status, undefined, false);
    });
    upstream.on('wantTrailers', () => upstream.sendTrailers(trailersObject(req.rawTrailers)));
    if (hasBody) (ex.replayBody ?? req).pipe(upstream);

    const fail = (err: Error | undefined): void => {
      if (!current() || complete || res.destroyed || (status === 0 && res.headersSent)) return;
      if (status === 0) {
        const cause = pool.connectErrors.get(session) ?? err;
        ex.fail(
          cause
            ? upstreamError(cause, target)
            : new ProxyError(502, `upstream reset the stream (code ${upstream.rstCode})`),
        );
      } else {
        res.destroy();
        ex.responseEnd(status, undefined, true);
      }
    };
    upstream.on('error', fail);
    upstream.once('close', () => fail(undefined));
    ex.whenClosed(() => {
      if (res.writableFinished || !current()) return;
      if (!upstream.closed) upstream.close(NGHTTP2_CANCEL);
      ex.clientCancelled(status);
    });
  };
}

/** Sends HTTP/1 exchanges bound for a meshed endpoint (a server identity is set) over the mesh. */
export function meshH1Layer(pool: H2Pool): HttpLayer<H1Exchange> {
  const mesh = forwardMeshH1(pool);
  return (next) => (ex) => (ex.serverId === undefined ? next(ex) : mesh(ex));
}
