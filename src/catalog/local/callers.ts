import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type Caller, type CallerAuthenticator, CallerError } from '../../controlplane/callers.js';
import { writeFileAtomic } from './store.js';

/** The owner's credential in a state directory: what `weft apply` and a hand-run proxy present. */
export const OWNER_CREDENTIAL_FILE = 'owner.token';
const OWNER_PREFIX = 'weft-owner-v1.';
const POD_PREFIX = 'weft-pod-v1.';
const OWNER_FORMAT = /^weft-owner-v1\.[A-Za-z0-9_-]{43}$/;
const POD_FORMAT = /^weft-pod-v1\.[A-Za-z0-9_-]{43}$/;

const digest = (token: Buffer): string => createHash('sha256').update(token).digest('hex');
const mint = (prefix: string): Buffer => Buffer.from(prefix + randomBytes(32).toString('base64url'));
const podKey = (namespace: string, pod: string): string => `${namespace}/${pod}`;

interface PodEntry {
  readonly namespace: string;
  readonly pod: string;
  readonly serviceAccount: string;
  readonly token: Buffer;
  readonly file: string;
}

/** The path of the owner credential of state directory `stateDir`. */
export function ownerCredentialFile(stateDir: string): string {
  return join(stateDir, OWNER_CREDENTIAL_FILE);
}

/**
 * The local platform's callers. The owner credential is a random token in
 * `<state>/owner.token` (0600 in the 0700 state directory, kept across restarts), so only
 * the user who runs `weft up` (and root) can read it: the local kubeconfig. Each pod `weft
 * up` starts gets its own credential, bound to its namespace, name and service account,
 * in `<state>/credentials/<namespace>/<pod>.token` (0600), and revoked when the pod goes;
 * pod credentials live in memory, so a restart drops those of the pods it no longer runs.
 */
export class LocalCallers implements CallerAuthenticator {
  readonly ownerFile: string;
  private readonly owner: Buffer;
  private readonly podsDir: string;
  private readonly byDigest = new Map<string, PodEntry>();
  private readonly byPod = new Map<string, PodEntry>();

  constructor(stateDir: string) {
    this.ownerFile = ownerCredentialFile(stateDir);
    this.podsDir = join(stateDir, 'credentials');
    this.owner = loadOrCreateOwner(this.ownerFile);
    // The previous run's pods are gone with it.
    rmSync(this.podsDir, { recursive: true, force: true });
  }

  /** Issues (or reissues) the credential of a pod about to start; returns its file. */
  issuePod(p: { namespace: string; pod: string; serviceAccount: string }): string {
    this.revokePod(p.namespace, p.pod);
    const token = mint(POD_PREFIX);
    mkdirSync(join(this.podsDir, p.namespace), { recursive: true, mode: 0o700 });
    const file = join(this.podsDir, p.namespace, `${p.pod}.token`);
    writeFileAtomic(file, token);
    const entry = { ...p, token, file };
    this.byDigest.set(digest(token), entry);
    this.byPod.set(podKey(p.namespace, p.pod), entry);
    return file;
  }

  /** Revokes a pod's credential and deletes its file. */
  revokePod(namespace: string, pod: string): void {
    const entry = this.byPod.get(podKey(namespace, pod));
    if (!entry) return;
    this.byPod.delete(podKey(namespace, pod));
    this.byDigest.delete(digest(entry.token));
    try {
      unlinkSync(entry.file);
    } catch {
      // Already gone.
    }
  }

  authenticate(credential: string): Caller {
    const t = Buffer.from(credential, 'latin1');
    const text = t.toString('latin1');
    if (OWNER_FORMAT.test(text)) {
      if (t.length === this.owner.length && timingSafeEqual(t, this.owner)) return { kind: 'owner' };
      throw new CallerError(
        "the owner credential is not this control plane's (is it from another state directory?)",
      );
    }
    if (POD_FORMAT.test(text)) {
      const entry = this.byDigest.get(digest(t));
      if (entry && entry.token.length === t.length && timingSafeEqual(entry.token, t)) {
        const { namespace, pod, serviceAccount } = entry;
        return { kind: 'workload', namespace, pod, serviceAccount };
      }
      throw new CallerError('the pod credential is unknown or revoked (its pod is gone)');
    }
    throw new CallerError(
      `not a credential of this platform (expected ${OWNER_PREFIX}... or ${POD_PREFIX}...)`,
    );
  }
}

/** Reads the owner credential, or creates it (0600) when the file is missing or not one. */
function loadOrCreateOwner(file: string): Buffer {
  try {
    const existing = readFileSync(file);
    const mode = statSync(file).mode & 0o777;
    if (OWNER_FORMAT.test(existing.toString('latin1')) && (mode & 0o077) === 0) return existing;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // Missing, malformed or readable by others: a new one.
  const token = mint(OWNER_PREFIX);
  writeFileAtomic(file, token);
  return token;
}
