// Renders a BenchReport as a plain-text table, the check results, and a legend.
import { perProxyPeak, rateLabel } from './checks.js';
import { ROUTES } from './mesh.js';
import type { BenchReport, DiscoveryResult, LatencyPercentiles, Phase, Row, TargetName } from './types.js';

const f3 = (v: number) => v.toFixed(3);
const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(3)}`;
const int = (v: number) => Math.round(v).toLocaleString('en-US');
/** Rows with two proxies (client side and server side). */
const MESHED_TARGETS: readonly TargetName[] = ['weft-mesh', 'weft-mesh-routes', 'haproxy-mtls'];

function errorCount(row: Row): number {
  const max = row.max?.result;
  let n = max ? max.errors + max.non2xx : 0;
  for (const phase of Object.values(row.fixed)) n += phase.result.errors;
  return n;
}

function cpuCell(row: Row, rates: number[]): string {
  const parts = [row.max, ...rates.map((r) => row.fixed[String(r)])].map((p) => p?.usage?.cpuS);
  if (parts.every((v) => v === undefined)) return '-';
  return parts.map((v) => (v === undefined ? '-' : v.toFixed(1))).join('/');
}

function phasesOf(row: Row): Array<[string, Phase<unknown>]> {
  const out: Array<[string, Phase<unknown>]> = [];
  if (row.max) out.push(['max', row.max]);
  for (const [rate, phase] of Object.entries(row.fixed)) out.push([`@${rateLabel(Number(rate))}`, phase]);
  return out;
}

function otherCpuCell(row: Row): string {
  const phases = phasesOf(row);
  if (phases.length === 0) return '-';
  return phases.reduce((sum, [, p]) => sum + p.noise.otherCpuS + p.noise.stealS, 0).toFixed(1);
}

/** Phases during which other processes (or steal) took more than 5% of one core. */
function noisyPhases(report: BenchReport): string[] {
  const limit = 0.05 * report.options.durationS;
  const out: string[] = [];
  for (const row of report.rows) {
    for (const [name, p] of phasesOf(row)) {
      const other = p.noise.otherCpuS + p.noise.stealS;
      if (other > limit) out.push(`${row.target}/${row.protocol} ${name} ${other.toFixed(1)} s`);
    }
  }
  return out;
}

/** Highest sampled VmRSS of the row's proxy; with two proxies, each (client side/server side). */
function rssCell(row: Row): string {
  const perProxy = Object.values(perProxyPeak(row));
  if (perProxy.length > 1) return perProxy.map((mb) => mb.toFixed(1)).join('/');
  const peaks = [row.max, ...Object.values(row.fixed)]
    .map((p) => p?.usage?.peakRssMb)
    .filter((v): v is number => v !== undefined);
  return peaks.length > 0 ? Math.max(...peaks).toFixed(1) : '-';
}

/** Latency at a rate, or undefined when not measured or when no request completed. */
function latencyAt(row: Row, rate: number): LatencyPercentiles | undefined {
  const l = row.fixed[String(rate)]?.result.latency;
  return l && l.count > 0 ? l : undefined;
}

function cells(row: Row, direct: Row | undefined, rates: number[]): string[] {
  const max = row.max?.result;
  const out = [row.target, row.protocol, max ? int(max.rps) : '-'];
  const directRps = direct?.max?.result.rps;
  out.push(max && directRps && row !== direct ? `${Math.round((max.rps / directRps) * 100)}%` : '-');
  for (const rate of rates) {
    const l = latencyAt(row, rate);
    out.push(l ? `${f3(l.p50Ms)}/${f3(l.p99Ms)}/${f3(l.maxMs)}` : '-');
  }
  for (const rate of rates) {
    const l = latencyAt(row, rate);
    const d = direct && latencyAt(direct, rate);
    out.push(l && d && row !== direct ? `${signed(l.p50Ms - d.p50Ms)}/${signed(l.p99Ms - d.p99Ms)}` : '-');
  }
  out.push(cpuCell(row, rates), rssCell(row), String(errorCount(row)), otherCpuCell(row));
  return out;
}

function pad(table: string[][]): string[] {
  const widths = table[0]?.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length))) ?? [];
  return table.map((r) =>
    r
      .map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** The generator's own timer lag, which is part of every open-loop latency (same for all targets). */
function sendLagLine(report: BenchReport, rates: number[]): string | undefined {
  const direct = report.rows.find((r) => r.protocol === 'http1' && r.target === 'direct');
  const parts = rates
    .map((rate) => {
      const lag = direct?.fixed[String(rate)]?.result.sendLag;
      return lag ? `${f3(lag.p50Ms)}/${f3(lag.p99Ms)} ms @${rateLabel(rate)}` : undefined;
    })
    .filter((p): p is string => p !== undefined);
  if (parts.length === 0) return undefined;
  return `send lag:  generator lag (scheduled -> written) p50/p99 on the direct row: ${parts.join(', ')};\n           it is inside every latency figure, so compare targets by +p50/+p99`;
}

const f1 = (v: number) => v.toFixed(1);
const triple = (l: LatencyPercentiles | undefined, digits = 1) =>
  l && l.count > 0 ? [l.p50Ms, l.p99Ms, l.maxMs].map((v) => v.toFixed(digits)).join('/') : '-';

/** The discovery scenario: one row, then how it was run. */
function discoveryLines(d: DiscoveryResult): string[] {
  const durationOf = (v: number) => `${v.toFixed(1)} s`;
  const s = d.settings;
  const title = `Discovery: ${int(s.endpoints)} endpoints, ${s.watchers} watchers in ${s.watcherProcesses} processes, ${s.changes} changes at ${s.changesPerS}/s (bin/weft.js up)`;
  if (d.error && !d.latency) return [title, `  FAILED: ${d.error.split('\n')[0]}`];
  const cp = d.controlPlane;
  const header = [
    'change -> all watchers p50/p99/max ms',
    'add',
    'remove',
    '-> first watcher',
    'ack',
    'CP RSS MB peak/churn/start',
    'CP CPU s churn/total',
    'watchers CPU s',
    'missed',
    'errors',
    'other CPU s',
  ];
  const errors = d.rpcErrors + d.streamErrors + d.noEndpoints + d.finalSetMismatches;
  const row = [
    triple(d.latency),
    triple(d.latencyAdd),
    triple(d.latencyRemove),
    triple(d.firstWatcher),
    triple(d.ack),
    cp ? `${f1(cp.peakRssMb)}/${f1(cp.churnPeakRssMb)}/${f1(cp.startRssMb)}` : '-',
    cp ? `${f1(cp.churnCpuS)}/${f1(cp.totalCpuS)}` : '-',
    d.watcherCpuS === undefined ? '-' : f1(d.watcherCpuS),
    String(d.incomplete),
    String(errors),
    d.noise ? f1(d.noise.otherCpuS + d.noise.stealS) : '-',
  ];
  const widths = header.map((h, i) => Math.max(h.length, (row[i] ?? '').length));
  const line = (cells: string[]) => `  ${cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ')}`;
  const lines = [
    title,
    '',
    line(header),
    line(row),
    '',
    `  latency:  per change, from issuing its Register/Deregister call to the last watcher seeing the address`,
    `            added/removed (add, remove: by kind; first watcher: to the first one; ack: call -> answer)`,
    `  setup:    ${int(s.endpoints)} endpoints registered in ${durationOf(d.registerS ?? 0)}; every watcher had the whole set after ${durationOf(d.syncS ?? 0)};`,
    `            then ${s.warmupChanges} warm-up changes (not measured; to all watchers p50/p99/max ${triple(d.warmupLatency)} ms)`,
    `  churn:    ${durationOf(d.churnS ?? 0)} measured, with ${int(d.churnRenewals ?? 0)} lease renewals (every workload renews at ttl/3, spread out)`,
    '  CP:       bin/weft.js up; RSS: peak is VmHWM over its whole run (incl. the initial sync), churn the highest',
    '            VmRSS sampled every 100 ms in the measured churn, start VmRSS at its ready line; CPU: utime+stime',
    '            in the measured churn / over its whole run; watchers CPU s: both watcher processes, measured churn',
  ];
  if (d.error) lines.push(`  error: ${d.error.split('\n')[0]}`);
  if (d.errorSamples) lines.push(...d.errorSamples.map((e) => `  error sample: ${e}`));
  return lines;
}

