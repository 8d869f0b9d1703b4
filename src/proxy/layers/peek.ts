import type { Duplex } from 'node:stream';

/** Why a peek must decide now: the peer half-closed, time ran out, the buffer is full, or it closed. */
export type PeekEnd = 'ended' | 'timeout' | 'full' | 'closed';

/**
 * Reads a connection's first bytes until `decide` can answer, then pauses the connection
 * and puts every byte back, so the next layer reads it from its start. `decide(buf, final)`
 * answers 'more' to wait for more bytes. It is asked once more with `final` saying why when
 * the peer half-closes, `timeoutMs` passes or `maxBytes` are buffered (`buf` is undefined if
 * nothing came), and must answer then. A connection that closes gets `decide(undefined, 'closed')`.
 */
export function peek<T>(
  socket: Duplex,
  timeoutMs: number,
  maxBytes: number,
  decide: (buf: Buffer | undefined, final: PeekEnd | false) => T | 'more',
  done: (result: T) => void,
): void {
  let buffered: Buffer | undefined;
  let finished = false;
  const finish = (result: T): void => {
    finished = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onClose);
    socket.pause();
    if (buffered) socket.unshift(buffered);
    done(result);
  };
  const final = (buf: Buffer | undefined, why: PeekEnd): void => {
    if (finished) return;
    finish(decide(buf, why) as T);
  };
  const onData = (chunk: Buffer): void => {
    buffered = buffered ? Buffer.concat([buffered, chunk]) : chunk;
    if (buffered.length >= maxBytes) {
      final(buffered, 'full');
      return;
    }
    const result = decide(buffered, false);
    if (result !== 'more') finish(result);
  };
  const onEnd = (): void => final(buffered, 'ended');
  const onClose = (): void => final(undefined, 'closed');
  const timer = setTimeout(() => final(buffered, 'timeout'), timeoutMs);
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('close', onClose);
  // An earlier peek leaves the stream paused; adding a 'data' listener does not undo that.
  socket.resume();
}
