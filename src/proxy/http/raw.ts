import http from 'node:http';
import type { Duplex } from 'node:stream';
import { errorResponse, type ProxyError } from '../errors.js';

/** Writes a complete HTTP/1.1 response head (status line and raw headers) to a raw socket. */
export function writeHead(socket: Duplex, status: number, message: string, raw: readonly string[]): void {
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  socket.write(`${head}\r\n`);
}

/** Answers a raw socket (one Node's HTTP server has let go of) with an error response, and closes it. */
export function failRaw(socket: Duplex, error: ProxyError): void {
  const { body, headers } = errorResponse(error, true);
  writeHead(socket, error.status, http.STATUS_CODES[error.status] ?? 'Error', headers);
  socket.end(body);
}

/** How long a refused connection may linger for its answer to be read before it is closed. */
const REFUSE_LINGER_MS = 2_000;

/**
 * Answers a raw socket no HTTP server has read with an error response and closes it:
 * whatever else the client sends is read and dropped (so the close is not a reset that
 * could lose the answer), and the connection is destroyed after a short linger even if
 * the client never closes its side.
 */
export function refuseRaw(socket: Duplex, error: ProxyError): void {
  socket.on('data', () => {});
  socket.resume();
  failRaw(socket, error);
  setTimeout(() => socket.destroy(), REFUSE_LINGER_MS).unref();
}
