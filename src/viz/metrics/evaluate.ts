/**
 * Evaluates viz's queries over the embedded store exactly as Prometheus 2.42 evaluates
 * the PromQL promql.ts renders for them:
 *
 * - range selectors take the samples in [t - window, t] (both ends, as in 2.x; staleness
 *   markers are not samples), and `rate` is Prometheus's extrapolatedRate;
 * - `histogram_quantile` is Prometheus's bucketQuantile over `sum by (le, ...)`;
 * - an instant selector takes each series' latest sample in [t - 5m, t] unless that
 *   sample is a staleness marker;
 * - `sum by` keeps only the grouping labels; an empty label is an absent one.
 *
 * Evaluation times are whole milliseconds, as in Prometheus (fractions are dropped).
 */
import { parseFloatGo } from './exposition.js';
import { checkInstant, checkRange, quantileGrouping } from './promql.js';
import type { Matcher, Query, Sample, Series } from './query.js';
import { MetricsSourceError } from './source.js';
import { type MetricStore, type StoredSeries, search, type TargetBlock } from './store.js';

/** Prometheus's default `--query.lookback-delta`. */
export const LOOKBACK_MS = 5 * 60_000;

/**
 * A label regex as Prometheus compiles it: fully anchored, `.` not matching a newline.
 * A leading `(?i)` or `(?s)` (RE2 flags JS has no inline form for) becomes a JS flag.
 */
export function compileLabelRegex(label: string, pattern: string): RegExp {
  let flags = '';
  let body = pattern;
  const m = /^\(\?([is]+)\)/.exec(pattern);
  if (m) {
    flags = [...new Set(m[1])].join('');
    body = pattern.slice(m[0].length);
  }
  try {
    // Code points, as RE2 matches runes; RE2 accepts escaped punctuation (`\-`) that
    // unicode-mode JS refuses, so such a pattern is compiled without it.
    return new RegExp(`^(?:${body})$`, `${flags}u`);
  } catch {
    try {
      return new RegExp(`^(?:${body})$`, flags);
    } catch (err) {
      throw new MetricsSourceError(
        `invalid regex ${JSON.stringify(pattern)} for label ${label}: ${(err as Error).message}`,
      );
    }
  }
}

/** A test of a series against every matcher (an absent label has the value ''). */
export function compileMatchers(matchers: readonly Matcher[]): (s: StoredSeries) => boolean {
  const tests = matchers.map((m): ((s: StoredSeries) => boolean) => {
    const { label, value } = m;
    switch (m.op) {
      case '=':
        return (s) => s.label(label) === value;
      case '!=':
        return (s) => s.label(label) !== value;
      case '=~': {
        const re = compileLabelRegex(label, value);
        return (s) => re.test(s.label(label));
      }
      case '!~': {
        const re = compileLabelRegex(label, value);
        return (s) => !re.test(s.label(label));
      }
      default:
        throw new MetricsSourceError(`unknown matcher operator ${JSON.stringify(m.op)}`);
    }
  });
  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0] as (s: StoredSeries) => boolean;
  return (s) => {
    for (const t of tests) if (!t(s)) return false;
    return true;
  };
}

/** Go's time.Duration.Seconds() of a whole number of ms, with its rounding. */
function rangeSeconds(ms: number): number {
  const ns = ms * 1e6;
  return Math.trunc(ns / 1e9) + (ns % 1e9) / 1e9;
}

/**
 * Prometheus 2.42's extrapolatedRate for a counter (`rate`): the increase over the n >= 2
 * samples (resets counted), extrapolated to the range's ends when the first/last sample
 * is within 1.1 average intervals of them (else by half an interval), never to before the
 * counter would have been zero, per second of the range.
 */
