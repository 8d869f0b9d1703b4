/**
 * Query evaluation over the embedded store, against values computed by hand from
 * Prometheus 2.42's definitions (promql/functions.go extrapolatedRate, promql/quantile.go
 * bucketQuantile, vectorSelectorSingle's lookback and staleness).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketQuantile, evaluateInstant, evaluateRange } from '../../../src/viz/metrics/evaluate.js';
import type { Matcher, Query, Sample } from '../../../src/viz/metrics/query.js';
import { MetricsSourceError } from '../../../src/viz/metrics/source.js';
import { MetricStore } from '../../../src/viz/metrics/store.js';

type Row = [name: string, labels: Record<string, string>, value: number];

/** Stores scrapes of one target: [time in s, rows]; a row left out of a scrape goes stale. */
function load(store: MetricStore, target: string, scrapes: Array<[number, Row[]]>): void {
  for (const [s, rows] of scrapes) {
    const app = store.appender(target, s * 1000);
    for (const [name, labels, value] of rows) {
      app.add(`${name}${JSON.stringify(labels)}`, name, labels, value);
    }
    app.commit();
  }
}

const rate = (metric: string, windowS: number, by: string[] = [], matchers: Matcher[] = []): Query => ({
  kind: 'rate',
  selector: { metric, matchers },
  windowMs: windowS * 1000,
  by,
});
const gauge = (metric: string, by: string[] = [], matchers: Matcher[] = []): Query => ({
  kind: 'gauge',
  selector: { metric, matchers },
  by,
});
const quantile = (q: number, windowS: number, by: string[] = [], matchers: Matcher[] = []): Query => ({
  kind: 'quantile',
  q,
  selector: { metric: 'lat_bucket', matchers },
  windowMs: windowS * 1000,
  by,
});

function only(rows: Sample[]): number {
  assert.equal(rows.length, 1, JSON.stringify(rows));
  return (rows[0] as Sample).value;
}

