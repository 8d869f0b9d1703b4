// The targets from the issue, checked against the measured rows:
//   one Weft hop adds <= 0.3 ms at p50 and <= 1.5 ms at p99 over direct at 1,000 req/s (HTTP/1.1);
//   Weft's max throughput >= 2x http-proxy's and >= 0.5x HAProxy's (HTTP/1.1);
//   Weft's RSS under load < 60 MB;
//   the meshed hop (two Weft proxies and mutual TLS between them) adds <= 1 ms at p50 and <= 3 ms at p99
//   over direct at 1,000 req/s (HTTP/1.1), and each of its two proxies stays under 60 MB of RSS;
//   matching a request against a ServiceProfile's 50 routes and classifying its response adds < 5% CPU
//   per request to the meshed hop at 1,000 req/s (weft-mesh-routes against weft-mesh);
//   discovery: a change to a Service's endpoints reaches every watching proxy within 100 ms at p99.
import { ROUTES } from './mesh.js';
import type { CheckResult, DiscoveryResult, Row } from './types.js';

/** A request rate as the table and the checks name it: 1k, 10k, 500. */
export const rateLabel = (rate: number): string => (rate % 1000 === 0 ? `${rate / 1000}k` : String(rate));

export const LIMITS = {
  addedP50Ms: 0.3,
  addedP99Ms: 1.5,
  vsHttpProxy: 2,
  vsHaproxy: 0.5,
  rssMb: 60,
  discoveryP99Ms: 100,
  meshAddedP50Ms: 1,
  meshAddedP99Ms: 3,
  meshRssPerProxyMb: 60,
  routesAddedCpuPct: 5,
};

const ms = (v: number) => `${v.toFixed(3)} ms`;
const rps = (v: number) => Math.round(v).toLocaleString('en-US');

function http1(rows: Row[], target: Row['target']): Row | undefined {
  return rows.find((r) => r.protocol === 'http1' && r.target === target && !r.error);
}

function addedLatency(
  rows: Row[],
  target: 'weft' | 'weft-mesh',
  rate: number,
  pct: 'p50Ms' | 'p99Ms',
  limit: number,
): CheckResult {
  const name = `${target} +${pct.slice(0, 3)} over direct @ ${rate} req/s <= ${ms(limit)}`;
  const weft = http1(rows, target)?.fixed[String(rate)]?.result;
  const direct = http1(rows, 'direct')?.fixed[String(rate)]?.result;
  if (!weft || !direct)
    return { name, status: 'SKIP', detail: `needs both the ${target} and direct HTTP/1.1 rows` };
  if (weft.latency.count === 0 || direct.latency.count === 0) {
    return { name, status: 'MISS', detail: `no request completed (${target} errors: ${weft.errors})` };
  }
  const added = weft.latency[pct] - direct.latency[pct];
  const margin = limit - added;
  const base = `${added >= 0 ? '+' : ''}${ms(added)} (${target} ${ms(weft.latency[pct])}, direct ${ms(direct.latency[pct])})`;
  if (weft.errors > 0)
    return { name, status: 'MISS', detail: `${base}, but ${target} had ${weft.errors} errors` };
  return {
    name,
    status: margin >= 0 ? 'PASS' : 'MISS',
    detail: margin >= 0 ? `${base}, margin ${ms(margin)}` : `${base}, over by ${ms(-margin)}`,
  };
}

function throughputRatio(rows: Row[], peer: 'http-proxy' | 'haproxy', factor: number): CheckResult {
  const name = `weft max rps >= ${factor}x ${peer} (HTTP/1.1)`;
  const weft = http1(rows, 'weft')?.max?.result;
  const other = http1(rows, peer)?.max?.result;
  if (!weft || !other)
    return { name, status: 'SKIP', detail: `needs both the weft and ${peer} HTTP/1.1 rows` };
  const needed = other.rps * factor;
  const ratio = other.rps > 0 ? weft.rps / other.rps : 0;
  const base = `weft ${rps(weft.rps)} vs ${peer} ${rps(other.rps)} = ${ratio.toFixed(2)}x`;
  if (weft.errors + weft.non2xx > 0) {
    return {
      name,
      status: 'MISS',
      detail: `${base}, but weft had ${weft.errors + weft.non2xx} errors/non-2xx`,
    };
  }
  const diff = weft.rps - needed;
  return {
    name,
    status: diff >= 0 ? 'PASS' : 'MISS',
    detail: `${base} (needs ${rps(needed)}): ${diff >= 0 ? 'margin' : 'short by'} ${rps(Math.abs(diff))} req/s`,
  };
}

