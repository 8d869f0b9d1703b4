import { chmodSync, chownSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PROXY_UID } from './pod.js';

/**
 * Gives a pod's proxy copies of its token and the trust anchors in `dir`, readable by the
 * proxy's user only (0400): the state directory they come from is root's.
 */
export function handToProxy(
  dir: string,
  from: { tokenFile: string; trustAnchorsFile: string },
): { tokenFile: string; trustAnchorsFile: string } {
  return {
    tokenFile: handFileToProxy(dir, from.tokenFile, 'token'),
    trustAnchorsFile: handFileToProxy(dir, from.trustAnchorsFile, 'trust-anchors.pem'),
  };
}

/** Copies `from` to `dir`/`name`, readable by the proxy's user only (0400); returns the copy. */
export function handFileToProxy(dir: string, from: string, name: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chownSync(dir, PROXY_UID, PROXY_UID);
  const out = join(dir, name);
  copyFileSync(from, out);
  chmodSync(out, 0o400);
  chownSync(out, PROXY_UID, PROXY_UID);
  return out;
}