export function extrapolatedRate(
  times: ArrayLike<number>,
  values: ArrayLike<number>,
  n: number,
  rangeStartMs: number,
  rangeEndMs: number,
  windowMs: number,
): number {
  const first = values[0] as number;
  let result = (values[n - 1] as number) - first;
  let prev = first;
  for (let i = 1; i < n; i++) {
    const cur = values[i] as number;
    if (cur < prev) result += prev;
    prev = cur;
  }
  const firstT = times[0] as number;
  const lastT = times[n - 1] as number;
  let durationToStart = (firstT - rangeStartMs) / 1000;
  const durationToEnd = (rangeEndMs - lastT) / 1000;
  const sampledInterval = (lastT - firstT) / 1000;
  const averageDurationBetweenSamples = sampledInterval / (n - 1);
  if (result > 0 && first >= 0) {
    const durationToZero = sampledInterval * (first / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  const extrapolationThreshold = averageDurationBetweenSamples * 1.1;
  let extrapolateToInterval = sampledInterval;
  extrapolateToInterval +=
    durationToStart < extrapolationThreshold ? durationToStart : averageDurationBetweenSamples / 2;
  extrapolateToInterval +=
    durationToEnd < extrapolationThreshold ? durationToEnd : averageDurationBetweenSamples / 2;
  let factor = extrapolateToInterval / sampledInterval;
  factor /= rangeSeconds(windowMs);
  return result * factor;
}

export interface Bucket {
  upperBound: number;
  count: number;
}

/**
 * Prometheus 2.42's bucketQuantile: buckets sorted by upper bound (+Inf required), equal
 * bounds merged, counts made monotonic, the rank located and interpolated linearly in
 * its bucket (from 0 in the lowest bucket if its bound is > 0; the highest finite bound
 * when the rank is in the +Inf bucket). Sorts and modifies `buckets`.
 */
export function bucketQuantile(q: number, buckets: Bucket[]): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  if (buckets.length === 0) return Number.NaN;
  buckets.sort((a, b) => (a.upperBound < b.upperBound ? -1 : a.upperBound > b.upperBound ? 1 : 0));
  if ((buckets[buckets.length - 1] as Bucket).upperBound !== Number.POSITIVE_INFINITY) return Number.NaN;
  // Coalesce equal upper bounds.
  let last = { ...(buckets[0] as Bucket) };
  let k = 0;
  for (let i = 1; i < buckets.length; i++) {
    const b = buckets[i] as Bucket;
    if (b.upperBound === last.upperBound) last.count += b.count;
    else {
      buckets[k++] = last;
      last = { ...b };
    }
  }
  buckets[k] = last;
  buckets.length = k + 1;
  // Monotonic counts (the envelope).
  let max = Number.NEGATIVE_INFINITY;
  for (const b of buckets) {
    if (b.count > max) max = b.count;
    else if (b.count < max) b.count = max;
  }
  if (buckets.length < 2) return Number.NaN;
  const observations = (buckets[buckets.length - 1] as Bucket).count;
  if (observations === 0) return Number.NaN;
  let rank = q * observations;
  const b = search(buckets.length - 1, (i) => (buckets[i] as Bucket).count >= rank);
  if (b === buckets.length - 1) return (buckets[buckets.length - 2] as Bucket).upperBound;
  if (b === 0 && (buckets[0] as Bucket).upperBound <= 0) return (buckets[0] as Bucket).upperBound;
  let bucketStart = 0;
  const bucketEnd = (buckets[b] as Bucket).upperBound;
  let count = (buckets[b] as Bucket).count;
  if (b > 0) {
    const prev = buckets[b - 1] as Bucket;
    bucketStart = prev.upperBound;
    count -= prev.count;
    rank -= prev.count;
  }
  return bucketStart + (bucketEnd - bucketStart) * (rank / count);
}

/** The selected series of one target, each with the index of the sum group it adds to. */
interface BlockSelection {
  readonly block: TargetBlock;
  readonly series: StoredSeries[];
  readonly groups: number[];
}

interface Plan {
  readonly query: Query;
  readonly blocks: BlockSelection[];
  /** Sum groups: their labels (quantile: with `le`). */
  readonly groupLabels: Array<Record<string, string>>;
  readonly groupKeys: string[];
  /** Quantile: per sum group, its output group and its bucket's upper bound (NaN: no `le`). */
  readonly outGroup: number[];
  readonly upperBound: number[];
  readonly outLabels: Array<Record<string, string>>;
  readonly outKeys: string[];
  maxSlots: number;
}

function unique(labels: readonly string[]): string[] {
  return [...new Set(labels)];
}

/**
 * Sum groups by their grouping labels' values: a tree of maps, one level per label, keyed
 * by the (interned) values, so that finding a series' group builds no string.
 */
class GroupIndex {
  private readonly root = new Map<string, unknown>();
  private single: number | undefined;
  constructor(
    private readonly by: readonly string[],
    private readonly create: (s: StoredSeries) => number,
  ) {}

  of(s: StoredSeries): number {
    const by = this.by;
    if (by.length === 0) {
      this.single ??= this.create(s);
      return this.single;
    }
    let level = this.root;
    const last = by.length - 1;
    for (let i = 0; i < last; i++) {
      const v = s.labels[by[i] as string] ?? '';
      let next = level.get(v) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(v, next);
      }
      level = next;
    }
    const v = s.labels[by[last] as string] ?? '';
    let g = level.get(v) as number | undefined;
    if (g === undefined) {
      g = this.create(s);
      level.set(v, g);
    }
    return g;
  }
}