type MemoryField = 'peakRssMb' | 'peakAnonMb';

/** The row's highest sampled memory figure over its phases (the larger proxy's, with two). */
function rowPeak(row: Row, field: MemoryField): number | undefined {
  const peaks = [row.max, ...Object.values(row.fixed)]
    .map((p) => p?.usage?.[field])
    .filter((v): v is number => v !== undefined);
  return peaks.length > 0 ? Math.max(...peaks) : undefined;
}

const PRIVATE_NOTE =
  'private: RssAnon, the heap and other anonymous memory; the rest of the RSS is file pages, mostly the node binary, shared by every Node process';

function rssUnderLoad(rows: Row[]): CheckResult {
  const name = `weft peak RSS under load < ${LIMITS.rssMb} MB`;
  const perRow = rows
    .filter((r) => r.target === 'weft')
    .map((r) => ({ protocol: r.protocol, peak: rowPeak(r, 'peakRssMb'), anon: rowPeak(r, 'peakAnonMb') }))
    .filter((r): r is { protocol: Row['protocol']; peak: number; anon: number } => r.peak !== undefined);
  if (perRow.length === 0) return { name, status: 'SKIP', detail: 'no weft row was measured' };
  const peak = Math.max(...perRow.map((r) => r.peak));
  const margin = LIMITS.rssMb - peak;
  const each = perRow
    .map((r) => `${r.protocol} ${r.peak.toFixed(1)} (private ${(r.anon ?? 0).toFixed(1)})`)
    .join(', ');
  return {
    name,
    status: margin > 0 ? 'PASS' : 'MISS',
    detail: `${peak.toFixed(1)} MB (highest VmRSS sampled every 100 ms; per row: ${each}; ${PRIVATE_NOTE}), ${margin > 0 ? 'margin' : 'over by'} ${Math.abs(margin).toFixed(1)} MB`,
  };
}

/** Per proxy process of the row: its highest sampled VmRSS (or RssAnon) over the row's phases. */
export function perProxyPeak(row: Row, field: MemoryField = 'peakRssMb'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const phase of [row.max, ...Object.values(row.fixed)]) {
    for (const p of phase?.usage?.procs ?? []) out[p.name] = Math.max(out[p.name] ?? 0, p[field]);
  }
  return out;
}

function meshRssPerProxy(rows: Row[]): CheckResult {
  const name = `weft-mesh peak RSS per proxy < ${LIMITS.meshRssPerProxyMb} MB`;
  const perRow = rows
    .filter((r) => r.target === 'weft-mesh')
    .map((r) => ({
      protocol: r.protocol,
      procs: Object.entries(perProxyPeak(r)),
      anon: perProxyPeak(r, 'peakAnonMb'),
    }))
    .filter((r) => r.procs.length > 0);
  if (perRow.length === 0) return { name, status: 'SKIP', detail: 'no weft-mesh row was measured' };
  const peak = Math.max(...perRow.flatMap((r) => r.procs.map(([, mb]) => mb)));
  const margin = LIMITS.meshRssPerProxyMb - peak;
  const each = perRow
    .map(
      (r) =>
        `${r.protocol} ${r.procs.map(([n, mb]) => `${n} ${mb.toFixed(1)} (private ${(r.anon[n] ?? 0).toFixed(1)})`).join(', ')}`,
    )
    .join('; ');
  return {
    name,
    status: margin > 0 ? 'PASS' : 'MISS',
    detail: `${peak.toFixed(1)} MB (the larger proxy; highest VmRSS sampled every 100 ms; ${each}; ${PRIVATE_NOTE}), ${margin > 0 ? 'margin' : 'over by'} ${Math.abs(margin).toFixed(1)} MB`,
  };
}

/**
 * The two meshed proxies' CPU per request at `rate` with the ServiceProfile (weft-mesh-routes) against
 * without (weft-mesh): CPU s of the phase over the requests answered 2xx in it.
 */
