import http2 from 'node:http2';
import { ProxyError, upstreamError } from '../errors.js';
import type { HttpLayer, HttpService } from '../http/exchange.js';
import { type BodyFraming, type H1Client, sendBody, writeBody } from '../http/h1-client.js';
import type { H2Exchange } from '../http/h2-exchange.js';
import { h2HeadersToRaw, ORIG_PROTO_HEADER, rawToH2Headers, trailersObject } from '../http/headers.js';
import { countingWriter } from '../tap/layer.js';
import { requestHead } from './forward-h1.js';

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;
const REQUEST_SKIP = new Set([ORIG_PROTO_HEADER, 'te']);
const NONE = new Set<string>();

/**
 * Inbound: an HTTP/2 stream that another proxy marked `weft-orig-proto: HTTP/1.1` was an
 * HTTP/1 request at its origin, and goes to the application as HTTP/1 again (over the
 * HTTP/1 pool). Other streams go on as HTTP/2. The marker never reaches the application.
 */
export function origProtoLayer(client: H1Client): HttpLayer<H2Exchange> {
  const restore = forwardAsH1(client);
  return (next) => (ex) => {
    const marker = ex.headers[ORIG_PROTO_HEADER];
    if (marker === undefined) {
      next(ex);
      return;
    }
    if (marker === 'HTTP/1.1' || marker === 'HTTP/1.0') restore(ex);
    else {
      delete ex.headers[ORIG_PROTO_HEADER];
      next(ex);
    }
  };
}

/** Sends an HTTP/2 exchange to its target as an HTTP/1.1 request, and its response back as HTTP/2. */
function forwardAsH1(client: H1Client): HttpService<H2Exchange> {
  return (ex) => {
    const target = ex.target;
    if (!target) {
      ex.fail(ex.failure ?? new ProxyError(502, 'no route to an upstream'));
      return;
    }
    const { stream, headers } = ex;
    const framing: BodyFraming = ex.endStream
      ? 'none'
      : headers['content-length'] !== undefined
        ? 'length'
        : 'chunked';
    const raw = h2HeadersToRaw(headers, REQUEST_SKIP, true);
    let status = 0;
    let done = false;
    let responseTrailers: Record<string, string> = {};
    const write = writeBody(stream, () => upstream.resume());
    const upstream = client.request(
      target,
      requestHead(ex.method, ex.path, raw, framing),
      framing,
      ex.method === 'HEAD',
      {
        head(code, _message, headers) {
          status = code;
          if (stream.destroyed) return;
          const out: Record<string, string | string[]> = {};
          rawToH2Headers(headers, out);
          stream.respond({ ...out, ':status': code }, { waitForTrailers: true });
          ex.responseHead(code);
        },
        // Counted only for a tapped exchange.
        body: ex.responseBytes === undefined ? write : countingWriter(ex, write),
        end(trailers) {
          done = true;
          responseTrailers = trailersObject(trailers);
          stream.end();
        },
        error(err) {
          done = true;
          if (!stream.headersSent) ex.fail(upstreamError(err, target));
          else {
            if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
            ex.responseEnd(status, undefined, true);
          }
        },
      },
    );
    stream.on('wantTrailers', () => {
      stream.sendTrailers(responseTrailers);
      ex.responseEnd(status, undefined, false);
    });
    stream.once('close', () => {
      if (done) return;
      upstream.abort();
      ex.responseEnd(status, undefined, stream.rstCode !== NGHTTP2_NO_ERROR);
    });
    if (framing === 'none') return;
    sendBody(stream, upstream, () => h2HeadersToRaw(ex.requestTrailers ?? {}, NONE, false));
  };
}
