import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Workload } from '../catalog.js';
import type { Service } from '../resources.js';

/** What the local platform keeps on disk. */
export interface Snapshot {
  readonly version: 1;
  readonly services: Service[];
  readonly workloads: Workload[];
}

const FILE = 'state.json';

/**
 * The state directory's snapshot file. Each save writes a temporary file, fsyncs it and
 * renames it over the old one, so a crash mid-write leaves the previous state whole.
 * The directory is private (0700) and the file 0600.
 */
export class SnapshotStore {
  readonly path: string;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.path = join(dir, FILE);
  }

  load(): Snapshot {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return { version: 1, services: [], workloads: [] };
      throw err;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new Error(
        `${this.path} is not valid JSON (${(err as Error).message}); move it aside to start empty`,
      );
    }
    const snapshot = parsed as Partial<Snapshot> | null;
    if (typeof snapshot !== 'object' || snapshot === null || snapshot.version !== 1) {
      throw new Error(
        `${this.path} is not a Weft state file (format version 1); move it aside to start empty`,
      );
    }
    const { services = [], workloads = [] } = snapshot;
    if (!Array.isArray(services) || !Array.isArray(workloads)) {
      throw new Error(`${this.path}: services and workloads must be lists; move it aside to start empty`);
    }
    return { version: 1, services, workloads };
  }

  save(snapshot: Snapshot): void {
    const tmp = `${this.path}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(snapshot));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    // The rename is durable once the directory entry is.
    const dirFd = openSync(this.dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}
