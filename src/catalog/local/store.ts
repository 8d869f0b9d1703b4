import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Workload } from '../catalog.js';
import type { Deployment, HTTPRoute, Service, ServiceProfile } from '../resources.js';

/** What the local platform keeps on disk. */
export interface Snapshot {
  readonly version: 1;
  readonly services: Service[];
  readonly deployments: Deployment[];
  readonly serviceProfiles: ServiceProfile[];
  /** Absent from state written before HTTPRoutes: none. */
  readonly httpRoutes: HTTPRoute[];
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
        return {
          version: 1,
          services: [],
          deployments: [],
          serviceProfiles: [],
          httpRoutes: [],
          workloads: [],
        };
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
    const {
      services = [],
      deployments = [],
      serviceProfiles = [],
      httpRoutes = [],
      workloads = [],
    } = snapshot;
    if (![services, deployments, serviceProfiles, httpRoutes, workloads].every(Array.isArray)) {
      throw new Error(
        `${this.path}: services, deployments, serviceProfiles, httpRoutes and workloads must be lists; move it aside to start empty`,
      );
    }
    return { version: 1, services, deployments, serviceProfiles, httpRoutes, workloads };
  }

  save(snapshot: Snapshot): void {
    writeFileAtomic(this.path, JSON.stringify(snapshot));
  }
}

/**
 * Writes `data` to `path` atomically and durably: a temporary file (mode `mode`, 0600 by
 * default) is written, fsynced and renamed over `path`, then the directory is fsynced. A
 * crash mid-write leaves the previous file whole.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // The rename is durable once the directory entry is.
  const dirFd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
