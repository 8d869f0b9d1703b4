import type { Catalog, Workload } from '../catalog/catalog.js';
import type { VizKind } from './resources.js';

/** How many of a resource's instances run meshed (a proxy registered them and is ready) of how many it should have. */
export interface Meshed {
  readonly meshed: number;
  readonly total: number;
}

/** A resource the catalog knows: its namespace ('' for namespaces), name and meshed count. */
export interface KnownResource {
  readonly namespace: string;
  readonly name: string;
  readonly meshed: Meshed | null;
}

/**
 * What the catalog says exists, for viz's rows: Deployments (with their instances),
 * pods (registered instances), Services and namespaces. Every instance on this platform
 * is registered by its proxy, so registered and ready means meshed.
 */
export function knownResources(catalog: Catalog, kind: VizKind, namespace?: string): KnownResource[] {
  const instances = catalog.workloads.list(namespace);
  switch (kind) {
    case 'deployment':
      return byDeployment(catalog, instances, namespace);
    case 'pod':
      return instances.map((w) => ({
        namespace: w.namespace,
        name: w.pod,
        meshed: { meshed: w.ready ? 1 : 0, total: 1 },
      }));
    case 'service':
      return catalog.services.list(namespace).map((s) => ({
        namespace: s.metadata.namespace,
        name: s.metadata.name,
        meshed: null,
      }));
    case 'namespace': {
      const totals = new Map<string, { meshed: number; total: number }>();
      for (const d of byDeployment(catalog, instances, namespace)) {
        const t = totals.get(d.namespace) ?? { meshed: 0, total: 0 };
        t.meshed += d.meshed?.meshed ?? 0;
        t.total += d.meshed?.total ?? 0;
        totals.set(d.namespace, t);
      }
      for (const s of catalog.services.list(namespace)) {
        if (!totals.has(s.metadata.namespace)) totals.set(s.metadata.namespace, { meshed: 0, total: 0 });
      }
      return [...totals].map(([ns, t]) => ({ namespace: '', name: ns, meshed: t }));
    }
    case 'authority':
      return [];
  }
}

function byDeployment(catalog: Catalog, instances: readonly Workload[], namespace?: string): KnownResource[] {
  // total: the Deployment's replicas; without one, the instances registered.
  const rows = new Map<
    string,
    { namespace: string; name: string; meshed: number; total: number; owned: boolean }
  >();
  const key = (ns: string, name: string) => `${ns}/${name}`;
  for (const d of catalog.deployments.list(namespace)) {
    rows.set(key(d.metadata.namespace, d.metadata.name), {
      namespace: d.metadata.namespace,
      name: d.metadata.name,
      meshed: 0,
      total: d.spec.replicas,
      owned: true,
    });
  }
  for (const w of instances) {
    const k = key(w.namespace, w.workload);
    let row = rows.get(k);
    if (!row) {
      // An instance with no Deployment object (a `weft run`, or a proxy started by hand).
      row = { namespace: w.namespace, name: w.workload, meshed: 0, total: 0, owned: false };
      rows.set(k, row);
    }
    if (!row.owned) row.total++;
    if (w.ready) row.meshed++;
  }
  return [...rows.values()].map((r) => ({
    namespace: r.namespace,
    name: r.name,
    meshed: { meshed: r.meshed, total: Math.max(r.total, r.meshed) },
  }));
}
