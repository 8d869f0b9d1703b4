import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Catalog, Workload } from '../catalog.js';
import { workloadKey } from '../catalog.js';
import { WatchableCollection } from '../collection.js';
import type { Kind, Service } from '../resources.js';
import type { ValidResource } from '../validate.js';
import type { SnapshotStore } from './store.js';
import { LocalTokens } from './tokens.js';

export interface Outcome {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly action: 'created' | 'configured' | 'unchanged' | 'deleted' | 'not found';
}

export interface LocalCatalogOptions {
  /** How long a registration lives without renewal. */
  readonly leaseMs: number;
  /** How long registration changes may wait to be written together. */
  readonly saveDelayMs?: number;
  readonly now?: () => number;
}

/** Raised for a request that is refused whole, such as deleting what does not exist. */
export class CatalogError extends Error {}

const serviceKey = (s: Service): string => `${s.metadata.namespace}/${s.metadata.name}`;

/** JSON with object keys sorted, so key order in a manifest does not count as a change. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  );
}

const sameContent = (a: Service, b: ValidResource['spec']): boolean =>
  canonical([a.metadata.labels, a.metadata.annotations, a.spec]) ===
  canonical([b.labels, b.annotations, b.spec]);

/**
 * The local platform's catalog: applied resources and registered workloads, kept in a
 * state directory. An apply is written to disk before it is acknowledged or seen by any
 * watcher; workload registrations, which their proxies renew anyway, are written
 * shortly after they change. On start, every restored workload gets a fresh lease, so
 * its proxy has a whole lease period to renew it. Each registered instance holds an
 * identity token (`tokens`), revoked when its registration ends.
 */
export class LocalCatalog implements Catalog {
  readonly services = new WatchableCollection<Service>((s) => s.metadata);
  readonly workloads = new WatchableCollection<Workload>((w) => ({ namespace: w.namespace, name: w.pod }));
  private readonly leases = new Map<string, number>();
  /** The registered instances' identity tokens, in `<state>/tokens/`. */
  readonly tokens: LocalTokens;
  private readonly now: () => number;
  private saveTimer: NodeJS.Timeout | undefined;
  private readonly sweepTimer: NodeJS.Timeout;
  private version = 0;
  /** Counters for the control plane's metrics. */
  readonly stats = { registrations: 0, expirations: 0, saves: 0 };

  constructor(
    private readonly store: SnapshotStore,
    private readonly opts: LocalCatalogOptions,
  ) {
    this.now = opts.now ?? Date.now;
    const snapshot = store.load();
    for (const s of snapshot.services) {
      this.services.put(s);
      this.version = Math.max(this.version, Number(s.metadata.resourceVersion) || 0);
    }
    const expiresAt = this.now() + opts.leaseMs;
    for (const saved of snapshot.workloads) {
      // State written before readiness existed: every instance was an endpoint.
      const w: Workload = { ...saved, ready: saved.ready ?? true };
      this.workloads.put(w);
      this.leases.set(workloadKey(w.namespace, w.pod), expiresAt);
    }
    this.tokens = new LocalTokens(join(store.dir, 'tokens'), (ns, pod) => this.workloads.get(ns, pod));
    this.tokens.restore(this.workloads.list());
    this.sweepTimer = setInterval(() => this.expireLeases(), Math.min(500, opts.leaseMs / 4));
    this.sweepTimer.unref();
  }

