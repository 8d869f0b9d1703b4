import type { Catalog } from '../catalog/catalog.js';
import { type GoldenMetrics, type GoldenSeries, golden, goldenRange, groupKey, keyLabels } from './golden.js';
import { knownResources, type Meshed } from './inventory.js';
import { eq, type Matcher, type Sample } from './metrics/query.js';
import type { MetricsSource } from './metrics/source.js';
import { dstLabel, formatTarget, type VizKind, type VizTarget, VizUsageError } from './resources.js';

/** A resource in a namespace: `--from deploy/web -n emojivoto`. */
export interface NamespacedTarget extends VizTarget {
  readonly namespace: string;
}

export interface StatRequest {
  readonly target: VizTarget;
  /** Unset: every namespace (-A). */
  readonly namespace?: string;
  /** Only the traffic the target receives from this resource (read from its outbound side). */
  readonly from?: NamespacedTarget;
  /** Only the traffic the target sends to this resource (read from its outbound side). */
  readonly to?: NamespacedTarget;
  readonly windowMs: number;
}

export interface TcpStats {
  readonly openConnections: number;
  readonly readBytesPerSec: number;
  readonly writeBytesPerSec: number;
}

export interface StatRow {
  /** '' for namespaces themselves. */
  readonly namespace: string;
  readonly kind: VizKind;
  readonly name: string;
  /** Meshed instances of all it should have; null where it does not apply (services, authorities). */
  readonly meshed: Meshed | null;
  /** null: no response in the window. */
  readonly requests: GoldenMetrics | null;
  /** Inbound connections (stat without --from/--to); null otherwise. */
  readonly tcp: TcpStats | null;
}

/**
 * Which series measure the request, and which of their labels name a row's namespace and
 * name. By default a resource is measured where its traffic arrives (its proxies'
 * inbound side). A Service has no proxy of its own: it is measured from its clients'
 * outbound side (`dst_service`), as are the targets of `--from`. `--to` reads the
 * target's own outbound side, to the given destination.
 */
interface Selection {
  readonly direction: 'inbound' | 'outbound';
  readonly nsLabel: string | undefined;
  readonly nameLabel: string;
  readonly matchers: Matcher[];
  /** Whether the inbound TCP series apply. */
  readonly tcp: boolean;
}

/** The labels a selection's rows are grouped by: namespace (where it has one), then name. */
function groupOf(s: Selection): string[] {
  return s.nsLabel ? [s.nsLabel, s.nameLabel] : [s.nameLabel];
}

/** The resource a group key names; undefined for series without the name label (traffic to a name discovery did not know). */
function resourceOf(s: Selection, key: string): { namespace: string; name: string } | undefined {
  const labels = keyLabels(key, groupOf(s));
  const name = labels[s.nameLabel] ?? '';
  if (name === '') return undefined;
  return { namespace: s.nsLabel ? (labels[s.nsLabel] ?? '') : '', name };
}

function ownLabels(kind: VizKind): { ns: string | undefined; name: string } {
  if (kind === 'namespace') return { ns: undefined, name: 'namespace' };
  return { ns: 'namespace', name: kind };
}

function dstLabels(kind: VizKind): { ns: string | undefined; name: string } {
  if (kind === 'namespace') return { ns: undefined, name: 'dst_namespace' };
  return { ns: 'dst_namespace', name: dstLabel(kind) };
}

/** Matchers selecting `t` (in `namespace`, unset: any) through the given labels. */
function selecting(
  t: VizTarget,
  labels: { ns: string | undefined; name: string },
  namespace: string | undefined,
): Matcher[] {
  const m: Matcher[] = [];
  if (labels.ns && namespace !== undefined) m.push(eq(labels.ns, namespace));
  if (t.name !== undefined) m.push(eq(labels.name, t.name));
  return m;
}