function close(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} != ${expected}`,
  );
}

/** One counter `c` sampled every 10 s from t=10 s with the given values. */
function counter(values: number[]): MetricStore {
  const store = new MetricStore();
  load(
    store,
    'a',
    values.map((v, i) => [10 * (i + 1), [['c', {}, v]]]),
  );
  return store;
}

test('rate extrapolates to both ends of the range when the samples are close to them', () => {
  // Samples at 20, 30, 40 s in [15, 45]: increase 20 over 20 s, 5 s to each end (< 1.1 x 10 s),
  // so the increase is extrapolated to 30 s: 20 * 30/20 / 30 = 1 per second.
  const store = counter([0, 10, 20, 30]);
  close(only(evaluateInstant(store, rate('c', 30), 45_000)), 1, 'rate');
});

test('rate extrapolates by half an interval when the range starts well before the first sample', () => {
  // [−15, 45] holds all four samples (10..40 s, 100..130): 25 s to the start is more than 1.1 x 10 s,
  // so only 5 s (half the average interval) are added there; 5 s at the end: 30 * 40/30 / 60.
  const store = counter([100, 110, 120, 130]);
  close(only(evaluateInstant(store, rate('c', 60), 45_000)), 40 / 60, 'rate');
});

test('rate does not extrapolate a counter to below zero (2.42: before the threshold test)', () => {
  // Values 8, 18, 28, 38: the counter was 0 8 s before the first sample (30 s x 8/30), less than
  // the 25 s to the range's start; 8 s < 11 s, so 8 s are added: 30 * (30 + 8 + 5)/30 / 60.
  const store = counter([8, 18, 28, 38]);
  close(only(evaluateInstant(store, rate('c', 60), 45_000)), 43 / 60, 'rate');
});

test('rate counts a counter reset, and the range includes a sample exactly at its start', () => {
  // [10, 40] includes the sample at 10 s (Prometheus 2.x ranges are closed at both ends):
  // 10, 20, 5, 15 is an increase of 5 + 20 (the reset) = 25 over exactly the 30 s range.
  const store = counter([10, 20, 5, 15]);
  close(only(evaluateInstant(store, rate('c', 30), 40_000)), 25 / 30, 'rate');
  // One ms later the first sample is out: 20, 5, 15 is 15 over 20 s; 10.001 s to the start
  // (< 11 s) and 0.001 s to the end are added: 15 * 30/20 / 30.
  close(only(evaluateInstant(store, rate('c', 30), 40_001)), (15 * (30 / 20)) / 30, 'rate');
});

test('rate needs two samples in the range', () => {
  const store = counter([1, 2]);
  assert.deepEqual(evaluateInstant(store, rate('c', 5), 20_000), []);
  assert.equal(evaluateInstant(store, rate('c', 10), 20_000).length, 1);
});

test('rate ignores staleness markers and sums by the grouping labels only', () => {
  const store = new MetricStore();
  const a = { dir: 'in', code: '200' };
  const b = { dir: 'in', code: '500' };
  const c = { dir: 'out', code: '200' };
  load(store, 't', [
    [
      10,
      [
        ['c', a, 0],
        ['c', b, 0],
        ['c', c, 0],
      ],
    ],
    [
      20,
      [
        ['c', a, 10],
        ['c', b, 20],
        ['c', c, 30],
      ],
    ],
    [
      30,
      [
        ['c', a, 20],
        ['c', c, 60],
      ],
    ], // b vanished: stale at 30 s
    [
      40,
      [
        ['c', a, 30],
        ['c', b, 40],
        ['c', c, 90],
      ],
    ], // b is back
  ]);
  // Window [10, 40]: a 1/s, c 3/s; b's samples 0, 20, 40 at 10, 20, 40 s: 40 over 30 s.
  const byDir = evaluateInstant(store, rate('c', 30, ['dir']), 40_000);
  assert.equal(byDir.length, 2);
  close(byDir.find((r) => r.labels.dir === 'in')?.value ?? 0, 1 + 40 / 30, 'in');
  close(byDir.find((r) => r.labels.dir === 'out')?.value ?? 0, 3, 'out');
  assert.deepEqual(
    byDir.map((r) => r.labels),
    [{ dir: 'in' }, { dir: 'out' }],
  );
  close(only(evaluateInstant(store, rate('c', 30), 40_000)), 4 + 40 / 30, 'sum');
  const byCode = evaluateInstant(store, rate('c', 30, ['code', 'missing']), 40_000);
  assert.deepEqual(
    byCode.map((r) => r.labels),
    [{ code: '200' }, { code: '500' }],
  );
});

test('matchers: =, !=, anchored =~ and !~, and an empty label equals an absent one', () => {
  const store = new MetricStore();
  const rows = (v: number): Row[] => [
    ['c', { authority: 'web:80', ns: '' }, v],
    ['c', { authority: 'web-admin:80' }, 2 * v],
    ['c', { authority: 'voting:80', ns: 'emoji' }, 4 * v],
  ];
  load(store, 't', [
    [10, rows(0)],
    [20, rows(10)],
  ]);
  const at = (matchers: Matcher[], by: string[] = []) =>
    evaluateInstant(store, rate('c', 10, by, matchers), 20_000).map((r) => [r.labels, r.value]);
  assert.deepEqual(at([{ label: 'authority', op: '=', value: 'web:80' }]), [[{}, 1]]);
  assert.deepEqual(at([{ label: 'authority', op: '!=', value: 'web:80' }]), [[{}, 6]]);
  // Anchored: `web` matches no authority, `web.*` two.
  assert.deepEqual(at([{ label: 'authority', op: '=~', value: 'web' }]), []);
  assert.deepEqual(at([{ label: 'authority', op: '=~', value: 'web.*' }]), [[{}, 3]]);
  assert.deepEqual(at([{ label: 'authority', op: '!~', value: 'web.*|x' }]), [[{}, 4]]);
  assert.deepEqual(at([{ label: 'authority', op: '=~', value: '(?i)WEB:80' }]), [[{}, 1]]);
  // ns="" matches the series with ns empty and the one without ns; ns!="" the other.
  assert.deepEqual(at([{ label: 'ns', op: '=', value: '' }]), [[{}, 3]]);
  assert.deepEqual(at([{ label: 'ns', op: '!=', value: '' }]), [[{}, 4]]);
  assert.deepEqual(at([{ label: 'ns', op: '=~', value: 'emo.*|' }]), [[{}, 7]]);
  assert.deepEqual(at([], ['ns']), [
    [{}, 3],
    [{ ns: 'emoji' }, 4],
  ]);
  assert.throws(
    () => at([{ label: 'authority', op: '=~', value: 'a(b' }]),
    (err: unknown) =>
      err instanceof MetricsSourceError && /invalid regex "a\(b" for label authority/.test(err.message),
  );
});

test('bucketQuantile: interpolation, the lowest bucket from 0, the +Inf bucket, monotonicity, special q', () => {
  const b = (...pairs: Array<[number, number]>) =>
    pairs.map(([upperBound, count]) => ({ upperBound, count }));
  const h = () => b([4, 3], [Number.POSITIVE_INFINITY, 4], [1, 1], [2, 2]); // unsorted on purpose
  assert.equal(bucketQuantile(0.5, h()), 2); // rank 2 ends bucket (1, 2]
  assert.equal(bucketQuantile(0.25, h()), 1);
  assert.equal(bucketQuantile(0.1, h()), 0.4); // rank 0.4 in [0, 1]
  close(bucketQuantile(0.7, h()), 3.6, 'q0.7'); // rank 2.8: 2 + 2 x 0.8
  assert.equal(bucketQuantile(0.9, h()), 4); // rank 3.6 in the +Inf bucket: highest finite bound
  assert.equal(bucketQuantile(-0.1, h()), Number.NEGATIVE_INFINITY);
  assert.equal(bucketQuantile(1.1, h()), Number.POSITIVE_INFINITY);
  assert.ok(Number.isNaN(bucketQuantile(Number.NaN, h())));
  assert.ok(Number.isNaN(bucketQuantile(0.5, b([1, 0], [Number.POSITIVE_INFINITY, 0]))), 'no observations');
  assert.ok(Number.isNaN(bucketQuantile(0.5, b([1, 1], [2, 2]))), 'no +Inf bucket');
  assert.ok(Number.isNaN(bucketQuantile(0.5, b([Number.POSITIVE_INFINITY, 2]))), 'only +Inf');
  // Non-monotonic counts are raised to the running maximum: 5, 5, 8, 10.
  const bumpy = () => b([1, 5], [2, 3], [4, 8], [Number.POSITIVE_INFINITY, 10]);
  assert.equal(bucketQuantile(0.5, bumpy()), 1);
  close(bucketQuantile(0.6, bumpy()), 2 + 2 / 3, 'q0.6');
  // Equal bounds (le="1" and le="1.0") are one bucket.
  assert.equal(bucketQuantile(0.5, b([1, 2], [1, 3], [Number.POSITIVE_INFINITY, 10])), 1);
  // A lowest bucket with a bound <= 0 is returned as it is.
  assert.equal(bucketQuantile(0.25, b([-1, 2], [0, 4], [Number.POSITIVE_INFINITY, 8])), -1);
});

test('quantile: histogram_quantile over sum by (le, ...) of the buckets rates', () => {
  const store = new MetricStore();
  const scrape = (k: number): Row[] =>
    (
      [
        ['1', 10],
        ['2', 20],
        ['4', 30],
        ['+Inf', 40],
      ] as const
    ).flatMap(([le, n]) => [
      ['lat_bucket', { le, app: 'web', pod: 'a' }, k * n] as Row,
      // Two pods of web: the same rates again, so the sums are doubled and the quantiles equal.
      ['lat_bucket', { le, app: 'web', pod: 'b' }, 1000 + k * n] as Row,
      // An app with no traffic: every rate 0, so its quantile is NaN and left out.
      ['lat_bucket', { le, app: 'idle', pod: 'c' }, 7] as Row,
    ]);
  // Window [0, 30] holds all four scrapes: the rates are exactly 1, 2, 3, 4 per s (per pod).
  load(store, 't', [
    [0, scrape(0)],
    [10, scrape(1)],
    [20, scrape(2)],
    [30, scrape(3)],
  ]);
  const at = (q: number, by: string[] = ['app'], matchers: Matcher[] = []) =>
    evaluateInstant(store, quantile(q, 30, by, matchers), 30_000).map((r) => [r.labels, r.value]);
  assert.deepEqual(at(0.5), [[{ app: 'web' }, 2]]);
  assert.deepEqual(at(0.25, []), [[{}, 1]]);
  const p70 = at(0.7, ['app', 'pod']);
  assert.equal(p70.length, 2);
  for (const [, v] of p70) close(v as number, 3.6, 'p70');
  assert.deepEqual(at(0.99, ['app'], [{ label: 'pod', op: '=', value: 'a' }]), [[{ app: 'web' }, 4]]);
  // Out-of-range q is ±Inf for every group, the idle one included (q is checked before the counts).
  assert.deepEqual(at(2), [
    [{ app: 'idle' }, Number.POSITIVE_INFINITY],
    [{ app: 'web' }, Number.POSITIVE_INFINITY],
  ]);
  assert.deepEqual(at(-1, []), [[{}, Number.NEGATIVE_INFINITY]]);
});

test('gauge: the latest sample within the 5 minute lookback, not after a staleness marker', () => {
  const store = new MetricStore();
  load(store, 't', [
    [
      0,
      [
        ['g', { k: 'a' }, 5],
        ['g', { k: 'b' }, 1],
      ],
    ],
    [
      10,
      [
        ['g', { k: 'a' }, 6],
        ['g', { k: 'b' }, 2],
      ],
    ],
    [20, [['g', { k: 'a' }, 7]]], // b vanished: stale from 20 s
  ]);
  const at = (t: number, by: string[] = ['k']) =>
    evaluateInstant(store, gauge('g', by), t).map((r) => [r.labels, r.value]);
  assert.deepEqual(at(5_000), [
    [{ k: 'a' }, 5],
    [{ k: 'b' }, 1],
  ]);
  assert.deepEqual(at(19_999), [
    [{ k: 'a' }, 6],
    [{ k: 'b' }, 2],
  ]);
  assert.deepEqual(at(20_000), [[{ k: 'a' }, 7]]);
  assert.deepEqual(at(-1), []);
  // Lookback [t - 5m, t], closed: the sample at 20 s is seen until 320 s exactly.
  assert.deepEqual(at(320_000), [[{ k: 'a' }, 7]]);
  assert.deepEqual(at(320_001), []);
  assert.deepEqual(at(19_999, []), [[{}, 8]]);
  assert.deepEqual(
    evaluateInstant(store, gauge('g', [], [{ label: 'k', op: '!=', value: 'a' }]), 10_000).map(
      (r) => r.value,
    ),
    [2],
  );
});

test('a retired target and a failed (empty) scrape make every series stale', () => {
  const store = new MetricStore();
  load(store, 'x', [[0, [['g', { k: 'x' }, 1]]]]);
  load(store, 'y', [[0, [['g', { k: 'y' }, 2]]]]);
  store.retireTarget('x', 10_000);
  store.appender('y', 10_000).commit(); // a failed scrape: nothing
  const at = (t: number) => evaluateInstant(store, gauge('g', ['k']), t).map((r) => r.labels.k);
  assert.deepEqual(at(9_999), ['x', 'y']);
  assert.deepEqual(at(10_000), []);
  load(store, 'y', [[20, [['g', { k: 'y' }, 3]]]]);
  assert.deepEqual(at(20_000), ['y']);
});

test('range queries evaluate at each step, both ends included, points only where there is a value', () => {
  const store = new MetricStore();
  load(store, 't', [
    [
      10,
      [
        ['c', { k: 'a' }, 0],
        ['c', { k: 'b' }, 0],
      ],
    ],
    [
      20,
      [
        ['c', { k: 'a' }, 10],
        ['c', { k: 'b' }, 10],
      ],
    ],
    [30, [['c', { k: 'a' }, 20]]],
    [40, [['c', { k: 'a' }, 30]]],
  ]);
  const series = evaluateRange(store, rate('c', 10, ['k']), 10_000, 40_000, 10_000);
  assert.deepEqual(series, [
    {
      labels: { k: 'a' },
      points: [
        [20_000, 1],
        [30_000, 1],
        [40_000, 1],
      ],
    },
    { labels: { k: 'b' }, points: [[20_000, 1]] },
  ]);
  // Each step equals the instant query at that time.
  for (const t of [12_345, 25_000, 37_777]) {
    const range = evaluateRange(store, rate('c', 15, ['k']), t, t, 1);
    const instant = evaluateInstant(store, rate('c', 15, ['k']), t);
    assert.deepEqual(
      range.map((s) => [s.labels, s.points[0]?.[1]]),
      instant.map((s) => [s.labels, s.value]),
    );
  }
  assert.throws(() => evaluateRange(store, rate('c', 10), 0, 1_000_000, 1), /more than 11000 steps/);
  assert.throws(() => evaluateRange(store, rate('c', 10), 10, 0, 1), /ends \(0\) before it starts/);
  assert.throws(() => evaluateInstant(store, rate('bad-name', 10), 0), /not a valid metric name/);
  assert.throws(() => evaluateInstant(store, rate('c', 0.0005), 0), /whole number of ms/);
});
