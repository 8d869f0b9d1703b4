import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { errorResponse, type ProxyError } from '../errors.js';
import { type Peer, peerOf } from '../tls/peer.js';
import { originalDstOf } from '../transparent/tag.js';
import { Exchange } from './exchange.js';
import { type FilteredHeaders, headerValue, setHeader, setHost, stripHopByHop } from './headers.js';
import { tunnelOf } from './tunnel-tag.js';

/**
 * What every HTTP/1.x request received by the proxy has, whether it is answered with a
 * response (H1Exchange) or asks to switch protocols (UpgradeExchange): its head, with the
 * hop-by-hop headers already removed, and what its connection says of the client.
 */
export abstract class H1RequestExchange extends Exchange {
  readonly protocol = 'http1';
  readonly method: string;
  readonly request: FilteredHeaders;
  readonly peer: Peer;
  /** The Host header's value: the client's until the route layer rewrites it. */
  private host: string | undefined;

  constructor(readonly req: IncomingMessage) {
    super();
    this.method = req.method ?? 'GET';
    this.request = stripHopByHop(req.rawHeaders);
    this.host = this.request.host;
    this.path = req.url ?? '/';
    this.peer = peerOf(req.socket);
    this.originalDst = originalDstOf(req.socket);
    this.tunnelAuthority = tunnelOf(req.socket);
  }

  get requestAuthority(): string | undefined {
    return this.host;
  }

  setRequestAuthority(authority: string): void {
    this.host = authority;
    setHost(this.request.headers, authority);
  }

  setRequestHeader(name: string, value: string | undefined): void {
    setHeader(this.request.headers, name, value);
  }

  requestHeader(name: string): string | undefined {
    return headerValue(this.request.headers, name);
  }
}

/** An HTTP/1.x request received by the proxy, answered with a response. */
export class H1Exchange extends H1RequestExchange {
  constructor(
    req: IncomingMessage,
    readonly res: ServerResponse,
    /** Whether the proxy is shutting down: responses then close their connections. */
    readonly draining: boolean,
  ) {
    super(req);
  }

  get requestBody(): Readable | undefined {
    return this.request.chunked || this.request.hasLength ? this.req : undefined;
  }

  get clientGone(): boolean {
    return this.res.destroyed;
  }

  private onClientClose: (() => void) | undefined;

  /**
   * Runs `cb` when the response closes (the client went away, or it was sent), in place of
   * any earlier attempt's: one listener for the exchange however often it is retried.
   */
  whenClosed(cb: () => void): void {
    if (this.onClientClose === undefined) this.res.once('close', () => this.onClientClose?.());
    this.onClientClose = cb;
  }

  protected sendFailure(error: ProxyError): void {
    const res = this.res;
    if (res.headersSent) {
      res.destroy();
      this.responseEnd(res.statusCode, undefined, true);
      return;
    }
    const { body, headers } = errorResponse(error, this.draining);
    res.writeHead(error.status, headers);
    this.responseHead(error.status);
    res.end(this.method === 'HEAD' ? undefined : body);
    this.responseEnd(error.status, undefined, false);
  }
}
