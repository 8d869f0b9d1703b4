import { ProxyError, upstreamError } from '../errors.js';
import type { HttpService } from '../http/exchange.js';
import { type BodyFraming, type H1Client, sendBody, writeBody } from '../http/h1-client.js';
import type { H1Exchange } from '../http/h1-exchange.js';
import { trailersObject } from '../http/headers.js';
import { countingWriter } from '../tap/layer.js';

/** The request head sent upstream: origin-form request line and end-to-end headers. */
export function requestHead(
  method: string,
  path: string,
  headers: readonly string[],
  framing: BodyFraming,
): string {
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  if (framing === 'chunked') head += 'transfer-encoding: chunked\r\n';
  return `${head}\r\n`;
}

/**
 * The HTTP/1 leaf: sends the request to its target over a pooled keep-alive connection
 * and streams both bodies with back-pressure, trailers included. A client that goes away
 * cancels the upstream request.
 */
export function forwardH1(client: H1Client): HttpService<H1Exchange> {
  return (ex) => {
    const target = ex.target;
    if (!target) {
      ex.fail(ex.failure ?? new ProxyError(502, 'no route to an upstream'));
      return;
    }
    const { req, res } = ex;
    const framing: BodyFraming = ex.request.chunked ? 'chunked' : ex.request.hasLength ? 'length' : 'none';
    let status = 0;
    const write = writeBody(res, () => upstream.resume());
    const upstream = client.request(
      target,
      requestHead(ex.method, ex.path, ex.request.headers, framing),
      framing,
      ex.method === 'HEAD',
      {
        head(code, message, out) {
          if (ex.attempt !== attempt || ex.retriesResponse(code)) return;
          status = code;
          if (ex.draining) out.push('connection', 'close');
          res.writeHead(code, message, out);
          ex.responseHead(code);
        },
        // Counted only for a tapped exchange.
        body: ex.responseBytes === undefined ? write : countingWriter(ex, write),
        end(trailers) {
          if (ex.attempt !== attempt) return;
          if (trailers.length > 0) res.addTrailers(trailersObject(trailers));
          res.end();
          ex.responseEnd(status, undefined, false);
        },
        error(err) {
          if (ex.attempt !== attempt) return;
          if (res.headersSent) {
            res.destroy();
            ex.responseEnd(status, undefined, true);
          } else {
            ex.fail(upstreamError(err, target));
          }
        },
      },
    );
    const attempt = ex.startAttempt(() => upstream.abort());

    ex.whenClosed(() => {
      if (!res.writableFinished && ex.attempt === attempt) {
        upstream.abort();
        ex.clientCancelled(status);
      }
    });

    if (framing === 'none') return;
    sendBody(ex.replayBody ?? req, upstream, () => req.rawTrailers);
  };
}
