/**
 * The scraper against real HTTP servers, driven round by round with a fake clock: target
 * labels, `up`, staleness when a series or a target goes, and the bounds (body size,
 * timeout, series per scrape and per target) failing one target without stopping others.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { HttpMetrics } from '../../../src/metrics/http.js';
import { Registry } from '../../../src/metrics/registry.js';
import { TcpMetrics } from '../../../src/metrics/tcp.js';
import { EmbeddedSource } from '../../../src/viz/metrics/embedded.js';
import { eq, type Query } from '../../../src/viz/metrics/query.js';
import { type ScrapeTarget, withTargetLabels } from '../../../src/viz/metrics/scraper.js';
import {
  Cleanup,
  type Deferred,
  deferred,
  type HttpUpstream,
  refusedPort,
  startHttpServer,
  withTimeout,
} from '../../helpers/net.js';

const T = { timeout: 30_000 };

class FakeClock {
  constructor(public ms: number) {}
  now(): number {
    return this.ms;
  }
}

const gauge = (metric: string, by: string[], matchers = [eq('job', 'test')]): Query => ({
  kind: 'gauge',
  selector: { metric, matchers },
  by,
});

test('target labels win; a scraped label they collide with is kept as exported_<name>', () => {
  assert.deepEqual(withTargetLabels({ a: '1', job: 'scraped', empty: '' }, { job: 'j', instance: 'h:1' }), {
    a: '1',
    job: 'j',
    instance: 'h:1',
    exported_job: 'scraped',
  });
  // The renamed label must not take a name that is already there.
  assert.deepEqual(withTargetLabels({ job: 'x', exported_job: 'y' }, { job: 'j' }), {
    job: 'j',
    exported_job: 'y',
    exported_exported_job: 'x',
  });
  // An empty target label removes the scraped one (Prometheus's label builder does).
  assert.deepEqual(withTargetLabels({ pod: 'p', a: '1' }, { pod: '' }), { a: '1', exported_pod: 'p' });
});

describe('scraper', () => {
  const cleanup = new Cleanup();
  const pages = new Map<string, string>();
  let server: HttpUpstream;
  let hanging: HttpUpstream;
  const url = (path: string) => `http://127.0.0.1:${server.port}${path}`;

  before(async () => {
    server = await startHttpServer((req, res: http.ServerResponse) => {
      const page = pages.get(req.url ?? '');
      if (page === undefined) res.writeHead(404).end('no such page');
      else if (req.url?.startsWith('/chunked')) {
        res.writeHead(200);
        res.write(page.slice(0, 10));
        res.end(page.slice(10));
      } else res.end(page);
    });
    cleanup.add(() => server.close());
    hanging = await startHttpServer(() => {
      // Never answers.
    });
    cleanup.add(() => hanging.close());
  });
  after(() => cleanup.run());

  function source(targets: () => ScrapeTarget[], options = {}): { src: EmbeddedSource; clock: FakeClock } {
    const clock = new FakeClock(1_000_000);
    const src = new EmbeddedSource({ targets, clock, intervalMs: 10_000, ...options });
    cleanup.add(() => src.close());
    return { src, clock };
  }

  test(
    "a proxy's page: only viz's families kept, target labels added, rates exact with the fake clock",
    T,
    async () => {
      const registry = new Registry();
      const http = new HttpMetrics(registry);
      const tcp = new TcpMetrics(registry);
      const web = http.stats('outbound', 'web:80').with([
        ['dst_deployment', 'web'],
        ['pod', 'scraped-pod'],
      ]);
      tcp.stats('inbound', 'src', []).openConnections.inc(3);
      pages.set(
        '/proxy',
        `# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1\n${registry.render()}`,
      );
      const { src, clock } = source(() => [
        { url: url('/proxy'), labels: { job: 'test', pod: 'web-1', __meta_x: 'dropped' } },
      ]);
      for (let i = 0; i < 4; i++) {
        web.requests.inc(50);
        web.response(200, undefined, false).inc(50);
        pages.set('/proxy', registry.render());
        const round = await src.scrapeOnce();
        assert.deepEqual(
          round.targets.map((h) => [h.up, h.error]),
          [[true, undefined]],
        );
        clock.ms += 10_000;
      }
      const now = clock.ms - 10_000;
      // 50, 100, 150, 200 at 0, 10, 20, 30 s: the window holds exactly 30 s of samples.
      const requests: Query = {
        kind: 'rate',
        selector: { metric: 'response_total', matchers: [] },
        windowMs: 30_000,
        by: ['pod', 'exported_pod', 'job', 'instance'],
      };
      assert.deepEqual(await src.instant(requests, now), [
        {
          labels: {
            pod: 'web-1',
            exported_pod: 'scraped-pod',
            job: 'test',
            instance: `127.0.0.1:${server.port}`,
          },
          value: 5,
        },
      ]);
      assert.deepEqual(await src.instant(gauge('tcp_open_connections', ['direction']), now), [
        { labels: { direction: 'inbound' }, value: 3 },
      ]);
      assert.deepEqual(await src.instant(gauge('up', ['job', 'pod']), now), [
        { labels: { job: 'test', pod: 'web-1' }, value: 1 },
      ]);
      assert.equal([...src.store.select('process_cpu_seconds_total')].length, 0);
      assert.equal([...src.store.select('request_total')].length, 0); // on the page, not read by viz
      assert.equal([...src.store.select('response_latency_ms_bucket')].length, 0); // no series yet
      assert.deepEqual(
        [...src.store.select('up')].map((s) => s.labels),
        [{ instance: `127.0.0.1:${server.port}`, job: 'test', pod: 'web-1' }],
      );
    },
  );

  test('a series that vanishes from a page and a target that is no longer listed go stale', T, async () => {
    pages.set('/a', 'tcp_open_connections{peer="src"} 1\ntcp_open_connections{peer="dst"} 2\n');
    pages.set('/b', 'tcp_open_connections{peer="src"} 10\n');
    let targets: ScrapeTarget[] = [
      { url: url('/a'), labels: { job: 'test', pod: 'a' } },
      { url: url('/b'), labels: { job: 'test', pod: 'b' } },
    ];
    const { src, clock } = source(() => targets);
    await src.scrapeOnce();
    const byPodPeer = async () =>
      (await src.instant(gauge('tcp_open_connections', ['pod', 'peer']), clock.ms)).map(
        (s) => `${s.labels.pod}/${s.labels.peer}=${s.value}`,
      );
    assert.deepEqual(await byPodPeer(), ['a/dst=2', 'a/src=1', 'b/src=10']);
    clock.ms += 10_000;
    pages.set('/a', 'tcp_open_connections{peer="src"} 3\n');
    targets = [targets[0] as ScrapeTarget];
    const round = await src.scrapeOnce();
    assert.equal(round.removed, 1);
    assert.deepEqual(round.targets[0]?.stats?.stale, 1);
    assert.deepEqual(await byPodPeer(), ['a/src=3']);
    // Before the markers the old values are still there (the lookback).
    assert.deepEqual(
      (await src.instant(gauge('tcp_open_connections', ['pod']), clock.ms - 1)).map((s) => s.value),
      [3, 10],
    );
    assert.deepEqual(
      src.targets().map((h) => h.labels.pod),
      ['a'],
    );
  });

  test(
    'a body over the limit, a hanging target, an error status and a refused connection: up 0, others scraped',
    T,
    async () => {
      const ok = 'tcp_open_connections 1\n';
      const big = `tcp_open_connections 1\n# ${'x'.repeat(2000)}\n`;
      pages.set('/ok', ok);
      pages.set('/big', big);
      pages.set('/chunked-big', big);
      const refused = await refusedPort();
      const targets: ScrapeTarget[] = [
        { url: url('/ok'), labels: { job: 'test', pod: 'ok' } },
        { url: url('/big'), labels: { job: 'test', pod: 'big' } },
        { url: url('/chunked-big'), labels: { job: 'test', pod: 'chunked' } },
        { url: `http://127.0.0.1:${hanging.port}/metrics`, labels: { job: 'test', pod: 'hanging' } },
        { url: url('/missing'), labels: { job: 'test', pod: 'missing' } },
        { url: `http://127.0.0.1:${refused}/metrics`, labels: { job: 'test', pod: 'refused' } },
      ];
      const { src, clock } = source(() => targets, { maxBodyBytes: 1000, timeoutMs: 300 });
      const began = Date.now();
      const round = await src.scrapeOnce();
      const took = Date.now() - began;
      assert.ok(took >= 290 && took < 5000, `the round took ${took} ms`);
      const health = Object.fromEntries(round.targets.map((h) => [h.labels.pod, h.error ?? 'up']));
      assert.deepEqual(health, {
        ok: 'up',
        big: `body of ${Buffer.byteLength(big)} bytes exceeds the limit of 1000`,
        chunked: 'body exceeds the limit of 1000 bytes',
        hanging: 'no complete answer within 300 ms',
        missing: 'HTTP status 404',
        refused: `connect ECONNREFUSED 127.0.0.1:${refused}`,
      });
      const up = await src.instant(gauge('up', ['pod']), clock.ms);
      assert.deepEqual(
        up.map((s) => `${s.labels.pod}=${s.value}`),
        ['big=0', 'chunked=0', 'hanging=0', 'missing=0', 'ok=1', 'refused=0'],
      );
      assert.deepEqual(
        (await src.instant(gauge('tcp_open_connections', ['pod']), clock.ms)).map((s) => s.labels.pod),
        ['ok'],
      );
    },
  );

  test('series per scrape and per target are bounded; the store total too', T, async () => {
    const page = (prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) => `tcp_open_connections{conn="${prefix}${i}"} ${i}\n`).join('');
    pages.set('/many', page('m', 50));
    pages.set('/few', page('f', 5));
    let round = 0;
    const { src, clock } = source(
      () => [
        { url: url('/many'), labels: { job: 'test', pod: 'many' } },
        { url: url('/few'), labels: { job: 'test', pod: 'few' } },
      ],
      { maxSeriesPerScrape: 10, maxSeriesPerTarget: 20 },
    );
    const first = await src.scrapeOnce();
    const errors = Object.fromEntries(first.targets.map((h) => [h.labels.pod, h.error ?? 'up']));
    assert.deepEqual(errors, { many: 'line 11: more than 10 series (the limit per scrape)', few: 'up' });
    assert.equal(src.store.series, 5 + 2); // few's 5, and `up` of each
    // A target whose series change every scrape: stale ones count until they expire.
    for (round = 1; round <= 4; round++) {
      pages.set('/few', page(`r${round}-`, 5));
      clock.ms += 10_000;
      const r = await src.scrapeOnce();
      const few = r.targets.find((h) => h.labels.pod === 'few');
      assert.ok(few?.up);
      if (round >= 4) assert.ok((few?.stats?.dropped ?? 0) > 0, JSON.stringify(few?.stats));
    }
    const fewSeries = [...src.store.select('tcp_open_connections')].filter((s) => s.labels.pod === 'few');
    assert.equal(fewSeries.length, 19); // 20 with its `up`
    // The store's total bound.
    const tiny = source(() => [{ url: url('/few'), labels: { job: 'test' } }], { maxSeries: 3 }).src;
    const r = await tiny.scrapeOnce();
    assert.equal(tiny.store.series, 3);
    assert.equal(r.targets[0]?.stats?.dropped, 3); // 5 + up = 6 offered
  });

  test(
    'a query while a scrape is in flight sees the last complete scrape, never a reused slot',
    T,
    async () => {
      // Retention 20 s at 10 s rounds: the ring (8 slots) is reused after 8 rounds, and its
      // slots still hold old values until a scrape writes them.
      let value = 0;
      let hold: Deferred<void> | undefined;
      const slow = await startHttpServer(async (_req, res: http.ServerResponse) => {
        await hold?.promise;
        res.end(`tcp_open_connections ${value}\n`);
      });
      cleanup.add(() => slow.close());
      const { src, clock } = source(
        () => [{ url: `http://127.0.0.1:${slow.port}/metrics`, labels: { job: 'test' } }],
        {
          retentionMs: 20_000,
        },
      );
      for (value = 1; value <= 10; value++) {
        await src.scrapeOnce();
        clock.ms += 10_000;
      }
      hold = deferred();
      const arrived = new Promise<void>((r) => slow.server.once('request', () => r()));
      const round = src.scrapeOnce();
      await withTimeout(arrived, 10_000, 'the scrape request');
      assert.deepEqual(
        (await src.instant(gauge('tcp_open_connections', []), clock.ms)).map((s) => s.value),
        [10],
      );
      hold.resolve();
      await round;
      assert.deepEqual(
        (await src.instant(gauge('tcp_open_connections', []), clock.ms)).map((s) => s.value),
        [11],
      );
    },
  );

  test(
    'a round needs the clock to have advanced and the target list; an invalid URL is skipped',
    T,
    async () => {
      pages.set('/ok', 'tcp_open_connections 1\n');
      const { src } = source(() => [{ url: url('/ok') }, { url: 'not a url' }]);
      const round = await src.scrapeOnce();
      assert.deepEqual(round.invalid, ['invalid target URL "not a url"']);
      assert.deepEqual(
        round.targets.map((h) => h.up),
        [true],
      );
      assert.equal(src.scraper.lastError, undefined);
      await assert.rejects(src.scrapeOnce(), /the clock did not advance/);
      assert.match(src.scraper.lastError ?? '', /the clock did not advance/);
      const broken = source(() => {
        throw new Error('registry down');
      }).src;
      await assert.rejects(broken.scrapeOnce(), /^Error: listing the scrape targets failed: registry down$/);
    },
  );
});
