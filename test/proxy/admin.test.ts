/**
 * The admin listener (/live, /ready, /metrics, /shutdown) and graceful shutdown on
 * SIGTERM with requests in flight.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startEchoApp, startH2Server } from '../helpers/apps.js';
import { h2connect, h2request } from '../helpers/h2.js';
import {
  adminRequest,
  Cleanup,
  deferred,
  type HttpUpstream,
  RawConn,
  request,
  startHttpServer,
  tryConnect,
  waitFor,
  withTimeout,
} from '../helpers/net.js';
import { findSample, parseProm } from '../helpers/prom.js';
import { baseArgs, type ProxyHandle, startBehindProxy, startProxy } from '../helpers/proxy.js';

const T = { timeout: 30_000 };

describe('admin listener', () => {
  const cleanup = new Cleanup();
  let app: HttpUpstream;
  let p: ProxyHandle;

  before(async () => {
    ({ app, p } = await startBehindProxy(cleanup, startEchoApp));
  });
  after(() => cleanup.run());

  test('GET /live answers 200', T, async () => {
    assert.equal((await adminRequest(p.admin, '/live')).status, 200);
  });

  test('GET /ready answers 200 once the listeners are up', T, async () => {
    assert.equal((await adminRequest(p.admin, '/ready')).status, 200);
  });

  test('GET /metrics is Prometheus text with process metrics', T, async () => {
    const r = await adminRequest(p.admin, '/metrics');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    const exp = parseProm(r.body.toString());
    const rss = findSample(exp, 'process_resident_memory_bytes');
    assert.ok(
      rss && rss.value > 10 * 1024 * 1024,
      `process_resident_memory_bytes is plausible: ${rss?.value}`,
    );
    const cpu = findSample(exp, 'process_cpu_seconds_total');
    assert.ok(cpu && cpu.value > 0, `process_cpu_seconds_total > 0: ${cpu?.value}`);
    assert.ok(exp.types.size > 0, 'has # TYPE lines');
  });

  test('an unknown admin path answers 404', T, async () => {
    assert.equal((await adminRequest(p.admin, '/no-such-thing')).status, 404);
  });

  test(
    'POST /shutdown answers 404 without --enable-shutdown-endpoint and the proxy keeps running',
    T,
    async () => {
      const r = await adminRequest(p.admin, '/shutdown', 'POST');
      assert.equal(r.status, 404);
      assert.equal((await adminRequest(p.admin, '/live')).status, 200);
      assert.equal(p.proc.exitCode, null);
    },
  );

  test('POST /shutdown with --enable-shutdown-endpoint answers 200 and exits 0', T, async () => {
    const q = await startProxy([...baseArgs(app.port), '--enable-shutdown-endpoint']);
    cleanup.add(() => q.stop('SIGKILL'));
    const r = await adminRequest(q.admin, '/shutdown', 'POST');
    assert.equal(r.status, 200);
    assert.equal(await withTimeout(q.exited, 10_000, 'exit after POST /shutdown'), 0);
  });
});

/**
 * An app whose responses are held until the test releases them: it sends the headers
 * and a first chunk, reports the request, and finishes when `release` resolves.
 */
async function startSlowApp(): Promise<{
  app: HttpUpstream;
  arrived: Promise<void>;
  release: () => void;
}> {
  const arrived = deferred();
  const release = deferred();
  const app = await startHttpServer((req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first-part;');
    arrived.resolve();
    void release.promise.then(() => res.end('second-part'));
  });
  return { app, arrived: arrived.promise, release: () => release.resolve() };
}

