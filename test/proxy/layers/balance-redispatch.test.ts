/**
 * A request whose connect to the picked endpoint failed before anything was sent goes to
 * another endpoint of the same balancer: with one endpoint refusing connections (a killed
 * pod that is still in discovery) and one serving, every request succeeds, the first one
 * that picks the dead endpoint and each probe of it after its backoff included. The
 * backoff here is 1 ms, so the dead endpoint is probed again and again. Only when no other
 * endpoint is available does the client get the 502.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { BalancerOptions } from '../../../src/proxy/balance/balancer.js';
import type { EndpointSpec } from '../../../src/proxy/balance/endpoint.js';
import { startH2Server } from '../../helpers/apps.js';
import { h2connect, h2request } from '../../helpers/h2.js';
import { Cleanup, type HttpUpstream, LOOPBACK, refusedPort, startHttpServer } from '../../helpers/net.js';
import { sumSamples } from '../../helpers/prom.js';
import {
  AUTHORITY,
  closeSide,
  endpointsOf,
  meshIdentities,
  metrics,
  type Side,
  side,
} from '../../helpers/stacks.js';

const T = { timeout: 30_000 };
const REQUESTS = 40;
/** The dead endpoint is back in probation 1 ms after each refusal: nearly every pick may probe it. */
const FAST_PROBES: BalancerOptions = { connectBackoff: { minMs: 1, maxMs: 1, jitterRatio: 0 } };

function get(port: number, method = 'GET', body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: LOOPBACK, port, method, path: '/', headers: { host: AUTHORITY }, agent: false },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The outbound side whose discovery knows the dead endpoint first, then the live ones. */
async function outbound(
  cleanup: Cleanup,
  specs: ReadonlyArray<Partial<EndpointSpec> & { addr: { host: string; port: number } }>,
  identity?: Parameters<typeof side>[1],
): Promise<Side> {
  const s = await side(
    'outbound',
    identity,
    { host: LOOPBACK, port: 0 },
    endpointsOf(specs, FAST_PROBES).discovery,
  );
  cleanup.add(() => closeSide(s));
  return s;
}

function assertAllOk(results: ReadonlyArray<{ status: number; body: string }>, s: Side): void {
  const failed = results.filter((r) => r.status !== 200);
  assert.deepEqual(failed, [], 'no request failed');
  assert.ok(
    sumSamples(metrics(s), 'response_total', { direction: 'outbound', dst_pod: 'web-1' }) > 0,
    'the dead endpoint was tried, and its failed connects are counted as its attempts',
  );
}

describe('a connect that failed before anything was sent goes to another endpoint', () => {
  const cleanup = new Cleanup();
  let app: HttpUpstream;
  let dead: number;
  before(async () => {
    app = await startHttpServer((_req, res) => res.end('ok'));
    cleanup.add(() => app.close());
    dead = await refusedPort();
  });
  after(() => cleanup.run());

  test('plaintext HTTP/1: every request succeeds', T, async () => {
    const s = await outbound(cleanup, [
      { addr: { host: LOOPBACK, port: dead } },
      { addr: { host: LOOPBACK, port: app.port } },
    ]);
    const results = [];
    for (let i = 0; i < REQUESTS; i++) results.push(await get(s.addr.port));
    assertAllOk(results, s);
  });

  test('plaintext HTTP/2: every request succeeds', T, async () => {
    const app = await startH2Server((stream) => {
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    cleanup.add(() => app.close());
    const port = app.port;
    const s = await outbound(cleanup, [
      { addr: { host: LOOPBACK, port: dead }, protocolHint: 'h2' },
      { addr: { host: LOOPBACK, port }, protocolHint: 'h2' },
    ]);
    const session = await h2connect(s.addr.port);
    cleanup.add(() => session.destroy());
    const results = [];
    for (let i = 0; i < REQUESTS; i++) {
      const r = await h2request(session, { ':path': '/', ':authority': AUTHORITY });
      results.push({ status: r.status, body: r.body.toString() });
    }
    assertAllOk(results, s);
  });

  test('meshed HTTP/1 (mutual TLS to the peer proxy): every request succeeds', T, async () => {
    const { web, client } = await meshIdentities();
    const server = await side('inbound', web, { host: LOOPBACK, port: app.port });
    cleanup.add(() => closeSide(server));
    const s = await outbound(
      cleanup,
      [
        { addr: { host: LOOPBACK, port: dead }, identity: web.name },
        { addr: server.addr, identity: web.name },
      ],
      client,
    );
    const results = [];
    for (let i = 0; i < REQUESTS; i++) results.push(await get(s.addr.port));
    assertAllOk(results, s);
  });

  test('a request with a body is never sent again without it: the app gets every body whole', T, async () => {
    const bodies: string[] = [];
    const echo = await startHttpServer((req, res) => {
      let text = '';
      req.on('data', (c) => (text += c));
      req.on('end', () => {
        bodies.push(text);
        res.end('ok');
      });
    });
    cleanup.add(() => echo.close());
    const s = await outbound(cleanup, [
      { addr: { host: LOOPBACK, port: dead } },
      { addr: { host: LOOPBACK, port: echo.port } },
    ]);
    const body = 'x'.repeat(1000);
    const results = [];
    for (let i = 0; i < REQUESTS; i++) results.push(await get(s.addr.port, 'POST', body));
    const ok = results.filter((r) => r.status === 200).length;
    assert.deepEqual(
      results.filter((r) => r.status !== 200 && r.status !== 502),
      [],
      'a failed connect answers 502',
    );
    assert.equal(bodies.length, ok, 'the app got one request per 200');
    assert.ok(
      bodies.every((b) => b === body),
      'no body arrived short',
    );
  });

  test('with no other endpoint, the client gets the 502', T, async () => {
    const s = await outbound(cleanup, [{ addr: { host: LOOPBACK, port: dead } }]);
    const r = await get(s.addr.port);
    assert.equal(r.status, 502);
    assert.match(r.body, /connection refused/);
  });
});
