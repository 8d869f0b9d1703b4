import type { Duplex } from 'node:stream';

/**
 * Relays bytes both ways between two connected streams with back-pressure, passing
 * half-closes through; an error or reset on either side tears down both.
 */
export function splice(a: Duplex, b: Duplex, onClose?: () => void): void {
  let closed = 0;
  const closeOne = (): void => {
    if (++closed === 2) onClose?.();
  };
  const teardown = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', teardown);
  b.on('error', teardown);
  a.once('close', closeOne);
  b.once('close', closeOne);
  a.pipe(b);
  b.pipe(a);
}
