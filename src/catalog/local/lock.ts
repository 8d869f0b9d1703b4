import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Raised when another live control plane holds the state directory. */
export class StateDirLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: { pid: number; address?: string },
  ) {
    super(
      `another weft control plane (pid ${holder.pid}${holder.address ? `, serving ${holder.address}` : ''}) is using state dir ${dir}; stop it first, or pass a different --state-dir`,
    );
    this.name = 'StateDirLockedError';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What a lock file says about the control plane that holds a state directory. */
export interface StateDirLockRecord {
  readonly pid: number;
  /** Whether that process is still running. */
  readonly alive: boolean;
  /** The gRPC API, as bound. */
  readonly address?: string;
  /** The Identity API, as bound. */
  readonly identityAddress?: string;
  readonly trustDomain?: string;
}

/** Reads the lock file of `dir`; undefined when there is none or it is unreadable. */
export function readStateDirLock(dir: string): StateDirLockRecord | undefined {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(join(dir, 'weft-up.lock'), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof raw.pid !== 'number') return undefined;
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const address = text(raw.address);
  const identityAddress = text(raw.identityAddress);
  const trustDomain = text(raw.trustDomain);
  return {
    pid: raw.pid,
    alive: isAlive(raw.pid),
    ...(address ? { address } : {}),
    ...(identityAddress ? { identityAddress } : {}),
    ...(trustDomain ? { trustDomain } : {}),
  };
}

/**
 * An exclusive lock on a state directory: a file created with O_EXCL holding the
 * owner's pid. A lock whose owner has died (a crash, kill -9) is taken over.
 */
export class StateDirLock {
  private constructor(private readonly path: string) {}

  static acquire(dir: string, address: string): StateDirLock {
    const path = join(dir, 'weft-up.lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, JSON.stringify({ pid: process.pid, address }));
        closeSync(fd);
        return new StateDirLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let holder: { pid?: unknown; address?: unknown } = {};
      try {
        holder = JSON.parse(readFileSync(path, 'utf8')) as typeof holder;
      } catch {
        // Unreadable or half-written by a crashed owner: stale.
      }
      if (typeof holder.pid === 'number' && holder.pid !== process.pid && isAlive(holder.pid)) {
        throw new StateDirLockedError(dir, {
          pid: holder.pid,
          ...(typeof holder.address === 'string' ? { address: holder.address } : {}),
        });
      }
      unlinkSync(path);
    }
    throw new Error(`could not lock state dir ${dir}`);
  }

  /**
   * Records the addresses the owner serves once they are bound (it may have asked for port
   * 0), and the trust domain, for `weft check`.
   */
  setAddress(address: string, identity: { identityAddress?: string; trustDomain?: string } = {}): void {
    writeFileSync(this.path, JSON.stringify({ pid: process.pid, address, ...identity }), { mode: 0o600 });
  }

  release(): void {
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }
}
