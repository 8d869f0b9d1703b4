/**
 * The embedded evaluation against the real Prometheus 2.42 (/usr/bin/prometheus).
 *
 * Prometheus scrapes a test server every second whose counters, histogram buckets and
 * gauges the test drives: one advances at each scrape (with a counter reset, a histogram
 * reset, a non-monotonic histogram, series that vanish and come back, one that vanishes
 * for good, a failed scrape), the other with wall time. The samples Prometheus stored are
 * read back (`{job="equiv"}[10m]`) and replayed, scrape by scrape, into an embedded
 * store; then every query kind is asked of both, at the same times, the embedded store
 * directly and Prometheus through PrometheusSource (the PromQL promql.ts renders): the
 * answers must be equal to 1e-9 relative. The second test runs the embedded scraper
 * against the wall-time server next to Prometheus and compares their rates.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { renderLabels } from '../../../src/metrics/registry.js';
import { EmbeddedSource } from '../../../src/viz/metrics/embedded.js';
import { evaluateInstant, evaluateRange } from '../../../src/viz/metrics/evaluate.js';
import { parseFloatGo } from '../../../src/viz/metrics/exposition.js';
import { PrometheusSource } from '../../../src/viz/metrics/prometheus.js';
import { renderQuery } from '../../../src/viz/metrics/promql.js';
import { eq, type Matcher, type Query, type Sample, type Series } from '../../../src/viz/metrics/query.js';
import { MetricStore } from '../../../src/viz/metrics/store.js';
import { Cleanup, type HttpUpstream, startHttpServer, waitFor } from '../../helpers/net.js';
import { type PrometheusServer, startPrometheus, staticScrapeConfig } from '../../helpers/prometheus.js';

const T = { timeout: 90_000 };
/** Scrapes of the scrape-driven server to wait for (the 12th fails). */
const SCRAPES = 17;
const FAILED_SCRAPE = 12;

function line(name: string, labels: Record<string, string>, value: number): string {
  return `${name}${renderLabels(Object.entries(labels))} ${value}\n`;
}

const BOUNDS = ['1', '5', '10', '50', '100', '+Inf'];

/** Cumulative bucket lines from per-bucket (non-cumulative) counts. */
function histogram(labels: Record<string, string>, counts: number[]): string {
  let sum = 0;
  return BOUNDS.map((le, i) => {
    sum += counts[i] ?? 0;
    return line('response_latency_ms_bucket', { ...labels, le }, sum);
  }).join('');
}

/** Per-bucket counts summed over scrapes from..n of `inc(m)`. */
function accumulate(from: number, n: number, inc: (m: number) => number[]): number[] {
  const total = BOUNDS.map(() => 0);
  for (let m = from; m <= n; m++) {
    for (const [i, c] of inc(m).entries()) total[i] = (total[i] ?? 0) + c;
  }
  return total;
}

