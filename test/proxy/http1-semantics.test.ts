/**
 * HTTP/1.x message semantics a faithful proxy must keep: HTTP/1.0 clients, HEAD, 204
 * and 304, 100-continue, pipelining, Connection: close, trailers, Latin-1 header bytes,
 * large response headers, generic Upgrade tunnels, CONNECT errors, and no cross-talk
 * between concurrent requests.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
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
  Cleanup,
  deferred,
  type HttpUpstream,
  headerValues,
  RawConn,
  refusedPort,
  startBlackhole,
  startTcpServer,
  withTimeout,
} from '../helpers/net.js';
import { baseArgs, type ProxyHandle, startProxy } from '../helpers/proxy.js';

const T = { timeout: 30_000 };
type Side = 'inbound' | 'outbound';

const BIG_HEADERS = Array.from({ length: 40 }, (_, i) => `X-Resp-Big-${i}: ${'r'.repeat(1000)}\r\n`).join('');

/** Raw responses of the raw app, by request path. */
function rawResponse(head: string): string | Buffer {
  const [method = '', path = ''] = (head.split('\r\n')[0] ?? '').split(' ');
  switch (path) {
    case '/chunked':
      return 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';
    case '/head':
      // The answer to HEAD carries the length the GET body would have, and no body.
      return `HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Method: ${method}\r\n\r\n`;
    case '/204':
      return 'HTTP/1.1 204 No Content\r\nX-Kind: no-content\r\n\r\n';
    case '/304':
      return 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n';
    case '/latin1':
      return Buffer.from(
        'HTTP/1.1 200 OK\r\nX-Latin: caf\xe9 cr\xe8me\r\nContent-Length: 2\r\n\r\nok',
        'latin1',
      );
    case '/big-headers':
      return `HTTP/1.1 200 OK\r\n${BIG_HEADERS}Content-Length: 3\r\n\r\nbig`;
    case '/early-hints':
      return 'HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal';
    case '/trailers':
      return (
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n' +
        '4\r\nbody\r\n0\r\nX-Checksum: abc123\r\n\r\n'
      );
    default:
      return `HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`;
  }
}

