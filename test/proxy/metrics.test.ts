/**
 * /metrics values match the traffic sent: Linkerd's request_total, response_total,
 * response_latency_ms and tcp_* families, with their labels. Each block uses its own
 * proxy so the counts are exact.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type H2App, startEchoApp, startH2App, startTcpEchoApp } from '../helpers/apps.js';
import { EchoClient, msg, startGrpcApp } from '../helpers/grpc.js';
import { h2connect, h2request } from '../helpers/h2.js';
import {
  Cleanup,
  type HttpUpstream,
  RawConn,
  refusedPort,
  request,
  waitFor,
  withTimeout,
} from '../helpers/net.js';
import { dump, type Exposition, findSample, findSamples, scrape, sumSamples } from '../helpers/prom.js';
import { baseArgs, type ProxyHandle, startBehindProxy, startProxy } from '../helpers/proxy.js';

const T = { timeout: 30_000 };
const TLS = 'no_identity';
const BUCKETS = [
  '1',
  '2',
  '3',
  '4',
  '5',
  '10',
  '20',
  '30',
  '40',
  '50',
  '100',
  '200',
  '300',
  '400',
  '500',
  '1000',
  '2000',
  '3000',
  '4000',
  '5000',
  '10000',
  '20000',
  '30000',
  '40000',
  '50000',
  '+Inf',
];

/** Scrapes until `ready` holds (metrics may be recorded just after the client saw the response). */
async function scrapeWhen(
  p: ProxyHandle,
  ready: (e: Exposition) => boolean,
  what: string,
): Promise<Exposition> {
  let last: Exposition | undefined;
  try {
    await waitFor(
      async () => {
        last = await scrape(p.admin);
        return ready(last);
      },
      what,
      5_000,
      50,
    );
  } catch {
    // Fall through: the assertions that follow say precisely what is wrong.
  }
  return last ?? scrape(p.admin);
}

function bucketValue(e: Exposition, labels: Record<string, string>, le: string): number | undefined {
  return findSample(e, 'response_latency_ms_bucket', { ...labels, le })?.value;
}