/** The page of the n-th scrape (1-based); undefined: answer 500 (a failed scrape). */
function scrapePage(n: number): string | undefined {
  if (n === FAILED_SCRAPE) return undefined;
  const web = { direction: 'outbound', authority: 'web:80', dst_deployment: 'web' };
  let page = '# TYPE response_total counter\n';
  // The first value is 0.7 increments: the zero point is inside 1.1 intervals (2.42 extrapolates to it).
  page += line(
    'response_total',
    { ...web, dst_namespace: '', classification: 'success', status_code: '200' },
    10 * (n - 1) + 7,
  );
  // Reset at the 6th scrape.
  page += line(
    'response_total',
    { ...web, dst_namespace: 'emojivoto', classification: 'failure', status_code: '500' },
    n < 6 ? 3 * n : 3 * (n - 6) + 1,
  );
  page += line(
    'response_total',
    { direction: 'inbound', authority: 'web:80', classification: 'success', status_code: '200' },
    5 * n + 2000,
  );
  page += line(
    'response_total',
    {
      direction: 'outbound',
      authority: 'voting:80',
      dst_deployment: 'voting',
      dst_namespace: 'emojivoto',
      classification: 'success',
      status_code: '200',
    },
    Math.floor((n * n) / 2),
  );
  // Gone from the 7th to the 9th scrape.
  if (n < 7 || n >= 10) {
    page += line(
      'response_total',
      {
        direction: 'outbound',
        authority: 'emoji:80',
        dst_deployment: 'emoji',
        dst_namespace: 'emojivoto',
        classification: 'success',
        status_code: '204',
      },
      4 * n,
    );
  }
  page += line(
    'response_total',
    { direction: 'outbound', authority: 'we"ird\\x', classification: 'failure', status_code: '503' },
    2 * n,
  );
  page += '# TYPE response_latency_ms histogram\n';
  page += histogram(
    { ...web, status_code: '200' },
    accumulate(1, n, (m) => (m % 2 ? [5, 1, 0, 1, 0, 0] : [0, 2, 3, 1, 1, 1])),
  );
  page += histogram(
    { ...web, status_code: '500' },
    accumulate(1, n, (m) => [0, 0, 0, m, 2 * m, 3 * m]),
  );
  // A process restart at the 8th scrape.
  page += histogram(
    { direction: 'outbound', authority: 'voting:80', dst_deployment: 'voting', status_code: '200' },
    accumulate(n < 8 ? 1 : 8, n, (m) => BOUNDS.map(() => (m % 3) + 1)),
  );
  page += histogram(
    { direction: 'outbound', authority: 'idle:80', dst_deployment: 'idle', status_code: '200' },
    [1, 0, 1, 0, 0, 1],
  );
  // Not monotonic: the le="10" bucket is below le="5".
  const bumpy = { direction: 'outbound', authority: 'bumpy:80', dst_deployment: 'bumpy', status_code: '200' };
  for (const [le, k] of [
    ['1', 1],
    ['5', 4],
    ['10', 2],
    ['50', 5],
    ['100', 5],
    ['+Inf', 6],
  ] as const) {
    page += line('response_latency_ms_bucket', { ...bumpy, le }, k * n);
  }
  page += '# TYPE tcp_open_connections gauge\n';
  page += line('tcp_open_connections', { direction: 'inbound', peer: 'src' }, (n * 7) % 11);
  page += line('tcp_open_connections', { direction: 'outbound', peer: 'dst' }, (n % 3) - 1);
  // Gone for good from the 9th scrape.
  if (n < 9) page += line('tcp_open_connections', { direction: 'outbound', peer: 'src' }, n * 1.5);
  return page;
}

/** A page whose counters move with wall time (100 ms steps), for two scrapers at once. */
function wallClockPage(startedAt: number): string {
  const c = Math.floor((Date.now() - startedAt) / 100);
  let page = '';
  page += line('response_total', { authority: 'web:80', classification: 'success' }, 5 * c);
  page += line('response_total', { authority: 'web:80', classification: 'failure' }, c);
  page += line('response_total', { authority: 'voting:80', classification: 'success' }, 2 * c);
  const cumulative = [1, 4, 6, 9, 10, 10];
  for (const [i, le] of BOUNDS.entries()) {
    page += line('response_latency_ms_bucket', { authority: 'web:80', le }, (cumulative[i] ?? 0) * c);
  }
  page += line('tcp_open_connections', { peer: 'src' }, 7);
  return page;
}

const rate = (by: string[], matchers: Matcher[], windowMs: number): Query => ({
  kind: 'rate',
  selector: { metric: 'response_total', matchers },
  windowMs,
  by,
});
const quantile = (q: number, by: string[], matchers: Matcher[], windowMs: number): Query => ({
  kind: 'quantile',
  q,
  selector: { metric: 'response_latency_ms_bucket', matchers },
  windowMs,
  by,
});
const gauge = (by: string[], matchers: Matcher[]): Query => ({
  kind: 'gauge',
  selector: { metric: 'tcp_open_connections', matchers },
  by,
});

