/**
 * The embedded store's memory layout and bounds: the ring of scrape times wrapping and
 * growing, retention, expired series and targets dropped, NaN kept as a value.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateInstant } from '../../../src/viz/metrics/evaluate.js';
import type { Query } from '../../../src/viz/metrics/query.js';
import { MetricStore } from '../../../src/viz/metrics/store.js';

const gauge = (by: string[] = []): Query => ({ kind: 'gauge', selector: { metric: 'g', matchers: [] }, by });

function scrape(
  store: MetricStore,
  target: string,
  t: number,
  rows: Array<[Record<string, string>, number]>,
) {
  const app = store.appender(target, t);
  for (const [labels, v] of rows) app.add(JSON.stringify(labels), 'g', labels, v);
  return app.commit();
}

test('the ring of scrape times wraps and grows without losing order; retention drops old slots', () => {
  const store = new MetricStore({ retentionMs: 100_000 });
  // A series from the start, and one that appears at the 15th scrape (when the ring has grown).
  for (let i = 0; i < 40; i++) {
    const rows: Array<[Record<string, string>, number]> = [[{ k: 'a' }, i]];
    if (i >= 15) rows.push([{ k: 'late' }, 1000 + i]);
    scrape(store, 't', i * 10_000, rows);
  }
  const block = store.block('t');
  assert.ok(block);
  // Retention 100 s: the slots from 290 s to 390 s (both ends) remain.
  assert.equal(block.count, 11);
  assert.equal(block.firstTime, 290_000);
  assert.equal(block.lastTime, 390_000);
  const a = [...store.select('g')].find((s) => s.labels.k === 'a');
  assert.ok(a);
  const t = new Float64Array(11);
  const v = new Float64Array(11);
  assert.equal(block.collect(a, 0, 10, t, v), 11);
  assert.deepEqual(
    [...t],
    Array.from({ length: 11 }, (_, i) => 290_000 + i * 10_000),
  );
  assert.deepEqual(
    [...v],
    Array.from({ length: 11 }, (_, i) => 29 + i),
  );
  // Every step of the history still answers with its own value.
  for (let i = 29; i < 40; i++) {
    const rows = evaluateInstant(store, gauge(['k']), i * 10_000 + 5000);
    assert.deepEqual(
      rows.map((r) => r.value),
      [i, 1000 + i],
    );
  }
  // Before the retained samples: nothing, though the lookback would reach further.
  assert.deepEqual(evaluateInstant(store, gauge(), 285_000), []);
});

test('a series with no sample left is dropped (its row reused); a retired target goes once expired', () => {
  const store = new MetricStore({ retentionMs: 30_000 });
  scrape(store, 'x', 0, [
    [{ k: 'short' }, 1],
    [{ k: 'long' }, 1],
  ]);
  scrape(store, 'y', 0, [[{ k: 'y' }, 1]]);
  assert.equal(store.series, 3);
  const stats = scrape(store, 'x', 10_000, [[{ k: 'long' }, 2]]);
  assert.equal(stats.stale, 1);
  store.retireTarget('y', 10_000);
  // `short`'s last slot (its staleness marker at 10 s) expires at 40 s.
  scrape(store, 'x', 40_000, [[{ k: 'long' }, 3]]);
  assert.equal(store.series, 3);
  store.trim(40_000);
  assert.equal(store.series, 3);
  scrape(store, 'x', 40_001, [[{ k: 'long' }, 3]]);
  assert.deepEqual(
    [...store.select('g')].map((s) => s.labels.k),
    ['long', 'y'],
  );
  store.trim(40_001);
  assert.deepEqual(
    [...store.select('g')].map((s) => s.labels.k),
    ['long'],
  );
  assert.equal(store.stats().targets, 1);
  assert.equal(store.block('x')?.byRaw.size, 1);
  // A new series takes the freed row; it reads only its own samples.
  scrape(store, 'x', 50_000, [
    [{ k: 'long' }, 4],
    [{ k: 'new' }, 7],
  ]);
  assert.deepEqual(
    evaluateInstant(store, gauge(['k']), 50_000).map((r) => [r.labels.k, r.value]),
    [
      ['long', 4],
      ['new', 7],
    ],
  );
  assert.deepEqual(
    evaluateInstant(
      store,
      { ...gauge(['k']), selector: { metric: 'g', matchers: [{ label: 'k', op: '=', value: 'new' }] } },
      49_999,
    ),
    [],
  );
});

test('NaN is a value (not a missing sample); duplicates in a scrape keep the first; times must increase', () => {
  const store = new MetricStore();
  scrape(store, 't', 0, [[{ k: 'a' }, 5]]);
  const stats = scrape(store, 't', 10_000, [
    [{ k: 'a' }, Number.NaN],
    [{ k: 'a' }, 9],
  ]);
  assert.equal(stats.duplicates, 1);
  // The latest sample is NaN: the row is left out (it would be 5 if NaN were a gap).
  assert.deepEqual(evaluateInstant(store, gauge(), 10_000), []);
  assert.deepEqual(evaluateInstant(store, gauge(), 9_999), [{ labels: {}, value: 5 }]);
  assert.throws(() => store.appender('t', 10_000), /is not after its previous one/);
});

test('empty label values are dropped, so the same series is found however it was written', () => {
  const store = new MetricStore();
  const app = store.appender('t', 0);
  app.add('g{a="1",b=""}', 'g', { a: '1', b: '' }, 1);
  app.add('g{b="",a="1"}', 'g', { b: '', a: '1' }, 2);
  const stats = app.commit();
  assert.deepEqual(stats, { samples: 1, added: 1, dropped: 0, duplicates: 1, stale: 0 });
  const [s] = [...store.select('g')];
  assert.deepEqual(s?.labels, { a: '1' });
  assert.equal(s?.key, 'g{a="1"}');
  assert.equal(store.block('t')?.byRaw.size, 2);
});

test('label values of expired series are let go once they pile up', () => {
  const store = new MetricStore({ retentionMs: 10_000 });
  // 10,000 pods, each seen once: 10,000 label values nothing uses after they expire.
  for (let i = 0; i < 10; i++) {
    scrape(
      store,
      't',
      i * 1000,
      Array.from({ length: 1000 }, (_, j): [Record<string, string>, number] => [{ pod: `pod-${i}-${j}` }, 1]),
    );
  }
  assert.ok(store.stats().strings > 10_000);
  scrape(store, 't', 30_000, [[{ pod: 'last' }, 1]]);
  store.trim(30_000);
  assert.equal(store.series, 1);
  assert.equal(store.stats().strings, 3); // g, pod and last
});
