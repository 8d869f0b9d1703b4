import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { formatHostPort, type HostPort } from '../../util/addr.js';
import type { Connector } from '../layers/connect.js';
import { MAX_HEADER_BYTES, responseFault } from './h1-rules.js';
import { stripHopByHop } from './headers.js';
import { HTTPParser } from './llhttp.js';

/** Idle upstream connections are closed after this, before servers' own idle timeouts (Node's is 5 s). */
const IDLE_TIMEOUT_MS = 4000;
/** At most this many idle connections are kept per target. */
const MAX_IDLE_PER_TARGET = 256;

/** Where an upstream response goes, piece by piece. */
export interface ResponseSink {
  /** The response's head, its hop-by-hop fields removed. */
  head(status: number, message: string, headers: string[]): void;
  /** Returns false when the client is not keeping up; the response pauses until resume(). */
  body(chunk: Buffer): boolean;
  end(rawTrailers: string[]): void;
  error(err: Error): void;
}

/** How a request's body is framed upstream: none, Content-Length (bytes as they are), or chunked. */
export type BodyFraming = 'none' | 'length' | 'chunked';

/** An upstream request in flight: its body goes in through write/end. */
export interface UpstreamRequest {
  /** Returns false when the upstream is not keeping up; wait for onDrain. */
  write(chunk: Buffer): boolean;
  end(rawTrailers: readonly string[]): void;
  onDrain(cb: () => void): void;
  /** Resumes a response paused by the sink. */
  resume(): void;
  /** The client went away: drop the connection, it cannot be reused. */
  abort(): void;
}

/**
 * A ResponseSink's `body`: writes each chunk to `dest`; when `dest` is full, the response
 * pauses until 'drain', then `resume` (the request's) lets it go on.
 */
export function writeBody(dest: Writable, resume: () => void): (chunk: Buffer) => boolean {
  let waitingForDrain = false;
  return (chunk) => {
    if (dest.write(chunk)) return true;
    if (!waitingForDrain) {
      waitingForDrain = true;
      dest.once('drain', () => {
        waitingForDrain = false;
        resume();
      });
    }
    return false;
  };
}

/** Streams a request body from `src` to the upstream with back-pressure, then the trailers. */
export function sendBody(src: Readable, upstream: UpstreamRequest, trailers: () => readonly string[]): void {
  src.on('data', (chunk: Buffer) => {
    if (!upstream.write(chunk)) {
      src.pause();
      upstream.onDrain(() => src.resume());
    }
  });
  src.once('end', () => upstream.end(trailers()));
}

class UpstreamClosedError extends Error {
  readonly code = 'ECONNRESET';
  constructor() {
    super('upstream closed the connection before the response was complete');
  }
}

/**
 * One keep-alive connection to an upstream, with Node's llhttp parser reading its
 * responses (and h1-rules.ts refusing what it lets through but cannot be relayed). It carries one request at a time and goes back to its pool when both the
 * request and the response are complete and the server allows keep-alive.
 */
class Connection {
  private sink: ResponseSink | undefined;
  private pendingHeaders: string[] = [];
  private informational = false;
  private skipBody = false;
  private keepAlive = false;
  private requestDone = false;
  private responseDone = false;
  /** Whether any byte of the current response has been parsed. */
  responseStarted = false;
  /** Whether this connection has carried a request before the current one. */
  reused = false;

