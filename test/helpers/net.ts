/**
 * Real-socket helpers for the end-to-end tests: servers on 127.0.0.1 port 0, an HTTP
 * client that returns everything it saw, a raw TCP connection with a small HTTP/1.1
 * response reader, a listener that never accepts, and deadlines for every wait.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import type { HostPort } from './proxy.js';

export const LOOPBACK = '127.0.0.1';

/** Rejects with a clear message if `p` has not settled within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Polls `cond` until it is true or the deadline passes (for states that emit no event). */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A deferred: a promise with its resolve exposed, to hand signals between server and client. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A signal nobody awaits must not crash the file with an unhandled rejection.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** Collects cleanup functions and runs them all (in reverse), never throwing. */
export class Cleanup {
  private fns: Array<() => unknown> = [];
  add(fn: () => unknown): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    const fns = this.fns.reverse();
    this.fns = [];
    for (const fn of fns) {
      try {
        await withTimeout(Promise.resolve(fn()), 20_000, 'cleanup step');
      } catch {
        // Cleanup is best effort; the tests have already reported what matters.
      }
    }
  }
}

export async function listen(server: net.Server, host = LOOPBACK): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

export interface HttpUpstream {
  server: http.Server;
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  /** Requests received so far. */
  requests: number;
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/** An HTTP/1.1 server on 127.0.0.1:0 that counts connections and requests. */
export async function startHttpServer(
  handler: http.RequestListener,
  options: http.ServerOptions = {},
): Promise<HttpUpstream> {
  const up: HttpUpstream = {
    server: http.createServer({ maxHeaderSize: 256 * 1024, ...options }, (req, res) => {
      up.requests++;
      handler(req, res);
    }),
    port: 0,
    connections: 0,
    requests: 0,
    sockets: new Set(),
    close: async () => {
      up.server.closeAllConnections();
      for (const s of up.sockets) s.destroy();
      await new Promise<void>((r) => up.server.close(() => r()));
    },
  };
  up.server.on('connection', (s: net.Socket) => {
    up.connections++;
    up.sockets.add(s);
    s.on('close', () => up.sockets.delete(s));
  });
  up.port = await listen(up.server);
  return up;
}

export interface TcpServer {
  server: net.Server;
  port: number;
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

export async function startTcpServer(
  onConnection: (s: net.Socket) => void,
  options: net.ServerOpts = {},
): Promise<TcpServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer(options, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConnection(s);
  });
  const port = await listen(server);
  return {
    server,
    port,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A port on 127.0.0.1 where nothing listens (connections are refused). */
export async function refusedPort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Blackhole {
  port: number;
  close(): Promise<void>;
}

/**
 * A listener that never accepts: python3 listens with backlog 0 and fills the accept
 * queue with its own unaccepted connections, so further SYNs are dropped and a connect
 * to it hangs until the client's own timeout.
 */
export async function startBlackhole(): Promise<Blackhole> {
  const script = [
    'import socket, sys, time',
    's = socket.socket()',
    "s.bind(('127.0.0.1', 0))",
    's.listen(0)',
    'port = s.getsockname()[1]',
    'fill = []',
    'for i in range(3):',
    '    c = socket.socket()',
    '    c.setblocking(False)',
    '    try:',
    "        c.connect(('127.0.0.1', port))",
    '    except BlockingIOError:',
    '        pass',
    '    fill.append(c)',
    'time.sleep(0.2)',
    'print(port, flush=True)',
    'sys.stdin.read()',
  ].join('\n');
  const proc: ChildProcess = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
  const [line] = (await withTimeout(once(rl, 'line'), 10_000, 'python blackhole port')) as [string];
  const port = Number(line);
  // Check it really hangs: a connect must not complete within 300 ms.
  const probe = net.connect(port, LOOPBACK);
  probe.on('error', () => {});
  const outcome = await Promise.race([
    once(probe, 'connect').then(() => 'connected'),
    new Promise<string>((r) => setTimeout(() => r('hung'), 300)),
  ]);
  probe.destroy();
  if (outcome !== 'hung')
    throw new Error('blackhole listener accepted a connection: the machine does not drop SYNs');
  return {
    port,
    close: async () => {
      proc.stdin?.end();
      proc.kill('SIGKILL');
      if (proc.exitCode === null && proc.signalCode === null) await once(proc, 'exit');
    },
  };
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  trailers: NodeJS.Dict<string>;
  res: http.IncomingMessage;
}

/** One HTTP/1.1 request with node's client; resolves with the full response. */
export function request(
  options: http.RequestOptions,
  body?: string | Buffer,
  timeoutMs = 15_000,
): Promise<HttpResult> {
  const p = new Promise<HttpResult>((resolve, reject) => {
    const req = http.request({ agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks),
          trailers: res.trailers,
          res,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  return withTimeout(
    p,
    timeoutMs,
    `${options.method ?? 'GET'} ${options.path ?? '/'} to port ${options.port}`,
  );
}

/**
 * Opens an HTTP/1.1 request with node's client (no agent) and leaves it to the caller to
 * write and end; `text` resolves with the response body as UTF-8 once it ends, and
 * rejects if the request fails.
 */
export function openRequest(options: http.RequestOptions): {
  req: http.ClientRequest;
  text: Promise<string>;
} {
  const req = http.request({ agent: false, ...options });
  const text = new Promise<string>((resolve, reject) => {
    req.once('response', (res: http.IncomingMessage) => {
      let got = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        got += c;
      });
      res.on('end', () => resolve(got));
    });
    req.on('error', reject);
  });
  return { req, text };
}

/** GET (or another method) on the admin listener. */
export function adminRequest(admin: HostPort, path: string, method = 'GET'): Promise<HttpResult> {
  return request({ host: admin.host, port: admin.port, path, method });
}

/** Absolute-form request through the outbound listener, as `curl -x` sends it. */
export function viaOutbound(
  outbound: HostPort,
  target: string,
  options: http.RequestOptions = {},
  body?: string | Buffer,
): Promise<HttpResult> {
  return request({ host: outbound.host, port: outbound.port, path: target, ...options }, body);
}

/** Connects and resolves once connected, or with the error code (e.g. ECONNREFUSED). */
export function tryConnect(port: number, host = LOOPBACK): Promise<'connected' | string> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

export interface RawResponse {
  statusCode: number;
  reason: string;
  /** Header fields in wire order, names as sent. */
  headers: Array<[string, string]>;
  body: Buffer;
  trailers: Array<[string, string]>;
}

/** Every value of header `name` (case-insensitive), in order. */
export function headerValues(res: { headers: Array<[string, string]> }, name: string): string[] {
  const n = name.toLowerCase();
  return res.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

function parseFields(lines: string[]): Array<[string, string]> {
  return lines.map((l) => {
    const i = l.indexOf(':');
    if (i <= 0) throw new Error(`bad header line ${JSON.stringify(l)}`);
    return [l.slice(0, i).trim(), l.slice(i + 1).trim()] as [string, string];
  });
}

/**
 * A raw TCP client connection. Reads HTTP/1.1 responses off the wire itself, so the
 * test sees exactly the framing and header fields the proxy sent.
 */
export class RawConn {
  readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  /** All bytes received so far. */
  received = 0;
  ended = false;
  closed = false;
  error: Error | undefined;
  private waiters: Array<() => void> = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      this.received += c.length;
      this.buf = Buffer.concat([this.buf, c]);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.ended = true;
      this.wake();
    });
    socket.on('error', (err) => {
      this.error = err;
      this.wake();
    });
  }

  static async connect(port: number, host = LOOPBACK, allowHalfOpen = false): Promise<RawConn> {
    const s = net.connect({ port, host, allowHalfOpen });
    const c = new RawConn(s);
    await withTimeout(once(s, 'connect'), 10_000, `connect to ${host}:${port}`);
    return c;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private waitChange(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The unread bytes buffered so far. */
  peek(): Buffer {
    return this.buf;
  }

  /** Takes every unread byte. */
  take(): Buffer {
    const b = this.buf;
    this.buf = Buffer.alloc(0);
    return b;
  }

  /** Waits until at least `n` unread bytes are buffered (or the peer closes). */
  async readAtLeast(n: number, timeoutMs = 10_000): Promise<Buffer> {
    const p = (async () => {
      while (this.buf.length < n && !this.ended) await this.waitChange();
      return this.take();
    })();
    return withTimeout(p, timeoutMs, `${n} bytes from the peer`);
  }

  /** Waits for the peer to close (end or reset); resolves with the bytes left unread. */
  async waitEnd(timeoutMs = 10_000): Promise<Buffer> {
    const p = (async () => {
      while (!this.ended) await this.waitChange();
      return this.take();
    })();
    return withTimeout(p, timeoutMs, 'the peer to close the connection');
  }

  /** Reads one full HTTP/1.1 response (skipping 1xx other than 101). */
  async readResponse(opts: { head?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
    const p = (async () => {
      for (;;) {
        const r = this.tryParse(opts.head ?? false);
        if (r === 'skip') continue;
        if (r) return r;
        if (this.ended) {
          throw new Error(
            `connection closed before a full response; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`,
          );
        }
        await this.waitChange();
      }
    })();
    return withTimeout(p, opts.timeoutMs ?? 15_000, 'an HTTP response on a raw connection');
  }

  private tryParse(head: boolean): RawResponse | 'skip' | undefined {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
    const statusLine = lines.shift() ?? '';
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
    if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
    const statusCode = Number(m[1]);
    const headers = parseFields(lines);
    let pos = end + 4;
    if (statusCode >= 100 && statusCode < 200 && statusCode !== 101) {
      this.buf = this.buf.subarray(pos);
      return 'skip';
    }
    const te = headerValues({ headers }, 'transfer-encoding').join(',').toLowerCase();
    const cl = headerValues({ headers }, 'content-length')[0];
    let body = Buffer.alloc(0);
    const trailers: Array<[string, string]> = [];
    if (head || statusCode === 204 || statusCode === 304 || statusCode === 101) {
      // no body
    } else if (te.includes('chunked')) {
      const chunks: Buffer[] = [];
      for (;;) {
        const lineEnd = this.buf.indexOf('\r\n', pos);
        if (lineEnd < 0) return undefined;
        const size = Number.parseInt(
          this.buf.subarray(pos, lineEnd).toString('latin1').split(';')[0] ?? '',
          16,
        );
        if (Number.isNaN(size)) throw new Error('bad chunk size');
        pos = lineEnd + 2;
        if (size === 0) {
          const tEnd = this.buf.indexOf('\r\n\r\n', pos - 2);
          if (tEnd < 0) return undefined;
          const tLines = this.buf
            .subarray(pos, tEnd)
            .toString('latin1')
            .split('\r\n')
            .filter((l) => l !== '');
          trailers.push(...parseFields(tLines));
          pos = tEnd + 4;
          break;
        }
        if (this.buf.length < pos + size + 2) return undefined;
        chunks.push(this.buf.subarray(pos, pos + size));
        pos += size + 2;
      }
      body = Buffer.concat(chunks);
    } else if (cl !== undefined) {
      const n = Number(cl);
      if (this.buf.length < pos + n) return undefined;
      body = Buffer.from(this.buf.subarray(pos, pos + n));
      pos += n;
    } else {
      if (!this.ended) return undefined;
      body = Buffer.from(this.buf.subarray(pos));
      pos = this.buf.length;
    }
    this.buf = this.buf.subarray(pos);
    return { statusCode, reason: m[2] ?? '', headers, body, trailers };
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Sends `data` on a fresh connection, reads one response, and reports whether the peer then closed. */
export async function rawExchange(
  port: number,
  data: string | Buffer,
  timeoutMs = 10_000,
): Promise<{ res: RawResponse; closed: boolean }> {
  const c = await RawConn.connect(port);
  try {
    c.write(data);
    const res = await c.readResponse({ timeoutMs });
    let closed = true;
    try {
      await c.waitEnd(timeoutMs);
    } catch {
      closed = false;
    }
    return { res, closed };
  } finally {
    c.destroy();
  }
}

/** Collects a readable stream into one Buffer. */
export async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

/**
 * Writes `chunkAt(0)` .. `chunkAt(count - 1)` to `w` with back-pressure (after a write()
 * that returns false it waits for 'drain'), then ends `w`. `onChunk` hears each chunk's
 * size just before it is written.
 */
export function writeChunks(
  w: Writable,
  count: number,
  chunkAt: (i: number) => Buffer,
  onChunk?: (bytes: number) => void,
): void {
  let i = 0;
  const pump = (): void => {
    while (i < count) {
      const c = chunkAt(i++);
      onChunk?.(c.length);
      if (!w.write(c)) {
        w.once('drain', pump);
        return;
      }
    }
    w.end();
  };
  pump();
}

/** Resolves with the byte count and SHA-256 (hex) of everything `r` emits until 'end'; rejects on 'error'. */
export function hashUntilEnd(r: NodeJS.ReadableStream): Promise<{ length: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let length = 0;
    r.on('data', (c: Buffer) => {
      h.update(c);
      length += c.length;
    });
    r.on('end', () => resolve({ length, sha256: h.digest('hex') }));
    r.on('error', reject);
  });
}
