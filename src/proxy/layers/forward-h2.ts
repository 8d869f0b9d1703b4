import http2 from 'node:http2';
import { ProxyError, upstreamError } from '../errors.js';
import type { HttpService } from '../http/exchange.js';
import type { H2Exchange } from '../http/h2-exchange.js';
import type { H2Pool } from '../http/h2-pool.js';
import { grpcStatusOf, stripH2ConnectionHeaders } from '../http/headers.js';
import { countResponseBody } from '../tap/layer.js';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

/**
 * The HTTP/2 leaf: opens a stream on the target's pooled session and relays headers,
 * data (with flow control as back-pressure) and trailers both ways, so gRPC streaming
 * and trailers-only responses pass through as they are.
 */
export function forwardH2(pool: H2Pool): HttpService<H2Exchange> {
  return (ex) => {
    const target = ex.target;
    if (!target) {
      ex.fail(ex.failure ?? new ProxyError(502, 'no route to an upstream'));
      return;
    }
    const downstream = ex.stream;
    const headers: http2.OutgoingHttpHeaders = { ...ex.headers };
    stripH2ConnectionHeaders(headers);
    if (headers[':authority'] !== undefined) delete headers.host;
    headers[':path'] = ex.path;

    let session: http2.ClientHttp2Session;
    let upstream: http2.ClientHttp2Stream;
    try {
      ({ session, stream: upstream } = pool.request(target, ex.serverId, headers, {
        endStream: ex.endStream,
        waitForTrailers: !ex.endStream,
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
    /** The upstream response arrived whole (END_STREAM seen). */
    let complete = false;
    let responseTrailers: http2.IncomingHttpHeaders | undefined;

    upstream.on('response', (resHeaders, flags) => {
      const code = Number(resHeaders[':status'] ?? 502);
      if (!current() || ex.retriesResponse(code)) return;
      status = code;
      const out: http2.OutgoingHttpHeaders = { ...resHeaders };
      stripH2ConnectionHeaders(out);
      if (downstream.destroyed) return;
      if (flags & NGHTTP2_FLAG_END_STREAM) {
        // Trailers-only (a gRPC error): the status lives in the headers.
        complete = true;
        downstream.respond(out, { endStream: true });
        ex.responseHead(status);
        ex.responseEnd(status, grpcStatusOf(resHeaders), false);
        return;
      }
      downstream.respond(out, { waitForTrailers: true });
      ex.responseHead(status);
      upstream.pipe(downstream);
      // Counted only for a tapped exchange.
      if (ex.responseBytes !== undefined) countResponseBody(ex, upstream);
    });
    upstream.on('trailers', (t) => {
      responseTrailers = t;
    });
    upstream.once('end', () => {
      complete = true;
    });
    downstream.once('wantTrailers', () => {
      if (!current()) return;
      const t: http2.OutgoingHttpHeaders = { ...responseTrailers };
      stripH2ConnectionHeaders(t);
      downstream.sendTrailers(t);
      ex.responseEnd(status, grpcStatusOf(responseTrailers), false);
    });

    upstream.on('wantTrailers', () => {
      const t: http2.OutgoingHttpHeaders = { ...ex.requestTrailers };
      stripH2ConnectionHeaders(t);
      upstream.sendTrailers(t);
    });
    if (!ex.endStream) (ex.replayBody ?? downstream).pipe(upstream);

    upstream.on('error', (err) => {
      if (!current()) return;
      const cause = pool.connectErrors.get(session) ?? err;
      ex.fail(status === 0 ? upstreamError(cause, target) : new ProxyError(502, 'upstream stream failed'));
    });
    upstream.once('close', () => {
      if (!current() || complete || downstream.destroyed || (status === 0 && downstream.headersSent)) return;
      // The upstream stream ended without END_STREAM (reset, or its connection dropped).
      const cause = pool.connectErrors.get(session);
      if (status === 0) {
        ex.fail(
          cause
            ? upstreamError(cause, target)
            : new ProxyError(502, `upstream reset the stream (code ${upstream.rstCode})`),
        );
      } else {
        downstream.close(upstream.rstCode || NGHTTP2_INTERNAL_ERROR);
        ex.responseEnd(status, undefined, true);
      }
    });
    downstream.once('close', () => {
      if (!current()) return;
      if (!upstream.closed) upstream.close(NGHTTP2_CANCEL);
      ex.clientCancelled(status, status === 0 || downstream.rstCode !== NGHTTP2_NO_ERROR);
    });
  };
}