/** Selects the query's series once and assigns each to its `sum by` group. */
function plan(store: MetricStore, query: Query): Plan {
  const match = compileMatchers(query.selector.matchers);
  const by = unique(query.kind === 'quantile' ? quantileGrouping(query.by) : query.by);
  const p: Plan = {
    query,
    blocks: [],
    groupLabels: [],
    groupKeys: [],
    outGroup: [],
    upperBound: [],
    outLabels: [],
    outKeys: [],
    maxSlots: 0,
  };
  const groups = new GroupIndex(by, (s) => {
    const labels: Record<string, string> = {};
    for (const l of by) {
      const v = s.labels[l];
      if (v !== undefined) labels[l] = v;
    }
    p.groupLabels.push(labels);
    p.groupKeys.push(valuesKey(by, labels));
    return p.groupLabels.length - 1;
  });
  const byBlock = new Map<TargetBlock, BlockSelection>();
  let sel: BlockSelection | undefined;
  for (const s of store.select(query.selector.metric)) {
    if (!match(s)) continue;
    const g = groups.of(s);
    // A block's series are mostly next to each other: look up its selection only on a change.
    if (sel === undefined || sel.block !== s.block) {
      sel = byBlock.get(s.block);
      if (!sel) {
        sel = { block: s.block, series: [], groups: [] };
        byBlock.set(s.block, sel);
        p.blocks.push(sel);
        p.maxSlots = Math.max(p.maxSlots, s.block.count);
      }
    }
    sel.series.push(s);
    sel.groups.push(g);
  }
  if (query.kind === 'quantile') {
    // histogram_quantile groups the summed buckets by their labels other than `le`.
    const outBy = by.filter((l) => l !== 'le');
    const outIndex = new Map<string, number>();
    for (const labels of p.groupLabels) {
      const { le, ...rest } = labels;
      const key = valuesKey(outBy, rest);
      let o = outIndex.get(key);
      if (o === undefined) {
        o = p.outLabels.length;
        outIndex.set(key, o);
        p.outLabels.push(rest);
        p.outKeys.push(key);
      }
      p.outGroup.push(o);
      p.upperBound.push(le === undefined ? Number.NaN : (parseFloatGo(le) ?? Number.NaN));
    }
  }
  return p;
}

/** The grouping labels' values, in order: identifies a group, and orders the output. */
function valuesKey(by: readonly string[], labels: Readonly<Record<string, string>>): string {
  let key = '';
  for (const l of by) key += `${labels[l] ?? ''}\u0000`;
  return key;
}

/** Sums per group at one time; `has[g]` says whether any series added to group g. */
function evaluateAt(p: Plan, t: number, sums: Float64Array, has: Uint8Array, scratch: Float64Array[]): void {
  sums.fill(0);
  has.fill(0);
  const q = p.query;
  const [st, sv] = scratch as [Float64Array, Float64Array];
  for (const { block, series, groups } of p.blocks) {
    if (q.kind === 'gauge') {
      const lo = block.firstAtOrAfter(t - LOOKBACK_MS);
      const hi = block.lastAtOrBefore(t);
      if (hi < lo) continue;
      for (let i = 0; i < series.length; i++) {
        const v = block.latest(series[i] as StoredSeries, lo, hi);
        if (v === undefined) continue;
        add(sums, has, groups[i] as number, v);
      }
      continue;
    }
    const start = t - q.windowMs;
    const lo = block.firstAtOrAfter(start);
    const hi = block.lastAtOrBefore(t);
    if (hi - lo < 1) continue;
    for (let i = 0; i < series.length; i++) {
      const n = block.collect(series[i] as StoredSeries, lo, hi, st, sv);
      if (n < 2) continue;
      add(sums, has, groups[i] as number, extrapolatedRate(st, sv, n, start, t, q.windowMs));
    }
  }
}

