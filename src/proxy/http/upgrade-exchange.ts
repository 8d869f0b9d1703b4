import type { IncomingMessage } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import type { ProxyError } from '../errors.js';
import { type Peer, peerOf } from '../tls/peer.js';
import { originalDstOf } from '../transparent/tag.js';
import { Exchange } from './exchange.js';
import { type FilteredHeaders, headerValue, setHeader, setHost, stripHopByHop } from './headers.js';
import { failRaw } from './raw.js';
import { tunnelOf } from './tunnel-tag.js';

/**
 * An HTTP/1.1 request asking to switch protocols (`Upgrade: websocket` and others), which
 * Node's server hands over with the client's raw connection. It goes through the same
 * layers as any request; its response is written to the connection by hand, and after a
 * `101` the two connections are spliced (forward-upgrade.ts).
 */
export class UpgradeExchange extends Exchange {
  readonly protocol = 'http1';
  readonly method: string;
  readonly request: FilteredHeaders;
  readonly peer: Peer;
  /** The status of the response head written to the client; 0 until then. */
  sentStatus = 0;

  constructor(
    readonly req: IncomingMessage,
    /** The client's connection, which Node's HTTP server has let go of. */
    readonly socket: Duplex,
    /** Bytes the client sent after the request's head (the new protocol's first). */
    readonly head: Buffer,
  ) {
    super();
    this.method = req.method ?? 'GET';
    this.request = stripHopByHop(req.rawHeaders);
    this.path = req.url ?? '/';
    this.peer = peerOf(req.socket);
    this.originalDst = originalDstOf(req.socket);
    this.tunnelAuthority = tunnelOf(req.socket);
  }

  get requestAuthority(): string | undefined {
    return this.request.host;
  }

  setRequestAuthority(authority: string): void {
    setHost(this.request.headers, authority);
  }

  setRequestHeader(name: string, value: string | undefined): void {
    setHeader(this.request.headers, name, value);
  }

  requestHeader(name: string): string | undefined {
    return headerValue(this.request.headers, name);
  }

  /** What follows an upgrade request's head belongs to the new protocol, sent after the 101. */
  get requestBody(): Readable | undefined {
    return undefined;
  }

  get clientGone(): boolean {
    return this.socket.destroyed;
  }

  protected sendFailure(error: ProxyError): void {
    if (this.responded) {
      this.socket.destroy();
      this.responseEnd(this.sentStatus, undefined, true);
      return;
    }
    if (this.socket.writable) failRaw(this.socket, error);
    else this.socket.destroy();
    this.responseHead(error.status);
    this.responseEnd(error.status, undefined, false);
  }
}
