/**
 * Small real applications that stand behind the proxy in the tests.
 */
import { createHash } from 'node:crypto';
import type http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { type HttpUpstream, listen, startHttpServer, startTcpServer, type TcpServer } from './net.js';

/** What the echo app saw of one request. */
export interface Echo {
  method: string;
  url: string;
  httpVersion: string;
  rawHeaders: string[];
  bodyLength: number;
  bodySha256: string;
  trailers: string[];
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * An HTTP/1.1 app that answers every request with a JSON Echo of it. The response
 * status can be chosen with the request header `x-status`, a delay in ms with `x-delay`,
 * and `x-size: n` answers n bytes of 'o' instead of the echo.
 */
export function startEchoApp(onEcho?: (echo: Echo) => void): Promise<HttpUpstream> {
  return startHttpServer((req: http.IncomingMessage, res: http.ServerResponse) => {
    const hash = createHash('sha256');
    let length = 0;
    req.on('data', (c: Buffer) => {
      hash.update(c);
      length += c.length;
    });
    req.on('end', () => {
      const echo: Echo = {
        method: req.method ?? '',
        url: req.url ?? '',
        httpVersion: req.httpVersion,
        rawHeaders: req.rawHeaders,
        bodyLength: length,
        bodySha256: hash.digest('hex'),
        trailers: req.rawTrailers,
      };
      onEcho?.(echo);
      const status = Number(req.headers['x-status'] ?? 200);
      const delay = Number(req.headers['x-delay'] ?? 0);
      const send = (): void => {
        const size = req.headers['x-size'];
        if (size !== undefined) {
          // A body of exactly x-size bytes instead of the echo.
          res.writeHead(status, {
            'content-type': 'application/octet-stream',
            'content-length': Number(size),
          });
          res.end(Buffer.alloc(Number(size), 'o'));
          return;
        }
        const body = JSON.stringify(echo);
        res.writeHead(status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
      };
      if (delay > 0) setTimeout(send, delay);
      else send();
    });
  });
}

export interface LoggingApp extends HttpUpstream {
  /** What the app parsed of each request it received, in order. */
  readonly seen: Echo[];
  /** Every byte the app received, on all its connections, in order of arrival (Latin-1). */
  received(): string;
}

/**
 * The echo app, logging what it parses and every byte it receives: what a test of
 * request smuggling reads to prove that nothing but the requests it meant arrived.
 */
export async function startLoggingApp(): Promise<LoggingApp> {
  const seen: Echo[] = [];
  const bytes: Buffer[] = [];
  const app = await startEchoApp((echo) => seen.push(echo));
  app.server.on('connection', (s: net.Socket) => s.on('data', (c: Buffer) => bytes.push(c)));
  return Object.assign(app, { seen, received: () => Buffer.concat(bytes).toString('latin1') });
}

/** Every value of `name` in a rawHeaders array, in order. */
export function rawHeaderValues(rawHeaders: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() === name.toLowerCase()) out.push(rawHeaders[i + 1] as string);
  }
  return out;
}

/** A raw-socket HTTP/1.1 app: every request head it read, and how many connections it accepted. */
export interface RawHttpApp extends TcpServer {
  heads: string[];
  connections: () => number;
}

/**
 * An HTTP/1.1 app written on raw sockets, so a test controls every byte of the
 * response (hop-by-hop fields, duplicates, framing). `respond` gets each request head
 * (and its Content-Length body) and returns the raw response bytes.
 */
export function startRawHttpApp(
  respond: (head: string, body: Buffer) => string | Buffer,
): Promise<RawHttpApp> {
  const heads: string[] = [];
  let connections = 0;
  return startTcpServer((s: net.Socket) => {
    connections++;
    let buf = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const n = cl?.[1] ? Number(cl[1]) : 0;
        if (buf.length < end + 4 + n) return;
        const body = buf.subarray(end + 4, end + 4 + n);
        buf = buf.subarray(end + 4 + n);
        heads.push(head);
        s.write(respond(head, body));
      }
    });
  }).then((srv) => Object.assign(srv, { heads, connections: () => connections }));
}

