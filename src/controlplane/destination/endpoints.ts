import type { Catalog, Workload } from '../../catalog/catalog.js';
import { type FailureAccrualReading, readFailureAccrual } from '../../catalog/failure-accrual.js';
import type { Service } from '../../catalog/resources.js';
import { endpointPort, selects } from '../../catalog/selection.js';
import type { ServiceRef } from './names.js';

/** One endpoint of a Service port, with what proxies need to reach and label it. */
export interface EndpointInfo {
  /** `address:port`, unique in a set. */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly pod: string;
  readonly workload: string;
  readonly serviceAccount: string;
  /** The TLS identity of the endpoint's proxy. */
  readonly identity: string;
  /** The endpoint's proxy inbound port, for opaque transport; 0: not known. */
  readonly inboundPort: number;
}

/** A change to a watched set: what was added or changed, what left, and whether the Service exists. */
export interface EndpointChange {
  readonly exists: boolean;
  readonly added: readonly EndpointInfo[];
  readonly removed: readonly EndpointInfo[];
  /** The size of the set after the change. */
  readonly size: number;
}

export type EndpointListener = (change: EndpointChange) => void;

/** Told the Service's failure accrual (from its annotations), and any problem reading them. */
export type FailureAccrualListener = (reading: FailureAccrualReading) => void;

interface Subscriber {
  readonly endpoints: EndpointListener;
  readonly failureAccrual: FailureAccrualListener | undefined;
}

const NO_SERVICE = readFailureAccrual({});

/** Linkerd's default endpoint weight. */
export const DEFAULT_WEIGHT = 10_000;

/** The endpoint set of one Service port, kept current and told to its listeners. */
class ServicePortView {
  exists = false;
  private service: Service | undefined;
  private targetPort: number | string = 0;
  readonly endpoints = new Map<string, EndpointInfo>();
  /** Which endpoint each workload instance contributes. */
  private readonly byPod = new Map<string, string>();
  readonly listeners = new Set<Subscriber>();
  failureAccrual: FailureAccrualReading = NO_SERVICE;

  constructor(
    readonly ref: ServiceRef,
    private readonly identityOf: (w: Workload) => string,
  ) {}

  private endpointOf(w: Workload): EndpointInfo | undefined {
    if (!this.exists || !selects(this.service?.spec.selector, w.labels)) return undefined;
    const port = endpointPort(w, this.targetPort);
    if (port === undefined) return undefined;
    return {
      key: `${w.address}:${port}`,
      address: w.address,
      port,
      weight: DEFAULT_WEIGHT,
      pod: w.pod,
      workload: w.workload,
      serviceAccount: w.serviceAccount,
      identity: this.identityOf(w),
      inboundPort: w.inboundPort ?? 0,
    };
  }

  /** Reads the Service's failure accrual again; returns whether it changed. */
  readFailureAccrual(service: Service | undefined): boolean {
    const reading = service ? readFailureAccrual(service.metadata.annotations) : NO_SERVICE;
    const changed = JSON.stringify(reading) !== JSON.stringify(this.failureAccrual);
    this.failureAccrual = reading;
    return changed;
  }

  /** Recomputes the whole set (the Service changed, or the view is new). */
  reset(service: Service | undefined, workloads: Iterable<Workload>): EndpointChange {
    const servicePort = service?.spec.ports.find((p) => p.port === this.ref.port);
    this.service = service;
    this.exists = servicePort !== undefined;
    this.targetPort = servicePort?.targetPort ?? 0;
    const before = new Map(this.endpoints);
    this.endpoints.clear();
    this.byPod.clear();
    const added: EndpointInfo[] = [];
    for (const w of workloads) {
      const ep = this.endpointOf(w);
      if (!ep) continue;
      this.endpoints.set(ep.key, ep);
      this.byPod.set(w.pod, ep.key);
      const old = before.get(ep.key);
      if (!old || JSON.stringify(old) !== JSON.stringify(ep)) added.push(ep);
    }
    const removed = [...before.values()].filter((ep) => !this.endpoints.has(ep.key));
    return { exists: this.exists, added, removed, size: this.endpoints.size };
  }

