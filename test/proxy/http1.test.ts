/**
 * HTTP/1.1 through the outbound listener (absolute-form, origin-form with Host, curl -x)
 * and the inbound listener: faithful forwarding, keep-alive and pooling, hop-by-hop
 * header handling, and error answers (400, 431, 502, 504).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  type Echo,
  headValues,
  type RawHttpApp,
  rawHeaderValues,
  sha256,
  startEchoApp,
  startRawHttpApp,
} from '../helpers/apps.js';
import {
  adminRequest,
  type Blackhole,
  Cleanup,
  type HttpUpstream,
  headerValues,
  RawConn,
  rawExchange,
  refusedPort,
  request,
  startBlackhole,
  viaOutbound,
} from '../helpers/net.js';
import { baseArgs, type ProxyHandle, startProxy } from '../helpers/proxy.js';

const T = { timeout: 30_000 };
const run = promisify(execFile);

function echoOf(body: Buffer): Echo {
  return JSON.parse(body.toString()) as Echo;
}

type Side = 'inbound' | 'outbound';

describe('HTTP/1.1 proxying', () => {
  const cleanup = new Cleanup();
  let app: HttpUpstream;
  let rawApp: RawHttpApp;
  let p: ProxyHandle; // inbound -> echo app
  let pr: ProxyHandle; // inbound -> raw app
  let hole: Blackhole;
  let gone: number;

  const RAW_RESPONSE =
    'HTTP/1.1 200 OK\r\n' +
    'Connection: X-Resp-Hop\r\n' +
    'X-Resp-Hop: secret\r\n' +
    'Keep-Alive: timeout=77, max=99\r\n' +
    'Proxy-Connection: keep-alive\r\n' +
    'Upgrade: foo/1\r\n' +
    'Set-Cookie: a=1; Path=/\r\n' +
    'Set-Cookie: b=2; Path=/\r\n' +
    'X-E2E: one\r\n' +
    'X-E2E: two\r\n' +
    'X-Spaces: a  b\tc\r\n' +
    'Transfer-Encoding: chunked\r\n' +
    '\r\n' +
    '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';

  before(async () => {
    app = await startEchoApp();
    cleanup.add(() => app.close());
    rawApp = await startRawHttpApp(() => RAW_RESPONSE);
    cleanup.add(() => rawApp.close());
    hole = await startBlackhole();
    cleanup.add(() => hole.close());
    gone = await refusedPort();
    p = await startProxy(baseArgs(app.port));
    cleanup.add(() => p.stop('SIGKILL'));
    pr = await startProxy(baseArgs(rawApp.port));
    cleanup.add(() => pr.stop('SIGKILL'));
  });
  after(() => cleanup.run());

  /** Port and request-target for a request to the echo app through `side`. */
  function via(side: Side, path: string, appPort = app.port): { port: number; target: string; host: string } {
    return side === 'inbound'
      ? { port: p.inbound.port, target: path, host: 'echo.app.test' }
      : { port: p.outbound.port, target: `http://127.0.0.1:${appPort}${path}`, host: `127.0.0.1:${appPort}` };
  }

  async function stillServes(side: Side): Promise<void> {
    const v = via(side, '/after-bad');
    const r = await request({ host: '127.0.0.1', port: v.port, path: v.target, headers: { host: v.host } });
    assert.equal(r.status, 200, 'a good request right after the bad one succeeds');
    assert.equal(echoOf(r.body).url, '/after-bad');
    assert.equal((await adminRequest(p.admin, '/live')).status, 200);
  }

  // ---- outbound specifics ----

  test('outbound: absolute-form request is sent upstream in origin-form with its Host', T, async () => {
    const r = await viaOutbound(
      p.outbound,
      `http://127.0.0.1:${app.port}/abs/path?q=1&r=two`,
      {
        method: 'PUT',
        headers: { 'content-type': 'text/plain' },
      },
      'put-body',
    );
    assert.equal(r.status, 200);
    const e = echoOf(r.body);
    assert.equal(e.method, 'PUT');
    assert.equal(e.url, '/abs/path?q=1&r=two');
    assert.deepEqual(rawHeaderValues(e.rawHeaders, 'host'), [`127.0.0.1:${app.port}`]);
    assert.equal(e.bodySha256, sha256('put-body'));
    assert.equal(r.headers['content-type'], 'application/json', 'response header passes through');
  });

  test('outbound: curl -x http://proxy works', T, async () => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/_proxy$/i.test(k)) env[k] = v;
    const { stdout } = await run(
      'curl',
      [
        '-sS',
        '--max-time',
        '10',
        '-x',
        `http://127.0.0.1:${p.outbound.port}`,
        `http://127.0.0.1:${app.port}/via-curl`,
      ],
      { env },
    );
    assert.equal(echoOf(Buffer.from(stdout)).url, '/via-curl');
  });

  test('outbound: origin-form request is routed by its Host header', T, async () => {
    const { res } = await rawExchange(
      p.outbound.port,
      `GET /origin-form HTTP/1.1\r\nHost: 127.0.0.1:${app.port}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(res.statusCode, 200);
    assert.equal(echoOf(res.body).url, '/origin-form');
  });

  test('outbound: a target named localhost resolves by DNS', T, async () => {
    const r = await viaOutbound(p.outbound, `http://localhost:${app.port}/lh`);
    assert.equal(r.status, 200);
    assert.equal(echoOf(r.body).url, '/lh');
  });

  test('outbound: an absolute-form target without a path is sent upstream as /', T, async () => {
    const { res } = await rawExchange(
      p.outbound.port,
      `GET http://127.0.0.1:${app.port} HTTP/1.1\r\nHost: 127.0.0.1:${app.port}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(res.statusCode, 200);
    assert.equal(echoOf(res.body).url, '/');
  });

  test('outbound: one client connection alternating between two targets never crosses them', T, async () => {
    const other = await startEchoApp();
    cleanup.add(() => other.close());
    const c = await RawConn.connect(p.outbound.port);
    cleanup.add(() => c.destroy());
    const before = { a: app.requests, b: other.requests };
    for (let i = 0; i < 10; i++) {
      const port = i % 2 === 0 ? app.port : other.port;
      c.write(`GET http://127.0.0.1:${port}/alt/${i} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      const res = await c.readResponse();
      assert.equal(res.statusCode, 200);
      const e = echoOf(res.body);
      assert.equal(e.url, `/alt/${i}`);
      assert.deepEqual(rawHeaderValues(e.rawHeaders, 'host'), [`127.0.0.1:${port}`]);
    }
    assert.equal(app.requests - before.a, 5, 'five requests reached the first target');
    assert.equal(other.requests - before.b, 5, 'five requests reached the second target');
  });

  test('outbound: CONNECT to localhost:port resolves by DNS', T, async () => {
    const c = await RawConn.connect(p.outbound.port);
    cleanup.add(() => c.destroy());
    c.write(`CONNECT localhost:${app.port} HTTP/1.1\r\nHost: localhost:${app.port}\r\n\r\n`);
    const res = await c.readResponse({ head: true });
    assert.equal(res.statusCode, 200);
    c.write(`GET /in-tunnel HTTP/1.1\r\nHost: localhost:${app.port}\r\n\r\n`);
    const inner = await c.readResponse();
    assert.equal(inner.statusCode, 200);
    assert.equal(echoOf(inner.body).url, '/in-tunnel');
  });

  test('outbound: refused upstream answers 502 with weft-proxy-error', T, async () => {
    const r = await viaOutbound(p.outbound, `http://127.0.0.1:${gone}/`);
    assert.equal(r.status, 502);
    assert.match(String(r.headers['weft-proxy-error']), /refused/i);
    await stillServes('outbound');
  });

  test('outbound: connect timeout (default 1 s) answers 504 with weft-proxy-error', T, async () => {
    const t0 = Date.now();
    const r = await viaOutbound(p.outbound, `http://127.0.0.1:${hole.port}/`);
    const ms = Date.now() - t0;
    assert.equal(r.status, 504);
    assert.match(String(r.headers['weft-proxy-error']), /time(d)? ?out/i);
    assert.ok(ms >= 900 && ms < 5_000, `took ${ms} ms for a 1 s connect timeout`);
    await stillServes('outbound');
  });

  test('outbound: --outbound-connect-timeout is honoured', T, async () => {
    const q = await startProxy([...baseArgs(app.port), '--outbound-connect-timeout', '300ms']);
    cleanup.add(() => q.stop('SIGKILL'));
    const t0 = Date.now();
    const r = await viaOutbound(q.outbound, `http://127.0.0.1:${hole.port}/`);
    const ms = Date.now() - t0;
    assert.equal(r.status, 504);
    assert.ok(ms >= 250 && ms < 900, `took ${ms} ms for a 300 ms connect timeout`);
    await q.stop('SIGKILL');
  });

  // ---- inbound specifics ----

  test('inbound: forwards to --inbound-forward with Host, method, path and body unchanged', T, async () => {
    const body = Buffer.alloc(100_000, 'z');
    const r = await request(
      {
        host: '127.0.0.1',
        port: p.inbound.port,
        path: '/in/x?y=1',
        method: 'POST',
        headers: { host: 'svc.ns:8080' },
      },
      body,
    );
    assert.equal(r.status, 200);
    const e = echoOf(r.body);
    assert.equal(e.method, 'POST');
    assert.equal(e.url, '/in/x?y=1');
    assert.deepEqual(rawHeaderValues(e.rawHeaders, 'host'), ['svc.ns:8080']);
    assert.equal(e.bodyLength, body.length);
    assert.equal(e.bodySha256, sha256(body));
  });

  test('inbound: refused app answers 502 with weft-proxy-error', T, async () => {
    const q = await startProxy(baseArgs(gone));
    cleanup.add(() => q.stop('SIGKILL'));
    const r = await request({ host: '127.0.0.1', port: q.inbound.port, path: '/' });
    assert.equal(r.status, 502);
    assert.match(String(r.headers['weft-proxy-error']), /refused/i);
    assert.equal((await adminRequest(q.admin, '/live')).status, 200);
    await q.stop('SIGKILL');
  });

  test('inbound: connect timeout (default 100 ms) answers 504 with weft-proxy-error', T, async () => {
    const q = await startProxy(baseArgs(hole.port));
    cleanup.add(() => q.stop('SIGKILL'));
    const t0 = Date.now();
    const r = await request({ host: '127.0.0.1', port: q.inbound.port, path: '/' });
    const ms = Date.now() - t0;
    assert.equal(r.status, 504);
    assert.match(String(r.headers['weft-proxy-error']), /time(d)? ?out/i);
    assert.ok(ms >= 80 && ms < 900, `took ${ms} ms for a 100 ms connect timeout`);
    await q.stop('SIGKILL');
  });

  test('inbound: --inbound-connect-timeout is honoured', T, async () => {
    const q = await startProxy([...baseArgs(hole.port), '--inbound-connect-timeout', '600ms']);
    cleanup.add(() => q.stop('SIGKILL'));
    const t0 = Date.now();
    const r = await request({ host: '127.0.0.1', port: q.inbound.port, path: '/' });
    const ms = Date.now() - t0;
    assert.equal(r.status, 504);
    assert.ok(ms >= 550 && ms < 3_000, `took ${ms} ms for a 600 ms connect timeout`);
    await q.stop('SIGKILL');
  });

  // ---- both sides ----

  for (const side of ['inbound', 'outbound'] as Side[]) {
    test(`${side}: keep-alive — 20 requests on one client connection, pooled upstream`, T, async () => {
      const fresh = await startEchoApp();
      cleanup.add(() => fresh.close());
      const q = side === 'inbound' ? await startProxy(baseArgs(fresh.port)) : p;
      if (q !== p) cleanup.add(() => q.stop('SIGKILL'));
      const port = side === 'inbound' ? q.inbound.port : q.outbound.port;
      const c = await RawConn.connect(port);
      cleanup.add(() => c.destroy());
      for (let i = 0; i < 20; i++) {
        const target = side === 'inbound' ? `/ka/${i}` : `http://127.0.0.1:${fresh.port}/ka/${i}`;
        c.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${fresh.port}\r\n\r\n`);
        const res = await c.readResponse();
        assert.equal(res.statusCode, 200, `request ${i}`);
        assert.equal(echoOf(res.body).url, `/ka/${i}`);
        assert.equal(c.ended, false, `the proxy kept the client connection open after request ${i}`);
      }
      assert.equal(fresh.requests, 20);
      assert.ok(fresh.connections < 20, `upstream saw ${fresh.connections} connections for 20 requests`);
      assert.ok(fresh.connections <= 2, `upstream connections reused: ${fresh.connections}`);
      c.destroy();
      if (q !== p) await q.stop('SIGKILL');
    });

    test(
      `${side}: keep-alive survives response bodies of every size (pooled upstream reuse)`,
      T,
      async () => {
        const fresh = await startEchoApp();
        cleanup.add(() => fresh.close());
        const q = side === 'inbound' ? await startProxy(baseArgs(fresh.port)) : p;
        if (q !== p) cleanup.add(() => q.stop('SIGKILL'));
        const port = side === 'inbound' ? q.inbound.port : q.outbound.port;
        const target = side === 'inbound' ? '/size' : `http://127.0.0.1:${fresh.port}/size`;
        const sizes = [10, 16_383, 16_384, 20_000, 70_000, 1024 * 1024, 10, 50_000, 0, 10];
        // On one client connection...
        const c = await RawConn.connect(port);
        cleanup.add(() => c.destroy());
        for (const [i, size] of sizes.entries()) {
          c.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${fresh.port}\r\nX-Size: ${size}\r\n\r\n`);
          const res = await c.readResponse({ timeoutMs: 5_000 }).catch((e: Error) => {
            throw new Error(
              `request ${i} (${size} bytes) after a ${sizes[i - 1]}-byte response: ${e.message}`,
            );
          });
          assert.equal(res.statusCode, 200);
          assert.equal(res.body.length, size, `request ${i}`);
        }
        c.destroy();
        // ...and on a new client connection per request, where only the upstream pool is shared.
        for (const [i, size] of sizes.entries()) {
          const r = await request(
            { host: '127.0.0.1', port, path: target, headers: { 'x-size': String(size) } },
            undefined,
            5_000,
          ).catch((e: Error) => {
            throw new Error(
              `request ${i} (${size} bytes) after a ${sizes[i - 1]}-byte response: ${e.message}`,
            );
          });
          assert.equal(r.status, 200);
          assert.equal(r.body.length, size, `request ${i}`);
        }
        if (q !== p) await q.stop('SIGKILL');
      },
    );

    test(`${side}: upstream connections are pooled across client connections`, T, async () => {
      const fresh = await startEchoApp();
      cleanup.add(() => fresh.close());
      const q = side === 'inbound' ? await startProxy(baseArgs(fresh.port)) : p;
      if (q !== p) cleanup.add(() => q.stop('SIGKILL'));
      const port = side === 'inbound' ? q.inbound.port : q.outbound.port;
      for (let i = 0; i < 10; i++) {
        const target = side === 'inbound' ? `/pool/${i}` : `http://127.0.0.1:${fresh.port}/pool/${i}`;
        const r = await request({ host: '127.0.0.1', port, path: target });
        assert.equal(r.status, 200);
      }
      assert.equal(fresh.requests, 10);
      assert.ok(
        fresh.connections < 10,
        `upstream saw ${fresh.connections} connections for 10 sequential requests`,
      );
      if (q !== p) await q.stop('SIGKILL');
    });

    test(`${side}: hop-by-hop request headers are removed, end-to-end ones pass unchanged`, T, async () => {
      const v = via(side, '/hop');
      const c = await RawConn.connect(v.port);
      cleanup.add(() => c.destroy());
      c.write(
        `POST ${v.target} HTTP/1.1\r\n` +
          `Host: ${v.host}\r\n` +
          'Connection: keep-alive, X-Hop-A\r\n' +
          'X-Hop-A: must-not-pass\r\n' +
          'Keep-Alive: timeout=99\r\n' +
          'Proxy-Connection: keep-alive\r\n' +
          'TE: trailers, deflate\r\n' +
          'Upgrade: h2c\r\n' +
          'X-Dup: one\r\n' +
          'X-Dup: two\r\n' +
          'Accept: text/plain\r\n' +
          'Accept: application/json\r\n' +
          'X-Spaces: a  b\tc\r\n' +
          'Transfer-Encoding: chunked\r\n' +
          '\r\n' +
          '4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n',
      );
      const res = await c.readResponse();
      assert.equal(res.statusCode, 200);
      const e = echoOf(res.body);
      const h = (n: string): string[] => rawHeaderValues(e.rawHeaders, n);
      assert.deepEqual(h('x-hop-a'), [], 'header named in Connection removed');
      assert.ok(
        !h('connection').join(',').toLowerCase().includes('x-hop-a'),
        `Connection: ${h('connection')}`,
      );
      assert.ok(!h('keep-alive').join(',').includes('timeout=99'), `Keep-Alive: ${h('keep-alive')}`);
      assert.deepEqual(h('proxy-connection'), [], 'Proxy-Connection removed');
      assert.deepEqual(h('upgrade'), [], 'Upgrade removed when not upgrading');
      const te = h('te');
      assert.ok(te.length === 0 || (te.length === 1 && te[0]?.toLowerCase() === 'trailers'), `TE: ${te}`);
      assert.deepEqual(h('x-dup'), ['one', 'two'], 'duplicate end-to-end header kept as sent');
      assert.deepEqual(h('accept'), ['text/plain', 'application/json']);
      assert.deepEqual(h('x-spaces'), ['a  b\tc']);
      assert.equal(e.bodyLength, 7, 'chunked body re-framed intact');
      assert.equal(e.bodySha256, sha256('abcdefg'));
      c.destroy();
    });

    test(`${side}: hop-by-hop response headers are removed, end-to-end ones pass unchanged`, T, async () => {
      const port = side === 'inbound' ? pr.inbound.port : pr.outbound.port;
      const target = side === 'inbound' ? '/raw' : `http://127.0.0.1:${rawApp.port}/raw`;
      const c = await RawConn.connect(port);
      cleanup.add(() => c.destroy());
      c.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${rawApp.port}\r\n\r\n`);
      const res = await c.readResponse();
      assert.equal(res.statusCode, 200);
      assert.equal(res.body.toString(), 'hello world', 'body re-framed intact');
      assert.deepEqual(headerValues(res, 'x-resp-hop'), [], 'header named in Connection removed');
      const conn = headerValues(res, 'connection').join(',').toLowerCase();
      assert.ok(!conn.includes('x-resp-hop'), `Connection: ${conn}`);
      assert.ok(
        !headerValues(res, 'keep-alive').join(',').includes('timeout=77'),
        'upstream Keep-Alive removed',
      );
      assert.deepEqual(headerValues(res, 'proxy-connection'), []);
      assert.deepEqual(headerValues(res, 'upgrade'), [], 'Upgrade removed when not upgrading');
      assert.deepEqual(headerValues(res, 'set-cookie'), ['a=1; Path=/', 'b=2; Path=/']);
      assert.deepEqual(headerValues(res, 'x-e2e'), ['one', 'two']);
      assert.deepEqual(headerValues(res, 'x-spaces'), ['a  b\tc']);
      const last = rawApp.heads[rawApp.heads.length - 1] ?? '';
      assert.match(last.split('\r\n')[0] ?? '', /^GET \/raw HTTP\/1\.1$/, 'upstream got origin-form');
      assert.deepEqual(headValues(last, 'host'), [`127.0.0.1:${rawApp.port}`]);
      c.destroy();
    });

    test(`${side}: a malformed request gets 400 and the connection is closed`, T, async () => {
      const v = via(side, '/');
      const { res, closed } = await rawExchange(
        v.port,
        `GET ${v.target} HTTP/1.1\r\nHost: ${v.host}\r\nbad header line\r\n\r\n`,
      );
      assert.equal(res.statusCode, 400);
      assert.ok(closed, 'connection closed after the 400');
      await stillServes(side);
    });

    test(`${side}: an invalid Content-Length gets 400`, T, async () => {
      const v = via(side, '/');
      const { res, closed } = await rawExchange(
        v.port,
        `GET ${v.target} HTTP/1.1\r\nContent-Length: abc\r\n\r\n`,
      );
      assert.equal(res.statusCode, 400);
      assert.ok(closed, 'connection closed after the 400');
      await stillServes(side);
    });

    test(`${side}: request headers over 64 KiB get 431`, T, async () => {
      const v = via(side, '/big');
      let head = `GET ${v.target} HTTP/1.1\r\nHost: ${v.host}\r\n`;
      for (let i = 0; i < 80; i++) head += `X-Big-${i}: ${'b'.repeat(1000)}\r\n`;
      const c = await RawConn.connect(v.port);
      cleanup.add(() => c.destroy());
      c.write(`${head}\r\n`);
      const res = await c.readResponse();
      assert.equal(res.statusCode, 431);
      c.destroy();
      await stillServes(side);
    });

    test(`${side}: request headers of 40 KiB (under the 64 KiB limit) are forwarded`, T, async () => {
      // Its own proxy: the 40 KiB echo answer must not leave state behind for the other tests.
      const q = await startProxy(baseArgs(app.port));
      cleanup.add(() => q.stop('SIGKILL'));
      const v = via(side, '/biggish');
      const port = side === 'inbound' ? q.inbound.port : q.outbound.port;
      const headers: http.OutgoingHttpHeaders = { host: v.host };
      for (let i = 0; i < 40; i++) headers[`x-big-${i}`] = 'b'.repeat(1000);
      const r = await request({ host: '127.0.0.1', port, path: v.target, headers });
      assert.equal(r.status, 200);
      const e = echoOf(r.body);
      assert.equal(rawHeaderValues(e.rawHeaders, 'x-big-39')[0]?.length, 1000);
      await q.stop('SIGKILL');
    });

    test(`${side}: an upstream 5xx passes through unmarked`, T, async () => {
      const v = via(side, '/status');
      const r = await request({
        host: '127.0.0.1',
        port: v.port,
        path: v.target,
        headers: { host: v.host, 'x-status': '503' },
      });
      assert.equal(r.status, 503, 'an upstream 5xx is relayed as is');
      assert.equal(r.headers['weft-proxy-error'], undefined, 'not marked as a proxy error');
      assert.equal(echoOf(r.body).url, '/status');
    });
  }
});