const QUERIES: Query[] = [
  rate([], [], 3000),
  rate(['classification'], [], 5000),
  rate(['direction', 'authority'], [], 2500),
  rate(['dst_namespace'], [], 10_000),
  rate(['status_code'], [eq('dst_namespace', '')], 4000),
  rate([], [{ label: 'classification', op: '!=', value: 'success' }], 3000),
  rate(['direction'], [{ label: 'authority', op: '=~', value: 'web.*' }], 60_000),
  rate(['authority'], [{ label: 'status_code', op: '!~', value: '2..' }], 6000),
  rate(['authority'], [eq('authority', 'we"ird\\x')], 3000),
  rate(['dst_deployment', 'classification'], [], 1500),
  ...[0.5, 0.95, 0.99].flatMap((q) => [
    quantile(q, ['dst_deployment'], [], 3000),
    quantile(q, [], [eq('status_code', '200')], 10_000),
    quantile(q, ['authority', 'status_code'], [], 5000),
  ]),
  quantile(0, ['dst_deployment'], [], 4000),
  quantile(1, ['dst_deployment'], [], 4000),
  quantile(1.5, ['dst_deployment'], [], 4000),
  quantile(-0.5, [], [], 4000),
  gauge([], []),
  gauge(['peer'], []),
  gauge(['direction', 'peer'], [{ label: 'peer', op: '!=', value: 'dst' }]),
  gauge(['direction'], [{ label: 'direction', op: '=~', value: 'out.*' }]),
];

const key = (labels: Readonly<Record<string, string>>) => JSON.stringify(Object.entries(labels).sort());

