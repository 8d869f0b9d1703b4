/**
 * The balance layer's accounting of outcomes against endpoints: a client that goes away
 * before its response has ended cancelled the request; the endpoint did not fail it, so
 * however many clients do that, the endpoint's breaker stays closed. The Service has
 * failure accrual (consecutive, Linkerd's defaults): without it, nothing would open it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { BreakerSettings } from '../../../src/proxy/balance/breaker.js';
import type { LocalIdentity } from '../../../src/proxy/identity/local.js';
import { h2connect, h2request } from '../../helpers/h2.js';
import { Cleanup, type HttpUpstream, LOOPBACK, startHttpServer } from '../../helpers/net.js';
import { TestPki } from '../../helpers/pki.js';
import { sumSamples } from '../../helpers/prom.js';
import { AUTHORITY, metrics, type ProxyPair, proxyPair } from '../../helpers/stacks.js';

const T = { timeout: 30_000 };
/** `balancer.linkerd.io/failure-accrual: consecutive` with its defaults. */
const CONSECUTIVE: BreakerSettings = {
  maxFailures: 7,
  backoff: { minMs: 1000, maxMs: 60_000, jitterRatio: 0.5 },
};
/** More than the breaker's threshold of consecutive failures (7). */
const CANCELLED = 12;

/** Answers /slow with headers and a first chunk, then holds the body open; anything else with "ok". */
function slowHandler(
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
): void {
  if (req.url === '/slow') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    (res as http.ServerResponse).write('first chunk');
    return;
  }
  res.end('ok');
}

/** The same app over HTTP/2 (cleartext, prior knowledge): an HTTP/2 client's requests stay HTTP/2. */
async function slowH2App(cleanup: Cleanup): Promise<number> {
  const server = http2.createServer(slowHandler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => sessions.add(s));
  await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
  cleanup.add(
    () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** An HTTP/1 request for /slow, abandoned (its socket destroyed) once the first chunk arrives. */
function abandonH1(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: LOOPBACK,
      port,
      path: '/slow',
      headers: { host: AUTHORITY },
      agent: false,
    });
    req.on('response', (res) => {
      assert.equal(res.statusCode, 200);
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
    req.end();
  });
}

/** An HTTP/2 stream for /slow, cancelled once the first chunk arrives. */
function abandonH2(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': '/slow', ':authority': AUTHORITY });
    stream.on('response', (h) => assert.equal(h[':status'], 200));
    stream.once('data', () => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      resolve();
    });
    stream.on('error', reject);
  });
}

function getOk(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: LOOPBACK, port, path: '/', headers: { host: AUTHORITY }, agent: false },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
  });
}

describe('clients that go away mid-response', () => {
  const cleanup = new Cleanup();
  let h1App: HttpUpstream;
  let h2AppPort: number;
  let pki: TestPki;
  before(async () => {
    h1App = await startHttpServer(slowHandler);
    cleanup.add(() => h1App.close());
    h2AppPort = await slowH2App(cleanup);
    pki = await TestPki.create();
  });
  after(() => cleanup.run());

  const identities = async (
    meshed: boolean,
  ): Promise<[LocalIdentity | undefined, LocalIdentity | undefined]> =>
    meshed ? [await pki.identity('vote-bot'), await pki.identity('web')] : [undefined, undefined];

  for (const meshed of [false, true]) {
    const name = meshed ? 'meshed' : 'plaintext';
    test(`${name}: HTTP/1 clients cancelling do not open the endpoint's breaker`, T, async () => {
      const pair = await proxyPair(
        ...(await identities(meshed)),
        { host: LOOPBACK, port: h1App.port },
        undefined,
        { failureAccrual: CONSECUTIVE },
      );
      cleanup.add(() => pair.close());
      const port = pair.client.addr.port;
      for (let i = 0; i < CANCELLED; i++) await abandonH1(port);
      await stillServes(pair);
    });

    test(`${name}: HTTP/2 clients cancelling do not open the endpoint's breaker`, T, async () => {
      const pair = await proxyPair(
        ...(await identities(meshed)),
        { host: LOOPBACK, port: h2AppPort },
        undefined,
        { failureAccrual: CONSECUTIVE },
      );
      cleanup.add(() => pair.close());
      const session = await h2connect(pair.client.addr.port);
      cleanup.add(() => session.destroy());
      for (let i = 0; i < CANCELLED; i++) await abandonH2(session);
      await stillServes(pair, session);
    });
  }
});

/** The next request gets through (the breaker would answer 503 after the failfast timeout). */
async function stillServes(pair: ProxyPair, session?: http2.ClientHttp2Session): Promise<void> {
  const res = session
    ? await h2request(session, { ':path': '/', ':authority': AUTHORITY }).then((r) => ({
        status: r.status,
        body: r.body.toString(),
      }))
    : await getOk(pair.client.addr.port);
  assert.equal(res.status, 200, `the endpoint still takes requests: ${res.body}`);
  assert.equal(res.body, 'ok');
  const out = metrics(pair.client);
  assert.equal(sumSamples(out, 'request_total', { direction: 'outbound' }), CANCELLED + 1);
  assert.equal(
    sumSamples(out, 'response_total', { direction: 'outbound', status_code: '200' }),
    CANCELLED + 1,
    'every request reached the endpoint and was answered',
  );
}