describe('HTTP metrics', () => {
  const cleanup = new Cleanup();
  let app: HttpUpstream;
  let p: ProxyHandle;
  let gone: number;
  const AUTH = 'metrics.svc.test:8080';

  before(async () => {
    app = await startEchoApp();
    cleanup.add(() => app.close());
    gone = await refusedPort();
    p = await startProxy(baseArgs(app.port));
    cleanup.add(() => p.stop('SIGKILL'));
    // Inbound: 4 fast 200s, 3 fast 500s, 3 slow (150 ms) 201s = 10 requests.
    const send = (status: number, delay = 0): Promise<unknown> =>
      request({
        host: '127.0.0.1',
        port: p.inbound.port,
        path: `/m/${status}`,
        headers: { host: AUTH, 'x-status': String(status), 'x-delay': String(delay) },
      }).then((r) => assert.equal(r.status, status));
    for (let i = 0; i < 4; i++) await send(200);
    for (let i = 0; i < 3; i++) await send(500);
    await Promise.all([send(201, 150), send(201, 150), send(201, 150)]);
    // Outbound: 3 200s and 2 503s to the app, 1 to a refused port (502 from the proxy).
    const out = (status: number, port = app.port): Promise<unknown> =>
      request({
        host: '127.0.0.1',
        port: p.outbound.port,
        path: `http://127.0.0.1:${port}/o`,
        headers: { 'x-status': String(status) },
      }).then((r) => assert.equal(r.status, status));
    for (let i = 0; i < 3; i++) await out(200);
    for (let i = 0; i < 2; i++) await out(503);
    await out(502, gone);
  });
  after(() => cleanup.run());

  async function exp(): Promise<Exposition> {
    return scrapeWhen(
      p,
      (e) =>
        sumSamples(e, 'response_total', { direction: 'inbound' }) >= 10 &&
        sumSamples(e, 'response_total', { direction: 'outbound' }) >= 6,
      'all responses to be counted',
    );
  }

  test('request_total counts every inbound request once, by authority', T, async () => {
    const e = await exp();
    assert.equal(sumSamples(e, 'request_total', { direction: 'inbound' }), 10, dump(e, 'request_total'));
    const s = findSample(e, 'request_total', { direction: 'inbound', authority: AUTH, tls: TLS });
    assert.equal(
      s?.value,
      10,
      `request_total{direction="inbound",authority="${AUTH}"}\n${dump(e, 'request_total')}`,
    );
  });

  test('response_total splits inbound responses by status code and classification', T, async () => {
    const e = await exp();
    const base = { direction: 'inbound', authority: AUTH, tls: TLS };
    const v = (code: string, classification: string): number =>
      sumSamples(e, 'response_total', { ...base, status_code: code, classification });
    assert.equal(v('200', 'success'), 4, dump(e, 'response_total'));
    assert.equal(v('201', 'success'), 3, dump(e, 'response_total'));
    assert.equal(v('500', 'failure'), 3, dump(e, 'response_total'));
    assert.equal(v('500', 'success'), 0, '5xx is never a success');
    assert.equal(sumSamples(e, 'response_total', { ...base, classification: 'failure' }), 3);
    assert.equal(sumSamples(e, 'response_total', base), 10);
  });

  test('outbound requests are counted apart, by target authority, proxy errors included', T, async () => {
    const e = await exp();
    const auth = `127.0.0.1:${app.port}`;
    assert.equal(
      findSample(e, 'request_total', { direction: 'outbound', authority: auth, tls: TLS })?.value,
      5,
      dump(e, 'request_total'),
    );
    const base = { direction: 'outbound', authority: auth, tls: TLS };
    assert.equal(
      sumSamples(e, 'response_total', { ...base, status_code: '200', classification: 'success' }),
      3,
    );
    assert.equal(
      sumSamples(e, 'response_total', { ...base, status_code: '503', classification: 'failure' }),
      2,
    );
    const refused = { direction: 'outbound', authority: `127.0.0.1:${gone}` };
    assert.equal(sumSamples(e, 'request_total', refused), 1, dump(e, 'request_total'));
    assert.equal(
      sumSamples(e, 'response_total', { ...refused, status_code: '502', classification: 'failure' }),
      1,
      dump(e, 'response_total'),
    );
    assert.equal(sumSamples(e, 'request_total', { direction: 'outbound' }), 6);
  });

  test('response_latency_ms has Linkerd buckets, cumulative counts, _sum and _count', T, async () => {
    const e = await exp();
    const ok = { direction: 'inbound', authority: AUTH, tls: TLS, status_code: '200' };
    const les = findSamples(e, 'response_latency_ms_bucket', ok).map((s) => s.labels.le);
    assert.equal(les.length, BUCKETS.length, `le values: ${les.join(',')}`);
    assert.deepEqual(new Set(les), new Set(BUCKETS));
    let prev = 0;
    for (const le of BUCKETS) {
      const v = bucketValue(e, ok, le);
      assert.ok(v !== undefined, `bucket le="${le}"`);
      assert.ok(v >= prev, `buckets are cumulative (le="${le}": ${v} < ${prev})`);
      prev = v;
    }
    assert.equal(bucketValue(e, ok, '+Inf'), 4);
    assert.equal(findSample(e, 'response_latency_ms_count', ok)?.value, 4);
    const sum = findSample(e, 'response_latency_ms_sum', ok)?.value;
    assert.ok(sum !== undefined && sum >= 0 && sum < 4 * 5_000, `_sum ${sum}`);
    assert.equal(e.types.get('response_latency_ms'), 'histogram');
    assert.equal(e.types.get('request_total'), 'counter');
    assert.equal(e.types.get('response_total'), 'counter');
  });

  test('response_latency_ms reflects a 150 ms app delay', T, async () => {
    const e = await exp();
    const slow = { direction: 'inbound', authority: AUTH, tls: TLS, status_code: '201' };
    assert.equal(bucketValue(e, slow, '100'), 0, 'no 150 ms response is under 100 ms');
    assert.equal(bucketValue(e, slow, '+Inf'), 3);
    assert.equal(findSample(e, 'response_latency_ms_count', slow)?.value, 3);
    const sum = findSample(e, 'response_latency_ms_sum', slow)?.value ?? 0;
    assert.ok(sum >= 3 * 140, `_sum ${sum} ms for three 150 ms responses`);
  });
});

