/**
 * The proxy never crashes on what a peer sends: junk, resets mid-request, half-closed
 * sockets, broken framing, misbehaving upstreams. After each barrage it must still be
 * /live and still proxy a good request.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type Echo, startEchoApp, startH2Server, startRawHttpApp } from '../helpers/apps.js';
import {
  adminRequest,
  Cleanup,
  deferred,
  type HttpUpstream,
  request,
  startHttpServer,
  startTcpServer,
  viaOutbound,
  waitFor,
  withTimeout,
} from '../helpers/net.js';
import { baseArgs, type ProxyHandle, startBehindProxy, startProxy } from '../helpers/proxy.js';

const T = { timeout: 60_000 };
const H2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

type Ending = 'end' | 'reset' | 'close-after-reply';

/** Opens a connection, writes `data`, and ends it as told; never throws. */
async function abuse(port: number, data: Array<string | Buffer>, ending: Ending): Promise<void> {
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  s.on('error', () => {});
  s.resume();
  try {
    await withTimeout(once(s, 'connect'), 5_000, 'connect');
    for (const d of data) s.write(d);
    if (ending === 'reset') {
      s.resetAndDestroy();
      return;
    }
    if (ending === 'close-after-reply') {
      await withTimeout(once(s, 'data'), 2_000, 'a reply').catch(() => {});
      s.resetAndDestroy();
      return;
    }
    s.end();
    // Give the proxy a moment to finish with the half-closed socket; not an assertion.
    await withTimeout(once(s, 'close'), 1_500, 'close').catch(() => {});
  } catch {
    // Whatever happened to this connection, only the proxy's health matters.
  } finally {
    s.destroy();
  }
}

