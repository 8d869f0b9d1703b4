import http from 'node:http';
import { ProxyError, upstreamError } from '../errors.js';
import type { HttpService } from '../http/exchange.js';
import type { H1Exchange } from '../http/h1-exchange.js';
import type { H1Pool } from '../http/h1-pool.js';
import { stripHopByHop, trailersObject } from '../http/headers.js';

const MAX_HEADER_BYTES = 64 * 1024;

/**
 * The HTTP/1 leaf: sends the request to its target over a pooled keep-alive connection
 * and streams both bodies with back-pressure, trailers included.
 */
export function forwardH1(pool: H1Pool): HttpService<H1Exchange> {
  return (ex) => {
    const target = ex.target;
    if (!target) {
      ex.fail(new ProxyError(502, 'no route to an upstream'));
      return;
    }
    const { req, res } = ex;
    const headers = ex.request.headers;
    // A chunked request body is re-framed chunked upstream; Node frames it by itself otherwise.
    if (ex.request.chunked) headers.push('transfer-encoding', 'chunked');
    const upstream = http.request({
      host: target.host,
      port: target.port,
      method: ex.method,
      path: ex.path,
      headers,
      agent: pool,
      setHost: false,
      maxHeaderSize: MAX_HEADER_BYTES,
    });

    upstream.on('response', (upRes) => {
      const status = upRes.statusCode ?? 502;
      const out = stripHopByHop(upRes.rawHeaders).headers;
      if (ex.draining) out.push('connection', 'close');
      res.writeHead(status, upRes.statusMessage, out);
      ex.responseHead(status);
      upRes.pipe(res, { end: false });
      upRes.once('end', () => {
        if (upRes.rawTrailers.length > 0) res.addTrailers(trailersObject(upRes.rawTrailers));
        res.end();
        ex.responseEnd(status, undefined, false);
      });
      upRes.once('aborted', () => {
        res.destroy();
        ex.responseEnd(status, undefined, true);
      });
    });

    upstream.on('error', (err) => {
      if (res.headersSent) {
        res.destroy();
        ex.responseEnd(res.statusCode, undefined, true);
      } else {
        req.unpipe(upstream);
        ex.fail(upstreamError(err, target));
      }
    });

    // The client went away before the response finished: stop the upstream request too,
    // so its half-done connection is not returned to the pool.
    res.once('close', () => {
      if (!res.writableFinished) {
        upstream.destroy();
        ex.responseEnd(res.statusCode, undefined, true);
      }
    });

    req.pipe(upstream, { end: false });
    req.once('end', () => {
      if (req.rawTrailers.length > 0) upstream.addTrailers(trailersObject(req.rawTrailers));
      upstream.end();
    });
  };
}
