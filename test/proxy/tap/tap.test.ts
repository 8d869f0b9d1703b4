/**
 * Tap end to end: `weft up`, two replicas of web (an app and its registered proxy each), a
 * gRPC echo workload, and a meshed client proxy. viz's tap identity is issued by the
 * control plane's CA (built from the state directory's credentials, as `weft up` builds
 * it), and observes the proxies' tap servers over mutual TLS with the client library viz
 * uses.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { identityName } from '../../../src/identity/names.js';
import type {
  TapEvent,
  TapRequestInit,
  TapResponseEnd,
  TapResponseInit,
} from '../../../src/viz/tap/client.js';
import { TapIdentity } from '../../../src/viz/tap/identity.js';
import {
  type ControlPlaneHandle,
  serviceYaml,
  startClientProxy,
  startControlPlane,
  startReplica,
  startWorkloadProxy,
  weftOk,
} from '../../helpers/controlplane.js';
import { EchoClient, echoService, msg, startGrpcApp } from '../../helpers/grpc.js';
import { Cleanup, waitFor } from '../../helpers/net.js';
import { scrape, sumSamples } from '../../helpers/prom.js';
import type { HostPort, ProxyHandle } from '../../helpers/proxy.js';
import {
  byRequest,
  type Collector,
  openStreams,
  startTap,
  stateDirCa,
  tapAddr,
  tapTarget,
} from './helpers.js';

const T = { timeout: 60_000 };
const CLIENT_ID = identityName('client', 'default');
const WEB_ID = identityName('default', 'default');
const ECHO_ID = identityName('echo', 'default');

const SECRETS = {
  requestHeader: 'REQ-HEADER-SECRET-5d1e',
  query: 'QUERY-SECRET-77aa',
  requestBody: 'REQ-BODY-SECRET-0c3f',
  responseHeader: 'RESP-HEADER-SECRET-9b20',
  responseBody: 'RESP-BODY-SECRET-4e61',
};

/**
 * The replicas' app: a path with `/size/<n>` answers 200 with n bytes, chunked (no
 * content-length), starting with the response body secret; one with `/status/<code>` answers
 * that status with `status`. Every response carries the response header secret.
 */
function respond(req: http.IncomingMessage, res: http.ServerResponse, name: string): void {
  const url = req.url ?? '/';
  const size = /\/size\/(\d+)/.exec(url);
  const status = /\/status\/(\d+)/.exec(url);
  const headers = { 'x-replica': name, 'x-secret': SECRETS.responseHeader };
  if (size) {
    const n = Number(size[1]);
    const body = Buffer.alloc(n, 'x');
    Buffer.from(SECRETS.responseBody).copy(body);
    res.writeHead(200, headers);
    // Two writes: a chunked body in (at least) two chunks.
    res.write(body.subarray(0, Math.floor(n / 2)));
    res.end(body.subarray(Math.floor(n / 2)));
    return;
  }
  res.writeHead(status ? Number(status[1]) : 200, headers);
  res.end('status');
}

interface Sent {
  path: string;
  method: string;
  status: number;
  replica: string;
  bytes: number;
  /** The client's own port: the outbound tap's source. */
  localPort: number;
}