/** Every abusive exchange, for a listener reached with request-target `target` and Host `host`. */
function barrage(target: string, host: string): Array<[Array<string | Buffer>, Ending]> {
  const head = `POST ${target} HTTP/1.1\r\nHost: ${host}\r\n`;
  return [
    [[randomBytes(64 * 1024)], 'end'],
    [[randomBytes(64 * 1024)], 'reset'],
    [[], 'reset'],
    [[], 'end'],
    [['GET /par'], 'reset'],
    [['GET /par'], 'end'],
    [[`${head}Content-Length: 1000000\r\n\r\n`, '0123456789'], 'reset'],
    [[`${head}Content-Length: 1000000\r\n\r\n`, '0123456789'], 'end'],
    [[`${head}Transfer-Encoding: chunked\r\n\r\n`, 'a\r\n0123'], 'reset'],
    [[`${head}Transfer-Encoding: chunked\r\n\r\nzz\r\nnot-a-chunk\r\n`], 'end'],
    [
      [
        `${head}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n`,
      ],
      'end',
    ],
    [[`${head}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`], 'end'],
    [[`${head}Content-Length: 4\r\n\r\nbody`], 'reset'],
    [[`${head}Content-Length: 4\r\n\r\nbody`], 'close-after-reply'],
    [[`${head}Expect: 100-continue\r\nContent-Length: 10\r\n\r\n`], 'end'],
    [[`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nX-Huge: ${'h'.repeat(2 * 1024 * 1024)}`], 'end'],
    [[`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`.repeat(50)], 'reset'],
    [
      [
        `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
        randomBytes(4096),
      ],
      'reset',
    ],
    [[`GET ${target} HTTP/9.9\r\nHost: ${host}\r\n\r\n`], 'end'],
    [['\r\n\r\n\r\n\r\n'], 'end'],
    [[Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])], 'end'],
    [[H2_PREFACE, randomBytes(4096)], 'end'],
    [[H2_PREFACE], 'reset'],
    [[H2_PREFACE, Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])], 'reset'],
    [[H2_PREFACE, Buffer.from([0, 0xff, 0xff, 1, 4, 0, 0, 0, 1]), randomBytes(1000)], 'end'],
  ];
}

describe('robustness against misbehaving clients', () => {
  const cleanup = new Cleanup();
  let app: HttpUpstream;
  let p: ProxyHandle;

  before(async () => {
    ({ app, p } = await startBehindProxy(cleanup, startEchoApp, ['--detect-timeout', '500ms']));
  });
  after(() => cleanup.run());

  async function assertHealthy(): Promise<void> {
    assert.equal(p.proc.exitCode, null, `proxy exited; stderr:\n${p.stderrLines.slice(-20).join('\n')}`);
    assert.equal((await adminRequest(p.admin, '/live')).status, 200);
    const i = await request({ host: '127.0.0.1', port: p.inbound.port, path: '/good' });
    assert.equal(i.status, 200);
    assert.equal((JSON.parse(i.body.toString()) as Echo).url, '/good');
    const o = await viaOutbound(p.outbound, `http://127.0.0.1:${app.port}/good`);
    assert.equal(o.status, 200);
  }

  test('inbound listener survives junk, resets and half-closes', T, async () => {
    await Promise.all(barrage('/abuse', 'abuse.test').map(([d, e]) => abuse(p.inbound.port, d, e)));
    await assertHealthy();
  });

  test('outbound listener survives junk, resets and half-closes', T, async () => {
    const target = `http://127.0.0.1:${app.port}/abuse`;
    await Promise.all(barrage(target, `127.0.0.1:${app.port}`).map(([d, e]) => abuse(p.outbound.port, d, e)));
    const connect = `CONNECT 127.0.0.1:${app.port} HTTP/1.1\r\nHost: 127.0.0.1:${app.port}\r\n\r\n`;
    await Promise.all([
      abuse(p.outbound.port, [connect, randomBytes(10_000)], 'reset'),
      abuse(p.outbound.port, [connect, randomBytes(10_000)], 'end'),
      abuse(p.outbound.port, [connect], 'reset'),
      abuse(p.outbound.port, ['CONNECT nonsense HTTP/1.1\r\n\r\n'], 'end'),
      abuse(p.outbound.port, ['CONNECT 127.0.0.1:99999 HTTP/1.1\r\n\r\n'], 'end'),
      abuse(p.outbound.port, [`GET http://[::1:${app.port}/ HTTP/1.1\r\n\r\n`], 'end'),
      abuse(p.outbound.port, ['GET /no-host HTTP/1.1\r\n\r\n'], 'end'),
      abuse(p.outbound.port, ['GET http://127.0.0.1:0/ HTTP/1.1\r\nHost: 127.0.0.1:0\r\n\r\n'], 'end'),
    ]);
    await assertHealthy();
  });

  test('admin listener survives junk, resets and half-closes', T, async () => {
    await Promise.all(barrage('/metrics', 'admin').map(([d, e]) => abuse(p.admin.port, d, e)));
    await assertHealthy();
  });

  test('HTTP/2 clients that cancel streams or vanish mid-request', T, async () => {
    for (const port of [p.inbound.port, p.outbound.port]) {
      const s = http2.connect(`http://127.0.0.1:${port}`);
      s.on('error', () => {});
      await withTimeout(once(s, 'connect'), 5_000, 'h2 connect');
      const authority = `127.0.0.1:${app.port}`;
      const streams = Array.from({ length: 5 }, (_, i) => {
        const r = s.request({ ':method': 'POST', ':path': `/h2-abuse/${i}`, ':authority': authority });
        r.on('error', () => {});
        r.write(randomBytes(1000));
        return r;
      });
      streams[0]?.close(http2.constants.NGHTTP2_CANCEL);
      streams[1]?.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      s.destroy();
    }
    await assertHealthy();
  });

  test('a client that resets mid-download makes the proxy abandon the upstream response', T, async () => {
    const aborted = deferred();
    const started = deferred();
    const streamer = await startHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const block = Buffer.alloc(64 * 1024, 1);
      const pump = (): void => {
        while (!res.destroyed && res.write(block)) {
          // keep writing until back-pressure
        }
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => {
        if (!res.writableFinished) aborted.resolve();
      });
      started.resolve();
      pump();
    });
    cleanup.add(() => streamer.close());
    const s = net.connect(p.outbound.port, '127.0.0.1');
    s.on('error', () => {});
    await once(s, 'connect');
    s.write(
      `GET http://127.0.0.1:${streamer.port}/endless HTTP/1.1\r\nHost: 127.0.0.1:${streamer.port}\r\n\r\n`,
    );
    await withTimeout(once(s, 'data'), 10_000, 'the first bytes of the endless download');
    await withTimeout(started.promise, 10_000, 'the app to start streaming');
    s.resetAndDestroy();
    await withTimeout(
      aborted.promise,
      10_000,
      'the app to see its response abandoned after the client reset',
    );
    await assertHealthy();
  });
});

