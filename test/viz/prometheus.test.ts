/**
 * viz on Prometheus: Debian's real Prometheus discovers the proxies through viz's HTTP
 * service discovery endpoint and scrapes them every second; `weft up --prometheus-url`
 * answers `weft viz` from it with PromQL. The same traffic (40 req/s, a quarter of them
 * failing) is read by the embedded scraper in the test at the same time: both backends
 * must agree.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LATENCY_BUCKETS_MS } from '../../src/metrics/http.js';
import type { EdgeRow } from '../../src/viz/edges.js';
import { type GoldenMetrics, golden } from '../../src/viz/golden.js';
import { EmbeddedSource } from '../../src/viz/metrics/embedded.js';
import { PrometheusSource } from '../../src/viz/metrics/prometheus.js';
import { eq } from '../../src/viz/metrics/query.js';
import type { RouteRow } from '../../src/viz/routes.js';
import type { StatRow } from '../../src/viz/stat.js';
import {
  type ControlPlaneHandle,
  Load,
  serviceYaml,
  startClientProxy,
  startControlPlane,
  startReplica,
  weftOk,
} from '../helpers/controlplane.js';
import { Cleanup, refusedPort } from '../helpers/net.js';
import { httpSdScrapeConfig, type PrometheusServer, startPrometheus } from '../helpers/prometheus.js';
import { near, trafficWindow, vizJson } from '../helpers/viz.js';

const T = { timeout: 90_000 };

/** The index of the latency bucket a value falls in: (bounds[i-1], bounds[i]]. */
function bucketOf(ms: number): number {
  const i = LATENCY_BUCKETS_MS.findIndex((le) => ms <= le);
  return i < 0 ? LATENCY_BUCKETS_MS.length : i;
}
const OK_RATE = 30;
const FAIL_RATE = 10;
const RATE = OK_RATE + FAIL_RATE;
const WINDOW = '10s';
/** Inside the (50, 100] ms latency bucket, with room for the proxies' own time. */
const SERVER_DELAY_MS = 60;

const PROFILE = `apiVersion: weft.io/v1alpha2
kind: ServiceProfile
metadata:
  name: api-svc.default.svc.cluster.local
  namespace: default
spec:
  routes:
    - name: fail
      condition: {pathRegex: /fail}
`;

