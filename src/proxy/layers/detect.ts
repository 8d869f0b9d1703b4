import type { Duplex } from 'node:stream';
import { peek } from './peek.js';

export type Protocol = 'http1' | 'h2' | 'tls' | 'opaque';

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
  return classifyRequestLine(buf);
}

/**
 * The detect layer: peeks at a connection's first bytes to tell HTTP/1, HTTP/2 (its
 * preface), a TLS ClientHello and anything else (opaque TCP) apart, then puts the bytes
 * back so the next layer reads it from its start. After `timeoutMs` without a decision
 * the connection is opaque and `timedOut` is set, whether it sent something or nothing
 * (a server-speaks-first protocol: Linkerd carries such a connection on as TCP too). A
 * connection that closes or half-closes having sent nothing gets `undefined`.
 */
export function detectProtocol(
  socket: Duplex,
  timeoutMs: number,
  done: (p: Protocol | undefined, timedOut: boolean) => void,
): void {
  peek<Protocol | 'timeout' | undefined>(
    socket,
    timeoutMs,
    MAX_PEEK_BYTES,
    (buf, final) => {
      if (final === 'timeout') return 'timeout';
      if (!buf) return final ? undefined : 'more';
      const p = classify(buf);
      return p === 'more' && final ? 'opaque' : p;
    },
    (p) => (p === 'timeout' ? done('opaque', true) : done(p, false)),
  );
}