describe('gRPC metrics', () => {
  const cleanup = new Cleanup();
  let p: ProxyHandle;

  before(async () => {
    ({ p } = await startBehindProxy(cleanup, startGrpcApp));
    const c = new EchoClient(`127.0.0.1:${p.inbound.port}`);
    cleanup.add(() => c.close());
    for (let i = 0; i < 3; i++) assert.equal((await c.unary(msg(`ok${i}`))).error, undefined);
    for (let i = 0; i < 2; i++) assert.equal((await c.unary(msg(`fail:nope${i}`))).error?.code, 5);
  });
  after(() => cleanup.run());

  test('gRPC responses carry grpc_status and a non-zero one is a failure', T, async () => {
    const e = await scrapeWhen(
      p,
      (x) => sumSamples(x, 'response_total', { direction: 'inbound' }) >= 5,
      'five gRPC responses counted',
    );
    assert.equal(sumSamples(e, 'request_total', { direction: 'inbound' }), 5, dump(e, 'request_total'));
    const base = { direction: 'inbound', status_code: '200' };
    assert.equal(
      sumSamples(e, 'response_total', { ...base, grpc_status: '0', classification: 'success' }),
      3,
      dump(e, 'response_total'),
    );
    assert.equal(
      sumSamples(e, 'response_total', { ...base, grpc_status: '5', classification: 'failure' }),
      2,
      dump(e, 'response_total'),
    );
  });
});

describe('HTTP/2 metrics', () => {
  const cleanup = new Cleanup();
  let app: H2App;
  let p: ProxyHandle;

  before(async () => {
    ({ app, p } = await startBehindProxy(cleanup, startH2App));
    for (const [port, authority] of [
      [p.inbound.port, 'h2.metrics.test:80'],
      [p.outbound.port, `127.0.0.1:${app.port}`],
    ] as const) {
      const s = await h2connect(port);
      cleanup.add(() => s.destroy());
      for (let i = 0; i < 4; i++) {
        assert.equal((await h2request(s, { ':path': '/echo', ':authority': authority }, 'x')).status, 200);
      }
      for (let i = 0; i < 2; i++) {
        assert.equal((await h2request(s, { ':path': '/status/503', ':authority': authority })).status, 503);
      }
      s.close();
    }
  });
  after(() => cleanup.run());

  for (const [direction, auth] of [
    ['inbound', () => 'h2.metrics.test:80'],
    ['outbound', () => `127.0.0.1:${app.port}`],
  ] as const) {
    test(`${direction} HTTP/2 requests and responses are counted per stream`, T, async () => {
      const e = await scrapeWhen(
        p,
        (x) => sumSamples(x, 'response_total', { direction }) >= 6,
        'six HTTP/2 responses counted',
      );
      const base = { direction, authority: auth(), tls: TLS };
      assert.equal(sumSamples(e, 'request_total', base), 6, dump(e, 'request_total'));
      assert.equal(
        sumSamples(e, 'response_total', { ...base, status_code: '200', classification: 'success' }),
        4,
        dump(e, 'response_total'),
      );
      assert.equal(
        sumSamples(e, 'response_total', { ...base, status_code: '503', classification: 'failure' }),
        2,
        dump(e, 'response_total'),
      );
      assert.equal(findSample(e, 'response_latency_ms_count', { ...base, status_code: '200' })?.value, 4);
    });
  }
});

