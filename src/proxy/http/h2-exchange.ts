import http2 from 'node:http2';
import type { Readable } from 'node:stream';
import type { ProxyError } from '../errors.js';
import type { Peer } from '../tls/peer.js';
import { Exchange } from './exchange.js';

/** An HTTP/2 stream received by the proxy (h2c with prior knowledge). */
export class H2Exchange extends Exchange {
  readonly protocol = 'h2';
  readonly method: string;
  /** Trailers the client sent after its request body, once they have arrived. */
  requestTrailers: http2.IncomingHttpHeaders | undefined;

  constructor(
    readonly stream: http2.ServerHttp2Stream,
    readonly headers: http2.IncomingHttpHeaders,
    /** The client ended the stream with its headers: there is no request body. */
    readonly endStream: boolean,
    readonly peer: Peer,
  ) {
    super();
    this.method = headers[':method'] ?? 'GET';
    this.path = headers[':path'] ?? '/';
    if (!endStream) stream.once('trailers', (t: http2.IncomingHttpHeaders) => (this.requestTrailers = t));
  }

  get requestAuthority(): string | undefined {
    return this.headers[':authority'] ?? this.headers.host;
  }

  setRequestAuthority(authority: string): void {
    this.headers[':authority'] = authority;
  }

  setRequestHeader(name: string, value: string | undefined): void {
    if (value === undefined) delete this.headers[name];
    else this.headers[name] = value;
  }

  requestHeader(name: string): string | undefined {
    const value = this.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  get requestBody(): Readable | undefined {
    return this.endStream ? undefined : this.stream;
  }

  get clientGone(): boolean {
    return this.stream.destroyed;
  }

  protected sendFailure(error: ProxyError): void {
    const stream = this.stream;
    if (stream.headersSent || stream.destroyed) {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      this.responseEnd(Number(stream.sentHeaders?.[':status'] ?? 502), undefined, true);
      return;
    }
    stream.respond({
      ':status': error.status,
      'content-type': 'text/plain; charset=utf-8',
      'weft-proxy-error': error.reason,
    });
    this.responseHead(error.status);
    stream.end(this.method === 'HEAD' ? undefined : `${error.reason}\n`);
    this.responseEnd(error.status, undefined, false);
  }
}
