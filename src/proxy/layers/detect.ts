import { METHODS } from 'node:http';
import type { Duplex } from 'node:stream';
import { peek } from './peek.js';

/**
 * What a connection's first bytes are. `http-malformed`: they start like an HTTP/1 request
 * line (see startsLikeRequestLine) but are not a valid one, or stopped short of one.
 */
export type Protocol = 'http1' | 'h2' | 'tls' | 'opaque' | 'http-malformed';

/** A TLS record of type handshake: a ClientHello, never the start of an HTTP request. */
const TLS_HANDSHAKE = 0x16;
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const HTTP_VERSION = Buffer.from(' HTTP/1.');
/** HTTP/1 methods are tokens; the longest registered ones are well under this. */
const MAX_METHOD_LENGTH = 24;
/**
 * Bytes read before giving up on a decision. A request line still going at this length
 * (a long URL) is taken as HTTP/1; anything else undecided is opaque.
 */
const MAX_PEEK_BYTES = 8192;

/**
 * The methods an HTTP/1 parser is known to accept as the start of a request: Node's (its
 * parser, llhttp, takes no others), and PRI, HTTP/2's preface.
 */
const KNOWN_METHODS = new Set([...METHODS, 'PRI']);
/** Every non-empty prefix of "METHOD " for the known methods. */
const REQUEST_LINE_PREFIXES = new Set(
  [...KNOWN_METHODS].flatMap((m) => Array.from({ length: m.length + 1 }, (_, n) => `${m} `.slice(0, n + 1))),
);

/**
 * Whether bytes look like the start of an HTTP/1 request: a known method and a space, or
 * (when that is all there is) a prefix of one. Such bytes are never carried on as opaque
 * TCP when they are not a valid request line: an application's lenient parser could read
 * them as a request (Node's takes `GET  /x HTTP/1.1`), headers the proxy never saw and all.
 * Other text that starts like a method ("SET k v", a Redis inline command) stays opaque.
 */
export function startsLikeRequestLine(buf: Buffer): boolean {
  const space = buf.indexOf(0x20);
  if (space < 0) return buf.length <= MAX_METHOD_LENGTH && REQUEST_LINE_PREFIXES.has(buf.toString('latin1'));
  return space <= MAX_METHOD_LENGTH && KNOWN_METHODS.has(buf.toString('latin1', 0, space));
}

/** The HTTP/1 request line (RFC 9112 section 3), checked as far as `buf` goes. */
function classifyRequestLine(buf: Buffer): Protocol | 'more' {
  let i = 0;
  // method = token, written in capitals by every real client
  for (; i < buf.length && buf[i] !== 0x20; i++) {
    const c = buf[i] as number;
    const ok = (c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f || (i > 0 && c >= 0x30 && c <= 0x39);
    if (!ok || i >= MAX_METHOD_LENGTH) return 'opaque';
  }
  if (i === 0) return 'opaque';
  if (i === buf.length) return 'more';
  // request-target: visible characters up to the next space
  const targetStart = ++i;
  for (; i < buf.length && buf[i] !== 0x20; i++) {
    const c = buf[i] as number;
    if (c < 0x21 || c > 0x7e) return 'opaque';
  }
  if (i === buf.length) return buf.length >= MAX_PEEK_BYTES ? 'http1' : 'more';
  if (i === targetStart) return 'opaque';
  // " HTTP/1.x" then the line's end
  for (let k = 0; k < HTTP_VERSION.length; k++, i++) {
    if (i === buf.length) return 'more';
    if (buf[i] !== HTTP_VERSION[k]) return 'opaque';
  }
  if (i === buf.length) return 'more';
  const minor = buf[i++] as number;
  if (minor < 0x30 || minor > 0x39) return 'opaque';
  if (i === buf.length) return 'more';
  if (buf[i] === 0x0a) return 'http1';
  if (buf[i++] !== 0x0d) return 'opaque';
  if (i === buf.length) return 'more';
  return buf[i] === 0x0a ? 'http1' : 'opaque';
}

/** Classifies the first bytes of a connection, or says it needs more to decide. */
export function classify(buf: Buffer): Protocol | 'more' {
  if (buf[0] === TLS_HANDSHAKE) return 'tls';
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, n, 0, n) === 0) return n === H2_PREFACE.length ? 'h2' : 'more';
  const p = classifyRequestLine(buf);
  return p === 'opaque' && startsLikeRequestLine(buf) ? 'http-malformed' : p;
}

/** The decision when no more bytes will be waited for: what is still undecided is opaque, or malformed HTTP. */
function classifyFinal(buf: Buffer): Protocol {
  const p = classify(buf);
  if (p !== 'more') return p;
  return startsLikeRequestLine(buf) ? 'http-malformed' : 'opaque';
}

/**
 * The detect layer: peeks at a connection's first bytes to tell HTTP/1, HTTP/2 (its
 * preface), a TLS ClientHello and anything else (opaque TCP) apart, then puts the bytes
 * back so the next layer reads it from its start. After `timeoutMs` without a decision
 * `timedOut` is set, and the connection is opaque if it sent nothing (a server-speaks-first
 * protocol: Linkerd carries such a connection on as TCP too) or bytes that do not start
 * like a request line, and `http-malformed` if they do (a request line begun before the
 * timeout and finished after it). A connection that closes or half-closes having sent
 * nothing gets `undefined`.
 */
export function detectProtocol(
  socket: Duplex,
  timeoutMs: number,
  done: (p: Protocol | undefined, timedOut: boolean) => void,
): void {
  let timedOut = false;
  peek<Protocol | undefined>(
    socket,
    timeoutMs,
    MAX_PEEK_BYTES,
    (buf, final) => {
      if (final === 'timeout') timedOut = true;
      if (!buf) return final === 'timeout' ? 'opaque' : final ? undefined : 'more';
      return final ? classifyFinal(buf) : classify(buf);
    },
    (p) => done(p, timedOut),
  );
}
