import type { Socket } from 'node:net';

export type Protocol = 'http1' | 'h2' | 'opaque';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** HTTP/1 methods are tokens; the longest registered ones are well under this. */
const MAX_METHOD_LENGTH = 24;
/** Bytes read before giving up on a decision; detection never buffers more. */
const MAX_PEEK_BYTES = 1024;

/** Classifies the first bytes of a connection, or says it needs more to decide. */
export function classify(buf: Buffer): Protocol | 'more' {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, n, 0, n) === 0) return n === H2_PREFACE.length ? 'h2' : 'more';
  // An HTTP/1 request line starts with a method token (tchar: letters, digits, - _ . etc.) and a space.
  for (let i = 0; i < buf.length && i <= MAX_METHOD_LENGTH; i++) {
    const c = buf[i] as number;
    if (c === 0x20) return i > 0 ? 'http1' : 'opaque';
    const upper = c >= 0x41 && c <= 0x5a;
    const tchar = upper || c === 0x2d || c === 0x5f || (i > 0 && c >= 0x30 && c <= 0x39);
    if (!tchar) return 'opaque';
  }
  return buf.length > MAX_METHOD_LENGTH ? 'opaque' : 'more';
}

/**
 * The detect layer: peeks at a connection's first bytes to tell HTTP/1, HTTP/2 (its
 * preface) and anything else (opaque TCP) apart, then puts the bytes back so the next
 * layer reads the connection from its start. Gives up after `timeoutMs`: a connection
 * that sent something undecidable is opaque; one that sent nothing gets `undefined`.
 */
export function detectProtocol(
  socket: Socket,
  timeoutMs: number,
  done: (p: Protocol | undefined) => void,
): void {
  let buffered: Buffer | undefined;
  let finished = false;
  const finish = (p: Protocol | undefined): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onClose);
    socket.pause();
    if (buffered) socket.unshift(buffered);
    done(p);
  };
  const onData = (chunk: Buffer): void => {
    buffered = buffered ? Buffer.concat([buffered, chunk]) : chunk;
    const p = classify(buffered);
    if (p !== 'more') finish(p);
    else if (buffered.length >= MAX_PEEK_BYTES) finish('opaque');
  };
  // A peer that half-closes before a decision is relayed as opaque if it sent anything.
  const onEnd = (): void => finish(buffered ? 'opaque' : undefined);
  const onClose = (): void => finish(undefined);
  const timer = setTimeout(() => finish(buffered ? 'opaque' : undefined), timeoutMs);
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('close', onClose);
}
