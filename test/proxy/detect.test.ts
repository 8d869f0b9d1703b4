/**
 * Inbound protocol detection: opaque ports skip it (server-speaks-first works), silent
 * clients are carried on as opaque TCP after --detect-timeout (so server-speaks-first
 * works on other ports too, late), and non-HTTP bytes are relayed as opaque TCP.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sha256, startBannerApp, startEchoApp, startTcpEchoApp } from '../helpers/apps.js';
import {
  adminRequest,
  Cleanup,
  LOOPBACK,
  RawConn,
  startTcpServer,
  type TcpServer,
  withTimeout,
} from '../helpers/net.js';
import { scrape, sumSamples } from '../helpers/prom.js';
import { baseArgs, type ProxyHandle, startBehindProxy, startProxy } from '../helpers/proxy.js';

const T = { timeout: 30_000 };
const BANNER = '220 banner.test ESMTP ready\r\n';

describe('inbound protocol detection', () => {
  const cleanup = new Cleanup();
  let banner: TcpServer;
  let echo: TcpServer & { received: () => number };
  let opaque: ProxyHandle; // banner app's port is opaque
  let detecting: ProxyHandle; // echo app, detection on, 300 ms detect timeout
  let lateBanner: ProxyHandle; // banner app on a port that is not opaque, 300 ms detect timeout

  before(async () => {
    banner = await startBannerApp(BANNER);
    cleanup.add(() => banner.close());
    echo = await startTcpEchoApp();
    cleanup.add(() => echo.close());
    opaque = await startProxy([...baseArgs(banner.port), '--opaque-ports', `5432,${banner.port},6379`]);
    cleanup.add(() => opaque.stop('SIGKILL'));
    detecting = await startProxy([...baseArgs(echo.port), '--detect-timeout', '300ms']);
    cleanup.add(() => detecting.stop('SIGKILL'));
    lateBanner = await startProxy([...baseArgs(banner.port), '--detect-timeout', '300ms']);
    cleanup.add(() => lateBanner.stop('SIGKILL'));
  });
  after(() => cleanup.run());

  test('opaque port: a server-speaks-first banner reaches a client that sent nothing', T, async () => {
    const c = await RawConn.connect(opaque.inbound.port);
    cleanup.add(() => c.destroy());
    const got = await c.readAtLeast(BANNER.length, 5_000);
    assert.equal(got.toString(), BANNER);
    // Then it is a plain two-way byte stream.
    c.write('EHLO client\r\n');
    assert.equal((await c.readAtLeast('EHLO client\r\n'.length)).toString(), 'EHLO client\r\n');
    c.destroy();
  });

  test('opaque port: HTTP-looking bytes are relayed untouched, not parsed', T, async () => {
    const c = await RawConn.connect(opaque.inbound.port);
    cleanup.add(() => c.destroy());
    await c.readAtLeast(BANNER.length);
    // Not valid HTTP (bad header line): an HTTP layer would answer 400; opaque relays it back.
    const req = 'GET / HTTP/1.1\r\nbad header line\r\n\r\n';
    c.write(req);
    assert.equal((await c.readAtLeast(req.length)).toString(), req);
    c.destroy();
  });

  test(
    'a client that sends nothing is carried on as TCP after --detect-timeout, and counted',
    T,
    async () => {
      const timeouts = async (): Promise<number> =>
        sumSamples(await scrape(lateBanner.admin), 'tcp_detect_timeout_total', { direction: 'inbound' });
      assert.equal(await timeouts(), 0);
      const c = await RawConn.connect(lateBanner.inbound.port);
      cleanup.add(() => c.destroy());
      const t0 = Date.now();
      // A server-speaks-first app on a port not listed as opaque: its banner still arrives.
      const got = await c.readAtLeast(BANNER.length, 10_000);
      assert.equal(got.toString(), BANNER);
      assert.ok(Date.now() - t0 >= 250, 'the banner came only once detection gave up');
      c.write('EHLO late\r\n');
      assert.equal((await c.readAtLeast('EHLO late\r\n'.length)).toString(), 'EHLO late\r\n');
      assert.equal(await timeouts(), 1);
      const opened = sumSamples(await scrape(lateBanner.admin), 'tcp_open_total', {
        direction: 'inbound',
        peer: 'dst',
      });
      assert.equal(opened, 1, 'one connection to the app');
      c.destroy();
    },
  );

  test('a client that half-closes without sending anything is not relayed', T, async () => {
    // Relayed, it would get the banner app's banner.
    const c = await RawConn.connect(lateBanner.inbound.port, LOOPBACK, true);
    cleanup.add(() => c.destroy());
    c.socket.end();
    await withTimeout(c.waitEnd(), 5_000, 'the proxy closes its side');
    assert.equal(c.received, 0);
  });

  test('non-HTTP bytes are relayed to the app as opaque TCP, both ways', T, async () => {
    const c = await RawConn.connect(detecting.inbound.port);
    cleanup.add(() => c.destroy());
    // Starts like no HTTP method or HTTP/2 preface; 1 MiB of it must come back intact.
    const data = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff]), randomBytes(1024 * 1024)]);
    c.write(data);
    const back = await c.readAtLeast(data.length, 15_000);
    assert.equal(back.length, data.length);
    assert.equal(sha256(back), sha256(data));
    c.destroy();
  });

  test('a short non-HTTP first message is relayed without waiting for the detect timeout', T, async () => {
    const q = await startProxy(baseArgs(echo.port)); // default 10 s detect timeout
    cleanup.add(() => q.stop('SIGKILL'));
    const c = await RawConn.connect(q.inbound.port);
    cleanup.add(() => c.destroy());
    c.write('\x00\x01hi\r\n');
    const back = await c.readAtLeast(6, 5_000);
    assert.equal(back.toString('latin1'), '\x00\x01hi\r\n');
    c.destroy();
    await q.stop('SIGKILL');
  });

  test('opaque TCP relays a half-close: the app sees EOF and its reply still arrives', T, async () => {
    const c = await RawConn.connect(detecting.inbound.port, '127.0.0.1', true);
    cleanup.add(() => c.destroy());
    const data = Buffer.from('\x01\x02\x03 half-close payload');
    c.write(data);
    // Wait for the echo so detection is over before the FIN.
    assert.equal((await c.readAtLeast(data.length)).toString('latin1'), data.toString('latin1'));
    c.socket.end();
    // The echo app ends its side when it sees EOF; that FIN must come back to us.
    await withTimeout(c.waitEnd(), 10_000, 'FIN relayed back through the proxy');
    c.destroy();
  });

  test('a text protocol line that starts like a method ("SET k v") is relayed as opaque TCP', T, async () => {
    const c = await RawConn.connect(detecting.inbound.port);
    cleanup.add(() => c.destroy());
    // Redis inline command: an upper-case word and a space, but no HTTP version on the line.
    const line = 'SET weft-key some-value\r\n';
    c.write(line);
    const back = await c.readAtLeast(line.length, 5_000);
    assert.equal(back.toString(), line, 'the app (an echo) got the bytes and answered them');
    c.destroy();
  });

  test('an HTTP/1 request that arrives one byte at a time is still detected as HTTP', T, async () => {
    const { p: q } = await startBehindProxy(cleanup, startEchoApp, ['--detect-timeout', '5s']);
    const c = await RawConn.connect(q.inbound.port);
    cleanup.add(() => c.destroy());
    c.socket.setNoDelay(true);
    const req = 'GET /byte-by-byte HTTP/1.1\r\nHost: bytes.test\r\n\r\n';
    for (const ch of req) {
      await new Promise<void>((resolve) => c.socket.write(ch, () => setImmediate(resolve)));
    }
    const res = await c.readResponse();
    assert.equal(res.statusCode, 200);
    assert.equal((JSON.parse(res.body.toString()) as { url: string }).url, '/byte-by-byte');
    await q.stop('SIGKILL');
  });

  test('opaque TCP: an app that closes first closes the client too', T, async () => {
    const closer = await startTcpServer((s) => {
      s.end('BYE\r\n');
    });
    cleanup.add(() => closer.close());
    const q = await startProxy([...baseArgs(closer.port), '--opaque-ports', String(closer.port)]);
    cleanup.add(() => q.stop('SIGKILL'));
    const c = await RawConn.connect(q.inbound.port);
    cleanup.add(() => c.destroy());
    const rest = await c.waitEnd(5_000);
    assert.equal(rest.toString(), 'BYE\r\n');
    await q.stop('SIGKILL');
  });

  test('the proxies are still live after the detection tests', T, async () => {
    assert.equal((await adminRequest(detecting.admin, '/live')).status, 200);
    assert.equal((await adminRequest(opaque.admin, '/live')).status, 200);
    assert.equal((await adminRequest(lateBanner.admin, '/live')).status, 200);
  });
});
