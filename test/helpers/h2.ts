/**
 * HTTP/2 client helpers (node:http2, cleartext with prior knowledge).
 */
import { once } from 'node:events';
import http2 from 'node:http2';
import { withTimeout, writeChunks } from './net.js';

/** Request bodies are written in slices of this size. */
const SLICE = 64 * 1024;

export async function h2connect(port: number, host = '127.0.0.1'): Promise<http2.ClientHttp2Session> {
  const s = http2.connect(`http://${host}:${port}`);
  s.on('error', () => {});
  await withTimeout(once(s, 'connect'), 10_000, `HTTP/2 connect to ${host}:${port}`);
  return s;
}

export interface H2Result {
  headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader;
  status: number;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
}

/** One request on `session`; resolves with the status, headers, body and trailers. */
export function h2request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string | Buffer,
  requestTrailers?: http2.OutgoingHttpHeaders,
  timeoutMs = 15_000,
): Promise<H2Result> {
  const p = new Promise<H2Result>((resolve, reject) => {
    const req = session.request(headers, {
      endStream: body === undefined && requestTrailers === undefined,
      waitForTrailers: requestTrailers !== undefined,
    });
    if (requestTrailers) req.on('wantTrailers', () => req.sendTrailers(requestTrailers));
    let resHeaders: (http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader) | undefined;
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      resHeaders = h;
    });
    req.on('trailers', (t) => {
      trailers = t;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!resHeaders) {
        reject(new Error('stream ended without response headers'));
        return;
      }
      resolve({
        headers: resHeaders,
        status: Number(resHeaders[':status']),
        body: Buffer.concat(chunks),
        trailers,
      });
    });
    req.on('error', reject);
    if (body !== undefined || requestTrailers !== undefined) {
      // Write in slices with back-pressure: one huge write trips node's own session memory limit.
      const buf = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
      writeChunks(req, Math.ceil(buf.length / SLICE), (i) => buf.subarray(i * SLICE, (i + 1) * SLICE));
    }
  });
  return withTimeout(p, timeoutMs, `HTTP/2 ${headers[':method'] ?? 'GET'} ${headers[':path']}`);
}