function selection(req: StatRequest): Selection {
  const { target, from, to } = req;
  const ns = target.kind === 'namespace' ? undefined : req.namespace;
  if (from && to) throw new VizUsageError('--from and --to cannot be combined');
  if (from?.kind === 'service') {
    throw new VizUsageError(
      '--from: a service sends no traffic of its own; give the deployment, pod or namespace behind it',
    );
  }
  if (from?.kind === 'authority')
    throw new VizUsageError('--from: an authority sends no traffic; give a deployment, pod or namespace');
  if (to && (target.kind === 'service' || target.kind === 'authority')) {
    throw new VizUsageError(
      `--to: ${formatTarget(target)} sends no traffic of its own; stat the deployment, pod or namespace that does`,
    );
  }
  if (from || target.kind === 'service') {
    // Measured at the client: the target is the destination.
    const labels = dstLabels(target.kind);
    const matchers = [eq('direction', 'outbound'), ...selecting(target, labels, ns)];
    if (from)
      matchers.push(
        ...selecting(from, ownLabels(from.kind), from.kind === 'namespace' ? undefined : from.namespace),
      );
    return { direction: 'outbound', nsLabel: labels.ns, nameLabel: labels.name, matchers, tcp: false };
  }
  const labels = ownLabels(target.kind);
  if (to) {
    const toNs = to.kind === 'namespace' || to.kind === 'authority' ? undefined : to.namespace;
    return {
      direction: 'outbound',
      nsLabel: labels.ns,
      nameLabel: labels.name,
      matchers: [
        eq('direction', 'outbound'),
        ...selecting(target, labels, ns),
        ...selecting(to, dstLabels(to.kind), toNs),
      ],
      tcp: false,
    };
  }
  return {
    direction: 'inbound',
    nsLabel: labels.ns,
    nameLabel: labels.name,
    matchers: [eq('direction', 'inbound'), ...selecting(target, labels, ns)],
    tcp: target.kind !== 'authority',
  };
}

async function tcpStats(source: MetricsSource, s: Selection, group: string[], windowMs: number) {
  const matchers = [...s.matchers, eq('peer', 'src')];
  const [open, read, write] = await Promise.all([
    source.instant({ kind: 'gauge', selector: { metric: 'tcp_open_connections', matchers }, by: group }),
    source.instant({
      kind: 'rate',
      selector: { metric: 'tcp_read_bytes_total', matchers },
      windowMs,
      by: group,
    }),
    source.instant({
      kind: 'rate',
      selector: { metric: 'tcp_write_bytes_total', matchers },
      windowMs,
      by: group,
    }),
  ]);
  const byKey = (samples: Sample[]) => new Map(samples.map((x) => [groupKey(x.labels, group), x.value]));
  return { open: byKey(open), read: byKey(read), write: byKey(write) };
}

/** `weft viz stat`: one row per resource, known to the catalog or seen in the metrics. */
export async function stat(catalog: Catalog, source: MetricsSource, req: StatRequest): Promise<StatRow[]> {
  const s = selection(req);
  const group = groupOf(s);
  const [requests, tcp] = await Promise.all([
    golden(source, { matchers: s.matchers, group, windowMs: req.windowMs }),
    s.tcp ? tcpStats(source, s, group, req.windowMs) : undefined,
  ]);
  const { kind } = req.target;
  const rows = new Map<string, { namespace: string; name: string; meshed: Meshed | null }>();
  const ns = kind === 'namespace' ? undefined : req.namespace;
  for (const r of knownResources(catalog, kind, ns)) {
    if (req.target.name !== undefined && r.name !== req.target.name) continue;
    const labels: Record<string, string> = { [s.nameLabel]: r.name };
    if (s.nsLabel) labels[s.nsLabel] = r.namespace;
    rows.set(groupKey(labels, group), r);
  }
  const seen = [...requests.keys(), ...(tcp ? [...tcp.open.keys()] : [])];
  for (const key of seen) {
    if (rows.has(key)) continue;
    const resource = resourceOf(s, key);
    if (resource) rows.set(key, { ...resource, meshed: null });
  }
  const out: StatRow[] = [];
  for (const [key, r] of rows) {
    out.push({
      namespace: r.namespace,
      kind,
      name: r.name,
      meshed: r.meshed,
      requests: requests.get(key) ?? null,
      tcp: tcp
        ? {
            openConnections: tcp.open.get(key) ?? 0,
            readBytesPerSec: tcp.read.get(key) ?? 0,
            writeBytesPerSec: tcp.write.get(key) ?? 0,
          }
        : null,
    });
  }
  return out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

export interface StatSeries {
  readonly namespace: string;
  readonly name: string;
  readonly series: GoldenSeries;
}

/** The golden metrics of stat's rows over time (the dashboard's charts), for resources with traffic. */
export async function statSeries(
  source: MetricsSource,
  req: StatRequest,
  startMs: number,
  endMs: number,
  stepMs: number,
): Promise<StatSeries[]> {
  const s = selection(req);
  const byKey = await goldenRange(
    source,
    { matchers: s.matchers, group: groupOf(s), windowMs: req.windowMs },
    startMs,
    endMs,
    stepMs,
  );
  const out: StatSeries[] = [];
  for (const [key, series] of byKey) {
    const resource = resourceOf(s, key);
    if (resource) out.push({ ...resource, series });
  }
  return out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}
