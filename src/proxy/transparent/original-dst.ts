/**
 * The destination an intercepted connection was addressed to, before proxy-init's
 * REDIRECT sent it to the proxy: SO_ORIGINAL_DST, read by a small native addon
 * (native/original-dst, built by node-gyp at install). Loaded only in transparent mode.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

export interface OriginalDst {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

interface Addon {
  originalDst(fd: number): OriginalDst | null;
}

/** From dist/src/proxy/transparent/ (or src/...) to the repository root. */
const ADDON = new URL('../../../../native/original-dst/build/Release/original_dst.node', import.meta.url);

export class OriginalDstUnavailable extends Error {
  override name = 'OriginalDstUnavailable';
}

let loaded: Addon | undefined;

/** The addon at `path` (the built one by default), or an error that says how to build it. */
export function loadOriginalDst(path: string = ADDON.pathname): Addon {
  if (loaded && path === ADDON.pathname) return loaded;
  if (process.platform !== 'linux') {
    throw new OriginalDstUnavailable('transparent interception needs Linux (SO_ORIGINAL_DST)');
  }
  let addon: Addon;
  try {
    addon = createRequire(import.meta.url)(path) as Addon;
  } catch (err) {
    throw new OriginalDstUnavailable(
      `the SO_ORIGINAL_DST addon is not built (${(err as Error).message.split('\n')[0]}): run \`npm run build:addon\` (needs python3, make and a C compiler); explicit mode works without it`,
    );
  }
  if (path === ADDON.pathname) loaded = addon;
  return addon;
}

/**
 * The connection's original destination, or undefined when it was not redirected (it
 * came straight to the proxy's port) or has no file descriptor (already closed).
 */
export function originalDst(socket: Socket): OriginalDst | undefined {
  // libuv's TCP handle exposes the descriptor as `fd`; it is not in @types/node.
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return undefined;
  const dst = loadOriginalDst().originalDst(fd);
  // Conntrack knows unredirected connections too: their original destination is this socket.
  if (!dst || (dst.port === socket.localPort && dst.address === socket.localAddress)) return undefined;
  return dst;
}