function near(a: number, b: number): boolean {
  if (a === b) return true; // ±Inf, exact zeros
  return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

function assertSameSamples(embedded: Sample[], prom: Sample[], what: string): void {
  const e = new Map(embedded.map((s) => [key(s.labels), s.value]));
  const p = new Map(prom.map((s) => [key(s.labels), s.value]));
  assert.deepEqual([...e.keys()].sort(), [...p.keys()].sort(), `${what}: label sets differ`);
  for (const [k, v] of p) {
    const mine = e.get(k) as number;
    assert.ok(near(mine, v), `${what} ${k}: embedded ${mine}, prometheus ${v}`);
  }
}

function assertSameSeries(embedded: Series[], prom: Series[], what: string): void {
  const e = new Map(embedded.map((s) => [key(s.labels), s.points]));
  assert.deepEqual([...e.keys()].sort(), prom.map((s) => key(s.labels)).sort(), `${what}: label sets differ`);
  for (const s of prom) {
    const mine = e.get(key(s.labels)) ?? [];
    assert.deepEqual(
      mine.map(([t]) => t),
      s.points.map(([t]) => t),
      `${what} ${key(s.labels)}: steps differ`,
    );
    s.points.forEach(([t, v], i) => {
      const m = mine[i]?.[1] as number;
      assert.ok(near(m, v), `${what} ${key(s.labels)} at ${t}: embedded ${m}, prometheus ${v}`);
    });
  }
}

/** Runs `fn` over `items`, `width` at a time. */
async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

interface RawSeries {
  metric: Record<string, string>;
  values: Array<[number, string]>;
}

/**
 * Replays the samples Prometheus stored as the scrapes they came from: per target (job
 * and instance), one append per `up` sample (every scrape has one, a failed one too)
 * holding every series' sample at that time. What a scrape lacks goes stale in the
 * store, as it did in Prometheus. Returns the scrape times of the `equiv` job.
 */
function replay(raw: RawSeries[]): { store: MetricStore; scrapeTimes: number[] } {
  const targets = new Map<
    string,
    { up: number[]; byTime: Map<number, Array<[Record<string, string>, number]>> }
  >();
  for (const s of raw) {
    const id = `${s.metric.job}/${s.metric.instance}`;
    let target = targets.get(id);
    if (!target) {
      target = { up: [], byTime: new Map() };
      targets.set(id, target);
    }
    const times = s.values.map(([t]) => Math.round(t * 1000));
    if (s.metric.__name__ === 'up') target.up = times;
    for (const [i, [, v]] of s.values.entries()) {
      const t = times[i] as number;
      let list = target.byTime.get(t);
      if (!list) {
        list = [];
        target.byTime.set(t, list);
      }
      list.push([s.metric, parseFloatGo(v) as number]);
    }
  }
  const store = new MetricStore();
  let scrapeTimes: number[] = [];
  for (const [id, { up, byTime }] of targets) {
    if (id.startsWith('equiv/')) scrapeTimes = up;
    for (const t of up) {
      const app = store.appender(id, t);
      for (const [metric, value] of byTime.get(t) ?? []) {
        const { __name__: name = '', ...labels } = metric;
        app.add(key(metric), name, labels, value);
      }
      app.commit();
    }
    // Every sample belongs to a scrape.
    assert.deepEqual(
      [...byTime.keys()].filter((t) => !up.includes(t)),
      [],
    );
  }
  assert.equal(targets.size, 2);
  return { store, scrapeTimes };
}

describe('embedded evaluation and the real Prometheus 2.42', () => {
  const cleanup = new Cleanup();
  let prom: PrometheusServer;
  let source: PrometheusSource;
  let scraped: HttpUpstream;
  let live: HttpUpstream;
  let embedded: EmbeddedSource;
  const arrivals: number[] = [];
  let embeddedStart = 0;

  before(async () => {
    scraped = await startHttpServer((_req, res: http.ServerResponse) => {
      arrivals.push(Date.now());
      const page = scrapePage(arrivals.length);
      if (page === undefined) {
        res.writeHead(500).end('failing on purpose\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(page);
    });
    cleanup.add(() => scraped.close());
    const startedAt = Date.now();
    live = await startHttpServer((_req, res: http.ServerResponse) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(wallClockPage(startedAt));
    });
    cleanup.add(() => live.close());
    prom = await startPrometheus({
      scrapeConfigs: [
        staticScrapeConfig('equiv', [`127.0.0.1:${scraped.port}`]),
        staticScrapeConfig('live', [`127.0.0.1:${live.port}`]),
      ],
      scrapeInterval: '1s',
    });
    cleanup.add(() => prom.stop());
    source = new PrometheusSource(prom.url);
    cleanup.add(() => source.close());
    embeddedStart = Date.now();
    embedded = new EmbeddedSource({
      intervalMs: 1000,
      targets: () => [{ url: `http://127.0.0.1:${live.port}/metrics`, labels: { job: 'live' } }],
    }).start();
    cleanup.add(() => embedded.close());
  });
  after(() => cleanup.run());

  test('every query kind gives the same answers from the same samples, at the same times', T, async () => {
    await waitFor(() => arrivals.length > SCRAPES, `${SCRAPES + 1} scrapes by Prometheus`, 40_000, 50);
    // Every scrape up to the SCRAPES-th is stored by now; later ones are after t0 and ignored.
    const t0 = (arrivals[SCRAPES] as number) - 200;
    const raw = (await prom.api('/api/v1/query', {
      query: '{job=~"equiv|live"}[10m]',
      time: (t0 / 1000).toFixed(3),
    })) as { resultType: string; result: RawSeries[] };
    assert.equal(raw.resultType, 'matrix');
    const { store, scrapeTimes } = replay(raw.result);
    assert.equal(scrapeTimes.length, SCRAPES, `Prometheus stored ${scrapeTimes.length} scrapes`);

    // Times around each scrape (a sample at t is in a range ending at t, and in one
    // starting at t: both ends are closed) and at each window's boundary.
    let compared = 0;
    let nonEmpty = 0;
    const work: Array<() => Promise<void>> = [];
    for (const query of QUERIES) {
      const times = new Set<number>([t0]);
      for (const s of scrapeTimes) {
        for (const d of [-1, 0, 1, 450]) times.add(s + d);
        if (query.kind !== 'gauge') for (const d of [0, 1]) times.add(s + query.windowMs + d);
      }
      for (const t of [...times].filter((x) => x <= t0)) {
        work.push(async () => {
          const mine = evaluateInstant(store, query, t);
          const theirs = await source.instant(query, t);
          assertSameSamples(mine, theirs, `${renderQuery(query)} at ${t}`);
          compared++;
          if (theirs.length > 0) nonEmpty++;
        });
      }
      for (const [start, step] of [
        [(scrapeTimes[0] as number) - 3000, 97],
        [scrapeTimes[0] as number, 1000],
      ] as const) {
        work.push(async () => {
          const mine = evaluateRange(store, query, start, t0, step);
          const theirs = await source.range(query, start, t0, step);
          assertSameSeries(mine, theirs, `${renderQuery(query)} from ${start} step ${step}`);
          compared++;
          if (theirs.length > 0) nonEmpty++;
        });
      }
    }
    await pool(work, 4, (w) => w());
    assert.ok(compared > 1500, `only ${compared} comparisons`);
    assert.ok(nonEmpty > compared * 0.6, `only ${nonEmpty} of ${compared} answers had a series`);

    // The cases the data was built for did happen (so the equalities above covered them).
    const last = scrapeTimes[SCRAPES - 1] as number;
    const at = (query: Query, t: number) => evaluateInstant(store, query, t);
    // The vanished gauge is gone after its staleness marker, within the lookback.
    const equiv = [eq('job', 'equiv')];
    const peers = (t: number) =>
      at(gauge(['direction', 'peer'], equiv), t).map((s) => `${s.labels.direction}/${s.labels.peer}`);
    assert.ok(peers(scrapeTimes[7] as number).includes('outbound/src'));
    assert.ok(!peers(last).includes('outbound/src'));
    // The failed scrape made every series stale: nothing at its time, all back at the next.
    assert.deepEqual(peers(scrapeTimes[FAILED_SCRAPE - 1] as number), []);
    assert.equal(peers(scrapeTimes[FAILED_SCRAPE] as number).length, 2);
    // The idle histogram has no quantile (0/0); the others do.
    const deployments = at(quantile(0.5, ['dst_deployment'], equiv, 10_000), last).map(
      (s) => s.labels.dst_deployment,
    );
    assert.deepEqual(deployments.sort(), ['bumpy', 'voting', 'web']);
  });

  test(
    "the embedded scraper's rates agree with Prometheus's when both scrape the same server",
    T,
    async () => {
      const lastRound = () => Math.max(0, ...embedded.targets().map((h) => (h.up ? h.lastScrapeMs : 0)));
      await waitFor(
        async () => {
          const up = (await prom.api('/api/v1/query', { query: 'count_over_time(up{job="live"}[10s])' })) as {
            result: Array<{ value: [number, string] }>;
          };
          return Number(up.result[0]?.value[1] ?? 0) >= 8 && lastRound() >= embeddedStart + 8000;
        },
        'eight scrapes of the live server by both',
        30_000,
        200,
      );
      // A time both have scraped past (each scrapes every second).
      const t = Date.now() - 1500;
      const job = [eq('job', 'live')];
      const rates = rate(['authority', 'classification'], job, 5000);
      const mine = await embedded.instant(rates, t);
      const theirs = await source.instant(rates, t);
      assert.deepEqual(mine.map((s) => key(s.labels)).sort(), theirs.map((s) => key(s.labels)).sort());
      for (const s of theirs) {
        const m = mine.find((x) => key(x.labels) === key(s.labels))?.value ?? Number.NaN;
        // 5%: the counters step every 100 ms, and each scraper saw them at its own moments
        // (4 to 5 samples of a 50/s counter in a 5 s window: one step is 5 of about 200).
        assert.ok(
          Math.abs(m - s.value) <= 0.05 * s.value,
          `${key(s.labels)}: embedded ${m}, prometheus ${s.value}`,
        );
      }
      assert.ok(Math.abs((theirs.find((s) => s.labels.classification === 'failure')?.value ?? 0) - 10) < 1);
      // The buckets move together, so the quantiles do not depend on when each scraper read them.
      for (const q of [0.5, 0.9, 0.99]) {
        const query = quantile(q, ['authority'], job, 5000);
        const [m] = await embedded.instant(query, t);
        const [p] = await source.instant(query, t);
        assert.ok(m && p && near(m.value, p.value), `q${q}: embedded ${m?.value}, prometheus ${p?.value}`);
      }
      const open = gauge(['peer'], job);
      assert.deepEqual(await embedded.instant(open, t), await source.instant(open, t));
      assert.deepEqual(
        embedded.targets().map((h) => [h.up, h.error]),
        [[true, undefined]],
      );
    },
  );
});