/** Header values of `name` in a raw request head, in order. */
export function headValues(head: string, name: string): string[] {
  return head
    .split('\r\n')
    .slice(1)
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((l) => l.slice(l.indexOf(':') + 1).trim());
}

export interface H2Echo {
  method: string;
  path: string;
  authority: string;
  headers: http2.IncomingHttpHeaders;
  bodyLength: number;
  bodySha256: string;
  trailers: http2.IncomingHttpHeaders | null;
}

/** A running h2c app on 127.0.0.1. */
export interface H2Server {
  server: http2.Http2Server;
  port: number;
  /** Sessions (client connections) accepted so far. */
  sessions: () => number;
  /** Destroys every open session, then closes the server. */
  close(): Promise<void>;
}

/**
 * An HTTP/2 cleartext (prior knowledge) app on 127.0.0.1 port 0 that hands every stream to
 * `onStream`. Session and stream errors are swallowed (the tests provoke them), and open
 * sessions are tracked so that close() does not wait for clients to hang up.
 */
export async function startH2Server(
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
  settings?: http2.Settings,
): Promise<H2Server> {
  let sessions = 0;
  const open = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer({ settings });
  server.on('session', (s: http2.ServerHttp2Session) => {
    sessions++;
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => {});
  });
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    stream.on('error', () => {});
    onStream(stream, headers);
  });
  const port = await listen(server as unknown as net.Server);
  return {
    server,
    port,
    sessions: () => sessions,
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The app of startH2App: an H2Server that also counts the streams it was sent. */
export interface H2App extends H2Server {
  streams: () => number;
}

/**
 * An HTTP/2 cleartext (prior knowledge) app.
 * - `/echo`: answers an H2Echo JSON, header `x-e2e: yes` and trailers `x-trailer: done`, `x-body-sha`.
 * - `/duplex`: answers 200 at once and echoes each DATA chunk as it arrives; trailers at the end.
 * - `/status/<n>`: answers status n.
 */
export async function startH2App(): Promise<H2App> {
  let streams = 0;
  const app = await startH2Server((stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    streams++;
    const path = String(headers[':path'] ?? '');
    if (path.startsWith('/status/')) {
      stream.respond({ ':status': Number(path.slice(8)) });
      stream.end(`status ${path.slice(8)}`);
      stream.resume();
      return;
    }
    if (path === '/duplex') {
      stream.respond(
        { ':status': 200, 'content-type': 'application/octet-stream' },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-trailer': 'duplex-done' }));
      // pipe keeps back-pressure: the app reads no faster than its echo is taken.
      stream.pipe(stream);
      return;
    }
    const hash = createHash('sha256');
    let length = 0;
    let trailers: http2.IncomingHttpHeaders | null = null;
    stream.on('trailers', (t: http2.IncomingHttpHeaders) => {
      trailers = t;
    });
    stream.on('data', (c: Buffer) => {
      hash.update(c);
      length += c.length;
    });
    stream.on('end', () => {
      const sha = hash.digest('hex');
      const echo: H2Echo = {
        method: String(headers[':method']),
        path,
        authority: String(headers[':authority']),
        headers,
        bodyLength: length,
        bodySha256: sha,
        trailers,
      };
      stream.respond(
        { ':status': 200, 'content-type': 'application/json', 'x-e2e': 'yes', 'set-cookie': ['a=1', 'b=2'] },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-trailer': 'done', 'x-body-sha': sha }));
      stream.end(JSON.stringify(echo));
    });
  });
  return Object.assign(app, { streams: () => streams });
}

/** A TCP app that writes `banner` as soon as a client connects, then echoes what it reads. */
export function startBannerApp(banner: string): Promise<TcpServer> {
  return startTcpServer((s: net.Socket) => {
    s.write(banner);
    s.pipe(s);
  });
}

/** A TCP echo app (relays half-close: ends its side when the client ends). */
export function startTcpEchoApp(): Promise<TcpServer & { received: () => number }> {
  let received = 0;
  return startTcpServer(
    (s: net.Socket) => {
      s.on('data', (c: Buffer) => {
        received += c.length;
      });
      s.pipe(s);
    },
    { allowHalfOpen: true },
  ).then((srv) => Object.assign(srv, { received: () => received }));
}
