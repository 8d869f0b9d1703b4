import type { Duplex } from 'node:stream';
import { peek } from '../layers/peek.js';

/**
 * The header that opens opaque TCP between two proxies, inside mutual TLS negotiated with
 * ALPN `transport.weft.io/v1`: it names the port the client dialled, so the far side knows
 * where the bytes go. Eight bytes: "WEFT", version 1, a reserved zero byte, the port
 * (big-endian). The relayed bytes follow it directly.
 */
export const TRANSPORT_HEADER_LENGTH = 8;
const MAGIC = Buffer.from('WEFT');
const VERSION = 1;

export function encodeTransportHeader(port: number): Buffer {
  const buf = Buffer.alloc(TRANSPORT_HEADER_LENGTH);
  MAGIC.copy(buf, 0);
  buf[4] = VERSION;
  buf.writeUInt16BE(port, 6);
  return buf;
}

/** The port a complete header names, or an error saying what is wrong with it. */
export function decodeTransportHeader(buf: Buffer): number | Error {
  if (buf.length < TRANSPORT_HEADER_LENGTH || buf.compare(MAGIC, 0, 4, 0, 4) !== 0) {
    return new Error('not a transport header');
  }
  if (buf[4] !== VERSION) return new Error(`transport header version ${buf[4]} is not supported`);
  const port = buf.readUInt16BE(6);
  return port === 0 ? new Error('transport header names port 0') : port;
}

/**
 * Reads the header from the start of a stream and leaves the stream paused at the bytes
 * after it. Fails if the stream ends, or sends no complete header within `timeoutMs`.
 */
export function readTransportHeader(
  stream: Duplex,
  timeoutMs: number,
  done: (port: number | Error) => void,
): void {
  peek<number | Error>(
    stream,
    timeoutMs,
    TRANSPORT_HEADER_LENGTH,
    (buf, final) => {
      if (buf && buf.length >= TRANSPORT_HEADER_LENGTH) return decodeTransportHeader(buf);
      return final ? new Error('no complete transport header arrived') : 'more';
    },
    (result) => {
      if (typeof result === 'number') stream.read(TRANSPORT_HEADER_LENGTH);
      done(result);
    },
  );
}