describe('robustness against misbehaving upstreams', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  async function proxyTo(port: number): Promise<ProxyHandle> {
    const q = await startProxy(baseArgs(port));
    cleanup.add(() => q.stop('SIGKILL'));
    return q;
  }

  test('an app that closes without answering gets the client a 502', T, async () => {
    const app = await startTcpServer((s) => {
      s.once('data', () => s.end());
    });
    cleanup.add(() => app.close());
    const q = await proxyTo(app.port);
    const i = await request({ host: '127.0.0.1', port: q.inbound.port, path: '/' });
    assert.equal(i.status, 502);
    assert.ok(i.headers['weft-proxy-error'], 'weft-proxy-error explains the 502');
    const o = await viaOutbound(q.outbound, `http://127.0.0.1:${app.port}/`);
    assert.equal(o.status, 502);
    assert.equal((await adminRequest(q.admin, '/live')).status, 200);
  });

  test('an app that answers garbage gets the client a 502', T, async () => {
    const app = await startRawHttpApp(() => 'THIS IS NOT HTTP\r\n\r\n');
    cleanup.add(() => app.close());
    const q = await proxyTo(app.port);
    const i = await request({ host: '127.0.0.1', port: q.inbound.port, path: '/' });
    assert.equal(i.status, 502);
    const o = await viaOutbound(q.outbound, `http://127.0.0.1:${app.port}/`);
    assert.equal(o.status, 502);
    assert.equal((await adminRequest(q.admin, '/live')).status, 200);
  });

  test(
    'an app that resets mid-response or under-delivers its Content-Length does not crash the proxy',
    T,
    async () => {
      let n = 0;
      const app = await startTcpServer((s) => {
        s.once('data', () => {
          n++;
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
          s.write(Buffer.alloc(1000, 'x'));
          if (n % 2 === 0) s.resetAndDestroy();
          else s.end();
        });
      });
      cleanup.add(() => app.close());
      const q = await proxyTo(app.port);
      for (let i = 0; i < 4; i++) {
        const port = i < 2 ? q.inbound.port : q.outbound.port;
        const path = i < 2 ? '/' : `http://127.0.0.1:${app.port}/`;
        const r = await request({ host: '127.0.0.1', port, path }).then(
          (x) => x,
          (e: Error) => e,
        );
        // The body cannot be complete: either an error or a short body, never a fake success.
        if (!(r instanceof Error)) {
          assert.ok(r.status >= 500 || r.body.length < 100_000, `got a complete ${r.status} response`);
        }
      }
      assert.equal(q.proc.exitCode, null);
      assert.equal((await adminRequest(q.admin, '/live')).status, 200);
    },
  );

  /** An h2c app whose every stream misbehaves in the way `mode` says. */
  async function startBadH2App(mode: 'refuse' | 'destroy-session' | 'reset-mid-body'): Promise<number> {
    const app = await startH2Server((stream) => {
      if (mode === 'refuse') stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      else if (mode === 'destroy-session') stream.session?.destroy();
      else {
        stream.respond({ ':status': 200 });
        stream.write('partial');
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      }
    });
    cleanup.add(() => app.close());
    return app.port;
  }

  interface H2Outcome {
    status?: number;
    body: string;
    /** RST_STREAM code seen by the client (0 = the stream ended cleanly). */
    rstCode: number | undefined;
    error?: string;
  }

  /** One request on a fresh h2 connection; resolves when the stream closes, however it closes. */
  async function h2Outcome(port: number, authority: string): Promise<H2Outcome> {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.on('error', () => {});
    try {
      await withTimeout(once(s, 'connect'), 5_000, 'h2 connect');
      return await withTimeout(
        new Promise<H2Outcome>((resolve) => {
          const out: H2Outcome = { body: '', rstCode: undefined };
          const r = s.request({ ':path': '/', ':authority': authority });
          r.on('response', (h) => {
            out.status = Number(h[':status']);
          });
          r.on('data', (d: Buffer) => {
            out.body += d.toString();
          });
          r.on('error', (e: NodeJS.ErrnoException) => {
            out.error = e.code ?? e.message;
          });
          r.on('close', () => {
            out.rstCode = r.rstCode;
            resolve(out);
          });
          r.end();
        }),
        10_000,
        'the client stream to be answered or reset',
      );
    } finally {
      s.destroy();
    }
  }

  for (const mode of ['refuse', 'destroy-session', 'reset-mid-body'] as const) {
    for (const side of ['inbound', 'outbound'] as const) {
      test(
        `${side}: an HTTP/2 app that ${mode === 'refuse' ? 'refuses the stream' : mode === 'destroy-session' ? 'drops its connection mid-stream' : 'resets the stream mid-body'} — the client stream is answered or reset, never left hanging`,
        T,
        async () => {
          const appPort = await startBadH2App(mode);
          const q = await proxyTo(appPort);
          const port = side === 'inbound' ? q.inbound.port : q.outbound.port;
          const out = await h2Outcome(port, `127.0.0.1:${appPort}`);
          if (mode === 'reset-mid-body') {
            assert.ok(
              out.rstCode !== 0 || out.error !== undefined,
              `a response the app cut short must not end cleanly: ${JSON.stringify(out)}`,
            );
          } else {
            assert.ok(
              (out.status !== undefined && out.status >= 500) || (out.rstCode ?? 0) !== 0,
              `expected a 5xx or a stream reset: ${JSON.stringify(out)}`,
            );
          }
          assert.equal(q.proc.exitCode, null);
          assert.equal((await adminRequest(q.admin, '/live')).status, 200);
        },
      );
    }
  }

  test('a keep-alive app that closes idle pooled connections does not fail the next request', T, async () => {
    // The app closes each connection right after its response, while advertising keep-alive.
    const app = await startHttpServer((req, res) => {
      req.resume();
      res.end('ok', () => setImmediate(() => res.socket?.destroy()));
    });
    cleanup.add(() => app.close());
    const q = await proxyTo(app.port);
    for (let i = 0; i < 5; i++) {
      const r = await request({ host: '127.0.0.1', port: q.inbound.port, path: `/${i}` });
      assert.equal(r.status, 200, `request ${i} after the app closed the pooled connection`);
      assert.equal(r.body.toString(), 'ok');
      // Wait until the app has actually dropped every connection before the next request.
      await waitFor(() => app.sockets.size === 0, 'the app to close its connections');
    }
    assert.equal(q.proc.exitCode, null);
  });
});
