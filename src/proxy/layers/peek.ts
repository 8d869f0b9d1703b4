import type { Duplex } from 'node:stream';

/**
 * Reads a connection's first bytes until `decide` can answer, then pauses the connection
 * and puts every byte back, so the next layer reads it from its start. `decide(buf, final)`
 * answers 'more' to wait for more bytes. It is asked once more with `final` set when the
 * peer half-closes, `timeoutMs` passes or `maxBytes` are buffered (`buf` is undefined if
 * nothing came), and must answer then. A connection that closes gets `decide(undefined, true)`.
 */
export function peek<T>(
  socket: Duplex,
  timeoutMs: number,
  maxBytes: number,
  decide: (buf: Buffer | undefined, final: boolean) => T | 'more',
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
  const final = (buf: Buffer | undefined): void => {
    if (finished) return;
    finish(decide(buf, true) as T);
  };
  const onData = (chunk: Buffer): void => {
    buffered = buffered ? Buffer.concat([buffered, chunk]) : chunk;
    if (buffered.length >= maxBytes) {
      final(buffered);
      return;
    }
    const result = decide(buffered, false);
    if (result !== 'more') finish(result);
  };
  const onEnd = (): void => final(buffered);
  const onClose = (): void => final(undefined);
  const timer = setTimeout(() => final(buffered), timeoutMs);
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('close', onClose);
  // An earlier peek leaves the stream paused; adding a 'data' listener does not undo that.
  socket.resume();
}
