/**
 * Issue 18 (High): `weft-client-id` forged through the opaque fallback. Inbound, on a port
 * that is not opaque, bytes that begin like an HTTP/1 request line but are not a valid one
 * were relayed to the application raw, forged header and all. They are refused with 400
 * and counted; what does not look like HTTP is still carried as TCP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RawHttpApp, startBannerApp, startRawHttpApp } from '../../helpers/apps.js';
import { Cleanup, RawConn, type TcpServer, waitFor } from '../../helpers/net.js';
import { scrape, sumSamples } from '../../helpers/prom.js';
import { baseArgs, type ProxyHandle, startProxy } from '../../helpers/proxy.js';

const T = { timeout: 30_000 };
const FORGED = 'weft-client-id: forged.serviceaccount.identity.weft.cluster.local';
const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

describe('inbound detection refuses malformed HTTP instead of relaying it', () => {
  const cleanup = new Cleanup();
  let app: RawHttpApp;
  let proxy: ProxyHandle;
  let banner: TcpServer;
  let bannerProxy: ProxyHandle;

  before(async () => {
    app = await startRawHttpApp(() => OK);
    cleanup.add(() => app.close());
    proxy = await startProxy([...baseArgs(app.port), '--detect-timeout', '300ms']);
    cleanup.add(() => proxy.stop('SIGKILL'));
    banner = await startBannerApp('220 ready\r\n');
    cleanup.add(() => banner.close());
    bannerProxy = await startProxy([...baseArgs(banner.port), '--detect-timeout', '300ms']);
    cleanup.add(() => bannerProxy.stop('SIGKILL'));
  });
  after(() => cleanup.run());

  const refused = async (): Promise<number> =>
    sumSamples(await scrape(proxy.admin), 'tcp_refused_total', {
      direction: 'inbound',
      reason: 'malformed_http',
    });

  /** Sends `first`, then (after `between`) `rest`; expects a 400 and the connection closed. */
  async function expectRefused(first: string, between?: () => Promise<void>, rest = ''): Promise<void> {
    const before = await refused();
    const c = await RawConn.connect(proxy.inbound.port);
    cleanup.add(() => c.destroy());
    c.write(first);
    if (between) await between();
    if (rest) c.write(rest);
    const answer = (await c.waitEnd(10_000)).toString('latin1');
    assert.match(answer, /^HTTP\/1\.1 400 /, `a 400, got ${JSON.stringify(answer.slice(0, 80))}`);
    assert.equal(await refused(), before + 1, 'counted in tcp_refused_total{reason="malformed_http"}');
    assert.ok(
      app.heads.every((h) => !h.includes('forged')),
      `the app saw a forged header: ${JSON.stringify(app.heads)}`,
    );
  }

  test('two spaces after the method (Node parses it) are refused, not relayed', T, async () => {
    await expectRefused(`GET  /x HTTP/1.1\r\nhost: a\r\n${FORGED}\r\n\r\n`);
  });

  test('a NUL byte in the request target is refused, not relayed', T, async () => {
    await expectRefused(`GET /x\0y HTTP/1.1\r\nhost: a\r\n${FORGED}\r\n\r\n`);
  });

  test('a request line begun before the detect timeout and finished after it is refused', T, async () => {
    const timeouts = async (): Promise<number> =>
      sumSamples(await scrape(proxy.admin), 'tcp_detect_timeout_total', { direction: 'inbound' });
    const t0 = await timeouts();
    await expectRefused(
      'G',
      () => waitFor(async () => (await timeouts()) > t0, 'the detect timeout to pass'),
      `ET /x HTTP/1.1\r\nhost: a\r\n${FORGED}\r\n\r\n`,
    );
  });

  test('a valid request still reaches the app, without the forged header', T, async () => {
    const c = await RawConn.connect(proxy.inbound.port);
    cleanup.add(() => c.destroy());
    c.write(`GET /fine HTTP/1.1\r\nhost: a\r\n${FORGED}\r\n\r\n`);
    const res = await c.readResponse();
    assert.equal(res.statusCode, 200);
    const head = app.heads.find((h) => h.startsWith('GET /fine '));
    assert.ok(head, 'the app got the request');
    assert.ok(!head.includes('forged'), head);
    c.destroy();
  });

  test(
    'a silent client on a port that is not opaque is still carried as TCP (server speaks first)',
    T,
    async () => {
      const c = await RawConn.connect(bannerProxy.inbound.port);
      cleanup.add(() => c.destroy());
      assert.equal((await c.readAtLeast(11, 10_000)).toString(), '220 ready\r\n');
      c.destroy();
    },
  );
});