  /** Applies a validated batch whole: persisted first, then visible to watchers. */
  apply(resources: readonly ValidResource[], dryRun = false): Outcome[] {
    const outcomes: Outcome[] = [];
    const changed: Service[] = [];
    const timestamp = new Date(this.now()).toISOString();
    let version = this.version;
    for (const r of resources) {
      const existing = this.services.get(r.namespace, r.name);
      const outcome = { kind: r.kind, namespace: r.namespace, name: r.name };
      if (existing && sameContent(existing, r.spec)) {
        outcomes.push({ ...outcome, action: 'unchanged' });
        continue;
      }
      version++;
      changed.push({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: r.name,
          namespace: r.namespace,
          labels: r.spec.labels,
          annotations: r.spec.annotations,
          uid: existing?.metadata.uid ?? randomUUID(),
          resourceVersion: String(version),
          creationTimestamp: existing?.metadata.creationTimestamp ?? timestamp,
        },
        spec: r.spec.spec,
      });
      outcomes.push({ ...outcome, action: existing ? 'configured' : 'created' });
    }
    if (dryRun || changed.length === 0) return outcomes;
    const replaced = new Set(changed.map(serviceKey));
    this.saveNow(
      this.services
        .list()
        .filter((s) => !replaced.has(serviceKey(s)))
        .concat(changed),
    );
    this.version = version;
    for (const s of changed) this.services.put(s);
    return outcomes;
  }

  /** Deletes objects by reference; unless ignoreNotFound, one missing object refuses the batch. */
  delete(
    refs: ReadonlyArray<{ kind: Kind; namespace: string; name: string }>,
    ignoreNotFound = false,
  ): Outcome[] {
    const outcomes = refs.map(
      (r): Outcome => ({
        kind: r.kind,
        namespace: r.namespace,
        name: r.name,
        action: this.services.get(r.namespace, r.name) ? 'deleted' : 'not found',
      }),
    );
    const missing = outcomes.filter((o) => o.action === 'not found');
    if (missing.length > 0 && !ignoreNotFound) {
      const lines = missing.map((r) => `${r.kind} ${r.namespace}/${r.name} not found`);
      throw new CatalogError(`${lines.join('\n')}\nnothing was deleted`);
    }
    if (missing.length < outcomes.length) {
      const doomed = new Set(refs.map((r) => `${r.namespace}/${r.name}`));
      this.saveNow(this.services.list().filter((s) => !doomed.has(serviceKey(s))));
      for (const r of refs) this.services.remove(r.namespace, r.name);
    }
    return outcomes;
  }

  /**
   * Creates, updates or renews a registration. The instance keeps its token across
   * renewals; a new service account gets a new token.
   */
  register(w: Workload): { ttlMs: number; tokenFile: string } {
    this.leases.set(workloadKey(w.namespace, w.pod), this.now() + this.opts.leaseMs);
    const existing = this.workloads.get(w.namespace, w.pod);
    if (existing && JSON.stringify(existing) === JSON.stringify(w)) {
      return { ttlMs: this.opts.leaseMs, tokenFile: this.tokens.ensure(w) };
    }
    this.stats.registrations++;
    // An instance restarted under a new name on the same address replaces the old one at once.
    for (const other of this.workloads.list()) {
      const same = other.pod === w.pod && other.namespace === w.namespace;
      if (!same && other.address === w.address && other.port === w.port) {
        this.dropWorkload(other.namespace, other.pod);
      }
    }
    // The token first: watchers of a new instance may look it up at once.
    const tokenFile = this.tokens.ensure(w);
    this.workloads.put(w);
    this.saveSoon();
    return { ttlMs: this.opts.leaseMs, tokenFile };
  }

  deregister(namespace: string, pod: string): boolean {
    const existed = this.dropWorkload(namespace, pod);
    if (existed) this.saveSoon();
    return existed;
  }

  private dropWorkload(namespace: string, pod: string): boolean {
    this.leases.delete(workloadKey(namespace, pod));
    this.tokens.revoke(namespace, pod);
    return this.workloads.remove(namespace, pod) !== undefined;
  }

  /** Removes every registration whose lease has lapsed. */
  expireLeases(): void {
    const now = this.now();
    let expired = 0;
    for (const [key, expiresAt] of this.leases) {
      if (expiresAt > now) continue;
      const slash = key.indexOf('/');
      this.dropWorkload(key.slice(0, slash), key.slice(slash + 1));
      expired++;
    }
    if (expired > 0) {
      this.stats.expirations += expired;
      this.saveSoon();
    }
  }

  private saveNow(services: Service[] = this.services.list()): void {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
    }
    this.store.save({ version: 1, services, workloads: this.workloads.list() });
    this.stats.saves++;
  }

  private saveSoon(): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.saveNow();
    }, this.opts.saveDelayMs ?? 200);
    this.saveTimer.unref();
  }

  /** Writes what is pending and stops the timers. */
  close(): void {
    clearInterval(this.sweepTimer);
    if (this.saveTimer) this.saveNow();
  }
}