describe('tap', () => {
  const cleanup = new Cleanup();
  /** The taps a test opens, closed after it. */
  const taps = new Cleanup();
  let cp: ControlPlaneHandle;
  let client: ProxyHandle;
  let echo: ProxyHandle;
  const replicas = new Map<string, ProxyHandle>();
  let tapId: TapIdentity;

  /** Sends a request through the client proxy to `authority` on a new connection. */
  const send = (
    path: string,
    opts: { method?: string; body?: string; headers?: Record<string, string>; authority?: string } = {},
  ): Promise<Sent> =>
    new Promise((resolve, reject) => {
      const method = opts.method ?? 'GET';
      let localPort = 0;
      const req = http.request(
        {
          host: client.outbound.host,
          port: client.outbound.port,
          path,
          method,
          agent: false,
          headers: { ...opts.headers, host: opts.authority ?? 'web-svc:80' },
        },
        (res) => {
          let bytes = 0;
          res.on('data', (c: Buffer) => {
            bytes += c.length;
          });
          res.on('end', () =>
            resolve({
              path,
              method,
              status: res.statusCode ?? 0,
              replica: String(res.headers['x-replica'] ?? ''),
              bytes,
              localPort,
            }),
          );
        },
      );
      req.on('socket', (s) => s.on('connect', () => (localPort = s.localPort ?? 0)));
      req.on('error', reject);
      req.end(opts.body);
    });

  const inboundOf = (replica: string): HostPort => (replicas.get(replica) as ProxyHandle).inbound;
  const tapReplica = async (name: string, request = {}): Promise<Collector> => {
    const c = await startTap(tapTarget(replicas.get(name) as ProxyHandle, WEB_ID), tapId.current, request);
    taps.add(() => c.close());
    return c;
  };
  const tapClient = async (request = {}): Promise<Collector> => {
    const c = await startTap(tapTarget(client, CLIENT_ID), tapId.current, request);
    taps.add(() => c.close());
    return c;
  };

  before(async () => {
    cp = await startControlPlane({ cleanup });
    await weftOk(
      cp,
      ['apply', '-f', '-'],
      [
        serviceYaml('web-svc', { selector: { app: 'web' } }),
        serviceYaml('echo-svc', { selector: { app: 'echo' } }),
      ].join('---\n'),
    );
    const [a, b] = await Promise.all([
      startReplica(cp, { name: 'web-a', respond }, cleanup),
      startReplica(cp, { name: 'web-b', respond }, cleanup),
    ]);
    replicas.set('web-a', a.proxy);
    replicas.set('web-b', b.proxy);
    const grpcApp = await startGrpcApp();
    cleanup.add(() => grpcApp.close());
    ({ proxy: echo } = await startWorkloadProxy(
      cp,
      grpcApp.port,
      { workload: 'echo', pod: 'echo-1', serviceAccount: 'echo' },
      cleanup,
    ));
    client = await startClientProxy(cp, 'default', cleanup, 'client');
    tapId = await TapIdentity.start(await stateDirCa(cp.stateDir));
    cleanup.add(() => tapId.close());
    // The client proxy knows web-svc's endpoints before the tests count events.
    assert.equal((await send('/warmup')).status, 200);
  });

  // Closed taps leave their proxies: each proxy counts none open before the next test.
  afterEach(async () => {
    await taps.run();
    for (const p of [client, echo, ...replicas.values()]) {
      await waitFor(async () => (await openStreams(p.admin)) === 0, 'the taps to close', 5_000, 20);
    }
  });
  after(() => cleanup.run());

  /** Checks a request's three events, in order, against what was sent and received. */
  function checkTriple(events: TapEvent[], sent: Sent, direction: 'inbound' | 'outbound'): void {
    const what = `${sent.method} ${sent.path} on ${direction}: ${JSON.stringify(events)}`;
    assert.deepEqual(
      events.map((e) => e.type),
      ['req', 'rsp', 'end'],
      what,
    );
    const [req, rsp, end] = events as [TapRequestInit, TapResponseInit, TapResponseEnd];
    assert.equal(req.method, sent.method, what);
    assert.equal(req.scheme, 'http', what);
    assert.equal(req.authority, 'web-svc:80', what);
    assert.equal(req.path, sent.path.split('?')[0], what);
    for (const e of events) {
      assert.equal(e.direction, direction, what);
      assert.equal(e.tls, true, what);
      assert.equal(e.id, req.id, what);
    }
    assert.equal(rsp.status, sent.status, what);
    assert.ok(rsp.latencyMs > 0, what);
    assert.ok(end.sinceRequestMs >= rsp.latencyMs, what);
    assert.ok(end.durationMs !== undefined && end.durationMs > 0, what);
    assert.equal(end.responseBytes, sent.bytes, what);
    assert.equal(end.grpcStatus, undefined, what);
    assert.equal(end.resetError, undefined, what);
  }

  test('inbound: req, rsp and end for each request, with what the request and response were', T, async () => {
    const byReplica = { 'web-a': await tapReplica('web-a'), 'web-b': await tapReplica('web-b') };
    const sent: Sent[] = [];
    for (let i = 0; i < 8; i++) {
      const kind = i % 4;
      if (kind === 0) sent.push(await send(`/size/100/in${i}?q=${i}`));
      else if (kind === 1)
        sent.push(await send(`/size/3000/in${i}`, { method: 'POST', body: 'b'.repeat(500) }));
      else if (kind === 2) sent.push(await send(`/status/503/in${i}`));
      else sent.push(await send(`/size/0/in${i}`, { method: 'DELETE' }));
    }
    assert.deepEqual(
      sent.map((s) => s.status),
      [200, 200, 503, 200, 200, 200, 503, 200],
    );
    assert.ok(sent[1] && sent[1].bytes === 3000);
    for (const [name, tap] of Object.entries(byReplica)) {
      const mine = sent.filter((s) => s.replica === name);
      await tap.waitFor(3 * mine.length);
      await new Promise((r) => setTimeout(r, 200));
      const requests = byRequest(tap.events);
      assert.equal(requests.size, mine.length, `${name}: ${JSON.stringify(tap.events)}`);
      for (const s of mine) {
        const path = s.path.split('?')[0];
        const events = [...requests.values()].find((evs) => evs[0]?.type === 'req' && evs[0].path === path);
        assert.ok(events, `${name}: no events for ${path}`);
        checkTriple(events, s, 'inbound');
        for (const e of events) {
          assert.equal(e.source?.ip, '127.0.0.1');
          assert.ok((e.source?.port ?? 0) > 0);
          assert.deepEqual(e.destination, { ip: '127.0.0.1', port: inboundOf(name).port });
          assert.deepEqual(e.sourceMeta, { tls: 'true', client_id: CLIENT_ID });
          assert.deepEqual(e.destinationMeta, {
            dst_namespace: 'default',
            dst_deployment: 'web',
            dst_pod: name,
            dst_serviceaccount: 'default',
          });
          assert.deepEqual(e.routeMeta, {});
        }
      }
    }
    // Every request has its own id.
    const ids = [...byReplica['web-a'].events, ...byReplica['web-b'].events].map((e) => e.id);
    assert.equal(new Set(ids).size, sent.length);
  });

  test("outbound: the client proxy's events carry the endpoint's dst labels and server_id", T, async () => {
    const tap = await tapClient({ match: { pathPrefix: '/out/' } });
    const sent: Sent[] = [];
    for (let i = 0; i < 6; i++) sent.push(await send(`/out/size/${200 + i}/${i}`));
    await tap.waitFor(3 * sent.length);
    const requests = byRequest(tap.events);
    assert.equal(requests.size, sent.length);
    for (const s of sent) {
      const events = [...requests.values()].find((evs) => evs[0]?.type === 'req' && evs[0].path === s.path);
      assert.ok(events, `no events for ${s.path}`);
      checkTriple(events, s, 'outbound');
      for (const e of events) {
        assert.deepEqual(e.source, { ip: '127.0.0.1', port: s.localPort });
        assert.deepEqual(e.destination, { ip: '127.0.0.1', port: inboundOf(s.replica).port });
        assert.deepEqual(e.sourceMeta, {
          src_namespace: 'default',
          src_deployment: 'client',
          src_pod: 'client-1',
          src_serviceaccount: 'client',
        });
        assert.deepEqual(e.destinationMeta, {
          tls: 'true',
          server_id: WEB_ID,
          dst_namespace: 'default',
          dst_service: 'web-svc',
          dst_deployment: 'web',
          dst_pod: s.replica,
          dst_serviceaccount: 'default',
        });
      }
    }
  });

  test('gRPC: the end event carries the grpc_status, on both proxies', T, async () => {
    const echoTap = await startTap(tapTarget(echo, ECHO_ID), tapId.current);
    taps.add(() => echoTap.close());
    const clientTap = await tapClient({ match: { authority: 'echo-svc:80' } });
    const grpcClient = new EchoClient(`127.0.0.1:${client.outbound.port}`, undefined, {
      'grpc.default_authority': 'echo-svc:80',
    });
    cleanup.add(() => grpcClient.client.close());
    const ok = await grpcClient.unary(msg('hi'));
    assert.equal(ok.response?.text, 'echo:hi', String(ok.error));
    const notFound = await grpcClient.unary(msg('fail:nope'));
    assert.equal(notFound.error?.code, 5);
    // The response body of the OK call: one gRPC frame (5-byte prefix and the message).
    const okBytes = 5 + echoService().Unary.responseSerialize(msg('echo:hi')).length;
    for (const [tap, direction] of [
      [echoTap, 'inbound'],
      [clientTap, 'outbound'],
    ] as const) {
      await tap.waitFor(6);
      const requests = [...byRequest(tap.events).values()];
      assert.equal(requests.length, 2, JSON.stringify(tap.events));
      const [first, second] = requests as [TapEvent[], TapEvent[]];
      for (const evs of requests) {
        assert.deepEqual(
          evs.map((e) => e.type),
          ['req', 'rsp', 'end'],
        );
        const req = evs[0] as TapRequestInit;
        assert.equal(req.method, 'POST');
        assert.equal(req.path, '/weft.test.Echo/Unary');
        assert.equal(req.authority, 'echo-svc:80');
        assert.equal((evs[1] as TapResponseInit).status, 200);
        for (const e of evs) {
          assert.equal(e.direction, direction);
          assert.equal(e.tls, true);
        }
      }
      const okEnd = first[2] as TapResponseEnd;
      const failEnd = second[2] as TapResponseEnd;
      assert.equal(okEnd.grpcStatus, 0, JSON.stringify(okEnd));
      assert.equal(okEnd.responseBytes, okBytes);
      assert.equal(failEnd.grpcStatus, 5, JSON.stringify(failEnd));
      assert.equal(failEnd.responseBytes, 0);
    }
    const echoEvent = echoTap.events[0] as TapEvent;
    assert.equal(echoEvent.sourceMeta.client_id, CLIENT_ID);
    assert.equal(echoEvent.destinationMeta.dst_deployment, 'echo');
    const clientEvent = clientTap.events[0] as TapEvent;
    assert.equal(clientEvent.destinationMeta.server_id, ECHO_ID);
    assert.equal(clientEvent.destinationMeta.dst_deployment, 'echo');
  });

  test(
    'matches filter the requests: path prefix, method, destination label, and trees of them',
    T,
    async () => {
      const prefix = await tapClient({ match: { pathPrefix: '/match/a' } });
      const post = await tapClient({ match: { method: 'POST' } });
      const toEcho = await tapClient({
        match: { destinationLabel: { key: 'dst_deployment', value: 'echo' } },
      });
      const tree = await tapClient({
        match: {
          all: [
            { pathPrefix: '/match/' },
            { not: { method: 'GET' } },
            { any: [{ scheme: 'http' }, { scheme: 'https' }] },
          ],
        },
      });
      const other = await tapClient({ match: { authority: 'nothing-here:80' } });
      const sent: Array<{ path: string; method: string; to: 'web' | 'echo' }> = [];
      for (let i = 0; i < 10; i++) {
        const path = `/match/${i % 2 === 0 ? 'a' : 'b'}/${i}`;
        const s = await send(path, i % 3 === 0 ? { method: 'POST', body: 'x' } : {});
        sent.push({ path, method: s.method, to: 'web' });
      }
      // Two gRPC calls to the echo workload (POST, like the web POSTs).
      const grpcClient = new EchoClient(`127.0.0.1:${client.outbound.port}`, undefined, {
        'grpc.default_authority': 'echo-svc:80',
      });
      for (const text of ['one', 'two']) {
        assert.equal((await grpcClient.unary(msg(text))).response?.text, `echo:${text}`);
        sent.push({ path: '/weft.test.Echo/Unary', method: 'POST', to: 'echo' });
      }
      grpcClient.client.close();
      const expect = {
        prefix: sent.filter((s) => s.path.startsWith('/match/a')),
        post: sent.filter((s) => s.method === 'POST'),
        toEcho: sent.filter((s) => s.to === 'echo'),
        tree: sent.filter((s) => s.path.startsWith('/match/') && s.method !== 'GET'),
      };
      for (const [name, c] of Object.entries({ prefix, post, toEcho, tree })) {
        const want = expect[name as keyof typeof expect];
        await c.waitFor(3 * want.length);
      }
      await new Promise((r) => setTimeout(r, 300));
      for (const [name, c] of Object.entries({ prefix, post, toEcho, tree })) {
        const want = expect[name as keyof typeof expect].map((s) => s.path).sort();
        const got = c.events
          .filter((e): e is TapRequestInit => e.type === 'req')
          .map((e) => e.path)
          .sort();
        assert.deepEqual(got, want, name);
        assert.equal(c.events.length, 3 * want.length, name);
      }
      for (const e of toEcho.events) assert.equal(e.destinationMeta.dst_deployment, 'echo');
      assert.deepEqual(other.events, []);
    },
  );

  test('max_rps caps the requests a tap admits; the others produce no event at all', T, async () => {
    const rate = 5;
    const tap = await tapClient({ maxRps: rate, match: { pathPrefix: '/rps/' } });
    const started = performance.now();
    const sent: Sent[] = [];
    const workers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; i < 5; i++) sent.push(await send(`/rps/size/10/${w}-${i}`));
    });
    await Promise.all(workers);
    const elapsedS = (performance.now() - started) / 1000;
    assert.equal(sent.length, 40);
    await new Promise((r) => setTimeout(r, 300));
    const requests = [...byRequest(tap.events).values()];
    // A full bucket (one second's worth) at the start, then `rate` a second.
    const most = rate + Math.ceil(elapsedS * rate) + 1;
    assert.ok(requests.length >= rate, `admitted ${requests.length}`);
    assert.ok(requests.length <= most, `admitted ${requests.length} > ${most} in ${elapsedS}s`);
    for (const evs of requests) {
      assert.deepEqual(
        evs.map((e) => e.type),
        ['req', 'rsp', 'end'],
      );
    }
  });

  test('no header value and no body byte appears in any event', T, async () => {
    const all = [await tapClient(), await tapReplica('web-a'), await tapReplica('web-b')];
    const sent: Sent[] = [];
    for (let i = 0; i < 4; i++) {
      sent.push(
        await send(`/size/64/secret/${i}?token=${SECRETS.query}`, {
          method: 'POST',
          body: SECRETS.requestBody,
          headers: { 'x-secret': SECRETS.requestHeader, authorization: `Bearer ${SECRETS.requestHeader}` },
        }),
      );
    }
    assert.ok(sent.every((s) => s.status === 200 && s.bytes === 64));
    await all[0]?.waitFor(12);
    await waitForCount(all.slice(1), 12);
    const text = JSON.stringify(all.flatMap((t) => t.events));
    for (const [what, secret] of Object.entries(SECRETS)) {
      assert.ok(!text.includes(secret), `the ${what} appears in a tap event`);
    }
    assert.ok(!text.includes('token='), 'the query string appears in a tap event');
    // The events are there, and say what they may: the path without its query.
    assert.ok(text.includes('/size/64/secret/0"'));
  });

  test('each proxy registers its tap port with the control plane', T, async () => {
    const registered = (): Record<string, number | undefined> => {
      const state = JSON.parse(readFileSync(join(cp.stateDir, 'state.json'), 'utf8')) as {
        workloads: Array<{ pod: string; tapPort?: number }>;
      };
      return Object.fromEntries(state.workloads.map((w) => [w.pod, w.tapPort]));
    };
    const want: Record<string, number> = {};
    for (const [pod, p] of [...replicas.entries(), ['echo-1', echo], ['client-1', client]] as const) {
      want[pod] = tapAddr(p).port;
    }
    await waitFor(
      () => Object.entries(want).every(([pod, port]) => registered()[pod] === port),
      `tap ports ${JSON.stringify(want)} in the catalog`,
      5_000,
      50,
    );
  });

  test('a request on a profile route carries rt_route, and route labels match', T, async () => {
    await weftOk(
      cp,
      ['apply', '-f', '-'],
      [
        'apiVersion: weft.io/v1alpha2',
        'kind: ServiceProfile',
        'metadata:',
        '  name: web-svc.default.svc.cluster.local',
        '  namespace: default',
        'spec:',
        '  routes:',
        '    - name: sized',
        "      condition: {method: GET, pathRegex: '/prof/size/.*'}",
        '',
      ].join('\n'),
    );
    const routed = await tapClient({ match: { routeLabel: { key: 'rt_route', value: 'sized' } } });
    const inbound = [await tapReplica('web-a'), await tapReplica('web-b')];
    // The profile reaches the proxies through their GetProfile streams.
    let i = 0;
    await waitFor(
      async () => {
        await send(`/prof/size/10/${i++}`);
        return routed.events.length > 0;
      },
      'a request on the route',
      10_000,
      50,
    );
    const sent = await send('/prof/size/20/last');
    await send('/prof/other');
    await routed.waitFor(2, 'end');
    const last = routed.events.filter((e) => e.type === 'req' && e.path === '/prof/size/20/last');
    assert.equal(last.length, 1);
    for (const e of routed.events) {
      assert.deepEqual(e.routeMeta, { rt_route: 'sized' });
      assert.notEqual(e.type === 'req' ? e.path : '', '/prof/other');
    }
    // Inbound, the serving replica's profile layer names the route too.
    const inboundReq = (path: string): TapEvent | undefined =>
      inbound.flatMap((c) => c.events).find((e) => e.type === 'req' && e.path === path);
    await waitFor(
      () => inboundReq(sent.path) !== undefined && inboundReq('/prof/other') !== undefined,
      'inbound events',
      5_000,
      10,
    );
    assert.deepEqual(inboundReq(sent.path)?.routeMeta, { rt_route: 'sized' });
    assert.deepEqual(inboundReq('/prof/other')?.routeMeta, {});
  });

  test('the proxies count their tap streams', T, async () => {
    assert.equal(await openStreams(client.admin), 0);
    const one = await tapClient();
    const two = await tapClient({ maxRps: 1 });
    assert.equal(await openStreams(client.admin), 2);
    await one.close();
    await waitFor(async () => (await openStreams(client.admin)) === 1, 'one stream open', 5_000, 20);
    await two.close();
    await waitFor(async () => (await openStreams(client.admin)) === 0, 'no stream open', 5_000, 20);
    const exp = await scrape(client.admin);
    assert.equal(sumSamples(exp, 'tap_events_dropped_total'), 0);
  });
});

/** Waits until the collectors together hold `n` events. */
async function waitForCount(taps: Collector[], n: number): Promise<void> {
  await waitFor(() => taps.reduce((a, t) => a + t.events.length, 0) >= n, `${n} events`, 10_000, 5);
}
