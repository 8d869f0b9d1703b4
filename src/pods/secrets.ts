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
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chownSync(dir, PROXY_UID, PROXY_UID);
  const out = { tokenFile: join(dir, 'token'), trustAnchorsFile: join(dir, 'trust-anchors.pem') };
  copyFileSync(from.tokenFile, out.tokenFile);
  copyFileSync(from.trustAnchorsFile, out.trustAnchorsFile);
  for (const f of Object.values(out)) {
    chmodSync(f, 0o400);
    chownSync(f, PROXY_UID, PROXY_UID);
  }
  return out;
}
