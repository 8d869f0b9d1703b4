import type { Matcher, Sample, Series } from './metrics/query.js';
import type { MetricsSource } from './metrics/source.js';

/** Success rate, request rate and latency percentiles of one group of series. */
export interface GoldenMetrics {
  /** Successful responses over all responses (0..1); null when none finished. */
  readonly successRate: number | null;
  /** Responses per second. */
  readonly rps: number;
  /** Response latency percentiles in milliseconds; null when no response was timed. */
  readonly latencyMs: {
    readonly p50: number | null;
    readonly p95: number | null;
    readonly p99: number | null;
  };
}

/** What to measure: `<prefix>response_total` and `<prefix>response_latency_ms` grouped by `group`. */
export interface GoldenQuery {
  /** '' (request metrics), 'route_' (per route) or 'route_actual_' (per route, each attempt). */
  readonly prefix?: string;
  readonly matchers: readonly Matcher[];
  readonly group: readonly string[];
  readonly windowMs: number;
}

export const QUANTILES = [
  ['p50', 0.5],
  ['p95', 0.95],
  ['p99', 0.99],
] as const;

/** The key of a group: its labels' values in `group` order (absent labels are ''). */
export function groupKey(labels: Readonly<Record<string, string>>, group: readonly string[]): string {
  return group.map((l) => labels[l] ?? '').join('\u0000');
}

/** The labels of a group key, as `groupKey` made it. */
export function keyLabels(key: string, group: readonly string[]): Record<string, string> {
  const values = key.split('\u0000');
  return Object.fromEntries(group.map((l, i) => [l, values[i] ?? '']));
}

function queries(q: GoldenQuery) {
  const prefix = q.prefix ?? '';
  const by = [...q.group];
  return {
    responses: {
      kind: 'rate' as const,
      selector: { metric: `${prefix}response_total`, matchers: q.matchers },
      windowMs: q.windowMs,
      by: [...by, 'classification'],
    },
    quantiles: QUANTILES.map(([name, value]) => ({
      name,
      query: {
        kind: 'quantile' as const,
        q: value,
        selector: { metric: `${prefix}response_latency_ms_bucket`, matchers: q.matchers },
        windowMs: q.windowMs,
        by,
      },
    })),
  };
}

/** The golden metrics of every group with responses in the window, by group key. */
export async function golden(
  source: MetricsSource,
  q: GoldenQuery,
  atMs?: number,
): Promise<Map<string, GoldenMetrics>> {
  const { responses, quantiles } = queries(q);
  const [rates, ...latencies] = await Promise.all([
    source.instant(responses, atMs),
    ...quantiles.map((x) => source.instant(x.query, atMs)),
  ]);
  const totals = new Map<string, { all: number; ok: number }>();
  for (const s of rates as Sample[]) {
    const key = groupKey(s.labels, q.group);
    const t = totals.get(key) ?? { all: 0, ok: 0 };
    t.all += s.value;
    if (s.labels.classification === 'success') t.ok += s.value;
    totals.set(key, t);
  }
  const latency = new Map<string, Record<string, number>>();
  quantiles.forEach((x, i) => {
    for (const s of latencies[i] as Sample[]) {
      const key = groupKey(s.labels, q.group);
      const l = latency.get(key) ?? {};
      l[x.name] = s.value;
      latency.set(key, l);
    }
  });
  const out = new Map<string, GoldenMetrics>();
  for (const [key, t] of totals) {
    const l = latency.get(key) ?? {};
    out.set(key, {
      successRate: t.all > 0 ? t.ok / t.all : null,
      rps: t.all,
      latencyMs: { p50: l.p50 ?? null, p95: l.p95 ?? null, p99: l.p99 ?? null },
    });
  }
  return out;
}

/** Golden metrics over time, one point per step, for charts. */
export interface GoldenSeries {
  /** Milliseconds since the epoch, one per step that had responses. */
  readonly times: number[];
  readonly rps: number[];
  readonly successRate: Array<number | null>;
  readonly p50: Array<number | null>;
  readonly p95: Array<number | null>;
  readonly p99: Array<number | null>;
}

/** The golden metrics of every group at each step from `startMs` to `endMs`. */
export async function goldenRange(
  source: MetricsSource,
  q: GoldenQuery,
  startMs: number,
  endMs: number,
  stepMs: number,
): Promise<Map<string, GoldenSeries>> {
  const { responses, quantiles } = queries(q);
  const [rates, ...latencies] = await Promise.all([
    source.range(responses, startMs, endMs, stepMs),
    ...quantiles.map((x) => source.range(x.query, startMs, endMs, stepMs)),
  ]);
  // group → time → totals
  const byGroup = new Map<string, Map<number, { all: number; ok: number; p: Record<string, number> }>>();
  const at = (key: string, t: number) => {
    let times = byGroup.get(key);
    if (!times) {
      times = new Map();
      byGroup.set(key, times);
    }
    let v = times.get(t);
    if (!v) {
      v = { all: 0, ok: 0, p: {} };
      times.set(t, v);
    }
    return v;
  };
  for (const s of rates as Series[]) {
    const key = groupKey(s.labels, q.group);
    for (const [t, value] of s.points) {
      const v = at(key, t);
      v.all += value;
      if (s.labels.classification === 'success') v.ok += value;
    }
  }
  quantiles.forEach((x, i) => {
    for (const s of latencies[i] as Series[]) {
      const key = groupKey(s.labels, q.group);
      for (const [t, value] of s.points) {
        const times = byGroup.get(key);
        const v = times?.get(t);
        if (v) v.p[x.name] = value;
      }
    }
  });
  const out = new Map<string, GoldenSeries>();
  for (const [key, times] of byGroup) {
    const series: GoldenSeries = { times: [], rps: [], successRate: [], p50: [], p95: [], p99: [] };
    for (const t of [...times.keys()].sort((a, b) => a - b)) {
      const v = times.get(t) as { all: number; ok: number; p: Record<string, number> };
      series.times.push(t);
      series.rps.push(v.all);
      series.successRate.push(v.all > 0 ? v.ok / v.all : null);
      series.p50.push(v.p.p50 ?? null);
      series.p95.push(v.p.p95 ?? null);
      series.p99.push(v.p.p99 ?? null);
    }
    out.set(key, series);
  }
  return out;
}
