import type { Readable } from 'node:stream';
import type { ProxyError } from '../../../src/proxy/errors.js';
import { Exchange } from '../../../src/proxy/http/exchange.js';
import { NO_TLS_FROM_REMOTE, type Peer } from '../../../src/proxy/tls/peer.js';

/** An HTTP/1 exchange with no connection behind it. */
export class FakeExchange extends Exchange {
  readonly protocol = 'http1';
  readonly method: string;
  readonly requestAuthority = 'web-svc:80';
  readonly requestBody: Readable | undefined = undefined;
  readonly clientGone = false;
  /** What the tap layer reads for the client's address (H1Exchange's req.socket). */
  readonly req = {
    socket: { remoteAddress: '10.0.0.7', remotePort: 40000, localAddress: '10.0.0.9', localPort: 4143 },
  };

  constructor(
    method = 'GET',
    path = '/',
    readonly peer: Peer = NO_TLS_FROM_REMOTE,
  ) {
    super();
    this.method = method;
    this.path = path;
    this.authority = 'web-svc:80';
  }
  setRequestAuthority(): void {}
  setRequestHeader(): void {}
  requestHeader(): string | undefined {
    return undefined;
  }
  protected sendFailure(_error: ProxyError): void {}
}
