/**
 * HTTP/2 client helpers (node:http2, cleartext with prior knowledge), and a raw frame
 * writer and reader (RawH2) for sending what node:http2 never would: bad frames and floods.
 */
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { LOOPBACK, withTimeout, writeChunks } from './net.js';

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

/** HTTP/2 frame types (RFC 9113 §6). */
export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** One frame: the 9-byte header (length, type, flags, stream id) and its payload. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** A SETTINGS frame with `[id, value]` pairs (SETTINGS_INITIAL_WINDOW_SIZE is 4). */
export function settingsFrame(settings: Array<[number, number]> = []): Buffer {
  const p = Buffer.alloc(6 * settings.length);
  settings.forEach(([id, value], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FRAME.SETTINGS, 0, 0, p);
}

/** An HPACK literal header without indexing, new name (RFC 7541 §6.2.2); names and values under 127 bytes. */
function hpackLiteral(name: string, value: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x00, name.length]),
    Buffer.from(name),
    Buffer.from([value.length]),
    Buffer.from(value),
  ]);
}

/**
 * HPACK for the HPACK bomb: a literal header added to the dynamic table (§6.2.1, becoming
 * index 62), and the one-byte reference to it (§6.1).
 */
export function hpackIndexed(name: string, value: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from([0x40, name.length]),
    Buffer.from(name),
    hpackLength(value.length),
    value,
  ]);
}
export const HPACK_FIRST_DYNAMIC = Buffer.from([0x80 | 62]);

/** A literal header without indexing, new name (§6.2.2), of any length. */
export function hpackLiteralHeader(name: string, value: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from([0x00]),
    hpackLength(name.length),
    Buffer.from(name),
    hpackLength(value.length),
    value,
  ]);
}

/** An HPACK string length with a 7-bit prefix, no Huffman (§5.1). */
function hpackLength(n: number): Buffer {
  if (n < 127) return Buffer.from([n]);
  const out = [127];
  let rest = n - 127;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/**
 * A request's header block in HPACK: GET, http, `path` and `authority` from the static
 * table and literals (no Huffman, nothing indexed), then `extra` literal headers.
 */
export function requestBlock(
  path = '/',
  authority = 'localhost',
  extra: Array<[string, string]> = [],
): Buffer {
  return Buffer.concat([
    Buffer.from([0x82, 0x86]), // :method GET, :scheme http
    Buffer.from([0x04, path.length]), // :path, literal value without indexing
    Buffer.from(path),
    Buffer.from([0x01, authority.length]), // :authority, literal value without indexing
    Buffer.from(authority),
    ...extra.map(([n, v]) => hpackLiteral(n, v)),
  ]);
}

/** A HEADERS frame for a GET of `path`, with END_HEADERS (and END_STREAM unless told otherwise). */
export function getFrame(streamId: number, path = '/', endStream = true): Buffer {
  return frame(
    FRAME.HEADERS,
    FLAG.END_HEADERS | (endStream ? FLAG.END_STREAM : 0),
    streamId,
    requestBlock(path),
  );
}

export function rstFrame(streamId: number, code = 0x8): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, streamId, p);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment);
  return frame(FRAME.WINDOW_UPDATE, 0, streamId, p);
}

export function pingFrame(data = 0): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(data >>> 0, 4);
  return frame(FRAME.PING, 0, 0, p);
}

export interface RawH2Options {
  host?: string;
  /** Speak TLS with ALPN h2 (the mesh port): the client's certificate, the anchors and the server's name. */
  tls?: { cert: string; key: string; ca: string; servername: string };
  /** The client's SETTINGS after the preface (none by default). */
  settings?: Array<[number, number]>;
  /** Acknowledge the server's SETTINGS as a client must (default true); false plays a peer that never does. */
  ackSettings?: boolean;
}

/**
 * A raw HTTP/2 client connection: the preface and SETTINGS are sent on connect; frames
 * received are parsed and counted (GOAWAY and RST_STREAM codes kept), DATA bytes summed.
 */
