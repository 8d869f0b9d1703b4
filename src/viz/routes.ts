import type { Catalog } from '../catalog/catalog.js';
import type { Service } from '../catalog/resources.js';
import { selects } from '../catalog/selection.js';
import { serviceFqdn } from '../controlplane/destination/names.js';
import { profileFor } from '../controlplane/destination/profiles.js';
import { escapeRegex } from '../profiles/document.js';
import { type GoldenMetrics, golden, groupKey } from './golden.js';
import { eq, type Matcher } from './metrics/query.js';
import type { MetricsSource } from './metrics/source.js';
import { VizUsageError } from './resources.js';
import type { NamespacedTarget } from './stat.js';

/** The route metrics' name for requests that matched no route. */
export const DEFAULT_ROUTE = '[DEFAULT]';

export interface RoutesRequest {
  /** A deployment, pod or service. */
  readonly target: NamespacedTarget;
  /** Only the target's requests to this service (its outbound side, with retries seen). */
  readonly to?: NamespacedTarget;
  readonly windowMs: number;
  readonly clusterDomain: string;
}

export interface RouteRow {
  readonly route: string;
  /** The service the route belongs to. */
  readonly service: string;
  /** The `dst` label: `<service fqdn>:<port>`. */
  readonly authority: string;
  /** As the client sees it (each request once, retries included). */
  readonly requests: GoldenMetrics | null;
  /** Each attempt (with --to): where retries show. */
  readonly actual: GoldenMetrics | null;
}

/** A `dst` matcher for every port of a service. */
function serviceDst(namespace: string, service: string, clusterDomain: string): Matcher {
  return {
    label: 'dst',
    op: '=~',
    value: `${escapeRegex(serviceFqdn({ namespace, service }, clusterDomain))}:[0-9]+`,
  };
}

/** The service name of a `dst` label (`voting-svc.emojivoto.svc.cluster.local:8080` → voting-svc). */
function serviceOf(dst: string, clusterDomain: string): string {
  const host = dst.replace(/:[0-9]+$/, '');
  const suffix = `.svc.${clusterDomain}`;
  if (!host.endsWith(suffix)) return host;
  return host.slice(0, -suffix.length).split('.')[0] ?? host;
}

/** The Services whose routes the request is about, for routes without traffic. */
function servicesOf(catalog: Catalog, req: RoutesRequest): Service[] {
  const t = req.to ?? req.target;
  if (t.kind === 'service') {
    const service = t.name === undefined ? undefined : catalog.services.get(t.namespace, t.name);
    return service ? [service] : [];
  }
  const instances = catalog.workloads
    .list(t.namespace)
    .filter((w) => t.name === undefined || (t.kind === 'pod' ? w.pod : w.workload) === t.name);
  return catalog.services
    .list(t.namespace)
    .filter((s) => instances.some((w) => selects(s.spec.selector, w.labels)));
}

/** `weft viz routes`: the golden metrics of each profile route, with the routes that had no traffic. */
export async function routes(
  catalog: Catalog,
  source: MetricsSource,
  req: RoutesRequest,
): Promise<RouteRow[]> {
  const { target, to, clusterDomain } = req;
  if (!['deployment', 'pod', 'service'].includes(target.kind)) {
    throw new VizUsageError('routes: give a deployment, pod or service');
  }
  if (to && to.kind !== 'service')
    throw new VizUsageError('--to: give a service (svc/NAME): routes belong to services');
  if (to && target.kind === 'service') {
    throw new VizUsageError(
      '--to: a service sends no traffic of its own; give the deployment or pod that does',
    );
  }
  const matchers: Matcher[] = [];
  if (to) {
    matchers.push(eq('direction', 'outbound'), eq('namespace', target.namespace));
    if (target.name !== undefined) matchers.push(eq(target.kind, target.name));
    if (to.name !== undefined) matchers.push(serviceDst(to.namespace, to.name, clusterDomain));
  } else if (target.kind === 'service') {
    matchers.push(eq('direction', 'inbound'));
    if (target.name !== undefined) matchers.push(serviceDst(target.namespace, target.name, clusterDomain));
  } else {
    matchers.push(eq('direction', 'inbound'), eq('namespace', target.namespace));
    if (target.name !== undefined) matchers.push(eq(target.kind, target.name));
  }
  const group = ['dst', 'rt_route'];
  const [requests, actual] = await Promise.all([
    golden(source, { prefix: 'route_', matchers, group, windowMs: req.windowMs }),
    to ? golden(source, { prefix: 'route_actual_', matchers, group, windowMs: req.windowMs }) : undefined,
  ]);
  const rows = new Map<string, { dst: string; route: string }>();
  for (const service of servicesOf(catalog, req)) {
    for (const port of service.spec.ports) {
      const ref = { namespace: service.metadata.namespace, service: service.metadata.name, port: port.port };
      const profile = profileFor(catalog, ref, target.namespace, clusterDomain);
      if (profile.routes.length === 0) continue;
      const dst = `${profile.fullyQualifiedName}:${port.port}`;
      for (const r of profile.routes)
        rows.set(groupKey({ dst, rt_route: r.name }, group), { dst, route: r.name });
      rows.set(groupKey({ dst }, group), { dst, route: '' });
    }
  }
  for (const key of [...requests.keys(), ...(actual?.keys() ?? [])]) {
    if (rows.has(key)) continue;
    const [dst = '', route = ''] = key.split('\u0000');
    rows.set(key, { dst, route });
  }
  const out: RouteRow[] = [...rows].map(([key, r]) => ({
    route: r.route === '' ? DEFAULT_ROUTE : r.route,
    service: serviceOf(r.dst, clusterDomain),
    authority: r.dst,
    requests: requests.get(key) ?? null,
    actual: actual ? (actual.get(key) ?? null) : null,
  }));
  // Routes by service, in name order, each service's default route last (as Linkerd lists them).
  return out.sort(
    (a, b) =>
      a.authority.localeCompare(b.authority) ||
      Number(a.route === DEFAULT_ROUTE) - Number(b.route === DEFAULT_ROUTE) ||
      a.route.localeCompare(b.route),
  );
}
