import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CounterFamily, GaugeFamily, HistogramFamily, Registry } from '../../src/metrics/registry.js';

test('counters and gauges render in Prometheus text format with escaped labels', () => {
  const r = new Registry();
  const c = r.register(new CounterFamily('things_total', 'Things.'));
  const g = r.register(new GaugeFamily('open', 'Open.'));
  const s = c.get([['path', 'a"b\\c\nd']]);
  s.inc();
  s.inc(2);
  assert.equal(c.get([['path', 'a"b\\c\nd']]), s, 'the same label set resolves to the same series');
  g.get([]).inc(5);
  g.get([]).dec(2);
  assert.equal(
    r.render(),
    '# HELP things_total Things.\n# TYPE things_total counter\nthings_total{path="a\\"b\\\\c\\nd"} 3\n' +
      '# HELP open Open.\n# TYPE open gauge\nopen 3\n',
  );
});

test('histograms are cumulative, with +Inf, _sum and _count', () => {
  const r = new Registry();
  const h = r.register(new HistogramFamily('lat_ms', 'Latency.', [1, 10]));
  const s = h.get([['x', 'y']]);
  for (const v of [0.5, 1, 5, 10, 11, 100]) s.observe(v);
  const text = r.render();
  assert.match(text, /lat_ms_bucket\{x="y",le="1"\} 2\n/);
  assert.match(text, /lat_ms_bucket\{x="y",le="10"\} 4\n/);
  assert.match(text, /lat_ms_bucket\{x="y",le="\+Inf"\} 6\n/);
  assert.match(text, /lat_ms_sum\{x="y"\} 127.5\n/);
  assert.match(text, /lat_ms_count\{x="y"\} 6\n/);
});

test('a family name cannot be registered twice; render hooks run before each scrape', () => {
  const r = new Registry();
  r.register(new CounterFamily('a', 'A.'));
  assert.throws(() => r.register(new CounterFamily('a', 'A again.')), /registered twice/);
  let n = 0;
  r.onRender(() => n++);
  r.render();
  r.render();
  assert.equal(n, 2);
});
