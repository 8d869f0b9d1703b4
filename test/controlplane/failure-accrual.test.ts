/**
 * Failure accrual end to end: `weft up`, Services applied with `weft apply`, replicas (an
 * app and its registered proxy each) and a client proxy resolving through the Destination
 * API. Requests go one at a time through the client's outbound listener, so what each
 * endpoint gets is exact. Without the annotation an application's 500s pass as they are;
 * with `balancer.linkerd.io/failure-accrual: consecutive` the failing endpoint is taken out;
 * a refused connect takes an endpoint out whatever the setting.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { controlPlaneClient, unary } from '../../src/grpc/client.js';
import {
  type ControlPlaneHandle,
  describeFailures,
  Load,
  type LoadSample,
  ownerArgs,
  ownerToken,
  type Replica,
  serviceYaml,
  startClientProxy,
  startControlPlane,
  startReplica,
  weft,
  weftOk,
} from '../helpers/controlplane.js';
import { Cleanup, LOOPBACK, refusedPort } from '../helpers/net.js';
import type { ProxyHandle } from '../helpers/proxy.js';

const T = { timeout: 60_000 };

/** The Service `name` selecting app=<app>, with `annotations`. */
const annotatedService = (name: string, app: string, annotations: Record<string, string>): string =>
  serviceYaml(name, { selector: { app }, annotations });

/** `n` requests to `authority`, one at a time. */
async function sequential(client: ProxyHandle, authority: string, n: number): Promise<LoadSample[]> {
  const load = new Load(client.outbound, { authority, concurrency: 1, total: n });
  await load.done;
  return load.samples;
}

function statusCounts(samples: readonly LoadSample[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of samples) counts[s.status] = (counts[s.status] ?? 0) + 1;
  return counts;
}

/** A replica whose application answers 500 to everything. */
const failing = (cp: ControlPlaneHandle, name: string, app: string, cleanup: Cleanup): Promise<Replica> =>
  startReplica(
    cp,
    {
      name,
      app,
      respond: (_req, res, who) => {
        res.writeHead(500, { 'x-replica': who });
        res.end('the application failed');
      },
    },
    cleanup,
  );

