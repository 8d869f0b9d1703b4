/**
 * Balancing end to end: `weft up`, a Service selecting app=web, three replicas (an app and
 * its registered proxy each) and a client proxy that resolves `web-svc:80` through the
 * Destination API. Load is closed-loop HTTP/1 keep-alive through the client's outbound
 * listener; each answer names its replica, and each app records when it served.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type ControlPlaneHandle,
  describeFailures,
  Load,
  type Replica,
  serviceYaml,
  shares,
  startClientProxy,
  startControlPlane,
  startReplica,
  weftOk,
} from '../helpers/controlplane.js';
import { Cleanup, waitFor } from '../helpers/net.js';
import { dump, findSample, findSamples, scrape } from '../helpers/prom.js';
import type { ProxyHandle } from '../helpers/proxy.js';

const T = { timeout: 30_000 };
const AUTHORITY = 'web-svc:80';
const CONCURRENCY = 32;

function formatShares(m: Map<string, number>, total: number): string {
  return [...m.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${((100 * v) / total).toFixed(1)}% (${v})`)
    .join(', ');
}

describe('balancing over endpoints from the control plane', () => {
  const cleanup = new Cleanup();
  let cp: ControlPlaneHandle;
  let client: ProxyHandle;
  const replicas = new Map<string, Replica>();
  const replica = (name: string): Replica => {
    const r = replicas.get(name);
    if (!r) throw new Error(`no replica ${name}`);
    return r;
  };

  before(async () => {
    // A short lease, so the replica killed below leaves the set within the file's time.
    cp = await startControlPlane({ leaseDuration: '3s', cleanup });
    await weftOk(cp, ['apply', '-f', '-'], serviceYaml('web-svc'));
    const started = await Promise.all(
      ['web-a', 'web-b', 'web-c'].map((name) => startReplica(cp, { name }, cleanup)),
    );
    for (const r of started) replicas.set(r.name, r);
    client = await startClientProxy(cp, 'default', cleanup);
  });

  after(() => cleanup.run());

  test(
    'every replica is an endpoint: dst_* labels and 3 ready endpoints in the client metrics',
    T,
    async () => {
      const load = new Load(client.outbound, { authority: AUTHORITY, concurrency: 8, total: 300 });
      await load.done;
      assert.deepEqual(load.failures(), [], describeFailures(load.failures()));
      assert.deepEqual([...shares(load.samples).keys()].sort(), ['web-a', 'web-b', 'web-c']);

      const exp = await scrape(client.admin);
      for (const pod of ['web-a', 'web-b', 'web-c']) {
        const series = findSamples(exp, 'request_total', {
          direction: 'outbound',
          authority: AUTHORITY,
          dst_pod: pod,
        });
        assert.equal(
          series.length,
          1,
          `one request_total series for dst_pod=${pod}\n${dump(exp, 'request_total')}`,
        );
        const s = series[0];
        assert.ok(s && s.value > 0, `requests counted for ${pod}`);
        assert.deepEqual(
          {
            ns: s?.labels.dst_namespace,
            svc: s?.labels.dst_service,
            deploy: s?.labels.dst_deployment,
            sa: s?.labels.dst_serviceaccount,
          },
          { ns: 'default', svc: 'web-svc', deploy: 'web', sa: 'default' },
        );
      }
      const ready = findSample(exp, 'outbound_http_balancer_endpoints', {
        authority: AUTHORITY,
        endpoint_state: 'ready',
      });
      const pending = findSample(exp, 'outbound_http_balancer_endpoints', {
        authority: AUTHORITY,
        endpoint_state: 'pending',
      });
      assert.equal(ready?.value, 3, dump(exp, 'outbound_http_balancer_endpoints'));
      assert.equal(pending?.value, 0, dump(exp, 'outbound_http_balancer_endpoints'));
    },
  );

  test('a replica 50 ms slower gets under 10% of the requests once the load settles', T, async (t) => {
    replica('web-c').setDelay(50);
    try {
      const load = new Load(client.outbound, { authority: AUTHORITY, concurrency: 20, total: 2000 });
      await load.done;
      assert.deepEqual(load.failures(), [], describeFailures(load.failures()));
      // Samples are in the order the responses ended: the second half is the settled load.
      const settled = load.samples.slice(load.samples.length / 2);
      const m = shares(settled);
      t.diagnostic(`shares over the last ${settled.length} requests: ${formatShares(m, settled.length)}`);
      t.diagnostic(`shares over all ${load.count}: ${formatShares(shares(load.samples), load.count)}`);
      const slow = (m.get('web-c') ?? 0) / settled.length;
      assert.ok(slow < 0.1, `the slow replica got ${(slow * 100).toFixed(1)}% (want < 10%)`);
      // The two fast ones share the rest about evenly (a broken picker would starve one).
      for (const fast of ['web-a', 'web-b']) {
        const share = (m.get(fast) ?? 0) / settled.length;
        assert.ok(share > 0.3, `${fast} got ${(share * 100).toFixed(1)}% (want > 30%)`);
      }
    } finally {
      replica('web-c').setDelay(0);
    }
  });

  test('a replica killed under load stops getting requests within a second', T, async (t) => {
    const victim = replica('web-a');
    const load = new Load(client.outbound, { authority: AUTHORITY, concurrency: CONCURRENCY });
    try {
      await load.waitMore(300);
      const servedBefore = victim.servedAt.length;
      const killedAt = await victim.kill();
      replicas.delete('web-a');
      await waitFor(
        () => load.samples.some((s) => s.start > killedAt + 2000),
        'requests started 2 s after the kill',
        15_000,
      );
      await load.stop();
      assert.ok(servedBefore > 0, 'the victim had served requests before the kill');
      const after = load.samples.filter((s) => s.start >= killedAt);
      const failures = load.failures(killedAt);
      // Requests that went to the dead endpoint fail (no retries); each failure names it.
      const late = failures.filter((s) => s.start > killedAt + 1000);
      t.diagnostic(
        `after the kill: ${after.length} requests, ${failures.length} failed, ${late.length} of them started more than 1 s after it`,
      );
      for (const f of failures) {
        assert.ok(
          f.status === 502 && f.error?.includes(String(victim.inbound.port)),
          `a failure other than the dead endpoint's:\n${describeFailures([f], killedAt)}`,
        );
      }
      // The refused connect takes it out at once; more than a second later, only the odd
      // probe (the connect breaker reopens after 1-1.5 s, then 2-3 s) may still try it.
      assert.ok(
        late.length <= 2,
        `requests still sent to the dead endpoint:\n${describeFailures(late, killedAt)}`,
      );
      assert.ok(
        failures.length <= CONCURRENCY + 5,
        `${failures.length} requests failed after the kill:\n${describeFailures(failures, killedAt, 40)}`,
      );
      const laterOk = after.filter((s) => s.status === 200 && s.start > killedAt + 1000);
      assert.ok(laterOk.length >= 100, `traffic kept flowing to the others (${laterOk.length} ok)`);
      assert.ok(laterOk.every((s) => s.replica !== 'web-a'));
    } finally {
      await load.stop();
    }
    // SIGKILL skips deregistration: the endpoint leaves when its lease (3 s) lapses.
    await waitFor(
      async () => {
        const exp = await scrape(client.admin);
        const n = findSamples(exp, 'outbound_http_balancer_endpoints', { authority: AUTHORITY }).reduce(
          (a, s) => a + s.value,
          0,
        );
        return n === 2;
      },
      'the client balancer to drop the expired endpoint',
      8000,
      50,
    );
  });

  test('a replica added under load gets requests within a second of registering', T, async (t) => {
    const load = new Load(client.outbound, { authority: AUTHORITY, concurrency: CONCURRENCY });
    try {
      await load.waitMore(200);
      const added = await startReplica(cp, { name: 'web-d' }, cleanup);
      replicas.set(added.name, added);
      await waitFor(() => added.servedAt.length > 0, 'a first request at the new replica', 10_000, 5);
      const first = added.servedAt[0] as number;
      t.diagnostic(`first request ${first - added.registeredAt} ms after registration`);
      assert.ok(
        first - added.registeredAt < 1000,
        `first request ${first - added.registeredAt} ms after registration (want < 1000)`,
      );
      // And it takes its part of the load, not a single request.
      const mark = load.count;
      await load.waitMore(600);
      const since = load.samples.slice(mark);
      const share = (shares(since).get('web-d') ?? 0) / since.length;
      t.diagnostic(`shares since: ${formatShares(shares(since), since.length)}`);
      assert.ok(share > 0.15, `the new replica got ${(share * 100).toFixed(1)}% (want > 15%)`);
      await load.stop();
      assert.deepEqual(load.failures(), [], describeFailures(load.failures()));
    } finally {
      await load.stop();
    }
  });
});