export function renderReport(report: BenchReport): string {
  const rates = report.options.rates;
  const header = [
    'target',
    'proto',
    'max rps',
    'vs direct',
    ...rates.map((r) => `@${rateLabel(r)} p50/p99/max ms`),
    ...rates.map((r) => `@${rateLabel(r)} +p50/+p99 ms`),
    `CPU s max/${rates.map(rateLabel).join('/')}`,
    'RSS MB',
    'errors',
    'other CPU s',
  ];
  const body: string[][] = [];
  const failures: string[] = [];
  for (const row of report.rows) {
    const direct = report.rows.find((r) => r.protocol === row.protocol && r.target === 'direct' && !r.error);
    if (row.error && !row.max) {
      body.push([row.target, row.protocol, 'FAILED']);
      failures.push(`  ${row.target} (${row.protocol}): ${row.error.split('\n')[0]}`);
      continue;
    }
    body.push(cells(row, direct, rates));
    if (row.error) failures.push(`  ${row.target} (${row.protocol}): ${row.error.split('\n')[0]}`);
  }
  const o = report.options;
  const meshed = report.rows.some((r) => MESHED_TARGETS.includes(r.target));
  const lines = [
    `Weft benchmark ${report.date}  (${report.machine.cpus} cores, ${report.machine.cpuModel}, node ${report.machine.node}, load ${report.machine.loadAvgAtStart} at start)`,
  ];
  if (report.rows.length > 0) lines.push('', ...pad([header, ...body]), '', ...legend(o, meshed));
  const lag = sendLagLine(report, rates);
  if (lag) lines.push(lag);
  if (report.rows.length > 0) {
    lines.push(
      "other CPU: CPU seconds used by processes outside the benchmark (plus steal) during the row's phases",
    );
  }
  const noisy = noisyPhases(report);
  if (noisy.length > 0) {
    lines.push(
      '',
      `Warning: other work used > 5% of a core during ${noisy.length} phase(s); their figures are disturbed:`,
      `  ${noisy.join(', ')}`,
    );
  }
  const d = report.discovery;
  if (d) {
    lines.push('', ...discoveryLines(d));
    const other = d.noise ? d.noise.otherCpuS + d.noise.stealS : 0;
    if (d.churnS && other > 0.05 * d.churnS) {
      lines.push(
        `  Warning: other work used ${other.toFixed(1)} CPU s during the churn (> 5% of a core); the figures are disturbed`,
      );
    }
  }
  if (failures.length > 0) lines.push('', 'Failures:', ...failures);
  lines.push('', 'Checks:');
  for (const c of report.checks) lines.push(`  ${c.status.padEnd(4)}  ${c.name}: ${c.detail}`);
  if (report.problems.length > 0) {
    lines.push('', 'Problems (exit 1):', ...report.problems.map((p) => `  ${p.split('\n')[0]}`));
  }
  return lines.join('\n');
}

function legend(o: BenchReport['options'], meshed: boolean): string[] {
  return [
    `max rps:   HTTP/1.1 ${o.wrk}; HTTP/2 and gRPC ${o.h2load}; closed loop, after ${o.warmupS} s warm-up`,
    `latency:   open loop at fixed rates, ${o.durationS} s each, ${o.connections} keep-alive sockets, measured from the`,
    '           scheduled send time to the end of the response (coordinated omission not hidden)',
    '+p50/+p99: latency added over direct at the same rate; CPU s: proxy utime+stime per phase (max rps, then',
    '           each rate); RSS MB: highest VmRSS of the proxy sampled every 100 ms during the phases',
    ...(meshed
      ? [
          `meshed:    ${MESHED_TARGETS.join(', ')}: two proxies with mutual TLS between them; CPU s is the sum`,
          "           of both, RSS MB each (client side/server side); Weft's control plane (weft up) is not counted;",
          `           weft-mesh-routes: weft-mesh with a ServiceProfile of ${ROUTES} routes, only the last matching`,
        ]
      : []),
  ];
}
