/**
 * The outbound response-headers timeout: a request whose route sets no timeout (no
 * ServiceProfile at all, here) still gets a timely 504 from an upstream that accepts and
 * never answers, and the balancer takes such an endpoint out so its peers take the
 * requests. It bounds the time to the response's headers only: responses that stream
 * (chunked bodies, HTTP/2 streams, WebSockets) are never cut once their headers are out,
 * and a profile route's own timeout takes precedence over the default either way.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { DestinationProfile } from '../../../src/grpc/protos.js';
import type { DirectionOptions } from '../../../src/proxy/direction.js';
import { h2connect, h2request } from '../../helpers/h2.js';
import {
  Cleanup,
  type HttpUpstream,
  LOOPBACK,
  request,
  startHttpServer,
  startTcpServer,
  type TcpServer,
  waitFor,
} from '../../helpers/net.js';
import { AUTHORITY, closeSide, endpointsOf, type Side, side } from '../../helpers/stacks.js';
import { Inbox, opened, startWsApp } from '../../helpers/ws.js';

const T = { timeout: 8000 };
/** The default timeout these tests run with; the proxy's own default is 10 s. */
const HEADERS_MS = 300;
/** Keeps an endpoint that was taken out out for the rest of a test: no probe comes back to it. */
const LONG_BACKOFF = { connectBackoff: { minMs: 60_000, maxMs: 60_000, jitterRatio: 0 } };

/** A TCP server that accepts connections and never writes a byte; counts what it accepted. */
async function startHung(cleanup: Cleanup): Promise<TcpServer & { accepted: () => number }> {
  let accepted = 0;
  const server = await startTcpServer((socket) => {
    accepted++;
    // Reads (and drops) what comes, so it sees the proxy close the connection.
    socket.resume();
  });
  cleanup.add(() => server.close());
  return { ...server, accepted: () => accepted };
}

/** Answers `/slow` after 3 × HEADERS_MS; `/stream` with headers at once, then a chunk per HEADERS_MS/2. */
function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.url === '/slow') {
    setTimeout(() => res.end('late'), 3 * HEADERS_MS);
    return;
  }
  if (req.url === '/stream') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let n = 0;
    const tick = setInterval(() => {
      res.write(`data: ${++n}\n\n`);
      if (n === 6) {
        clearInterval(tick);
        res.end();
      }
    }, HEADERS_MS / 2);
    res.on('close', () => clearInterval(tick));
    return;
  }
  res.end('ok');
}

const get = (s: Side, path = '/', host = AUTHORITY) =>
  request({ host: LOOPBACK, port: s.addr.port, path, headers: { host } }, undefined, 6000);

/** An outbound side with the default response-headers timeout, and `more` options. */
function outbound(discovery: DirectionOptions['discovery'], more: Partial<DirectionOptions> = {}) {
  return side('outbound', undefined, { host: LOOPBACK, port: 0 }, discovery, {
    responseHeadersTimeoutMs: HEADERS_MS,
    ...more,
  });
}

/** One app for both suites; cleanup also holds what each test starts. */
const cleanup = new Cleanup();
let app: HttpUpstream;
before(async () => {
  app = await startHttpServer(handler);
  cleanup.add(() => app.close());
});
after(() => cleanup.run());

