/**
 * stat, routes and edges over the real embedded store, fed samples by hand: which side
 * each request is read on, which rows appear, and how MESHED counts. (viz.test.ts runs the
 * same through weft up and real proxies.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_DOMAIN } from '../../src/identity/names.js';
import { edges } from '../../src/viz/edges.js';
import { EmbeddedSource } from '../../src/viz/metrics/embedded.js';
import { MetricStore } from '../../src/viz/metrics/store.js';
import { VizUsageError } from '../../src/viz/resources.js';
import { stat } from '../../src/viz/stat.js';
import { deployment, MemoryCatalog, workload } from '../helpers/catalog.js';

const T0 = 1_700_000_000_000;
const WINDOW = 60_000;
const at = T0 + 60_000;

type Series = [name: string, labels: Record<string, string>, perSecond: number];

/** One target (a pod's proxy) whose counters grow at `perSecond` for a minute, scraped every 10 s. */
function feed(store: MetricStore, pod: string, target: Record<string, string>, series: Series[]): void {
  for (let t = 0; t <= 60; t += 10) {
    const app = store.appender(pod, T0 + t * 1000);
    for (const [name, labels, rate] of series) {
      const all = { ...target, ...labels };
      app.add(`${name}${JSON.stringify(all)}`, name, all, rate * t);
    }
    app.commit();
  }
}

function setup() {
  const catalog = new MemoryCatalog();
  catalog.deployments.put(deployment('web', 3));
  catalog.workloads.put(workload('web-1', { workload: 'web', labels: { app: 'web' } }));
  catalog.workloads.put(workload('web-2', { workload: 'web', labels: { app: 'web' } }));
  catalog.workloads.put(
    workload('client-1', { workload: 'client', serviceAccount: 'client', labels: { app: 'client' } }),
  );
  const store = new MetricStore();
  const web = { namespace: 'default', deployment: 'web', pod: 'web-1' };
  const inbound = { authority: 'web-svc:80', tls: 'true', client_id: 'client-id' };
  feed(store, 'web-1', web, [
    ['response_total', { direction: 'inbound', classification: 'success', ...inbound }, 9],
    ['response_total', { direction: 'inbound', classification: 'failure', ...inbound }, 1],
    ['tcp_open_connections', { direction: 'inbound', peer: 'src' }, 0],
  ]);
  const client = { namespace: 'default', deployment: 'client', pod: 'client-1' };
  const dst = {
    dst_namespace: 'default',
    dst_deployment: 'web',
    dst_service: 'web-svc',
    tls: 'true',
    server_id: 'web-id',
  };
  feed(store, 'client-1', client, [
    ['response_total', { direction: 'outbound', classification: 'success', ...dst }, 4],
    ['response_total', { direction: 'outbound', classification: 'failure', ...dst }, 1],
  ]);
  // Queries evaluate at the end of the fed minute.
  const source = new EmbeddedSource({ store, clock: { now: () => at } });
  return { catalog, source };
}

test("stat reads a deployment inbound, and lists the catalog's deployments with or without traffic", async () => {
  const { catalog, source } = setup();
  const rows = await stat(catalog, source, {
    target: { kind: 'deployment' },
    namespace: 'default',
    windowMs: WINDOW,
  });
  assert.deepEqual(
    rows.map((r) => [r.name, r.meshed]),
    [
      ['client', { meshed: 1, total: 1 }],
      ['web', { meshed: 2, total: 3 }],
    ],
  );
  const web = rows[1];
  assert.equal(web?.requests?.rps, 10);
  assert.equal(web?.requests?.successRate, 0.9);
  assert.equal(rows[0]?.requests, null, 'the client receives nothing');
  assert.equal(web?.tcp?.openConnections, 0);
});

test('--from, --to and services read the client side, labelled by the destination', async () => {
  const { catalog, source: s } = setup();
  const from = await stat(catalog, s, {
    target: { kind: 'deployment', name: 'web' },
    namespace: 'default',
    from: { kind: 'deployment', name: 'client', namespace: 'default' },
    windowMs: WINDOW,
  });
  assert.deepEqual(
    from.map((r) => [r.name, r.requests?.rps, r.requests?.successRate, r.tcp]),
    [['web', 5, 0.8, null]],
  );
  const to = await stat(catalog, s, {
    target: { kind: 'deployment', name: 'client' },
    namespace: 'default',
    to: { kind: 'service', name: 'web-svc', namespace: 'default' },
    windowMs: WINDOW,
  });
  assert.deepEqual(
    to.map((r) => [r.name, r.requests?.rps]),
    [['client', 5]],
  );
  const svc = await stat(catalog, s, { target: { kind: 'service' }, namespace: 'default', windowMs: WINDOW });
  assert.deepEqual(
    svc.map((r) => [r.name, r.meshed, r.requests?.rps]),
    [['web-svc', null, 5]],
  );
  await assert.rejects(
    stat(catalog, s, {
      target: { kind: 'service' },
      to: { kind: 'deployment', name: 'x', namespace: 'default' },
      windowMs: WINDOW,
    }),
    (err: Error) => err instanceof VizUsageError && /sends no traffic of its own/.test(err.message),
  );
});

test('edges pair each client with its destination and the identities both proved', async () => {
  const { catalog, source } = setup();
  const rows = await edges(catalog, source, {
    kind: 'deployment',
    namespace: 'default',
    windowMs: WINDOW,
    domain: DEFAULT_DOMAIN,
  });
  assert.deepEqual(rows, [
    {
      src: 'client',
      srcNamespace: 'default',
      dst: 'web',
      dstNamespace: 'default',
      clientId: 'client.default.serviceaccount.identity.weft.cluster.local',
      serverId: 'web-id',
      secured: true,
      noTlsReason: '',
      rps: 5,
    },
  ]);
});