describe('HTTP/1.x semantics through the proxy', () => {
  const cleanup = new Cleanup();
  let raw: RawHttpApp;
  let echo: HttpUpstream;
  let pRaw: ProxyHandle; // inbound -> raw app
  let pEcho: ProxyHandle; // inbound -> echo app

  before(async () => {
    raw = await startRawHttpApp(rawResponse);
    cleanup.add(() => raw.close());
    echo = await startEchoApp();
    cleanup.add(() => echo.close());
    pRaw = await startProxy(baseArgs(raw.port));
    cleanup.add(() => pRaw.stop('SIGKILL'));
    pEcho = await startProxy(baseArgs(echo.port));
    cleanup.add(() => pEcho.stop('SIGKILL'));
  });
  after(() => cleanup.run());

  /** Port and request-target for `path` on the raw (or echo) app through `side`. */
  function via(
    side: Side,
    path: string,
    app: 'raw' | 'echo' = 'raw',
  ): { port: number; target: string; host: string } {
    const p = app === 'raw' ? pRaw : pEcho;
    const appPort = app === 'raw' ? raw.port : echo.port;
    return side === 'inbound'
      ? { port: p.inbound.port, target: path, host: 'semantics.test' }
      : { port: p.outbound.port, target: `http://127.0.0.1:${appPort}${path}`, host: `127.0.0.1:${appPort}` };
  }

  async function conn(port: number): Promise<RawConn> {
    const c = await RawConn.connect(port);
    cleanup.add(() => c.destroy());
    return c;
  }

  for (const side of ['inbound', 'outbound'] as Side[]) {
    test(`${side}: an HTTP/1.0 client never gets a chunked response`, T, async () => {
      const v = via(side, '/chunked');
      const c = await conn(v.port);
      c.write(`GET ${v.target} HTTP/1.0\r\nHost: ${v.host}\r\n\r\n`);
      const res = await c.readResponse();
      assert.equal(res.statusCode, 200);
      assert.deepEqual(headerValues(res, 'transfer-encoding'), [], 'HTTP/1.0 has no chunked coding');
      assert.equal(res.body.toString(), 'hello world');
    });

    test(`${side}: HEAD, 204 and 304 answers have no body and keep the connection usable`, T, async () => {
      const c = await conn(via(side, '/').port);
      const send = (method: string, path: string): void => {
        const v = via(side, path);
        c.write(`${method} ${v.target} HTTP/1.1\r\nHost: ${v.host}\r\n\r\n`);
      };
      send('HEAD', '/head');
      const h = await c.readResponse({ head: true });
      assert.equal(h.statusCode, 200);
      assert.deepEqual(headerValues(h, 'x-method'), ['HEAD'], 'the app got HEAD');
      assert.deepEqual(headerValues(h, 'content-length'), ['1234'], 'HEAD keeps the Content-Length');
      send('GET', '/204');
      const n = await c.readResponse();
      assert.equal(n.statusCode, 204);
      assert.deepEqual(headerValues(n, 'x-kind'), ['no-content']);
      send('GET', '/304');
      const m = await c.readResponse();
      assert.equal(m.statusCode, 304);
      assert.deepEqual(headerValues(m, 'etag'), ['"v1"']);
      send('GET', '/after');
      const a = await c.readResponse();
      assert.equal(a.statusCode, 200);
      assert.equal(a.body.toString(), '/after', 'no stray body bytes were left on the connection');
    });

    test(`${side}: pipelined requests are answered in order`, T, async () => {
      const c = await conn(via(side, '/').port);
      c.write(
        ['/p1', '/p2', '/p3']
          .map((path) => {
            const v = via(side, path);
            return `GET ${v.target} HTTP/1.1\r\nHost: ${v.host}\r\n\r\n`;
          })
          .join(''),
      );
      for (const path of ['/p1', '/p2', '/p3']) {
        const res = await c.readResponse();
        assert.equal(res.statusCode, 200);
        assert.equal(res.body.toString(), path);
      }
    });

    test(`${side}: a client's Connection: close is honoured after the response`, T, async () => {
      const v = via(side, '/closing');
      const c = await conn(v.port);
      c.write(`GET ${v.target} HTTP/1.1\r\nHost: ${v.host}\r\nConnection: close\r\n\r\n`);
      const res = await c.readResponse();
      assert.equal(res.body.toString(), '/closing');
      await c.waitEnd(5_000);
    });

    test(`${side}: Expect: 100-continue gets the client to send its body`, T, async () => {
      const v = via(side, '/continue', 'echo');
      const body = 'sent-after-100';
      const res = await withTimeout(
        new Promise<{ status: number; echo: Echo; continued: boolean }>((resolve, reject) => {
          let continued = false;
          const req = http.request(
            {
              host: '127.0.0.1',
              port: v.port,
              path: v.target,
              method: 'POST',
              agent: false,
              headers: { host: v.host, expect: '100-continue', 'content-length': body.length },
            },
            (r) => {
              let b = '';
              r.on('data', (d: Buffer) => {
                b += d.toString();
              });
              r.on('end', () =>
                resolve({ status: r.statusCode ?? 0, echo: JSON.parse(b) as Echo, continued }),
              );
            },
          );
          req.on('continue', () => {
            continued = true;
            req.end(body);
          });
          req.on('error', reject);
          req.flushHeaders();
        }),
        5_000,
        '100 Continue (the client holds its body until then)',
      );
      assert.equal(res.continued, true);
      assert.equal(res.status, 200);
      assert.equal(res.echo.bodySha256, sha256(body));
    });

    test(`${side}: Latin-1 bytes in header values pass unchanged both ways`, T, async () => {
      const v = via(side, '/latin1');
      const c = await conn(v.port);
      c.write(
        Buffer.from(`GET ${v.target} HTTP/1.1\r\nHost: ${v.host}\r\nX-Latin: na\xefve\r\n\r\n`, 'latin1'),
      );
      const res = await c.readResponse();
      assert.equal(res.statusCode, 200);
      assert.deepEqual(headerValues(res, 'x-latin'), ['caf\xe9 cr\xe8me'], 'response header bytes');
      const head = raw.heads.filter((h) => h.includes('/latin1')).pop() ?? '';
      assert.deepEqual(headValues(head, 'x-latin'), ['na\xefve'], 'request header bytes');
    });

    test(`${side}: 40 KiB of response headers pass through`, T, async () => {
      // Its own proxy: this large answer must not leave state behind for the other tests.
      const q = await startProxy(baseArgs(raw.port));
      cleanup.add(() => q.stop('SIGKILL'));
      const v = via(side, '/big-headers');
      const c = await conn(side === 'inbound' ? q.inbound.port : q.outbound.port);
      c.write(`GET ${v.target} HTTP/1.1\r\nHost: ${v.host}\r\n\r\n`);
      const res = await c.readResponse();
      assert.equal(res.statusCode, 200);
      assert.equal(headerValues(res, 'x-resp-big-39')[0]?.length, 1000);
      assert.equal(res.body.toString(), 'big');
    });

    test(
      `${side}: chunked response trailers reach a client that accepts them (TE: trailers)`,
      T,
      async () => {
        const v = via(side, '/trailers');
        const c = await conn(v.port);
        c.write(`GET ${v.target} HTTP/1.1\r\nHost: ${v.host}\r\nTE: trailers\r\n\r\n`);
        const res = await c.readResponse();
        assert.equal(res.body.toString(), 'body');
        assert.deepEqual(headerValues({ headers: res.trailers }, 'x-checksum'), ['abc123']);
      },
    );

    test(`${side}: an 8 KiB request-target passes unchanged`, T, async () => {
      const path = `/long?${'q'.repeat(8 * 1024)}`;
      const v = via(side, path);
      const c = await conn(v.port);
      c.write(`GET ${v.target} HTTP/1.1\r\nHost: ${v.host}\r\n\r\n`);
      const res = await c.readResponse();
      assert.equal(res.statusCode, 200);
      assert.equal(res.body.toString(), path);
    });

    test(`${side}: 100 concurrent requests each get their own response`, T, async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
      cleanup.add(() => agent.destroy());
      const rs = await Promise.all(
        Array.from({ length: 100 }, (_, i) => {
          const v = via(side, `/c/${i}`, 'echo');
          const body = `request-body-${i}-${'x'.repeat(i * 37)}`;
          return withTimeout(
            new Promise<{ i: number; body: string; echo: Echo }>((resolve, reject) => {
              const req = http.request(
                {
                  host: '127.0.0.1',
                  port: v.port,
                  path: v.target,
                  method: 'POST',
                  agent,
                  headers: { host: v.host },
                },
                (r) => {
                  let b = '';
                  r.on('data', (d: Buffer) => {
                    b += d.toString();
                  });
                  r.on('end', () => resolve({ i, body, echo: JSON.parse(b) as Echo }));
                },
              );
              req.on('error', reject);
              req.end(body);
            }),
            20_000,
            `concurrent request ${i}`,
          );
        }),
      );
      for (const r of rs) {
        assert.equal(r.echo.url, `/c/${r.i}`);
        assert.equal(r.echo.bodySha256, sha256(r.body));
      }
      agent.destroy();
    });

    test(`${side}: a generic Upgrade (not WebSocket) is tunnelled after 101`, T, async () => {
      // An app that switches to an echo protocol after 101, writing a greeting first.
      const upApp = await startTcpServer((s) => {
        let head = '';
        const onData = (d: Buffer): void => {
          head += d.toString('latin1');
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          s.off('data', onData);
          const ok = /\r\nupgrade: *weft-echo/i.test(head);
          if (!ok) {
            s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
            return;
          }
          s.write(
            'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: weft-echo\r\n\r\nGREETING;',
          );
          const rest = Buffer.from(head.slice(end + 4), 'latin1');
          if (rest.length) s.write(rest);
          s.pipe(s);
        };
        s.on('data', onData);
      });
      cleanup.add(() => upApp.close());
      const q = await startProxy(baseArgs(upApp.port));
      cleanup.add(() => q.stop('SIGKILL'));
      const port = side === 'inbound' ? q.inbound.port : q.outbound.port;
      const target = side === 'inbound' ? '/switch' : `http://127.0.0.1:${upApp.port}/switch`;
      const c = await conn(port);
      c.write(
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${upApp.port}\r\nConnection: Upgrade\r\nUpgrade: weft-echo\r\n\r\n`,
      );
      const res = await c.readResponse();
      assert.equal(res.statusCode, 101);
      assert.deepEqual(headerValues(res, 'upgrade'), ['weft-echo'], 'Upgrade is kept when upgrading');
      assert.match(headerValues(res, 'connection').join(','), /upgrade/i);
      assert.equal((await c.readAtLeast(9)).toString(), 'GREETING;');
      const payload = Buffer.from([0, 1, 2, 3, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]);
      c.write(payload);
      assert.deepEqual([...(await c.readAtLeast(payload.length))], [...payload]);
      await q.stop('SIGKILL');
    });
  }

  for (const side of ['inbound', 'outbound'] as Side[]) {
    test(`${side}: an upstream 1xx (103 Early Hints) does not break the final response`, T, async () => {
      const v = via(side, '/early-hints');
      const c = await conn(v.port);
      c.write(`GET ${v.target} HTTP/1.1\r\nHost: ${v.host}\r\n\r\n`);
      const res = await c.readResponse();
      assert.equal(res.statusCode, 200);
      assert.equal(res.body.toString(), 'final');
      c.write(`GET ${via(side, '/after-103').target} HTTP/1.1\r\nHost: ${v.host}\r\n\r\n`);
      assert.equal((await c.readResponse()).body.toString(), '/after-103', 'the connection is still in step');
    });

    test(
      `${side}: a close-delimited or HTTP/1.0 upstream response is re-framed and not reused`,
      T,
      async () => {
        // The app answers without a length and closes (or answers as HTTP/1.0 and closes).
        let n = 0;
        const app = await startTcpServer((s) => {
          s.once('data', () => {
            n++;
            if (n % 2 === 1) s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil-close');
            else s.end('HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nold-10');
          });
        });
        cleanup.add(() => app.close());
        const q = await startProxy(baseArgs(app.port));
        cleanup.add(() => q.stop('SIGKILL'));
        const port = side === 'inbound' ? q.inbound.port : q.outbound.port;
        const target = side === 'inbound' ? '/' : `http://127.0.0.1:${app.port}/`;
        const c = await conn(port);
        for (const want of ['until-close', 'old-10', 'until-close', 'old-10']) {
          c.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${app.port}\r\n\r\n`);
          const res = await c.readResponse({ timeoutMs: 5_000 });
          assert.equal(res.statusCode, 200);
          assert.equal(res.body.toString(), want);
          if (c.ended) break; // the proxy may close a client connection whose response it had to end by close
        }
        await q.stop('SIGKILL');
      },
    );

    test(`${side}: a request body of 5000 one-byte chunks arrives intact`, T, async () => {
      const v = via(side, '/tiny-chunks', 'echo');
      const c = await conn(v.port);
      let body = '';
      let wire = '';
      for (let i = 0; i < 5000; i++) {
        const ch = String.fromCharCode(97 + (i % 26));
        body += ch;
        wire += `1\r\n${ch}\r\n`;
      }
      c.write(
        `POST ${v.target} HTTP/1.1\r\nHost: ${v.host}\r\nTransfer-Encoding: chunked\r\n\r\n${wire}0\r\n\r\n`,
      );
      const res = await c.readResponse();
      assert.equal(res.statusCode, 200);
      const e = JSON.parse(res.body.toString()) as Echo;
      assert.equal(e.bodyLength, 5000);
      assert.equal(e.bodySha256, sha256(body));
    });
  }

  test('outbound: bytes sent right behind the CONNECT request (before the 200) are not lost', T, async () => {
    const tcp = await startTcpServer((s) => {
      s.pipe(s);
    });
    cleanup.add(() => tcp.close());
    const c = await conn(pEcho.outbound.port);
    c.write(`CONNECT 127.0.0.1:${tcp.port} HTTP/1.1\r\nHost: 127.0.0.1:${tcp.port}\r\n\r\nEARLY-BYTES;`);
    const res = await c.readResponse({ head: true });
    assert.equal(res.statusCode, 200);
    c.write('LATE-BYTES;');
    const back = await c.readAtLeast('EARLY-BYTES;LATE-BYTES;'.length);
    assert.equal(back.toString(), 'EARLY-BYTES;LATE-BYTES;');
  });

  test('outbound: CONNECT to a refused port answers 502', T, async () => {
    const gone = await refusedPort();
    const c = await conn(pEcho.outbound.port);
    c.write(`CONNECT 127.0.0.1:${gone} HTTP/1.1\r\nHost: 127.0.0.1:${gone}\r\n\r\n`);
    const res = await c.readResponse({ head: true });
    assert.equal(res.statusCode, 502);
    assert.match(headerValues(res, 'weft-proxy-error').join(','), /refused/i);
  });

  test(
    'outbound: CONNECT to a port that never accepts answers 504 after the connect timeout',
    T,
    async () => {
      const hole = await startBlackhole();
      cleanup.add(() => hole.close());
      const c = await conn(pEcho.outbound.port);
      const t0 = Date.now();
      c.write(`CONNECT 127.0.0.1:${hole.port} HTTP/1.1\r\nHost: 127.0.0.1:${hole.port}\r\n\r\n`);
      const res = await c.readResponse({ head: true });
      const ms = Date.now() - t0;
      assert.equal(res.statusCode, 504);
      assert.match(headerValues(res, 'weft-proxy-error').join(','), /time(d)? ?out/i);
      assert.ok(ms >= 900 && ms < 5_000, `took ${ms} ms for the default 1 s connect timeout`);
    },
  );

  test('outbound: CONNECT tunnel relays bytes both ways and the half-close', T, async () => {
    const tcp = await startTcpServer(
      (s) => {
        s.pipe(s);
      },
      { allowHalfOpen: true },
    );
    cleanup.add(() => tcp.close());
    const c = await RawConn.connect(pEcho.outbound.port, '127.0.0.1', true);
    cleanup.add(() => c.destroy());
    c.write(`CONNECT 127.0.0.1:${tcp.port} HTTP/1.1\r\nHost: 127.0.0.1:${tcp.port}\r\n\r\n`);
    const res = await c.readResponse({ head: true });
    assert.equal(res.statusCode, 200);
    const data = Buffer.alloc(256 * 1024, 0x42);
    c.write(data);
    assert.equal((await c.readAtLeast(data.length)).length, data.length);
    c.socket.end();
    await withTimeout(c.waitEnd(), 10_000, 'the FIN to come back through the tunnel');
  });

  test(
    'inbound: upstream Connection: close is honoured (the next request uses a new connection)',
    T,
    async () => {
      const closer = await startRawHttpApp(
        (head) =>
          `HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n${head.includes('/a') ? 'aa' : 'bb'}`,
      );
      cleanup.add(() => closer.close());
      // The raw app does not close by itself: the proxy must not send a second request on it.
      const q = await startProxy(baseArgs(closer.port));
      cleanup.add(() => q.stop('SIGKILL'));
      const c = await conn(q.inbound.port);
      c.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal((await c.readResponse()).body.toString(), 'aa');
      const next = await conn(q.inbound.port);
      next.write('GET /b HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal((await next.readResponse()).body.toString(), 'bb');
      assert.equal(closer.connections(), 2, 'a connection the app marked close is not reused');
      await q.stop('SIGKILL');
    },
  );

  test('inbound: request body keeps its bytes exactly (binary, 1 MiB, Content-Length)', T, async () => {
    const body = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + 7) % 256;
    const done = deferred<Echo>();
    const req = http.request(
      { host: '127.0.0.1', port: pEcho.inbound.port, path: '/bin', method: 'PUT', agent: false },
      (r) => {
        let b = '';
        r.on('data', (d: Buffer) => {
          b += d.toString();
        });
        r.on('end', () => done.resolve(JSON.parse(b) as Echo));
      },
    );
    req.on('error', (e) => done.reject(e));
    req.end(body);
    const e = await withTimeout(done.promise, 10_000, 'binary PUT');
    assert.equal(e.bodyLength, body.length);
    assert.equal(e.bodySha256, sha256(body));
    assert.deepEqual(rawHeaderValues(e.rawHeaders, 'content-length'), [String(body.length)]);
  });
});