describe('the response-headers timeout, without a profile', () => {
  test('a request to an upstream that accepts and never answers gets 504 (no discovery)', T, async () => {
    const hung = await startHung(cleanup);
    const s = await outbound(undefined);
    cleanup.add(() => closeSide(s));
    const res = await get(s, '/', `${LOOPBACK}:${hung.port}`);
    assert.equal(res.status, 504);
    assert.equal(res.headers['weft-proxy-error'], 'response headers timeout');
    // The upstream request was cancelled: its connection is closed, not left to hang.
    await waitFor(() => hung.sockets.size === 0, 'the hung connection closed', 3000);
  });

  test('an endpoint that stops answering is taken out, and its peer takes the requests', T, async () => {
    const hung = await startHung(cleanup);
    const hungAddr = { host: LOOPBACK, port: hung.port };
    // The hung endpoint weighs more, so the balancer picks it first.
    const { discovery, resolution } = endpointsOf(
      [{ addr: hungAddr, weight: 100_000 }, { addr: { host: LOOPBACK, port: app.port } }],
      LONG_BACKOFF,
    );
    const s = await outbound(discovery);
    cleanup.add(() => closeSide(s));
    const first = await get(s);
    assert.equal(first.status, 504, 'the first request went to the hung endpoint and timed out');
    assert.equal(first.headers['weft-proxy-error'], 'response headers timeout');
    const hungEp = resolution.balancer.get(`${LOOPBACK}:${hung.port}`);
    assert.equal(hungEp?.isAvailable(), false, 'the hung endpoint is out');
    assert.equal(hungEp?.connect.state, 'open');
    assert.equal(hungEp?.pending, 0);
    const before = hung.accepted();
    for (let i = 0; i < 10; i++) {
      const res = await get(s);
      assert.equal(res.status, 200, `request ${i} after the shedding went to the peer`);
      assert.equal(res.body.toString(), 'ok');
    }
    assert.equal(hung.accepted(), before, 'the hung endpoint got no request after it was taken out');
  });

  test(
    'a response whose headers came in time may stream past it (HTTP/1, server-sent events)',
    T,
    async () => {
      const s = await outbound(endpointsOf([{ addr: { host: LOOPBACK, port: app.port } }]).discovery);
      cleanup.add(() => closeSide(s));
      const res = await get(s, '/stream');
      assert.equal(res.status, 200);
      assert.equal((res.body.toString().match(/data: /g) ?? []).length, 6, 'every event arrived');
    },
  );

  test('an HTTP/2 stream whose headers came in time may stream past it', T, async () => {
    const server = http2.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/grpc' });
      let n = 0;
      const tick = setInterval(() => {
        res.write(`msg ${++n};`);
        if (n === 6) {
          clearInterval(tick);
          res.end();
        }
      }, HEADERS_MS / 2);
      req.on('close', () => clearInterval(tick));
    });
    await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
    cleanup.add(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as AddressInfo).port;
    const s = await outbound(endpointsOf([{ addr: { host: LOOPBACK, port }, protocolHint: 'h2' }]).discovery);
    cleanup.add(() => closeSide(s));
    const session = await h2connect(s.addr.port);
    cleanup.add(() => session.destroy());
    const res = await h2request(
      session,
      { ':path': '/', ':authority': AUTHORITY },
      undefined,
      undefined,
      6000,
    );
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'msg 1;msg 2;msg 3;msg 4;msg 5;msg 6;');
  });

  test('a WebSocket outlives it once upgraded', T, async () => {
    const ws = await startWsApp();
    cleanup.add(() => ws.close());
    const s = await outbound(endpointsOf([{ addr: { host: LOOPBACK, port: ws.port } }]).discovery);
    cleanup.add(() => closeSide(s));
    const client = new WebSocket(`ws://${LOOPBACK}:${s.addr.port}/chat`, { headers: { host: AUTHORITY } });
    cleanup.add(() => client.terminate());
    const inbox = new Inbox(client);
    await opened(client);
    assert.equal((await inbox.next('welcome')).data.toString(), 'welcome');
    await new Promise((r) => setTimeout(r, 3 * HEADERS_MS));
    client.send('still there?');
    assert.equal((await inbox.next('echo')).data.toString(), 'still there?');
  });
});

/** A profile whose one route matches every request, with this timeout. */
function profileWithTimeout(timeoutMs: number): DestinationProfile {
  return {
    fullyQualifiedName: 'web.default.svc.cluster.local',
    opaqueProtocol: false,
    routes: [
      {
        name: 'all',
        condition: { match: 'pathRegex', pathRegex: '.*' },
        responseClasses: [],
        isRetryable: false,
        timeoutMs,
        backends: [],
      },
    ],
    dstOverrides: [],
    source: 'ServiceProfile',
    rejectUnmatched: false,
  };
}

describe('a profile route timeout takes precedence over the default', () => {
  test('a longer route timeout lets a slow answer through', T, async () => {
    const addr = { host: LOOPBACK, port: app.port };
    const s = await outbound(endpointsOf([{ addr }], {}, profileWithTimeout(10 * HEADERS_MS)).discovery);
    cleanup.add(() => closeSide(s));
    const res = await get(s, '/slow');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'late');
  });

  test('a shorter route timeout answers 504 first, and does not take the endpoint out', T, async () => {
    const addr = { host: LOOPBACK, port: app.port };
    const { discovery, resolution } = endpointsOf([{ addr }], {}, profileWithTimeout(HEADERS_MS / 3));
    const s = await outbound(discovery, { responseHeadersTimeoutMs: 30 * HEADERS_MS });
    cleanup.add(() => closeSide(s));
    const res = await get(s, '/slow');
    assert.equal(res.status, 504);
    assert.equal(res.headers['weft-proxy-error'], 'request timeout');
    // A route's latency budget is not the endpoint's failure to answer at all.
    assert.equal(resolution.balancer.get(`${LOOPBACK}:${app.port}`)?.isAvailable(), true);
  });
});
