/**
 * @host-network: it adds and removes links on this host, so it runs alone (scripts/run-tests.js).
 * The dashboard (src/viz/web, built into dist/web by scripts/build-web.js). First without
 * a browser: the viz server serves index.html for the client-side routes and the hashed
 * assets it names, with the right types and caching, and 404s the rest. Then in headless
 * Chromium (Debian's, driven by playwright-core) against the running emojivoto demo, whose
 * vote bot sends requests all the time: the main pages load with no console errors and no
 * failed requests, the namespace page's numbers agree with `weft viz stat`, the page
 * updates live, the workload page draws its charts and graph, edges show their mutual TLS
 * status, and tap shows live requests. Every wait is on a condition, never a fixed sleep.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { Catalog } from '../../src/catalog/catalog.js';
import type { Logger } from '../../src/util/log.js';
import { WEB_ROOT } from '../../src/viz/component.js';
import { formatRps } from '../../src/viz/format.js';
import type { MetricsSource } from '../../src/viz/metrics/source.js';
import { VizServer } from '../../src/viz/server.js';
import type { StatRow } from '../../src/viz/stat.js';
import { waitFor } from '../helpers/net.js';
import { requirePrivileged } from '../helpers/netns.js';
import { type DemoProcess, startDemoProcess } from '../helpers/pods.js';
import { vizJson } from '../helpers/viz.js';

const CHROMIUM = '/usr/bin/chromium';
const NS = 'emojivoto';

describe('the dashboard as static files', () => {
  let server: VizServer;
  let base: string;
  before(async () => {
    assert.ok(
      existsSync(join(WEB_ROOT, 'index.html')),
      `${WEB_ROOT} has no index.html: build the dashboard (node scripts/build-web.js)`,
    );
    const log = { error() {}, warn() {}, info() {}, debug() {} } as unknown as Logger;
    server = new VizServer({
      catalog: {} as Catalog,
      source: {} as MetricsSource,
      clusterDomain: 'cluster.local',
      domain: 'cluster.local' as never,
      maxWindowMs: 60_000,
      webRoot: WEB_ROOT,
      log,
    });
    const addr = await server.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${addr.port}`;
  });
  after(() => server.close());

  test('GET / serves index.html, which names its hashed assets; each is served with its type', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await res.text();
    assert.equal(html, readFileSync(join(WEB_ROOT, 'index.html'), 'utf8'));
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
    const types: Record<string, string> = {
      js: 'text/javascript; charset=utf-8',
      css: 'text/css; charset=utf-8',
      svg: 'image/svg+xml',
    };
    assert.deepEqual(assets.map((a) => a.split('.').pop()).sort(), ['css', 'js', 'svg'], html);
    for (const a of assets) {
      // A content hash in every name, so a year's cache lifetime is safe.
      assert.match(a, /-[A-Za-z0-9]{8}\.(js|css|svg)$/, a);
      const r = await fetch(base + a);
      assert.equal(r.status, 200, a);
      assert.equal(r.headers.get('content-type'), types[a.split('.').pop() as string], a);
      assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable', a);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', a);
      assert.ok((await r.arrayBuffer()).byteLength > 100, a);
    }
    // The entry's chunks (uPlot, loaded by the pages with charts) are there too.
    const js = await (await fetch(base + (assets.find((a) => a.endsWith('.js')) as string))).text();
    for (const m of js.matchAll(/"\.\/([\w.-]+\.js)"/g)) {
      const r = await fetch(`${base}/assets/${m[1]}`);
      assert.equal(r.status, 200, `chunk ${m[1]}`);
      assert.equal(r.headers.get('content-type'), types.js);
      await r.arrayBuffer();
    }
  });

  test('client-side routes get index.html; a missing asset or a path outside the root is 404', async () => {
    for (const path of [
      '/namespaces/emojivoto',
      '/namespaces/emojivoto/deployments/web',
      '/tap?resource=deploy/web',
    ]) {
      const r = await fetch(base + path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8', path);
      assert.match(await r.text(), /<div id="app"><\/div>/, path);
    }
    for (const path of [
      '/assets/main-AAAAAAAA.js',
      '/favicon.ico',
      '/assets/..%2f..%2fpackage.json',
      '/%2e%2e/package.json',
    ]) {
      const r = await fetch(base + path);
      assert.equal(r.status, 404, path);
      await r.arrayBuffer();
    }
  });
});

/** What went wrong on a page: console errors, uncaught exceptions, failed requests, error responses. */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    const why = r.failure()?.errorText ?? '';
    // Streams and fetches the page closes itself (leaving a page, stopping tap) are aborted,
    // and so is the icon the browser fetches for a page it is navigating away from.
    const path = new URL(r.url()).pathname;
    if (
      why === 'net::ERR_ABORTED' &&
      (path.startsWith('/api/') || /^\/assets\/favicon-[0-9a-f]{8}\.svg$/.test(path))
    )
      return;
    problems.push(`request failed: ${r.url()} ${why}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return problems;
}

/** Waits until every live section of the page has had its first update. */
async function allLive(page: Page): Promise<void> {
  await page.waitForFunction(
    () => {
      const sections = [...document.querySelectorAll<HTMLElement>('section[data-state]')];
      return sections.length > 0 && sections.every((s) => s.dataset.state === 'live');
    },
    undefined,
    { timeout: 20_000 },
  );
}

/** The deployments table's numbers on the namespace page, by name. */
async function pageRows(page: Page): Promise<Map<string, Record<string, string>>> {
  const rows = await page.$$eval('#deployments tbody tr', (trs) =>
    trs.map((tr) => {
      const cells: Record<string, string> = {};
      for (const td of tr.querySelectorAll<HTMLElement>('td[data-metric]')) {
        cells[td.dataset.metric as string] = td.dataset.value ?? '';
        cells[`${td.dataset.metric}:text`] = td.textContent ?? '';
      }
      cells.meshed = tr.querySelector('td')?.textContent ?? '';
      return [(tr as HTMLElement).dataset.name as string, cells] as const;
    }),
  );
  return new Map(rows);
}

/**
 * The page's value is within tolerance of the range the CLI gave just before and just
 * after the page was read (`rel` of it, a fraction, or `abs`, whichever is looser).
 */
function near(
  actual: number,
  expected: readonly [number, number],
  rel: number,
  abs: number,
  what: string,
): void {
  const lo = Math.min(...expected);
  const hi = Math.max(...expected);
  const tolerance = Math.max(hi * rel, abs);
  assert.ok(
    actual >= lo - tolerance && actual <= hi + tolerance,
    `${what}: page ${actual}, weft viz stat ${expected.join(' then ')} (±${tolerance})`,
  );
}

describe('the dashboard in Chromium against the demo', () => {
  test('pages, numbers, live updates, charts, edges and tap', { timeout: 300_000 }, async (t) => {
    if (!requirePrivileged(t, ['iptables-legacy'])) return;
    if (!existsSync(CHROMIUM)) {
      if (process.env.WEFT_REQUIRE_PRIVILEGED_TESTS === '1')
        assert.fail(`${CHROMIUM} is missing (apt-get install chromium)`);
      t.skip(`needs Debian's chromium at ${CHROMIUM}`);
      return;
    }
    let demo: DemoProcess | undefined;
    let browser: Browser | undefined;
    try {
      demo = startDemoProcess([
        '--pod-bridge',
        'wvdash0',
        '--pod-cidr',
        '10.91.0.0/16',
        '--service-cidr',
        '10.92.0.0/16',
        '--metrics-scrape-interval',
        '1s',
      ]);
      const out = await demo.guide(90_000);
      const base = /^The dashboard: +(http:\/\/[\d.:]+)\/?$/m.exec(out)?.[1];
      assert.ok(base, `the demo's guide names no dashboard:\n${out}`);
      const vizAddr = base.replace('http://', '');
      const stat = (): Promise<StatRow[]> => vizJson<StatRow[]>(vizAddr, ['stat', 'deploy', '-n', NS]);
      // The bot's traffic, scraped: web, emoji and voting answer requests.
      await waitFor(
        async () => {
          const rows = await stat();
          return ['web', 'emoji', 'voting'].every(
            (n) => (rows.find((r) => r.name === n)?.requests?.rps ?? 0) > 0,
          );
        },
        'the demo traffic in weft viz stat',
        60_000,
        500,
      );

      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const problems = watchProblems(page);
      const noProblems = (where: string): void => {
        assert.deepEqual(problems.splice(0), [], `problems on ${where}`);
      };

      await t.test('every main page loads with no console errors and no failed requests', async () => {
        for (const [path, heading] of [
          ['/', 'Overview'],
          [`/namespaces/${NS}`, `Namespace ${NS}`],
          [`/namespaces/${NS}/deployments/web`, 'Deployment web'],
        ] as const) {
          const watches: string[] = [];
          const onRequest = (r: { url(): string }): void => {
            if (new URL(r.url()).pathname === '/api/watch') watches.push(r.url());
          };
          page.on('request', onRequest);
          await page.goto(base + path);
          await page.getByRole('heading', { level: 1, name: heading }).waitFor();
          await allLive(page);
          page.off('request', onRequest);
          // The page's live views share one stream per refresh period (a browser keeps six
          // connections to a server, across its tabs): no two streams with the same period.
          const periods = watches.map((u) => new URL(u).searchParams.get('every'));
          assert.ok(
            watches.length >= 1 && new Set(periods).size === watches.length,
            `${path}: ${watches.join('\n')}`,
          );
          assert.equal(
            await page.locator('main [role=alert]').count(),
            0,
            `${path}: ${await page.innerText('main')}`,
          );
          noProblems(path);
        }
        // The overview links to the namespace, and the navigation is client-side.
        await page.goto(`${base}/`);
        await page.locator(`#namespaces tbody tr[data-name="${NS}"] a`).click();
        await page.getByRole('heading', { level: 1, name: `Namespace ${NS}` }).waitFor();
        await page.goto(`${base}/tap`);
        await page.getByRole('heading', { level: 1, name: 'Tap' }).waitFor();
        await page.getByRole('button', { name: 'Start' }).waitFor();
        noProblems('/tap');
      });

      await t.test('the namespace page agrees with weft viz stat (same 1m window)', async () => {
        await page.goto(`${base}/namespaces/${NS}`);
        await allLive(page);
        // The CLI, then the page right after its next update, then the CLI again: the
        // page was evaluated between the two CLI answers, moments apart.
        const before = await page.getAttribute('#deployments', 'data-updated-at');
        const cli1 = await stat();
        await page.waitForFunction(
          (b) => document.querySelector<HTMLElement>('#deployments')?.dataset.updatedAt !== b,
          before,
          { timeout: 10_000 },
        );
        const shown = await pageRows(page);
        const cli2 = await stat();
        assert.deepEqual([...shown.keys()].sort(), cli2.map((r) => r.name).sort());
        for (const r of cli2) {
          const p = shown.get(r.name) as Record<string, string>;
          const r1 = cli1.find((x) => x.name === r.name);
          assert.equal(p.meshed, `${r.meshed?.meshed}/${r.meshed?.total}`, `${r.name} meshed`);
          if (r.requests === null || !r1?.requests) {
            if (r.requests === null && r1?.requests === null) {
              assert.equal(p.rps, '', `${r.name}: no requests on the CLI, none on the page`);
            }
            continue;
          }
          const [g1, g2] = [r1.requests, r.requests];
          // RPS and success rate over a minute move little in a second or two.
          near(Number(p.rps), [g1.rps, g2.rps], 0.1, 0.2, `${r.name} rps`);
          assert.equal(
            p['rps:text'],
            formatRps(Number(p.rps)),
            `${r.name}: the text is the value, formatted`,
          );
          if (g1.successRate !== null && g2.successRate !== null) {
            near(Number(p.success), [g1.successRate, g2.successRate], 0, 0.02, `${r.name} success rate`);
          }
          // Percentiles are interpolated within histogram buckets: looser.
          for (const q of ['p50', 'p95', 'p99'] as const) {
            const [v1, v2] = [g1.latencyMs[q], g2.latencyMs[q]];
            if (v1 !== null && v2 !== null) near(Number(p[q]), [v1, v2], 0.5, 5, `${r.name} ${q}`);
          }
        }
      });

      await t.test('the page updates live, without a reload', async () => {
        await page.goto(`${base}/namespaces/${NS}`);
        await allLive(page);
        await page.evaluate(() => {
          (window as unknown as { marker: string }).marker = 'same page';
        });
        const spark = '#deployments tr[data-name="web"] svg.spark';
        const before = Number(await page.getAttribute(spark, 'data-points'));
        const updatedAt = await page.getAttribute('#deployments', 'data-updated-at');
        await page.waitForFunction(
          ([sel, n, u]) =>
            Number(document.querySelector(sel as string)?.getAttribute('data-points')) > Number(n) &&
            document.querySelector<HTMLElement>('#deployments')?.dataset.updatedAt !== u,
          [spark, before, updatedAt],
          { timeout: 15_000 },
        );
        assert.equal(
          await page.evaluate(() => (window as unknown as { marker?: string }).marker),
          'same page',
        );
        noProblems('the live namespace page');
      });

      await t.test('the workload page draws its charts and the dependency graph', async () => {
        await page.goto(`${base}/namespaces/${NS}/deployments/web`);
        await allLive(page);
        // Golden metrics now.
        await page.waitForFunction(
          () =>
            Number(document.querySelector('#golden dd[data-metric="rps"]')?.getAttribute('data-value')) > 0,
        );
        // Each chart: a canvas, fed points, with its line drawn (pixels of the line's colour).
        for (const [id, color] of [
          ['chart-success', [22, 163, 74]],
          ['chart-rps', [37, 99, 235]],
          ['chart-latency', [8, 145, 178]],
        ] as const) {
          await page.waitForFunction((i) => Number(document.getElementById(i)?.dataset.points) >= 2, id, {
            timeout: 60_000,
          });
          await page.waitForFunction(
            ([i, c]) => {
              const canvas = document.querySelector<HTMLCanvasElement>(`#${i} canvas`);
              const ctx = canvas?.getContext('2d');
              if (!canvas || !ctx || canvas.width === 0) return false;
              const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
              const [r, g, b] = c as readonly number[];
              let n = 0;
              for (let k = 0; k < px.length; k += 4) {
                if (
                  Math.abs((px[k] as number) - (r as number)) < 30 &&
                  Math.abs((px[k + 1] as number) - (g as number)) < 30 &&
                  Math.abs((px[k + 2] as number) - (b as number)) < 30
                ) {
                  n++;
                }
              }
              return n > 20;
            },
            [id, color],
            { timeout: 20_000 },
          );
        }
        // The graph: web and what it calls and is called by, joined by drawn edges.
        const graph = page.locator('#edges figure.graph svg');
        await page.waitForFunction(
          () => Number(document.querySelector('#edges figure.graph svg')?.getAttribute('data-edges')) >= 3,
          undefined,
          {
            timeout: 20_000,
          },
        );
        for (const name of ['web', 'emoji', 'voting', 'vote-bot']) {
          assert.equal(
            await graph.locator(`g.node[data-node="${name}"] rect`).count(),
            1,
            `graph node ${name}`,
          );
        }
        const paths = await graph
          .locator('g.edge path')
          .evaluateAll((ps) => ps.map((p) => p.getAttribute('d') ?? ''));
        assert.ok(paths.length >= 3 && paths.every((d) => /^M[\d.-]+,[\d.-]+C/.test(d)), paths.join('\n'));
        assert.equal(await graph.locator('g.node.focus[data-node="web"]').count(), 1);
        noProblems('the workload page');
      });

      await t.test('edges show their mutual TLS status and the identities', async () => {
        await page.goto(`${base}/namespaces/${NS}/deployments/web`);
        await allLive(page);
        const inbound = page.locator('#edges table.edges').first();
        const outbound = page.locator('#edges table.edges').nth(1);
        const edge = (table: typeof inbound, src: string, dst: string) =>
          table.locator(`tr[data-src="${src}"][data-dst="${dst}"]`);
        await edge(inbound, 'vote-bot', 'web').waitFor({ timeout: 20_000 });
        for (const [table, src, dst] of [
          [inbound, 'vote-bot', 'web'],
          [outbound, 'web', 'emoji'],
          [outbound, 'web', 'voting'],
        ] as const) {
          const row = edge(table, src, dst);
          await row.waitFor({ timeout: 20_000 });
          assert.equal(await row.getAttribute('data-secured'), 'true', `${src} → ${dst}`);
          assert.equal(await row.locator('[data-mtls]').innerText(), 'mTLS');
          const ids = await row.locator('td.identity').allInnerTexts();
          assert.deepEqual(
            ids,
            [
              `${src === 'vote-bot' ? 'default' : src}.${NS}.serviceaccount.identity.weft.cluster.local`,
              `${dst}.${NS}.serviceaccount.identity.weft.cluster.local`,
            ],
            `${src} → ${dst} identities`,
          );
        }
        // And on the namespace page, with the graph's edges marked secured.
        await page.goto(`${base}/namespaces/${NS}`);
        await allLive(page);
        await page
          .locator('#edges tr[data-src="web"][data-dst="emoji"] [data-mtls="secured"]')
          .waitFor({ timeout: 20_000 });
        assert.ok((await page.locator('#edges g.edge[data-secured="true"]').count()) >= 3);
        noProblems('edges');
      });

      await t.test('tap shows the live requests of the demo, filtered', async () => {
        await page.goto(`${base}/tap?resource=deploy/web&namespace=${NS}`);
        await page.getByLabel('Path prefix').fill('/api');
        await page.getByLabel('Method').selectOption('GET');
        await page.getByRole('button', { name: 'Start' }).click();
        // Requests, or an error the page shows (tap unavailable, a bad filter): fail with its words.
        await page.waitForFunction(
          () =>
            document.querySelectorAll('#tap tbody tr td[data-status="200"]').length >= 3 ||
            document.querySelector('main [role=alert]') !== null,
          undefined,
          { timeout: 30_000 },
        );
        const alerts = await page.locator('main [role=alert]').allInnerTexts();
        assert.deepEqual(alerts, [], 'the tap page shows an error');
        await page.waitForFunction(
          () => document.querySelectorAll('#tap tbody tr td[data-status="200"]').length >= 3,
          undefined,
          {
            timeout: 30_000,
          },
        );
        const rows = await page.$$eval('#tap tbody tr', (trs) =>
          trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
        );
        for (const cells of rows) {
          assert.equal(cells[4], 'GET', cells.join(' | '));
          assert.match(cells[5] ?? '', /\/api/, cells.join(' | '));
        }
        // The filters are in the address, so the view can be shared; newest first, bounded.
        assert.match(page.url(), /path=%2Fapi/);
        const times = await page.$$eval('#tap tbody tr', (trs) => trs.length);
        assert.ok(times <= 100);
        const seen = Number(await page.getAttribute('#tap', 'data-seen'));
        await page.waitForFunction(
          (n) => Number(document.querySelector('#tap')?.getAttribute('data-seen')) > n,
          seen,
          {
            timeout: 15_000,
          },
        );
        await page.getByRole('button', { name: 'Stop' }).click();
        await page.locator('#tap[data-state="idle"]').waitFor();
        noProblems('tap');
      });
    } finally {
      await browser?.close();
      if (demo) {
        demo.interrupt();
        await Promise.race([demo.exited, new Promise((r) => setTimeout(r, 30_000))]);
      }
    }
  });
});