function routesAddedCpu(rows: Row[], rate: number): CheckResult {
  const name = `route matching (${ROUTES} routes) adds < ${LIMITS.routesAddedCpuPct}% CPU per request @${rateLabel(rate)}`;
  const phases = (['weft-mesh-routes', 'weft-mesh'] as const).map((target) => {
    const phase = http1(rows, target)?.fixed[String(rate)];
    return { target, result: phase?.result, cpuS: phase?.usage?.cpuS };
  });
  const [routes, plain] = phases;
  if (!routes?.result || routes.cpuS === undefined || !plain?.result || plain.cpuS === undefined)
    return { name, status: 'SKIP', detail: 'needs both the weft-mesh-routes and weft-mesh HTTP/1.1 rows' };
  const faulty = phases.filter((p) => (p.result?.errors ?? 0) > 0 || (p.result?.ok ?? 0) === 0);
  const perRequest = (cpuS: number, ok: number) => (ok > 0 ? (cpuS / ok) * 1000 : 0);
  const routesMs = perRequest(routes.cpuS, routes.result.ok);
  const plainMs = perRequest(plain.cpuS, plain.result.ok);
  const each = (t: string, perReq: number, cpuS: number, ok: number) =>
    `${t} ${ms(perReq)} (${cpuS.toFixed(2)} CPU s / ${rps(ok)} requests)`;
  const base = `${each('weft-mesh-routes', routesMs, routes.cpuS, routes.result.ok)} vs ${each('weft-mesh', plainMs, plain.cpuS, plain.result.ok)}`;
  if (faulty.length > 0) {
    const why = faulty.map(
      (p) => `${p.target} had ${p.result?.errors ?? 0} errors and ${p.result?.ok ?? 0} answers`,
    );
    return { name, status: 'MISS', detail: `${base}, but ${why.join(', ')} @ ${rate} req/s` };
  }
  const addedPct = plainMs > 0 ? (routesMs / plainMs - 1) * 100 : Number.POSITIVE_INFINITY;
  const margin = LIMITS.routesAddedCpuPct - addedPct;
  const added = `${addedPct >= 0 ? '+' : ''}${addedPct.toFixed(1)}%`;
  return {
    name,
    status: margin > 0 ? 'PASS' : 'MISS',
    detail: `${added} CPU per request: ${base}, ${margin > 0 ? 'margin' : 'over by'} ${Math.abs(margin).toFixed(1)} points`,
  };
}

function discoveryLatency(d: DiscoveryResult | undefined): CheckResult {
  const name = `discovery change -> all watchers p99 < ${LIMITS.discoveryP99Ms} ms`;
  if (!d) return { name, status: 'SKIP', detail: 'the discovery scenario was not run' };
  const l = d.latency;
  if (d.error || !l) return { name, status: 'MISS', detail: `not measured: ${d.error?.split('\n')[0]}` };
  const s = d.settings;
  const base = `${ms(l.p99Ms)} (p50 ${ms(l.p50Ms)}, max ${ms(l.maxMs)}; ${l.count} changes, ${s.watchers} watchers, ${s.endpoints} endpoints)`;
  const faults = [
    d.incomplete > 0 ? `${d.incomplete} changes not seen by every watcher` : '',
    d.rpcErrors > 0 ? `${d.rpcErrors} failed Register/Deregister calls` : '',
    d.streamErrors > 0 ? `${d.streamErrors} watch streams failed` : '',
    d.noEndpoints > 0 ? `${d.noEndpoints} unexpected noEndpoints` : '',
    d.finalSetMismatches > 0 ? `${d.finalSetMismatches} watchers ended with a wrong set` : '',
  ].filter((f) => f !== '');
  if (l.count === 0 || faults.length > 0) {
    return { name, status: 'MISS', detail: `${base}, but ${faults.join(', ') || 'no change was seen'}` };
  }
  const margin = LIMITS.discoveryP99Ms - l.p99Ms;
  return {
    name,
    status: margin > 0 ? 'PASS' : 'MISS',
    detail: `${base}, ${margin > 0 ? 'margin' : 'over by'} ${ms(Math.abs(margin))}`,
  };
}

export function computeChecks(rows: Row[], rate: number, discovery?: DiscoveryResult): CheckResult[] {
  return [
    addedLatency(rows, 'weft', rate, 'p50Ms', LIMITS.addedP50Ms),
    addedLatency(rows, 'weft', rate, 'p99Ms', LIMITS.addedP99Ms),
    throughputRatio(rows, 'http-proxy', LIMITS.vsHttpProxy),
    throughputRatio(rows, 'haproxy', LIMITS.vsHaproxy),
    rssUnderLoad(rows),
    addedLatency(rows, 'weft-mesh', rate, 'p50Ms', LIMITS.meshAddedP50Ms),
    addedLatency(rows, 'weft-mesh', rate, 'p99Ms', LIMITS.meshAddedP99Ms),
    meshRssPerProxy(rows),
    routesAddedCpu(rows, rate),
    discoveryLatency(discovery),
  ];
}
