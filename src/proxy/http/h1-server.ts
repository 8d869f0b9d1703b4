import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../util/log.js';
import { errorResponse, ProxyError } from '../errors.js';
import type { HttpService } from './exchange.js';
import { H1Exchange } from './h1-exchange.js';
import { MAX_HEADER_BYTES, requestFault, SERVER_MAX_HEADERS_COUNT } from './h1-rules.js';
import { failRaw } from './raw.js';
import { UpgradeExchange } from './upgrade-exchange.js';

/** How long a client may take to send a request's headers once it has started one. */
const HEADERS_TIMEOUT_MS = 60_000;
/** How long an idle client keep-alive connection is kept open. */
const KEEP_ALIVE_TIMEOUT_MS = 60_000;

export interface H1ServerOptions {
  readonly service: HttpService<H1Exchange>;
  /** Requests carrying `Upgrade` (WebSocket and others). */
  readonly upgrade: HttpService<UpgradeExchange>;
  /** `CONNECT` requests; the outbound side tunnels them, the inbound side refuses them. */
  readonly connect: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;
  readonly isDraining: () => boolean;
  /** How long an idle keep-alive connection is kept open (60 s by default). */
  readonly keepAliveTimeoutMs?: number;
  readonly log: Logger;
}

/**
 * The HTTP/1 server side: parses requests from connections the detect layer hands it
 * (it never listens itself) and turns each into an H1Exchange for the service stack.
 * What cannot be parsed, or what h1-rules.ts refuses, is answered 400 (or 431 for
 * oversized headers) and its connection closed: nothing of it, and nothing after it on
 * that connection, is forwarded.
 */
export class H1Server {
  private readonly server: http.Server;

  constructor(opts: H1ServerOptions) {
    this.server = http.createServer(
      {
        maxHeaderSize: MAX_HEADER_BYTES,
        headersTimeout: HEADERS_TIMEOUT_MS,
        // Bodies may stream for as long as they need; stalled peers are bounded by headersTimeout.
        requestTimeout: 0,
        keepAliveTimeout: opts.keepAliveTimeoutMs ?? KEEP_ALIVE_TIMEOUT_MS,
        noDelay: true,
      },
      (req, res) => {
        res.sendDate = false;
        const ex = new H1Exchange(req, res, opts.isDraining());
        const fault = refusedBefore(req.socket) ?? requestFault(req, ex.request);
        if (fault) refuse(req.socket, fault, res);
        else opts.service(ex);
      },
    );
    // Node drops fields past its count without a word (a Content-Length among them): keep
    // one more than the limit, so that requestFault sees the request went past it.
    this.server.maxHeadersCount = SERVER_MAX_HEADERS_COUNT;
    // Node starts tracking connections (idle detection, headersTimeout checks) when a server
    // starts listening; this one never listens, it is handed connections, so start it here.
    this.server.emit('listening');
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => {});
      const ex = new UpgradeExchange(req, socket, head);
      const fault = requestFault(req, ex.request);
      if (fault) refuse(socket, fault, undefined);
      else opts.upgrade(ex);
    });
    this.server.on('connect', opts.connect);
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      opts.log.debug({ err: err.code ?? err.message }, 'dropped a malformed HTTP/1 request');
      const error =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? new ProxyError(431, 'request headers exceed 64 KiB')
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT'
            ? new ProxyError(408, 'request headers not received in time')
            : new ProxyError(400, `malformed HTTP request (${err.code ?? 'parse error'})`);
      // Answer only if no response is under way on the connection and the peer can still read.
      if (
        err.code !== 'ECONNRESET' &&
        socket.writable &&
        !(socket as { _httpMessage?: unknown })._httpMessage
      ) {
        failRaw(socket, error);
        socket.destroySoon();
      } else {
        socket.destroy();
      }
    });
  }

  accept(socket: Duplex): void {
    this.server.emit('connection', socket);
    // The detect layer paused the socket and put its first bytes back: let them flow to
    // the parser (which reads the rest straight from the handle).
    socket.resume();
  }

  /** Closes keep-alive connections that have no request in flight. */
  closeIdle(): void {
    this.server.closeIdleConnections();
  }
}

const REFUSED = Symbol('weft.refused');
type Tagged = { [REFUSED]?: ProxyError };

/** A request the connection carried was refused: requests it has pipelined behind it are refused too. */
function refusedBefore(socket: object): ProxyError | undefined {
  return (socket as Tagged)[REFUSED];
}

/**
 * Answers a refused request and closes its connection, whose framing can no longer be
 * trusted; requests Node has already parsed behind it on the connection get no answer.
 */
function refuse(socket: Duplex, error: ProxyError, res: http.ServerResponse | undefined): void {
  if ((socket as Tagged)[REFUSED]) {
    res?.destroy();
    return;
  }
  (socket as Tagged)[REFUSED] = error;
  if (!res) {
    failRaw(socket, error);
    return;
  }
  const { body, headers } = errorResponse(error, true);
  res.writeHead(error.status, headers);
  res.end(body);
}