  constructor(
    readonly socket: Socket,
    readonly key: string,
    private readonly pool: H1Client,
  ) {
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.RESPONSE, {}, MAX_HEADER_BYTES, 0);
    // Long header blocks and trailers arrive in pieces before the callback that completes them.
    parser[HTTPParser.kOnHeaders] = (headers: string[]) => {
      for (const h of headers) this.pendingHeaders.push(h);
    };
    parser[HTTPParser.kOnHeadersComplete] = (
      _major: number,
      _minor: number,
      headers: string[] | undefined,
      _method: number,
      _url: string,
      status: number,
      message: string,
      _upgrade: boolean,
      keepAlive: boolean,
    ): number => {
      const raw = headers ?? this.pendingHeaders;
      this.pendingHeaders = [];
      if (status < 200) {
        // 1xx interim responses (100 Continue, 103 Early Hints) are not relayed.
        this.informational = true;
        return 0;
      }
      // A response the proxy cannot relay faithfully (h1-rules.ts) fails as a 502.
      const filtered = stripHopByHop(raw);
      const fault = responseFault(raw, filtered);
      if (fault) {
        this.fail(fault);
        return 1;
      }
      this.keepAlive = keepAlive;
      this.sink?.head(status, message, filtered.headers);
      return this.skipBody ? 1 : 0;
    };
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
      if (this.sink && !this.sink.body(chunk)) socket.pause();
    };
    parser[HTTPParser.kOnMessageComplete] = () => {
      if (this.informational) {
        this.informational = false;
        return;
      }
      const trailers = this.pendingHeaders;
      this.pendingHeaders = [];
      const sink = this.sink;
      this.sink = undefined;
      this.responseDone = true;
      sink?.end(trailers);
      this.settle();
    };

    socket.on('data', (data: Buffer) => {
      if (!this.sink) {
        socket.destroy(); // bytes nobody asked for: the connection is out of step
        return;
      }
      this.responseStarted = true;
      const result = parser.execute(data);
      if (result instanceof Error) this.fail(result);
    });
    socket.on('end', () => {
      // A body delimited by the connection's end completes here.
      const result = this.sink ? parser.finish() : undefined;
      if (result instanceof Error) this.fail(result);
      else if (this.sink) this.fail(new UpstreamClosedError());
      socket.destroy();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => {
      this.pool.forget(this);
      if (this.sink) this.fail(new UpstreamClosedError());
      setImmediate(() => parser.close());
    });
    socket.on('timeout', () => {
      if (!this.sink) socket.destroy();
    });
  }

  start(sink: ResponseSink, head: string, skipBody: boolean): void {
    this.sink = sink;
    this.skipBody = skipBody;
    this.requestDone = false;
    this.responseDone = false;
    this.responseStarted = false;
    this.socket.setTimeout(0);
    // The previous response may have ended while its client was slow and the socket paused.
    this.socket.resume();
    this.socket.write(head, 'latin1');
  }

  requestComplete(): void {
    this.requestDone = true;
    this.settle();
  }

  private settle(): void {
    if (!this.responseDone || this.sink) return;
    if (!this.requestDone) {
      // The server answered before reading the whole request: the connection is out of step.
      this.socket.destroy();
      return;
    }
    this.responseDone = false;
    if (this.keepAlive && !this.socket.destroyed) {
      this.reused = true;
      this.socket.setTimeout(IDLE_TIMEOUT_MS);
      this.pool.release(this);
    } else {
      this.socket.destroy();
    }
  }

  private fail(err: Error): void {
    const sink = this.sink;
    this.sink = undefined;
    this.socket.destroy();
    sink?.error(err);
  }

  abort(): void {
    this.sink = undefined;
    this.socket.destroy();
  }
}

/**
 * The HTTP/1.1 endpoint pool and client: keep-alive connections per target, reused most
 * recently used first, each opened through the direction's connector (timeout, metrics).
 * A request without a body that fails on a reused connection before any response byte
 * (the server closed it while idle) is retried once on a new connection.
 */
export class H1Client {
  private readonly idle = new Map<string, Connection[]>();

  constructor(private readonly connector: Connector) {}

  request(
    target: HostPort,
    head: string,
    framing: BodyFraming,
    skipBody: boolean,
    sink: ResponseSink,
  ): UpstreamRequest {
    const hasBody = framing !== 'none';
    const key = formatHostPort(target);
    let conn = this.acquire(target, key);
    const retryingSink: ResponseSink = {
      ...sink,
      error: (err) => {
        if (!hasBody && conn.reused && !conn.responseStarted) {
          conn = this.open(target, key);
          conn.start(sink, head, skipBody);
          conn.requestComplete();
        } else {
          sink.error(err);
        }
      },
    };
    conn.start(conn.reused && !hasBody ? retryingSink : sink, head, skipBody);
    if (!hasBody) conn.requestComplete();
    return {
      write: (chunk) => {
        const socket = conn.socket;
        if (framing !== 'chunked') return socket.write(chunk);
        if (chunk.length === 0) return true;
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
        socket.write(chunk);
        const ok = socket.write('\r\n', 'latin1');
        socket.uncork();
        return ok;
      },
      end: (trailers) => {
        if (framing === 'chunked') {
          let text = '0\r\n';
          for (let i = 0; i < trailers.length; i += 2) text += `${trailers[i]}: ${trailers[i + 1]}\r\n`;
          conn.socket.write(`${text}\r\n`, 'latin1');
        }
        conn.requestComplete();
      },
      onDrain: (cb) => conn.socket.once('drain', cb),
      resume: () => conn.socket.resume(),
      abort: () => conn.abort(),
    };
  }

  private acquire(target: HostPort, key: string): Connection {
    const list = this.idle.get(key);
    const conn = list?.pop();
    return conn ?? this.open(target, key);
  }

  private open(target: HostPort, key: string): Connection {
    return new Connection(this.connector.connect(target), key, this);
  }

  release(conn: Connection): void {
    let list = this.idle.get(conn.key);
    if (!list) {
      list = [];
      this.idle.set(conn.key, list);
    }
    if (list.length >= MAX_IDLE_PER_TARGET) conn.socket.destroy();
    else list.push(conn);
  }

  forget(conn: Connection): void {
    const list = this.idle.get(conn.key);
    if (!list) return;
    const i = list.indexOf(conn);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.idle.delete(conn.key);
  }

  destroy(): void {
    for (const list of this.idle.values()) for (const c of list) c.socket.destroy();
    this.idle.clear();
  }
}
