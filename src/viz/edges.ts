import type { Catalog } from '../catalog/catalog.js';
import { identityName, type TrustDomain } from '../identity/names.js';
import { groupKey } from './golden.js';
import { eq, type Matcher, type Sample } from './metrics/query.js';
import type { MetricsSource } from './metrics/source.js';
import { type VizKind, VizUsageError } from './resources.js';

export interface EdgesRequest {
  /** deployment or pod. */
  readonly kind: VizKind;
  /** Edges with either end in this namespace; unset: all. */
  readonly namespace?: string;
  readonly windowMs: number;
  readonly domain: TrustDomain;
}

export interface EdgeRow {
  /** '' for clients outside the mesh (seen only by the server's proxy). */
  readonly src: string;
  readonly srcNamespace: string;
  readonly dst: string;
  readonly dstNamespace: string;
  /** The identity the client proved (its service account's); '' when none. */
  readonly clientId: string;
  /** The identity the server proved; '' when none. */
  readonly serverId: string;
  /** Every request of the window went over mutual TLS. */
  readonly secured: boolean;
  /** Why some did not (no_tls_from_remote, not_provided_by_service_discovery, ...); '' when secured. */
  readonly noTlsReason: string;
  readonly rps: number;
}

/**
 * `weft viz edges`: who talks to whom in the window, and whether mutual TLS secured it.
 * Meshed clients are seen from their outbound side (`dst_*`, `server_id`); clients
 * outside the mesh only from the server's inbound side.
 */
export async function edges(catalog: Catalog, source: MetricsSource, req: EdgesRequest): Promise<EdgeRow[]> {
  if (req.kind !== 'deployment' && req.kind !== 'pod')
    throw new VizUsageError('edges: give deployments or pods');
  const k = req.kind;
  const rate = (matchers: Matcher[], by: string[]): Promise<Sample[]> =>
    source.instant({
      kind: 'rate',
      selector: { metric: 'response_total', matchers },
      windowMs: req.windowMs,
      by,
    });
  const outBy = ['namespace', k, 'dst_namespace', `dst_${k}`, 'tls', 'server_id', 'no_tls_reason'];
  const inBy = ['namespace', k, 'no_tls_reason'];
  const out = [eq('direction', 'outbound')];
  const plain: Matcher[] = [eq('direction', 'inbound'), { label: 'tls', op: '!=', value: 'true' }];
  const ns = req.namespace;
  const [fromNs, toNs, unmeshed] = await Promise.all([
    rate(ns === undefined ? out : [...out, eq('namespace', ns)], outBy),
    ns === undefined ? Promise.resolve([]) : rate([...out, eq('dst_namespace', ns)], outBy),
    rate(ns === undefined ? plain : [...plain, eq('namespace', ns)], inBy),
  ]);

  const rows = new Map<
    string,
    { row: Omit<EdgeRow, 'rps' | 'secured' | 'noTlsReason'>; rps: number; reasons: Set<string> }
  >();
  const add = (
    row: Omit<EdgeRow, 'rps' | 'secured' | 'noTlsReason'>,
    rps: number,
    tls: boolean,
    reason: string,
  ) => {
    const key = [row.srcNamespace, row.src, row.dstNamespace, row.dst].join('\u0000');
    const e = rows.get(key) ?? { row, rps: 0, reasons: new Set<string>() };
    e.rps += rps;
    if (!tls) e.reasons.add(reason || 'unknown');
    if (tls && row.serverId !== '') e.row = { ...e.row, serverId: row.serverId };
    rows.set(key, e);
  };
  // Each source's identity is looked up once: a lookup lists the catalog's workloads.
  const clientIds = new Map<string, string>();
  const clientId = (namespace: string, name: string): string => {
    const key = `${namespace}\u0000${name}`;
    let id = clientIds.get(key);
    if (id === undefined) {
      id = clientIdentity(catalog, k, namespace, name, req.domain);
      clientIds.set(key, id);
    }
    return id;
  };
  // An edge inside the namespace is in both answers: count each series once.
  const seen = new Set<string>();
  for (const s of [...fromNs, ...toNs]) {
    const id = groupKey(s.labels, outBy);
    if (seen.has(id) || s.value <= 0) continue;
    seen.add(id);
    const l = s.labels;
    const dst = l[`dst_${k}`] ?? '';
    // Traffic to names outside the mesh has no destination workload.
    if (dst === '' || !l[k]) continue;
    const tls = l.tls === 'true';
    add(
      {
        src: l[k] as string,
        srcNamespace: l.namespace ?? '',
        dst,
        dstNamespace: l.dst_namespace ?? '',
        clientId: tls ? clientId(l.namespace ?? '', l[k] as string) : '',
        serverId: tls ? (l.server_id ?? '') : '',
      },
      s.value,
      tls,
      l.no_tls_reason ?? '',
    );
  }
  for (const s of unmeshed) {
    const l = s.labels;
    if (s.value <= 0 || !l[k]) continue;
    add(
      {
        src: '',
        srcNamespace: '',
        dst: l[k] as string,
        dstNamespace: l.namespace ?? '',
        clientId: '',
        serverId: '',
      },
      s.value,
      false,
      l.no_tls_reason ?? '',
    );
  }
  return [...rows.values()]
    .map((e) => ({
      ...e.row,
      secured: e.reasons.size === 0,
      noTlsReason: [...e.reasons].sort().join(','),
      rps: e.rps,
    }))
    .sort(
      (a, b) =>
        a.srcNamespace.localeCompare(b.srcNamespace) ||
        a.src.localeCompare(b.src) ||
        a.dstNamespace.localeCompare(b.dstNamespace) ||
        a.dst.localeCompare(b.dst),
    );
}

/** The identity a workload's proxies prove: its service account's (from any of its instances). */
function clientIdentity(
  catalog: Catalog,
  kind: VizKind,
  namespace: string,
  name: string,
  domain: TrustDomain,
): string {
  const w = catalog.workloads.list(namespace).find((x) => (kind === 'pod' ? x.pod : x.workload) === name);
  return w ? identityName(w.serviceAccount, namespace, domain) : '';
}
