import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { TokenError, type TokenIdentity, type TokenValidator } from '../../controlplane/identity/tokens.js';
import type { Workload } from '../catalog.js';
import { writeFileAtomic } from './store.js';

/** Every local token starts with this; the rest is 32 random bytes, base64url. */
export const LOCAL_TOKEN_PREFIX = 'weft-local-v1.';
const TOKEN_FORMAT = /^weft-local-v1\.[A-Za-z0-9_-]{43}$/;
const SUFFIX = '.token';

interface Entry {
  readonly namespace: string;
  readonly pod: string;
  readonly serviceAccount: string;
  readonly token: Buffer;
  readonly file: string;
}

const key = (namespace: string, pod: string): string => `${namespace}/${pod}`;
const digest = (token: Buffer): string => createHash('sha256').update(token).digest('hex');

/**
 * The local platform's workload tokens: one per registered instance, in
 * `<state>/tokens/<namespace>/<pod>.token` (0600, directories 0700), standing in for the
 * service account token Kubernetes mounts into a pod. A token proves the service account
 * its instance is registered with, for as long as the instance stays registered. Whoever
 * can read the state directory can read every token: the state directory is the local
 * platform's trust boundary.
 */
export class LocalTokens implements TokenValidator {
  private readonly byPod = new Map<string, Entry>();
  /** By SHA-256 of the token, so a lookup's timing says nothing of the token. */
  private readonly byDigest = new Map<string, Entry>();

  constructor(
    readonly dir: string,
    /** The registered instance, looked up at validation (its service account is the truth). */
    private readonly lookup: (namespace: string, pod: string) => Workload | undefined,
  ) {}

  /** The token file of an instance. */
  fileOf(namespace: string, pod: string): string {
    return join(this.dir, namespace, `${pod}${SUFFIX}`);
  }

  /**
   * Makes sure `w` holds a token for its service account: keeps the one it has, or issues
   * (and writes) a new one when it has none or its service account changed. Returns the file.
   */
  ensure(w: Workload): string {
    const existing = this.byPod.get(key(w.namespace, w.pod));
    if (existing && existing.serviceAccount === w.serviceAccount) return existing.file;
    if (existing) this.forget(existing);
    const token = Buffer.from(LOCAL_TOKEN_PREFIX + randomBytes(32).toString('base64url'));
    const file = this.fileOf(w.namespace, w.pod);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    mkdirSync(join(this.dir, w.namespace), { recursive: true, mode: 0o700 });
    writeFileAtomic(file, token);
    this.remember({ namespace: w.namespace, pod: w.pod, serviceAccount: w.serviceAccount, token, file });
    return file;
  }

  /** Revokes an instance's token and deletes its file. */
  revoke(namespace: string, pod: string): void {
    const entry = this.byPod.get(key(namespace, pod));
    if (entry) this.forget(entry);
    const file = this.fileOf(namespace, pod);
    try {
      unlinkSync(file);
    } catch {
      // Already gone.
    }
    try {
      rmdirSync(join(this.dir, namespace));
    } catch {
      // Not empty, or gone.
    }
  }

  /**
   * At start: takes back the tokens of the restored instances from their files (a missing
   * or unreadable one is issued anew) and deletes every other token file.
   */
  restore(workloads: readonly Workload[]): void {
    const keep = new Set<string>();
    for (const w of workloads) {
      const file = this.fileOf(w.namespace, w.pod);
      keep.add(file);
      let token: Buffer | undefined;
      try {
        token = readFileSync(file);
      } catch {
        token = undefined;
      }
      if (token && TOKEN_FORMAT.test(token.toString('latin1'))) {
        this.remember({ namespace: w.namespace, pod: w.pod, serviceAccount: w.serviceAccount, token, file });
      } else {
        this.ensure(w);
      }
    }
    let namespaces: string[];
    try {
      namespaces = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const ns of namespaces) {
      const nsDir = join(this.dir, ns);
      let files: string[];
      try {
        files = readdirSync(nsDir);
      } catch {
        continue;
      }
      for (const f of files) {
        const path = join(nsDir, f);
        if (keep.has(path)) continue;
        try {
          unlinkSync(path);
        } catch {
          // Gone already.
        }
      }
      try {
        rmdirSync(nsDir);
      } catch {
        // Not empty.
      }
    }
  }

  /** How many instances hold a token. */
  get size(): number {
    return this.byPod.size;
  }

  async validate(token: Buffer): Promise<TokenIdentity> {
    if (token.length === 0) throw new TokenError('missing', 'no token');
    // A file read by a shell tool may carry a final newline.
    let end = token.length;
    while (end > 0 && (token[end - 1] === 0x0a || token[end - 1] === 0x0d)) end--;
    const t = token.subarray(0, end);
    if (!TOKEN_FORMAT.test(t.toString('latin1'))) {
      throw new TokenError('malformed', `not a local platform token (expected ${LOCAL_TOKEN_PREFIX}...)`);
    }
    const entry = this.byDigest.get(digest(t));
    if (!entry || entry.token.length !== t.length || !timingSafeEqual(entry.token, t)) {
      throw new TokenError(
        'unknown',
        'the token is unknown or no longer valid (its workload is not registered)',
      );
    }
    const w = this.lookup(entry.namespace, entry.pod);
    if (!w || w.serviceAccount !== entry.serviceAccount) {
      throw new TokenError('unknown', 'the token is no longer valid (its workload is not registered)');
    }
    return { namespace: w.namespace, serviceAccount: w.serviceAccount };
  }

  private remember(e: Entry): void {
    this.byPod.set(key(e.namespace, e.pod), e);
    this.byDigest.set(digest(e.token), e);
  }

  private forget(e: Entry): void {
    this.byPod.delete(key(e.namespace, e.pod));
    this.byDigest.delete(digest(e.token));
  }
}
