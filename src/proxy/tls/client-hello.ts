import type { Duplex } from 'node:stream';
import { peek } from '../layers/peek.js';

/**
 * Reads the server name (SNI) from a TLS ClientHello without terminating TLS, so the
 * inbound side can tell TLS meant for this proxy's identity (terminated here) from the
 * application's own TLS (passed through untouched). Only the first record is read.
 */

const RECORD_HEADER = 5;
/** A TLS record's payload is at most 16 KiB (RFC 8446 section 5.1). */
export const MAX_RECORD = RECORD_HEADER + 16384;
const HANDSHAKE = 0x16;
const CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const HOST_NAME = 0x00;

/**
 * Parses the ClientHello in `buf`: 'more' until the first record is complete, then the
 * server name, or null when there is none or the bytes are not a ClientHello.
 */
export function clientHelloServerName(buf: Buffer): string | null | 'more' {
  if (buf.length < RECORD_HEADER) return 'more';
  if (buf[0] !== HANDSHAKE || buf[1] !== 0x03) return null;
  const recordEnd = RECORD_HEADER + buf.readUInt16BE(3);
  if (recordEnd > MAX_RECORD) return null;
  if (buf.length < recordEnd) return 'more';
  const r = new Reader(buf.subarray(RECORD_HEADER, recordEnd));
  if (r.u8() !== CLIENT_HELLO) return null;
  r.skip(3); // handshake length: the message may continue in later records
  r.skip(2 + 32); // legacy_version, random
  r.skip(r.u8()); // legacy_session_id
  r.skip(r.u16()); // cipher_suites
  r.skip(r.u8()); // legacy_compression_methods
  if (r.done()) return null;
  const extensionsEnd = r.pos + r.u16();
  while (r.pos + 4 <= extensionsEnd && !r.failed) {
    const type = r.u16();
    const length = r.u16();
    if (type !== EXT_SERVER_NAME) {
      r.skip(length);
      continue;
    }
    const listEnd = r.pos + r.u16();
    while (r.pos + 3 <= listEnd && !r.failed) {
      const nameType = r.u8();
      const name = r.bytes(r.u16());
      if (nameType === HOST_NAME && name) return name.toString('latin1').toLowerCase();
    }
    return null;
  }
  return null;
}

/**
 * Peeks at a connection's ClientHello for its server name, with the bytes put back:
 * null when it has none or the bytes are not a ClientHello.
 */
export function peekServerName(socket: Duplex, timeoutMs: number, done: (name: string | null) => void): void {
  peek<string | null>(
    socket,
    timeoutMs,
    MAX_RECORD,
    (buf, final) => {
      const name = buf ? clientHelloServerName(buf) : null;
      return name === 'more' && final ? null : name;
    },
    done,
  );
}

/** A bounds-checked cursor: reading past the end sets `failed` instead of throwing. */
class Reader {
  pos = 0;
  failed = false;
  constructor(private readonly buf: Buffer) {}
  private take(n: number): number {
    const at = this.pos;
    if (at + n > this.buf.length) {
      this.failed = true;
      this.pos = this.buf.length;
      return -1;
    }
    this.pos += n;
    return at;
  }
  u8(): number {
    const at = this.take(1);
    return at < 0 ? 0 : (this.buf[at] as number);
  }
  u16(): number {
    const at = this.take(2);
    return at < 0 ? 0 : this.buf.readUInt16BE(at);
  }
  skip(n: number): void {
    this.take(n);
  }
  bytes(n: number): Buffer | undefined {
    const at = this.take(n);
    return at < 0 ? undefined : this.buf.subarray(at, at + n);
  }
  done(): boolean {
    return this.failed || this.pos >= this.buf.length;
  }
}