describe('graceful shutdown', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  for (const side of ['inbound', 'outbound'] as const) {
    test(
      `SIGTERM: ${side} in-flight response completes, new connections are refused, exit 0`,
      T,
      async () => {
        const slow = await startSlowApp();
        cleanup.add(() => slow.app.close());
        const p = await startProxy(baseArgs(slow.app.port));
        cleanup.add(() => p.stop('SIGKILL'));
        const port = side === 'inbound' ? p.inbound.port : p.outbound.port;
        const path = side === 'inbound' ? '/slow' : `http://127.0.0.1:${slow.app.port}/slow`;
        const inflight = request({ host: '127.0.0.1', port, path });
        inflight.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled
        await withTimeout(slow.arrived, 10_000, 'the request to reach the app');
        p.proc.kill('SIGTERM');
        // Stops accepting: the listener closes, so a new connection is refused.
        await waitFor(
          async () => (await tryConnect(port)) !== 'connected',
          `${side} listener closed after SIGTERM`,
        );
        assert.equal(p.proc.exitCode, null, 'still running while a request is in flight');
        slow.release();
        const r = await inflight;
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), 'first-part;second-part', 'full body of the in-flight response');
        assert.equal(await withTimeout(p.exited, 10_000, 'exit after draining'), 0);
      },
    );
  }

  test('SIGTERM: an in-flight HTTP/2 stream completes before the proxy exits 0', T, async () => {
    const arrived = deferred();
    const release = deferred();
    const { p } = await startBehindProxy(cleanup, () =>
      startH2Server((stream) => {
        stream.respond({ ':status': 200 });
        stream.write('h2-first;');
        arrived.resolve();
        void release.promise.then(() => stream.end('h2-second'));
      }),
    );
    const s = await h2connect(p.inbound.port);
    cleanup.add(() => s.destroy());
    const inflight = h2request(s, { ':path': '/slow', ':authority': 'h2.drain.test' });
    inflight.catch(() => {}); // awaited below
    await withTimeout(arrived.promise, 10_000, 'the stream to reach the app');
    p.proc.kill('SIGTERM');
    await waitFor(async () => (await tryConnect(p.inbound.port)) !== 'connected', 'inbound listener closed');
    assert.equal(p.proc.exitCode, null, 'still running while a stream is in flight');
    release.resolve();
    const r = await inflight;
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'h2-first;h2-second');
    assert.equal(await withTimeout(p.exited, 10_000, 'exit after draining HTTP/2'), 0);
  });

  test('SIGTERM with only an idle keep-alive connection exits promptly with 0', T, async () => {
    const { p } = await startBehindProxy(cleanup, startEchoApp);
    const c = await RawConn.connect(p.inbound.port);
    cleanup.add(() => c.destroy());
    c.write('GET /idle HTTP/1.1\r\nHost: app\r\n\r\n');
    const res = await c.readResponse();
    assert.equal(res.statusCode, 200);
    const t0 = Date.now();
    p.proc.kill('SIGTERM');
    // The default grace period is 30 s; an idle connection must not hold the proxy that long.
    const code = await withTimeout(p.exited, 10_000, 'exit with an idle keep-alive connection open');
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 10_000);
  });

  test(
    'SIGTERM: a request still in flight after --shutdown-grace-period does not keep the proxy alive',
    T,
    async () => {
      const slow = await startSlowApp();
      cleanup.add(() => slow.app.close());
      cleanup.add(() => slow.release());
      const p = await startProxy([...baseArgs(slow.app.port), '--shutdown-grace-period', '500ms']);
      cleanup.add(() => p.stop('SIGKILL'));
      const inflight = request({ host: '127.0.0.1', port: p.inbound.port, path: '/never' }).catch(
        (e: Error) => e,
      );
      await withTimeout(slow.arrived, 10_000, 'the request to reach the app');
      const t0 = Date.now();
      p.proc.kill('SIGTERM');
      await withTimeout(p.exited, 8_000, 'exit after the 500 ms grace period');
      const took = Date.now() - t0;
      assert.ok(took >= 400, `waited for the grace period before giving up (${took} ms)`);
      const r = await inflight;
      assert.ok(
        r instanceof Error || r.body.toString() !== 'first-part;second-part',
        'the held response was cut',
      );
    },
  );
});