function add(sums: Float64Array, has: Uint8Array, g: number, v: number): void {
  if (has[g] === 0) {
    has[g] = 1;
    sums[g] = v;
  } else sums[g] = (sums[g] as number) + v;
}

/** The output rows at one time: [output group index, value], NaN values left out. */
function rowsAt(p: Plan, sums: Float64Array, has: Uint8Array): Array<[number, number]> {
  const rows: Array<[number, number]> = [];
  if (p.query.kind !== 'quantile') {
    for (let g = 0; g < p.groupLabels.length; g++) {
      const v = sums[g] as number;
      if (has[g] === 1 && !Number.isNaN(v)) rows.push([g, v]);
    }
    return rows;
  }
  const buckets: Bucket[][] = p.outLabels.map(() => []);
  for (let g = 0; g < p.groupLabels.length; g++) {
    // A sum group without a parsable `le` is skipped, as histogram_quantile skips it.
    if (has[g] === 0 || Number.isNaN(p.upperBound[g])) continue;
    (buckets[p.outGroup[g] as number] as Bucket[]).push({
      upperBound: p.upperBound[g] as number,
      count: sums[g] as number,
    });
  }
  for (let o = 0; o < buckets.length; o++) {
    const list = buckets[o] as Bucket[];
    if (list.length === 0) continue;
    const v = bucketQuantile(p.query.q, list);
    if (!Number.isNaN(v)) rows.push([o, v]);
  }
  return rows;
}

function outputs(p: Plan): { labels: Array<Record<string, string>>; keys: string[] } {
  return p.query.kind === 'quantile'
    ? { labels: p.outLabels, keys: p.outKeys }
    : { labels: p.groupLabels, keys: p.groupKeys };
}

function buffers(p: Plan): { sums: Float64Array; has: Uint8Array; scratch: Float64Array[] } {
  const n = p.groupLabels.length;
  return {
    sums: new Float64Array(n),
    has: new Uint8Array(n),
    scratch: [new Float64Array(p.maxSlots), new Float64Array(p.maxSlots)],
  };
}

/** Evaluates `query` at `atMs`. Throws MetricsSourceError for a query it cannot answer. */
export function evaluateInstant(store: MetricStore, query: Query, atMs: number): Sample[] {
  checkInstant(query, atMs);
  const p = plan(store, query);
  const { sums, has, scratch } = buffers(p);
  evaluateAt(p, Math.trunc(atMs), sums, has, scratch);
  const out = outputs(p);
  return rowsAt(p, sums, has)
    .sort((a, b) => compare(out.keys[a[0]] as string, out.keys[b[0]] as string))
    .map(([g, value]) => ({ labels: out.labels[g] as Record<string, string>, value }));
}

/** Evaluates `query` at startMs, startMs + stepMs, ... up to endMs. */
export function evaluateRange(
  store: MetricStore,
  query: Query,
  startMs: number,
  endMs: number,
  stepMs: number,
): Series[] {
  checkRange(query, startMs, endMs, stepMs);
  const p = plan(store, query);
  const { sums, has, scratch } = buffers(p);
  const out = outputs(p);
  const points = new Map<number, Array<[number, number]>>();
  const start = Math.trunc(startMs);
  const end = Math.trunc(endMs);
  for (let t = start; t <= end; t += stepMs) {
    evaluateAt(p, t, sums, has, scratch);
    for (const [g, v] of rowsAt(p, sums, has)) {
      let list = points.get(g);
      if (!list) {
        list = [];
        points.set(g, list);
      }
      list.push([t, v]);
    }
  }
  return [...points.entries()]
    .sort((a, b) => compare(out.keys[a[0]] as string, out.keys[b[0]] as string))
    .map(([g, pts]) => ({ labels: out.labels[g] as Record<string, string>, points: pts }));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