  /** Folds in one workload's change; returns undefined when the set did not change. */
  update(old: Workload | undefined, current: Workload | undefined): EndpointChange | undefined {
    const pod = (current ?? old)?.pod as string;
    const oldKey = this.byPod.get(pod);
    const oldEp = oldKey === undefined ? undefined : this.endpoints.get(oldKey);
    const ep = current ? this.endpointOf(current) : undefined;
    if (!oldEp && !ep) return undefined;
    if (oldEp && ep && JSON.stringify(oldEp) === JSON.stringify(ep)) return undefined;
    const removed: EndpointInfo[] = [];
    if (oldEp) {
      this.endpoints.delete(oldEp.key);
      this.byPod.delete(pod);
      if (!ep || ep.key !== oldEp.key) removed.push(oldEp);
    }
    if (ep) {
      this.endpoints.set(ep.key, ep);
      this.byPod.set(pod, ep.key);
    }
    return { exists: this.exists, added: ep ? [ep] : [], removed, size: this.endpoints.size };
  }

  snapshot(): EndpointChange {
    return {
      exists: this.exists,
      added: [...this.endpoints.values()],
      removed: [],
      size: this.endpoints.size,
    };
  }

  notify(change: EndpointChange): void {
    for (const l of this.listeners) l.endpoints(change);
  }

  notifyFailureAccrual(): void {
    for (const l of this.listeners) l.failureAccrual?.(this.failureAccrual);
  }
}

/**
 * Endpoint sets of the Service ports proxies watch, computed from the catalog's Services
 * and workloads (a Service's selector picks workloads by label, as on Kubernetes) and
 * updated incrementally: one workload's change touches only the views in its namespace.
 */
export class EndpointIndex {
  private readonly views = new Map<string, ServicePortView>();
  private readonly byNamespace = new Map<string, Set<ServicePortView>>();
  private readonly stopWatches: Array<() => void>;

  constructor(
    private readonly catalog: Catalog,
    private readonly identityOf: (w: Workload) => string,
  ) {
    this.stopWatches = [
      catalog.services.watch((e) => this.serviceChanged(e.object.metadata.namespace, e.object.metadata.name)),
      catalog.workloads.watch((e) => {
        const views = this.byNamespace.get(e.object.namespace);
        if (!views) return;
        const old = e.type === 'added' ? undefined : e.type === 'modified' ? e.old : e.object;
        const current = e.type === 'deleted' ? undefined : e.object;
        for (const v of views) {
          const change = v.update(old, current);
          if (change) v.notify(change);
        }
      }),
    ];
  }

  get watchers(): number {
    let n = 0;
    for (const v of this.views.values()) n += v.listeners.size;
    return n;
  }

  private serviceChanged(namespace: string, name: string): void {
    const views = this.byNamespace.get(namespace);
    if (!views) return;
    const service = this.catalog.services.get(namespace, name);
    for (const v of views) {
      if (v.ref.service !== name) continue;
      const existed = v.exists;
      // The settings first: they apply to the endpoints that follow.
      if (v.readFailureAccrual(service)) v.notifyFailureAccrual();
      const change = v.reset(service, this.catalog.workloads.list(namespace));
      if (change.added.length > 0 || change.removed.length > 0 || change.exists !== existed) v.notify(change);
    }
  }

  /**
   * Calls `listener` with the current set at once, then with every change; returns the
   * unsubscribe. `onFailureAccrual`, given, is called with the Service's failure accrual
   * before the set, then whenever a change to the Service changes it.
   */
  subscribe(
    ref: ServiceRef,
    listener: EndpointListener,
    onFailureAccrual?: FailureAccrualListener,
  ): () => void {
    const key = `${ref.namespace}/${ref.service}:${ref.port}`;
    let view = this.views.get(key);
    if (!view) {
      view = new ServicePortView(ref, this.identityOf);
      const service = this.catalog.services.get(ref.namespace, ref.service);
      view.readFailureAccrual(service);
      view.reset(service, this.catalog.workloads.list(ref.namespace));
      this.views.set(key, view);
      let inNs = this.byNamespace.get(ref.namespace);
      if (!inNs) {
        inNs = new Set();
        this.byNamespace.set(ref.namespace, inNs);
      }
      inNs.add(view);
    }
    const v = view;
    const subscriber: Subscriber = { endpoints: listener, failureAccrual: onFailureAccrual };
    v.listeners.add(subscriber);
    onFailureAccrual?.(v.failureAccrual);
    listener(v.snapshot());
    return () => {
      if (!v.listeners.delete(subscriber) || v.listeners.size > 0) return;
      this.views.delete(key);
      this.byNamespace.get(ref.namespace)?.delete(v);
    };
  }

  close(): void {
    for (const stop of this.stopWatches) stop();
  }
}