describe('failure accrual, opt-in per Service', () => {
  const cleanup = new Cleanup();
  let cp: ControlPlaneHandle;
  let client: ProxyHandle;

  before(async () => {
    // A long lease: the endpoint registered by hand below is never renewed.
    cp = await startControlPlane({ leaseDuration: '60s', cleanup });
    client = await startClientProxy(cp, 'default', cleanup);
  });
  after(() => cleanup.run());

  test(
    'no annotation: an endpoint answering only 500s gets every request, and the client every 500 (none 503); with the annotation it is out, and 503s follow; without it again, it is back',
    T,
    async () => {
      await weftOk(cp, ['apply', '-f', '-'], serviceYaml('lone-svc', { selector: { app: 'lone' } }));
      const bad = await failing(cp, 'lone-1', 'lone', cleanup);
      const samples = await sequential(client, 'lone-svc:80', 50);
      assert.deepEqual(statusCounts(samples), { 500: 50 }, describeFailures(samples));
      assert.ok(
        samples.every((s) => s.replica === 'lone-1'),
        'every answer came from the application',
      );
      assert.equal(bad.servedAt.length, 50);

      // The annotation applied to the live Service: the same client, the same endpoint.
      await weftOk(
        cp,
        ['apply', '-f', '-'],
        annotatedService('lone-svc', 'lone', {
          'balancer.linkerd.io/failure-accrual': 'consecutive',
          'balancer.linkerd.io/failure-accrual-consecutive-max-failures': '3',
          // No probe during the test.
          'balancer.linkerd.io/failure-accrual-consecutive-min-penalty': '5m',
          'balancer.linkerd.io/failure-accrual-consecutive-max-penalty': '10m',
        }),
      );
      // The change reaches the proxy on its open stream; each request waits for the one before.
      const served = bad.servedAt.length;
      let first503: LoadSample | undefined;
      const before503: LoadSample[] = [];
      for (let i = 0; i < 20 && !first503; i++) {
        const [s] = await sequential(client, 'lone-svc:80', 1);
        if (s?.status === 503) first503 = s;
        else if (s) before503.push(s);
      }
      assert.ok(first503, `no 503 in 20 requests: ${JSON.stringify(statusCounts(before503))}`);
      assert.match(
        first503.error ?? '',
        /no endpoint of lone-svc:80 is available: the only endpoint is failing after 3s/,
      );
      assert.ok(
        before503.length >= 3 && before503.every((s) => s.status === 500),
        `3 or more 500s first (the last of them after the change): ${describeFailures(before503)}`,
      );
      assert.equal(bad.servedAt.length - served, before503.length, 'the 503 never reached the app');

      // The annotation removed: the endpoint is back at once.
      await weftOk(cp, ['apply', '-f', '-'], serviceYaml('lone-svc', { selector: { app: 'lone' } }));
      let back: LoadSample | undefined;
      for (let i = 0; i < 10 && back?.status !== 500; i++)
        [back] = await sequential(client, 'lone-svc:80', 1);
      assert.equal(back?.status, 500, 'the application answers again');
    },
  );

  test(
    'consecutive, max-failures 3: the failing endpoint gets 3 requests, the other all the rest',
    T,
    async () => {
      await weftOk(
        cp,
        ['apply', '-f', '-'],
        annotatedService('pair-svc', 'pair', {
          'balancer.linkerd.io/failure-accrual': 'consecutive',
          'balancer.weft.io/failure-accrual-consecutive-max-failures': '3',
          'balancer.weft.io/failure-accrual-consecutive-min-penalty': '5m',
          'balancer.weft.io/failure-accrual-consecutive-max-penalty': '10m',
        }),
      );
      const bad = await failing(cp, 'pair-bad', 'pair', cleanup);
      await startReplica(cp, { name: 'pair-good', app: 'pair' }, cleanup);
      const samples = await sequential(client, 'pair-svc:80', 100);
      assert.equal(bad.servedAt.length, 3, 'out after 3 failures in a row');
      assert.deepEqual(statusCounts(samples), { 200: 97, 500: 3 }, describeFailures(samples));
      assert.ok(samples.filter((s) => s.status === 200).every((s) => s.replica === 'pair-good'));
    },
  );

  test(
    'no annotation: a refused connect takes an endpoint out at once, and the other takes the traffic',
    T,
    async () => {
      await weftOk(cp, ['apply', '-f', '-'], serviceYaml('gone-svc', { selector: { app: 'gone' } }));
      await startReplica(cp, { name: 'gone-good', app: 'gone' }, cleanup);
      // An endpoint whose port refuses connections: registered as an instance, with nothing listening.
      const refused = await refusedPort();
      const registry = controlPlaneClient('registry', cp.grpc, ownerToken(cp));
      cleanup.add(() => registry.close());
      await unary(
        registry,
        'register',
        {
          namespace: 'default',
          name: 'gone',
          pod: 'gone-refused',
          serviceAccount: 'default',
          labels: { app: 'gone' },
          address: LOOPBACK,
          port: refused,
          namedPorts: {},
        },
        5000,
      );
      const samples = await sequential(client, 'gone-svc:80', 60);
      // The requests picked for it (the first, and a probe 1-1.5 s later) sent nothing: each
      // went to the other endpoint instead.
      const failures = samples.filter((s) => s.status !== 200);
      assert.deepEqual(failures, [], describeFailures(failures));
      assert.ok(samples.every((s) => s.replica === 'gone-good'));
    },
  );

  test(
    'weft apply refuses a bad annotation, naming the document and the annotation, and stores nothing',
    T,
    async () => {
      const r = await weft(['apply', '-f', '-', ...ownerArgs(cp)], {
        input: `${serviceYaml('fine-svc')}---\n${annotatedService('typo-svc', 'web', {
          'balancer.linkerd.io/failure-accrual': 'consecutive',
          'balancer.linkerd.io/failure-accrual-consecutive-max-failures': 'seven',
        })}`,
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /document 2 \(Service typo-svc\): metadata\.annotations\.balancer\.linkerd\.io\/failure-accrual-consecutive-max-failures: "seven" is not a whole number of failures/,
      );
      const got = await weft(['get', 'svc', 'fine-svc', ...ownerArgs(cp)]);
      assert.notEqual(got.code, 0, 'the whole batch was refused: fine-svc was not stored');
    },
  );
});
