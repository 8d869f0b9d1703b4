import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkQuery,
  formatDuration,
  formatNumber,
  quote,
  renderQuery,
  renderSelector,
} from '../../../src/viz/metrics/promql.js';
import { eq, type Query } from '../../../src/viz/metrics/query.js';
import { MetricsSourceError } from '../../../src/viz/metrics/source.js';

test('each query kind renders as the PromQL whose semantics the embedded store implements', () => {
  const selector = {
    metric: 'response_total',
    matchers: [eq('direction', 'inbound'), { label: 'authority', op: '=~', value: 'web.*' } as const],
  };
  assert.equal(
    renderQuery({ kind: 'rate', selector, windowMs: 60_000, by: ['deployment', 'classification'] }),
    'sum by (deployment, classification) (rate(response_total{direction="inbound", authority=~"web.*"}[1m]))',
  );
  assert.equal(
    renderQuery({ kind: 'rate', selector: { metric: 'x', matchers: [] }, windowMs: 1500, by: [] }),
    'sum (rate(x[1500ms]))',
  );
  assert.equal(
    renderQuery({
      kind: 'quantile',
      q: 0.95,
      selector: {
        metric: 'response_latency_ms_bucket',
        matchers: [{ label: 'status_code', op: '!~', value: '5..' }],
      },
      windowMs: 30_000,
      by: ['deployment', 'le'],
    }),
    'histogram_quantile(0.95, sum by (le, deployment) (rate(response_latency_ms_bucket{status_code!~"5.."}[30s])))',
  );
  assert.equal(
    renderQuery({
      kind: 'gauge',
      selector: { metric: 'tcp_open_connections', matchers: [{ label: 'peer', op: '!=', value: 'dst' }] },
      by: ['pod'],
    }),
    'sum by (pod) (tcp_open_connections{peer!="dst"})',
  );
});

test('label values are escaped so that any string stays one PromQL string', () => {
  const nasty = 'a"b\\c\nd\te\u0001f}g"} or vector(1) #é';
  const rendered = quote(nasty);
  assert.equal(rendered, '"a\\"b\\\\c\\nd\\te\\u0001f}g\\"} or vector(1) #é"');
  // PromQL reads these escapes as JSON does.
  assert.equal(JSON.parse(rendered), nasty);
  assert.equal(renderSelector({ metric: 'm', matchers: [eq('l', nasty)] }), `m{l=${rendered}}`);
});

test('a metric named like a PromQL keyword is selected by __name__', () => {
  assert.equal(renderSelector({ metric: 'sum', matchers: [] }), '{__name__="sum"}');
  assert.equal(renderSelector({ metric: 'Offset', matchers: [eq('a', 'b')] }), '{__name__="Offset", a="b"}');
  assert.equal(renderSelector({ metric: 'summary', matchers: [] }), 'summary');
});

test('durations and numbers', () => {
  assert.equal(formatDuration(86_400_000), '1d');
  assert.equal(formatDuration(7_200_000), '2h');
  assert.equal(formatDuration(90_000), '90s');
  assert.equal(formatDuration(300_000), '5m');
  assert.equal(formatDuration(1), '1ms');
  assert.equal(formatNumber(0.5), '0.5');
  assert.equal(formatNumber(1e-7), '1e-7');
  assert.equal(formatNumber(Number.POSITIVE_INFINITY), '+Inf');
  assert.equal(formatNumber(Number.NaN), 'NaN');
});

test('names that could change the query, and bad windows, are refused before any backend sees them', () => {
  const base: Query = { kind: 'rate', selector: { metric: 'x', matchers: [] }, windowMs: 1000, by: [] };
  const bad: Array<[Query, RegExp]> = [
    [
      { ...base, selector: { metric: 'x) or vector(1', matchers: [] } },
      /"x\) or vector\(1" is not a valid metric name/,
    ],
    [
      { ...base, selector: { metric: 'x', matchers: [eq('a="b"} or y{c', 'd')] } },
      /is not a valid label name/,
    ],
    [{ ...base, by: ['a) (b'] }, /not a valid label name to group by/],
    [{ ...base, windowMs: 0 }, /whole number of ms > 0, not 0/],
    [{ ...base, windowMs: 1.5 }, /whole number of ms/],
    [{ ...base, windowMs: Number.NaN }, /whole number of ms/],
  ];
  for (const [query, message] of bad) {
    assert.throws(
      () => renderQuery(query),
      (err: unknown) => err instanceof MetricsSourceError && message.test(err.message),
      JSON.stringify(query),
    );
  }
  assert.doesNotThrow(() =>
    checkQuery({ kind: 'gauge', selector: { metric: 'ns:job:rate5m', matchers: [] }, by: ['_x1'] }),
  );
});
