/**
 * Service profiles end to end: `weft up`, Services with replicas (an app and its
 * registered proxy each) and a client proxy. ServiceProfiles and HTTPRoutes applied with
 * `weft apply` reach the proxies through GetProfile: route metrics on both sides,
 * response classes, budgeted retries, timeouts, traffic splits changed live, and
 * HTTPRoute matches.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type ControlPlaneHandle,
  describeFailures,
  Load,
  serviceYaml,
  shares,
  startClientProxy,
  startControlPlane,
  startReplica,
  weftOk,
} from '../helpers/controlplane.js';
import { Cleanup, request, waitFor } from '../helpers/net.js';
import { dump, type Exposition, findSamples, scrape, sumSamples } from '../helpers/prom.js';
import type { ProxyHandle } from '../helpers/proxy.js';

const T = { timeout: 60_000 };

function profileYaml(service: string, spec: string): string {
  return [
    'apiVersion: weft.io/v1alpha2',
    'kind: ServiceProfile',
    'metadata:',
    `  name: ${service}.default.svc.cluster.local`,
    '  namespace: default',
    'spec:',
    spec,
  ].join('\n');
}

const FLAKY_PROFILE = profileYaml(
  'flaky-svc',
  `  routes:
    - name: flaky
      condition: {method: GET, pathRegex: /flaky}
      isRetryable: true
    - name: slow
      condition: {pathRegex: /slow}
      timeout: 300ms
    - name: ok
      condition: {pathRegex: '/ok/[^/]+'}
`,
);

// 409 is no failure by default (and so never trips the endpoint's breaker); this route
// says it is, and may be retried, within a budget of 20% plus 1/s over 10 s.
const RETRY_RATIO = 0.2;
const MIN_RETRIES_PER_SECOND = 1;
const TTL_S = 10;
const BROKEN_PROFILE = profileYaml(
  'broken-svc',
  `  routes:
    - name: conflict
      condition: {pathRegex: /conflict}
      isRetryable: true
      responseClasses:
        - condition: {status: {min: 409, max: 409}}
          isFailure: true
  retryBudget:
    retryRatio: ${RETRY_RATIO}
    minRetriesPerSecond: ${MIN_RETRIES_PER_SECOND}
    ttl: ${TTL_S}s
`,
);

// A Service with no endpoint: its requests are answered by the client proxy itself.
const IDLE_PROFILE = profileYaml(
  'idle-svc',
  `  routes:
    - name: quick
      condition: {pathRegex: /quick}
      timeout: 300ms
`,
);

function splitProfile(stableWeight: string, canaryWeight: string): string {
  return profileYaml(
    'web-svc',
    `  dstOverrides:
    - authority: web-svc.default.svc.cluster.local:80
      weight: ${stableWeight}
    - authority: web-canary.default.svc.cluster.local:80
      weight: ${canaryWeight}
`,
  );
}

const API_ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: api-routes
spec:
  parentRefs:
    - {group: core, kind: Service, name: api-svc, port: 80}
  rules:
    - matches:
        - path: {type: PathPrefix, value: /v1}
      backendRefs:
        - {name: api-svc, port: 80}
    - matches:
        - path: {type: PathPrefix, value: /v1}
          headers:
            - {name: x-canary, value: "yes"}
      backendRefs:
        - {name: web-canary, port: 80}
`;

describe('service profiles', () => {
  const cleanup = new Cleanup();
  let cp: ControlPlaneHandle;
  let client: ProxyHandle;
  let flaky: ProxyHandle;

  const get = (authority: string, path: string, headers: Record<string, string> = {}) =>
    request({
      host: client.outbound.host,
      port: client.outbound.port,
      path,
      headers: { ...headers, host: authority },
    });
  const clientMetrics = (): Promise<Exposition> => scrape(client.admin);

  before(async () => {
    cp = await startControlPlane({ cleanup });
    await weftOk(
      cp,
      ['apply', '-f', '-'],
      [
        serviceYaml('flaky-svc', { selector: { app: 'flaky' } }),
        serviceYaml('broken-svc', { selector: { app: 'broken' } }),
        serviceYaml('web-svc', { selector: { app: 'web' } }),
        serviceYaml('web-canary', { selector: { app: 'canary' } }),
        serviceYaml('api-svc', { selector: { app: 'web' } }),
        serviceYaml('idle-svc', { selector: { app: 'nobody' } }),
        IDLE_PROFILE,
        FLAKY_PROFILE,
        BROKEN_PROFILE,
        API_ROUTES,
      ].join('---\n'),
    );
    const [flakyReplica] = await Promise.all([
      startReplica(
        cp,
        {
          name: 'flaky-a',
          app: 'flaky',
          respond: (req, res, name, count) => {
            const fail = req.url === '/flaky' && count % 10 === 0;
            const answer = (): void => {
              res.writeHead(fail ? 500 : 200, { 'x-replica': name });
              res.end(fail ? 'flaked' : 'ok');
            };
            if (req.url === '/slow') setTimeout(answer, 3000);
            else answer();
          },
        },
        cleanup,
      ),
      startReplica(
        cp,
        {
          name: 'broken-a',
          app: 'broken',
          respond: (_req, res, name) => {
            res.writeHead(409, { 'x-replica': name });
            res.end('conflict');
          },
        },
        cleanup,
      ),
      startReplica(cp, { name: 'web-a', app: 'web' }, cleanup),
      startReplica(cp, { name: 'canary-a', app: 'canary' }, cleanup),
    ]);
    flaky = flakyReplica.proxy;
    client = await startClientProxy(cp, 'default', cleanup);
  });

  after(() => cleanup.run());

  test(
    'requests are counted per route on both sides; unmatched ones under the default route',
    T,
    async () => {
      for (let i = 0; i < 3; i++) assert.equal((await get('flaky-svc:80', `/ok/${i}`)).status, 200);
      assert.equal(
        (await get('flaky-svc:80', '/ok')).status,
        200,
        '/ok matches no route (the regex is anchored)',
      );
      assert.equal((await get('flaky-svc:80', '/elsewhere')).status, 200);

      const exp = await clientMetrics();
      const ok = { direction: 'outbound', dst: 'flaky-svc.default.svc.cluster.local:80', rt_route: 'ok' };
      assert.equal(sumSamples(exp, 'route_request_total', ok), 3, dump(exp, 'route_request_total'));
      assert.equal(
        sumSamples(exp, 'route_response_total', { ...ok, status_code: '200', classification: 'success' }),
        3,
      );
      assert.equal(sumSamples(exp, 'route_response_latency_ms_count', { ...ok, status_code: '200' }), 3);
      assert.equal(sumSamples(exp, 'route_actual_request_total', ok), 3);
      const unmatched = findSamples(exp, 'route_request_total', {
        dst: 'flaky-svc.default.svc.cluster.local:80',
      }).filter((s) => s.labels.rt_route === undefined);
      assert.deepEqual(
        unmatched.map((s) => s.value),
        [2],
        'the default route has no rt_route label, as in Linkerd',
      );
      // The replica's proxy finds the same profile for the authority it receives.
      await waitFor(
        async () =>
          sumSamples(await scrape(flaky.admin), 'route_request_total', {
            direction: 'inbound',
            dst: 'flaky-svc.default.svc.cluster.local:80',
            rt_route: 'ok',
          }) === 3,
        'inbound route metrics on the replica',
        5000,
      );
      // Authorities without a profile have no route metrics.
      assert.equal((await get('web-canary:80', '/')).status, 200);
      assert.deepEqual(
        findSamples(await clientMetrics(), 'route_request_total', {
          dst: 'web-canary.default.svc.cluster.local:80',
        }),
        [],
      );
    },
  );

  test('one route series per Service port, whatever form of its name the client used', T, async () => {
    for (const authority of [
      'flaky-svc',
      'flaky-svc:80',
      'flaky-svc.default',
      'flaky-svc.default.svc.cluster.local',
    ]) {
      assert.equal((await get(authority, '/ok/forms')).status, 200, authority);
    }
    const exp = await clientMetrics();
    const dsts = new Set(
      findSamples(exp, 'route_request_total', { direction: 'outbound', rt_route: 'ok' }).map(
        (s) => s.labels.dst,
      ),
    );
    assert.deepEqual([...dsts], ['flaky-svc.default.svc.cluster.local:80'], dump(exp, 'route_request_total'));
    // Inbound nothing is retried, so no retry series is exported there.
    await waitFor(
      async () =>
        findSamples(await scrape(flaky.admin), 'route_request_total', { direction: 'inbound' }).length > 0,
      'inbound route metrics on the replica',
      5000,
    );
    const inbound = await scrape(flaky.admin);
    assert.deepEqual(findSamples(inbound, 'route_retries_total'), []);
    assert.ok(findSamples(exp, 'route_retries_total', { direction: 'outbound' }).length > 0);
  });

  test('what the proxy answers without sending it anywhere is labelled not sent', T, async () => {
    // No endpoint within the failfast timeout: 503.
    const unavailable = await get('idle-svc:80', '/elsewhere');
    assert.equal(unavailable.status, 503);
    // The route's timeout passes while the request waits for an endpoint: 504.
    const timedOut = await get('idle-svc:80', '/quick');
    assert.equal(timedOut.status, 504);
    assert.equal(timedOut.headers['weft-proxy-error'], 'request timeout');
    const exp = await clientMetrics();
    const answered = findSamples(exp, 'response_total', { direction: 'outbound', authority: 'idle-svc:80' });
    assert.deepEqual(
      answered.map((s) => [s.labels.status_code, s.labels.tls, s.labels.no_tls_reason, s.value]).sort(),
      [
        ['503', 'no_identity', 'not_sent', 1],
        ['504', 'no_identity', 'not_sent', 1],
      ],
      dump(exp, 'response_total'),
    );
    assert.equal(
      sumSamples(exp, 'request_total', { authority: 'idle-svc:80', no_tls_reason: 'not_sent' }),
      2,
      'both requests counted',
    );
  });

  test('a retryable route recovers a flaky backend: the client sees no failure', T, async () => {
    const load = new Load(client.outbound, {
      authority: 'flaky-svc:80',
      path: '/flaky',
      concurrency: 4,
      total: 200,
    });
    await load.done;
    assert.deepEqual(load.failures(), [], describeFailures(load.failures()));
    const exp = await clientMetrics();
    const route = { direction: 'outbound', dst: 'flaky-svc.default.svc.cluster.local:80', rt_route: 'flaky' };
    const retries = sumSamples(exp, 'route_retries_total', route);
    // One request in ten fails at the app; every one of them was retried.
    assert.ok(retries >= 15, `retries: ${retries}`);
    assert.equal(sumSamples(exp, 'route_request_total', route), 200);
    assert.equal(sumSamples(exp, 'route_actual_request_total', route), 200 + retries);
    assert.equal(sumSamples(exp, 'route_response_total', { ...route, classification: 'failure' }), 0);
    assert.equal(
      sumSamples(exp, 'route_actual_response_total', {
        ...route,
        status_code: '500',
        classification: 'failure',
      }),
      retries,
    );
  });

  test('when the backend fails every request, the budget keeps retries under the ratio', T, async () => {
    const total = 500;
    const load = new Load(client.outbound, {
      authority: 'broken-svc:80',
      path: '/conflict',
      concurrency: 4,
      total,
    });
    await load.done;
    assert.equal(load.samples.filter((s) => s.status === 409).length, total, 'the failures reach the client');
    const exp = await clientMetrics();
    const route = {
      direction: 'outbound',
      dst: 'broken-svc.default.svc.cluster.local:80',
      rt_route: 'conflict',
    };
    const retries = sumSamples(exp, 'route_retries_total', route);
    const ceiling = RETRY_RATIO * total + MIN_RETRIES_PER_SECOND * TTL_S;
    assert.ok(retries <= ceiling, `${retries} retries for ${total} requests: over ${ceiling}`);
    assert.ok(retries >= 0.8 * ceiling, `${retries} retries: the budget was not used`);
    assert.ok(sumSamples(exp, 'route_retry_skipped_total', { ...route, reason: 'budget' }) > 0);
    assert.equal(sumSamples(exp, 'route_actual_request_total', route), total + retries);
    assert.equal(
      sumSamples(exp, 'route_response_total', { ...route, status_code: '409', classification: 'failure' }),
      total,
      'the response class makes 409 a failure',
    );
    // The endpoint-level metrics keep the default classification.
    assert.equal(
      sumSamples(exp, 'response_total', {
        authority: 'broken-svc:80',
        status_code: '409',
        classification: 'failure',
      }),
      0,
    );
  });

  test('a route timeout answers 504 and cancels the slow request', T, async () => {
    const started = performance.now();
    const res = await get('flaky-svc:80', '/slow');
    const elapsed = performance.now() - started;
    assert.equal(res.status, 504);
    assert.equal(res.headers['weft-proxy-error'], 'request timeout');
    assert.ok(elapsed >= 300, `answered after ${elapsed.toFixed(0)} ms, before the timeout`);
    const exp = await clientMetrics();
    assert.equal(
      sumSamples(exp, 'route_response_total', {
        dst: 'flaky-svc.default.svc.cluster.local:80',
        rt_route: 'slow',
        status_code: '504',
        classification: 'failure',
      }),
      1,
    );
  });

  test(
    'dstOverrides split the traffic 90/10, and a change applies live without a failed request',
    T,
    async () => {
      await weftOk(cp, ['apply', '-f', '-'], splitProfile('900m', '100m'));
      // The client proxy follows the profile once it has asked for it: wait for the split.
      await waitFor(
        async () => (await get('web-svc:80', '/')).headers['x-replica'] === 'canary-a',
        'a request to reach the canary',
        10_000,
        0,
      );
      const total = 2000;
      const load = new Load(client.outbound, { authority: 'web-svc:80', concurrency: 16, total });
      await load.done;
      assert.deepEqual(load.failures(), [], describeFailures(load.failures()));
      const canary = (shares(load.samples).get('canary-a') ?? 0) / total;
      assert.ok(Math.abs(canary - 0.1) <= 0.03, `canary share ${(100 * canary).toFixed(1)}%`);
      const exp = await clientMetrics();
      assert.ok(
        sumSamples(exp, 'request_total', { authority: 'web-svc:80', dst_service: 'web-canary' }) > 0,
        'requests keep the authority they named, with the backend in dst_*',
      );

      // Shift everything to the canary while requests flow.
      const live = new Load(client.outbound, { authority: 'web-svc:80', concurrency: 8 });
      await live.waitMore(100);
      await weftOk(cp, ['apply', '-f', '-'], splitProfile('0', '1'));
      const shiftedAt = Date.now();
      await waitFor(
        () => live.samples.filter((s) => s.start > shiftedAt + 500).length >= 200,
        'requests after the change',
        15_000,
      );
      await live.stop();
      assert.deepEqual(live.failures(), [], describeFailures(live.failures(), shiftedAt));
      const after = live.samples.filter((s) => s.start > shiftedAt + 500);
      assert.deepEqual([...shares(after).keys()], ['canary-a'], 'all traffic on the canary');
    },
  );

  test('an HTTPRoute routes by path and header, and answers 404 to what no rule matches', T, async () => {
    await waitFor(
      async () =>
        (await get('api-svc:80', '/v1/x', { 'x-canary': 'yes' })).headers['x-replica'] === 'canary-a',
      'the header match to send the request to the canary',
      10_000,
      0,
    );
    assert.equal((await get('api-svc:80', '/v1/x')).headers['x-replica'], 'web-a');
    assert.equal((await get('api-svc:80', '/v1')).headers['x-replica'], 'web-a');
    const miss = await get('api-svc:80', '/v10');
    assert.equal(miss.status, 404, 'a prefix matches whole path segments');
    assert.equal(miss.headers['weft-proxy-error'], 'no route found for request');
    const exp = await clientMetrics();
    assert.ok(
      sumSamples(exp, 'route_request_total', {
        dst: 'api-svc.default.svc.cluster.local:80',
        rt_route: 'api-routes',
      }) >= 3,
    );
  });
});