export class RawH2 {
  readonly received = new Map<number, number>();
  /** The last GOAWAY received; `goaways` has every one's code. */
  goaway: { lastStreamId: number; code: number } | undefined;
  readonly goaways: number[] = [];
  readonly resets: number[] = [];
  dataBytes = 0;
  /** The socket's error, if any: ECONNRESET when the proxy closed it with our bytes unread. */
  socketError: string | undefined;
  /** Stream ids that received HEADERS. */
  readonly answered = new Set<number>();
  /** Stream ids the server ended: RST_STREAM, or a frame with END_STREAM. */
  readonly ended = new Set<number>();
  private buf: Buffer = Buffer.alloc(0);
  /** Resolves once the socket has closed (whoever closed it). */
  readonly closed: Promise<void>;
  private readonly waiters: Array<() => void> = [];

  private constructor(
    readonly socket: Duplex,
    private readonly ackSettings: boolean,
  ) {
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.socketError = err.code ?? err.message;
    });
    socket.on('data', (c: Buffer) => this.onData(c));
    this.closed = new Promise((r) => socket.once('close', () => r()));
  }

  static async connect(port: number, opts: RawH2Options = {}): Promise<RawH2> {
    const host = opts.host ?? LOOPBACK;
    const socket = opts.tls
      ? tls.connect({ host, port, ALPNProtocols: ['h2'], ...opts.tls })
      : net.connect(port, host);
    await withTimeout(
      once(socket, opts.tls ? 'secureConnect' : 'connect'),
      10_000,
      `connect to ${host}:${port}`,
    );
    const conn = new RawH2(socket, opts.ackSettings ?? true);
    conn.send(CLIENT_PREFACE, settingsFrame(opts.settings ?? []));
    return conn;
  }

  /** Writes frames; false once the socket is gone. */
  send(...frames: Buffer[]): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    this.socket.write(frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames));
    return true;
  }

  count(type: number): number {
    return this.received.get(type) ?? 0;
  }

  /** Resolves once `cond` holds (checked on each frame received), or rejects after `ms`. */
  until(cond: () => boolean, ms: number, what: string): Promise<void> {
    if (cond()) return Promise.resolve();
    return withTimeout(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (cond()) resolve();
          else this.waiters.push(check);
        };
        this.waiters.push(check);
      }),
      ms,
      what,
    );
  }

  /** Resolves with the GOAWAY's error code once one has arrived. */
  async goawayCode(ms = 10_000): Promise<number> {
    await this.until(() => this.goaway !== undefined, ms, 'a GOAWAY frame');
    return (this.goaway as { code: number }).code;
  }

  /** Resolves once the socket has closed, or rejects after `ms`. */
  waitClosed(ms: number, what = 'the proxy to close the connection'): Promise<void> {
    return withTimeout(this.closed, ms, what);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const type = this.buf[3] as number;
      const streamId = this.buf.readUInt32BE(5) & 0x7fffffff;
      const payload = this.buf.subarray(9, 9 + len);
      this.received.set(type, this.count(type) + 1);
      const endStream =
        (type === FRAME.DATA || type === FRAME.HEADERS) && ((this.buf[4] as number) & FLAG.END_STREAM) !== 0;
      if (streamId !== 0 && (type === FRAME.RST_STREAM || endStream)) this.ended.add(streamId);
      if (type === FRAME.GOAWAY && len >= 8) {
        this.goaway = { lastStreamId: payload.readUInt32BE(0) & 0x7fffffff, code: payload.readUInt32BE(4) };
        this.goaways.push(this.goaway.code);
      } else if (type === FRAME.RST_STREAM && len >= 4) {
        this.resets.push(payload.readUInt32BE(0));
      } else if (type === FRAME.DATA) {
        this.dataBytes += len;
      } else if (type === FRAME.HEADERS) {
        this.answered.add(streamId);
      } else if (type === FRAME.SETTINGS && ((this.buf[4] as number) & FLAG.ACK) === 0 && this.ackSettings) {
        this.send(frame(FRAME.SETTINGS, FLAG.ACK, 0));
      }
      this.buf = this.buf.subarray(9 + len);
    }
    const waiting = this.waiters.splice(0);
    for (const w of waiting) w();
  }
}
