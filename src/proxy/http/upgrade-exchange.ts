import type { IncomingMessage } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import type { ProxyError } from '../errors.js';
import { H1RequestExchange } from './h1-exchange.js';
import { failRaw } from './raw.js';

/**
 * An HTTP/1.1 request asking to switch protocols (`Upgrade: websocket` and others), which
 * Node's server hands over with the client's raw connection. It goes through the same
 * layers as any request; its response is written to the connection by hand, and after a
 * `101` the two connections are spliced (forward-upgrade.ts).
 */
export class UpgradeExchange extends H1RequestExchange {
  /** The status of the response head written to the client; 0 until then. */
  sentStatus = 0;

  constructor(
    req: IncomingMessage,
    /** The client's connection, which Node's HTTP server has let go of. */
    readonly socket: Duplex,
    /** Bytes the client sent after the request's head (the new protocol's first). */
    readonly head: Buffer,
  ) {
    super(req);
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
