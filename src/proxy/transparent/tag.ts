import type { HostPort } from '../../util/addr.js';

const ORIGINAL_DST = Symbol('weft.originalDst');
type Tagged = { [ORIGINAL_DST]?: HostPort };

/** Records on an intercepted connection where it was going before it was redirected. */
export function tagOriginalDst(socket: object, dst: HostPort): void {
  (socket as Tagged)[ORIGINAL_DST] = dst;
}

/** The original destination recorded on a connection; undefined in explicit mode. */
export function originalDstOf(socket: object | null | undefined): HostPort | undefined {
  return (socket as Tagged | null | undefined)?.[ORIGINAL_DST];
}
