/**
 * Renders viz's queries (query.ts) as PromQL, and checks them the same way for both
 * backends: names must be valid Prometheus names (a name is never escaped, so it must
 * not be able to change the query), windows and steps whole positive milliseconds.
 */
import { METRIC_NAME } from './exposition.js';
import type { Matcher, Query, Selector } from './query.js';
import { MetricsSourceError } from './source.js';

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const OPS: ReadonlySet<string> = new Set(['=', '!=', '=~', '!~']);

/** Prometheus refuses range queries with more points per series than this. */
export const MAX_RANGE_POINTS = 11_000;

/** Words PromQL's lexer takes as keywords: such a metric is selected by `{__name__="..."}`. */
const KEYWORDS: ReadonlySet<string> = new Set([
  'and',
  'or',
  'unless',
  'atan2',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'start',
  'end',
  'sum',
  'avg',
  'count',
  'min',
  'max',
  'group',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'count_values',
  'quantile',
  'inf',
  'nan',
]);

function fail(query: Query, why: string): never {
  throw new MetricsSourceError(`invalid query on ${query.selector.metric}: ${why}`);
}

/** Throws MetricsSourceError when `query` is not one both backends can answer. */
export function checkQuery(query: Query): void {
  if (!METRIC_NAME.test(query.selector.metric)) {
    fail(query, `${JSON.stringify(query.selector.metric)} is not a valid metric name`);
  }
  for (const m of query.selector.matchers) {
    if (!LABEL_NAME.test(m.label)) fail(query, `${JSON.stringify(m.label)} is not a valid label name`);
    if (!OPS.has(m.op)) fail(query, `unknown matcher operator ${JSON.stringify(m.op)}`);
    if (typeof m.value !== 'string') fail(query, `the value of label ${m.label} is not a string`);
  }
  for (const l of query.by) {
    if (!LABEL_NAME.test(l)) fail(query, `${JSON.stringify(l)} is not a valid label name to group by`);
  }
  if (query.kind !== 'gauge' && !(Number.isInteger(query.windowMs) && query.windowMs > 0)) {
    fail(query, `the window must be a whole number of ms > 0, not ${query.windowMs}`);
  }
  if (query.kind === 'quantile' && typeof query.q !== 'number') fail(query, 'the quantile is not a number');
}

/** Throws MetricsSourceError when `query` or its evaluation time is not one both backends can answer. */
export function checkInstant(query: Query, atMs: number): void {
  checkQuery(query);
  if (!Number.isFinite(atMs)) throw new MetricsSourceError(`invalid evaluation time ${atMs}`);
}

/** Throws MetricsSourceError when a range query's times are not ones Prometheus accepts. */
export function checkRange(query: Query, startMs: number, endMs: number, stepMs: number): void {
  checkQuery(query);
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) fail(query, 'the range needs finite times');
  if (endMs < startMs) fail(query, `the range ends (${endMs}) before it starts (${startMs})`);
  if (!(Number.isInteger(stepMs) && stepMs > 0)) fail(query, `the step must be a whole number of ms > 0`);
  if ((endMs - startMs) / stepMs >= MAX_RANGE_POINTS) {
    fail(query, `more than ${MAX_RANGE_POINTS} steps; use a larger step`);
  }
}

/**
 * A PromQL string literal. JSON's escapes (`\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`,
 * `\u00XX`) are all escapes PromQL's lexer reads the same way, and JSON escapes every
 * character a PromQL string cannot hold as it is.
 */
export function quote(s: string): string {
  return JSON.stringify(s);
}

/** A duration in the largest unit that divides it: `5m`, `90s`, `1500ms`. */
export function formatDuration(ms: number): string {
  const units: Array<[string, number]> = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  for (const [unit, size] of units) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** A number as PromQL reads it (`NaN`, `+Inf`, `-Inf` included). */
export function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(n);
}

function renderMatcher(m: Matcher): string {
  return `${m.label}${m.op}${quote(m.value)}`;
}

/** `metric{a="x", b=~"y|z"}`. */
export function renderSelector(selector: Selector): string {
  const matchers = selector.matchers.map(renderMatcher);
  if (KEYWORDS.has(selector.metric.toLowerCase())) {
    return `{${[`__name__=${quote(selector.metric)}`, ...matchers].join(', ')}}`;
  }
  return matchers.length === 0 ? selector.metric : `${selector.metric}{${matchers.join(', ')}}`;
}

function sumBy(labels: readonly string[]): string {
  return labels.length === 0 ? 'sum' : `sum by (${labels.join(', ')})`;
}

/** The labels a quantile sums by: `le` first, then the query's own (without a second `le`). */
export function quantileGrouping(by: readonly string[]): string[] {
  return ['le', ...by.filter((l) => l !== 'le')];
}

/** The PromQL for `query` (checked first). */
export function renderQuery(query: Query): string {
  checkQuery(query);
  return renderCheckedQuery(query);
}

/** The PromQL for `query`, which checkQuery (or checkInstant, checkRange) has passed. */
export function renderCheckedQuery(query: Query): string {
  const selector = renderSelector(query.selector);
  switch (query.kind) {
    case 'rate':
      return `${sumBy(query.by)} (rate(${selector}[${formatDuration(query.windowMs)}]))`;
    case 'quantile':
      return `histogram_quantile(${formatNumber(query.q)}, ${sumBy(quantileGrouping(query.by))} (rate(${selector}[${formatDuration(query.windowMs)}])))`;
    case 'gauge':
      return `${sumBy(query.by)} (${selector})`;
  }
}
