import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Catalog, Workload } from '../catalog.js';
import { workloadKey } from '../catalog.js';
import { WatchableCollection } from '../collection.js';
import {
  API_VERSIONS,
  type Deployment,
  type HTTPRoute,
  type Kind,
  type Resource,
  type Service,
  type ServiceProfile,
} from '../resources.js';
import type { Content, ValidResource } from '../validate.js';
import { ClusterIps } from './cluster-ips.js';
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
  /** Where Services get their cluster IPs (an a.b.0.0/16; default 10.43.0.0/16). */
  readonly serviceCidr?: string;
}

/** Raised for a request that is refused whole, such as deleting what does not exist. */
export class CatalogError extends Error {}

const keyOf = (r: Resource): string => `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;

/** JSON with object keys sorted, so key order in a manifest does not count as a change. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  );
}

const sameContent = (a: Resource, b: Content<unknown>): boolean =>
  canonical([a.metadata.labels, a.metadata.annotations, a.spec]) ===
  canonical([b.labels, b.annotations, b.spec]);

/**
 * The local platform's catalog: applied resources and registered workloads, kept in a
 * state directory. An apply is written to disk before it is acknowledged or seen by any
 * watcher; workload registrations, which their proxies renew anyway, are written
 * shortly after they change. On start, every restored workload gets a fresh lease, so
 * its proxy has a whole lease period to renew it. Each registered instance holds an
 * identity token (`tokens`), revoked when its registration ends. Every Service gets a
 * cluster IP from the service subnet, which it keeps until it is deleted.
 */
export class LocalCatalog implements Catalog {
  readonly services = new WatchableCollection<Service>((s) => s.metadata);
  /** The workloads `weft up` runs as pods (the local platform's own controller). */
  readonly deployments = new WatchableCollection<Deployment>((d) => d.metadata);
  /** Routes, retries, timeouts and traffic splits of services, by their fully qualified names. */
  readonly serviceProfiles = new WatchableCollection<ServiceProfile>((p) => p.metadata);
  /** Gateway API routes whose parents are Services (the mesh's routes). */
  readonly httpRoutes = new WatchableCollection<HTTPRoute>((r) => r.metadata);
  readonly workloads = new WatchableCollection<Workload>((w) => ({ namespace: w.namespace, name: w.pod }));
  private clusterIps: ClusterIps;
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
    this.clusterIps = new ClusterIps(opts.serviceCidr ?? '10.43.0.0/16');
    let allocated = false;
    for (const saved of snapshot.services) {
      // Services saved before cluster IPs (or in another subnet) get one now.
      const key = `${saved.metadata.namespace}/${saved.metadata.name}`;
      const held = this.clusterIps.assign(key, saved.spec.clusterIP, undefined);
      const ip =
        'ip' in held ? held.ip : (this.clusterIps.assign(key, undefined, undefined) as { ip: string }).ip;
      allocated ||= ip !== saved.spec.clusterIP;
      this.services.put(
        ip === saved.spec.clusterIP ? saved : { ...saved, spec: { ...saved.spec, clusterIP: ip } },
      );
    }
    for (const d of snapshot.deployments) this.deployments.put(d);
    for (const p of snapshot.serviceProfiles) this.serviceProfiles.put(p);
    for (const r of snapshot.httpRoutes) this.httpRoutes.put(r);
    for (const r of [
      ...snapshot.services,
      ...snapshot.deployments,
      ...snapshot.serviceProfiles,
      ...snapshot.httpRoutes,
    ]) {
      this.version = Math.max(this.version, Number(r.metadata.resourceVersion) || 0);
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
    if (allocated) this.saveNow();
  }

  private collection(kind: Kind): WatchableCollection<Resource> {
    const byKind = {
      Service: this.services,
      Deployment: this.deployments,
      ServiceProfile: this.serviceProfiles,
      HTTPRoute: this.httpRoutes,
    } satisfies Record<Kind, unknown>;
    // Each kind's collection holds only objects of that kind, which apply and delete keep so.
    return byKind[kind] as WatchableCollection<Resource>;
  }

  private all(): Resource[] {
    return [
      ...this.services.list(),
      ...this.deployments.list(),
      ...this.serviceProfiles.list(),
      ...this.httpRoutes.list(),
    ];
  }

  /**
   * Applies a validated batch whole: persisted first, then visible to watchers. A batch
   * with a Service whose cluster IP cannot be granted is refused whole.
   */
  apply(resources: readonly ValidResource[], dryRun = false): Outcome[] {
    const outcomes: Outcome[] = [];
    const changed: Resource[] = [];
    const problems: string[] = [];
    const ips = this.clusterIps.clone();
    const timestamp = new Date(this.now()).toISOString();
    let version = this.version;
    for (const r of resources) {
      const existing = this.collection(r.kind).get(r.namespace, r.name);
      const outcome = { kind: r.kind, namespace: r.namespace, name: r.name };
      let content: Content<unknown> = r.spec;
      if (r.kind === 'Service') {
        const held = ips.assign(
          `${r.namespace}/${r.name}`,
          r.spec.spec.clusterIP,
          (existing as Service | undefined)?.spec.clusterIP,
        );
        if ('problem' in held) {
          problems.push(`${r.source} (Service ${r.name}): spec.clusterIP: ${held.problem}`);
          continue;
        }
        content = { ...r.spec, spec: { ...r.spec.spec, clusterIP: held.ip } };
      }
      if (existing && sameContent(existing, content)) {
        outcomes.push({ ...outcome, action: 'unchanged' });
        continue;
      }
      version++;
      changed.push({
        apiVersion: API_VERSIONS[r.kind],
        kind: r.kind,
        metadata: {
          name: r.name,
          namespace: r.namespace,
          labels: content.labels,
          annotations: content.annotations,
          uid: existing?.metadata.uid ?? randomUUID(),
          resourceVersion: String(version),
          creationTimestamp: existing?.metadata.creationTimestamp ?? timestamp,
        },
        spec: content.spec,
      } as Resource);
      outcomes.push({ ...outcome, action: existing ? 'configured' : 'created' });
    }
    if (problems.length > 0) throw new CatalogError(problems.join('\n'));
    if (dryRun || changed.length === 0) return outcomes;
    const replaced = new Set(changed.map(keyOf));
    this.saveNow(
      this.all()
        .filter((r) => !replaced.has(keyOf(r)))
        .concat(changed),
    );
    this.version = version;
    this.clusterIps = ips;
    for (const r of changed) this.collection(r.kind).put(r);
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
        action: this.collection(r.kind).get(r.namespace, r.name) ? 'deleted' : 'not found',
      }),
    );
    const missing = outcomes.filter((o) => o.action === 'not found');
    if (missing.length > 0 && !ignoreNotFound) {
      const lines = missing.map((r) => `${r.kind} ${r.namespace}/${r.name} not found`);
      throw new CatalogError(`${lines.join('\n')}\nnothing was deleted`);
    }
    if (missing.length < outcomes.length) {
      const doomed = new Set(refs.map((r) => `${r.kind}/${r.namespace}/${r.name}`));
      this.saveNow(this.all().filter((r) => !doomed.has(keyOf(r))));
      for (const r of refs) {
        const gone = this.collection(r.kind).remove(r.namespace, r.name);
        if (gone?.kind === 'Service') this.clusterIps.release(gone.spec.clusterIP);
      }
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
    // An instance restarted under a new name on the same address replaces the old one at
    // once, when it is ready to take its place: instances still starting on loopback all
    // register port 0 until their listeners are open.
    for (const other of w.ready ? this.workloads.list() : []) {
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

  private saveNow(resources: Resource[] = this.all()): void {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
    }
    this.store.save({
      version: 1,
      services: resources.filter((r): r is Service => r.kind === 'Service'),
      deployments: resources.filter((r): r is Deployment => r.kind === 'Deployment'),
      serviceProfiles: resources.filter((r): r is ServiceProfile => r.kind === 'ServiceProfile'),
      httpRoutes: resources.filter((r): r is HTTPRoute => r.kind === 'HTTPRoute'),
      workloads: this.workloads.list(),
    });
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