describe('viz on Prometheus', () => {
  const cleanup = new Cleanup();
  let cp: ControlPlaneHandle;
  let prom: PrometheusServer;
  let embedded: EmbeddedSource;

  const viz = <R>(args: string[]): Promise<R> => vizJson<R>(cp.vizAddr, [...args, '-t', WINDOW]);

  before(async () => {
    // Prometheus first, discovering the proxies at viz's address before weft up listens there.
    const vizPort = await refusedPort();
    prom = await startPrometheus({
      scrapeConfigs: [
        httpSdScrapeConfig('weft-proxies', `http://127.0.0.1:${vizPort}/api/prometheus/targets`),
      ],
      scrapeInterval: '1s',
    });
    cleanup.add(() => prom.stop());
    cp = await startControlPlane({
      extraArgs: ['--viz-addr', `127.0.0.1:${vizPort}`, '--prometheus-url', prom.url],
      cleanup,
    });
    assert.equal(cp.logs('control plane ready')[0]?.metrics, prom.url);
    await weftOk(
      cp,
      ['apply', '-f', '-'],
      [serviceYaml('api-svc', { selector: { app: 'api' } }), PROFILE].join('---\n'),
    );
    await startReplica(
      cp,
      {
        name: 'api-a',
        app: 'api',
        // Every answer waits SERVER_DELAY_MS, so the latencies sit in one wide bucket rather
        // than spreading over the narrow 1 ms buckets where one slow request moves a p99.
        respond: (req, res) => {
          setTimeout(() => {
            res.writeHead(req.url === '/fail' ? 503 : 200);
            res.end();
          }, SERVER_DELAY_MS);
        },
      },
      cleanup,
    );
    const client = await startClientProxy(cp, 'default', cleanup, 'client');
    // The embedded scraper, reading the same targets Prometheus reads.
    embedded = new EmbeddedSource({
      intervalMs: 1000,
      targets: async () => {
        const groups = (await (await fetch(`http://${cp.vizAddr}/api/prometheus/targets`)).json()) as Array<{
          targets: string[];
          labels: Record<string, string>;
        }>;
        return groups.flatMap((g) =>
          g.targets.map((t) => ({ url: `http://${t}/metrics`, labels: g.labels })),
        );
      },
    }).start();
    cleanup.add(() => embedded.close());
    const loads = [
      new Load(client.outbound, { authority: 'api-svc:80', rate: OK_RATE, concurrency: 4 }),
      // A client that leaves the port out: its routes are the same Service port's.
      new Load(client.outbound, { authority: 'api-svc', path: '/fail', rate: FAIL_RATE, concurrency: 2 }),
    ];
    cleanup.add(() => Promise.all(loads.map((l) => l.stop())));
    await trafficWindow();
  });

  after(() => cleanup.run());

  test('weft viz stat, routes and edges answer from Prometheus', T, async () => {
    const api = (await viz<StatRow[]>(['stat', 'deploy/api']))[0];
    near(api?.requests?.rps, RATE, 0.15, 'rps');
    near(api?.requests?.successRate, OK_RATE / RATE, 0.05, 'success');
    assert.ok((api?.tcp?.openConnections ?? 0) >= 1, JSON.stringify(api));
    const routes = await viz<RouteRow[]>(['routes', 'svc/api-svc']);
    const fail = routes.find((r) => r.route === 'fail');
    near(fail?.requests?.rps, FAIL_RATE, 0.2, 'route rps');
    assert.equal(fail?.requests?.successRate, 0);
    const outbound = await viz<RouteRow[]>(['routes', 'deploy/client', '--to', 'svc/api-svc']);
    near(
      outbound.find((r) => r.route === 'fail')?.requests?.rps,
      FAIL_RATE,
      0.2,
      'outbound fail rps (no port)',
    );
    const edges = await viz<EdgeRow[]>(['edges', 'deploy']);
    const edge = edges.find((e) => e.src === 'client' && e.dst === 'api');
    assert.equal(edge?.secured, true, JSON.stringify(edges));
  });

  test('the embedded backend and Prometheus give the same answers on the same traffic', T, async () => {
    const source = new PrometheusSource(prom.url);
    const windowMs = 10_000;
    const queries = [
      { matchers: [eq('direction', 'inbound')], group: ['namespace', 'deployment'], windowMs },
      { matchers: [eq('direction', 'outbound')], group: ['dst_service'], windowMs },
      { prefix: 'route_', matchers: [eq('direction', 'inbound')], group: ['rt_route'], windowMs },
      { prefix: 'route_', matchers: [eq('direction', 'outbound')], group: ['dst', 'rt_route'], windowMs },
    ];
    // Both read at the same instant; their scrapes fall at different moments within each second.
    const at = Date.now() - 1000;
    for (const q of queries) {
      const [p, e] = await Promise.all([golden(source, q, at), golden(embedded, q, at)]);
      assert.deepEqual([...e.keys()].sort(), [...p.keys()].sort(), `groups of ${q.group}`);
      // Equal but empty would compare nothing.
      assert.ok(p.size > 0, `no groups of ${q.prefix ?? ''}${q.group} from either backend`);
      for (const [key, fromProm] of p) {
        const fromEmbedded = e.get(key) as GoldenMetrics;
        const what = `${q.prefix ?? ''}${q.group.join(',')}=${key}`;
        // Stated tolerance: rates within 10%, success within 2 points, latency percentiles within
        // one histogram bucket of each other (the scrapes' windows differ by up to a second, so
        // each counts a slightly different set of requests).
        near(fromEmbedded.rps, fromProm.rps, 0.1, `${what} rps`);
        assert.ok(
          Math.abs((fromEmbedded.successRate ?? -1) - (fromProm.successRate ?? -1)) <= 0.02,
          `${what} success ${fromEmbedded.successRate} vs ${fromProm.successRate}`,
        );
        for (const k of ['p50', 'p95', 'p99'] as const) {
          const [a, b] = [fromEmbedded.latencyMs[k], fromProm.latencyMs[k]];
          assert.ok(
            a !== null && b !== null && Math.abs(bucketOf(a) - bucketOf(b)) <= 1,
            `${what} ${k}: ${a} ms and ${b} ms are more than a bucket apart`,
          );
        }
        // Most requests take the server's delay and a little more: both medians in (50, 100].
        for (const p50 of [fromEmbedded.latencyMs.p50, fromProm.latencyMs.p50]) {
          assert.ok(p50 !== null && p50 > 50 && p50 <= 100, `${what} p50 ${p50} ms, not in (50, 100]`);
        }
      }
    }
    source.close();
  });
});