describe('TCP metrics', () => {
  const cleanup = new Cleanup();
  let app: HttpUpstream;
  let echo: Awaited<ReturnType<typeof startTcpEchoApp>>;

  before(async () => {
    app = await startEchoApp();
    cleanup.add(() => app.close());
    echo = await startTcpEchoApp();
    cleanup.add(() => echo.close());
  });
  after(() => cleanup.run());

  test('inbound HTTP: opens, closes and bytes on both peers match the connections made', T, async () => {
    const p = await startProxy(baseArgs(app.port));
    cleanup.add(() => p.stop('SIGKILL'));
    const body = 'b'.repeat(10_000);
    let sent = 0;
    let received = 0;
    let responseBodies = 0;
    for (let i = 0; i < 3; i++) {
      const c = await RawConn.connect(p.inbound.port);
      const req = `POST /tcp/${i} HTTP/1.1\r\nHost: tcp.test\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      c.write(req);
      sent += Buffer.byteLength(req);
      const res = await c.readResponse();
      assert.equal(res.statusCode, 200);
      responseBodies += res.body.length;
      await c.waitEnd();
      received += c.received;
      c.destroy();
    }
    const src = { direction: 'inbound', peer: 'src', tls: TLS };
    const e = await scrapeWhen(
      p,
      (x) => sumSamples(x, 'tcp_close_total', src) >= 3,
      'three inbound connections closed',
    );
    assert.equal(sumSamples(e, 'tcp_open_total', src), 3, dump(e, 'tcp_open_total'));
    assert.equal(sumSamples(e, 'tcp_close_total', src), 3, dump(e, 'tcp_close_total'));
    assert.equal(sumSamples(e, 'tcp_open_connections', src), 0, dump(e, 'tcp_open_connections'));
    const read = sumSamples(e, 'tcp_read_bytes_total', src);
    assert.ok(read >= sent, `tcp_read_bytes_total{inbound,src} ${read} < ${sent} bytes sent`);
    const written = sumSamples(e, 'tcp_write_bytes_total', src);
    assert.ok(
      written >= received,
      `tcp_write_bytes_total{inbound,src} ${written} < ${received} bytes received`,
    );
    const dst = { direction: 'inbound', peer: 'dst' };
    const dstOpens = sumSamples(e, 'tcp_open_total', dst);
    assert.ok(dstOpens >= 1 && dstOpens <= 3, `tcp_open_total{inbound,dst} ${dstOpens}`);
    assert.ok(
      sumSamples(e, 'tcp_write_bytes_total', dst) >= 3 * body.length,
      dump(e, 'tcp_write_bytes_total'),
    );
    assert.ok(sumSamples(e, 'tcp_read_bytes_total', dst) >= responseBodies, dump(e, 'tcp_read_bytes_total'));
    assert.equal(e.types.get('tcp_open_total'), 'counter');
    assert.equal(e.types.get('tcp_open_connections'), 'gauge');
    await p.stop('SIGKILL');
  });

  test('tcp_open_connections follows connections as they open and close', T, async () => {
    const p = await startProxy(baseArgs(app.port));
    cleanup.add(() => p.stop('SIGKILL'));
    const src = { direction: 'inbound', peer: 'src' };
    const conns: RawConn[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await RawConn.connect(p.inbound.port);
      cleanup.add(() => c.destroy());
      c.write('GET /open HTTP/1.1\r\nHost: open.test\r\n\r\n');
      assert.equal((await c.readResponse()).statusCode, 200);
      conns.push(c);
    }
    let e = await scrapeWhen(p, (x) => sumSamples(x, 'tcp_open_connections', src) === 2, 'two open');
    assert.equal(sumSamples(e, 'tcp_open_connections', src), 2, dump(e, 'tcp_open_connections'));
    for (const c of conns) c.destroy();
    e = await scrapeWhen(p, (x) => sumSamples(x, 'tcp_open_connections', src) === 0, 'none open');
    assert.equal(sumSamples(e, 'tcp_open_connections', src), 0, dump(e, 'tcp_open_connections'));
    assert.equal(sumSamples(e, 'tcp_close_total', src), 2, dump(e, 'tcp_close_total'));
    await p.stop('SIGKILL');
  });

  test('inbound opaque TCP: bytes relayed are counted on both peers', T, async () => {
    const p = await startProxy(baseArgs(echo.port));
    cleanup.add(() => p.stop('SIGKILL'));
    const c = await RawConn.connect(p.inbound.port);
    const data = Buffer.alloc(1024 * 1024, 0xab);
    c.write(data);
    assert.equal((await c.readAtLeast(data.length, 15_000)).length, data.length);
    c.destroy();
    const e = await scrapeWhen(
      p,
      (x) => sumSamples(x, 'tcp_close_total', { direction: 'inbound', peer: 'src' }) >= 1,
      'the opaque connection closed',
    );
    const m = (name: string, peer: string): number => sumSamples(e, name, { direction: 'inbound', peer });
    assert.ok(m('tcp_read_bytes_total', 'src') >= data.length, dump(e, 'tcp_read_bytes_total'));
    assert.ok(m('tcp_write_bytes_total', 'dst') >= data.length, dump(e, 'tcp_write_bytes_total'));
    assert.ok(m('tcp_read_bytes_total', 'dst') >= data.length, dump(e, 'tcp_read_bytes_total'));
    assert.ok(m('tcp_write_bytes_total', 'src') >= data.length, dump(e, 'tcp_write_bytes_total'));
    assert.equal(m('tcp_open_total', 'src'), 1);
    assert.equal(m('tcp_open_total', 'dst'), 1);
    assert.equal(sumSamples(e, 'request_total', { direction: 'inbound' }), 0, 'opaque traffic is not HTTP');
    await p.stop('SIGKILL');
  });

  test('outbound CONNECT tunnel: opens and bytes are counted with direction="outbound"', T, async () => {
    const p = await startProxy(baseArgs(app.port));
    cleanup.add(() => p.stop('SIGKILL'));
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: p.outbound.port,
        method: 'CONNECT',
        path: `127.0.0.1:${echo.port}`,
        agent: false,
      });
      req.once('connect', (res, s, head) => {
        if (res.statusCode !== 200) reject(new Error(`CONNECT answered ${res.statusCode}`));
        if (head.length) s.unshift(head);
        resolve(s);
      });
      req.once('error', reject);
      req.end();
    });
    const data = Buffer.alloc(100_000, 0x5a);
    let back = 0;
    await withTimeout(
      new Promise<void>((resolve) => {
        socket.on('data', (d: Buffer) => {
          back += d.length;
          if (back >= data.length) resolve();
        });
        socket.write(data);
      }),
      10_000,
      'the echo through the tunnel',
    );
    socket.destroy();
    const e = await scrapeWhen(
      p,
      (x) => sumSamples(x, 'tcp_close_total', { direction: 'outbound', peer: 'src' }) >= 1,
      'the tunnel closed',
    );
    const m = (name: string, peer: string): number => sumSamples(e, name, { direction: 'outbound', peer });
    assert.equal(m('tcp_open_total', 'src'), 1, dump(e, 'tcp_open_total'));
    assert.equal(m('tcp_open_total', 'dst'), 1, dump(e, 'tcp_open_total'));
    assert.ok(m('tcp_read_bytes_total', 'src') >= data.length, dump(e, 'tcp_read_bytes_total'));
    assert.ok(m('tcp_write_bytes_total', 'dst') >= data.length, dump(e, 'tcp_write_bytes_total'));
    assert.ok(m('tcp_write_bytes_total', 'src') >= data.length, dump(e, 'tcp_write_bytes_total'));
    assert.equal(sumSamples(e, 'tcp_open_total', { direction: 'inbound' }), 0, 'nothing counted as inbound');
    await p.stop('SIGKILL');
  });
});
