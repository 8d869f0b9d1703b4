/**
 * What the HTTP/1 side of the proxy refuses before forwarding anything (h1-rules.ts):
 * request smuggling through a Connection header that names a framing field, more header
 * fields than the limit, two Hosts, HTTP/1.0 with Transfer-Encoding; and the upstream
 * responses it cannot relay faithfully. A logging app proves that nothing of a refused
 * request reached it, and that the next client is answered its own response.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { MAX_HEADER_COUNT } from '../../../src/proxy/http/h1-rules.js';
import {
  type Echo,
  type LoggingApp,
  type RawHttpApp,
  rawHeaderValues,
  startLoggingApp,
  startRawHttpApp,
} from '../../helpers/apps.js';
import { Cleanup, LOOPBACK, RawConn, type RawResponse, withTimeout } from '../../helpers/net.js';
import type { TestIdentity } from '../../helpers/pki.js';
import { AUTHORITY, closeSide, meshIdentities, proxyPair, type Side, side } from '../../helpers/stacks.js';

const T = { timeout: 30_000 };

/** A request a smuggler hides in a body, forging the header the inbound proxy alone may set. */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\nweft-client-id: forged.default.serviceaccount\r\n\r\n';

function smuggling(host: string, connection: string): string {
  return (
    `POST /attack HTTP/1.1\r\nHost: ${host}\r\nConnection: ${connection}\r\n` +
    `Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`
  );
}

/** Sends `data` on a new plaintext connection; the response, and whether the proxy then closed. */
async function exchange(port: number, data: string): Promise<{ res: RawResponse; closed: boolean }> {
  const c = await RawConn.connect(port);
  try {
    c.write(data);
    const res = await c.readResponse();
    await c.waitEnd();
    return { res, closed: c.ended };
  } finally {
    c.destroy();
  }
}

/** Sends `data` over TLS to the proxy's identity, with no client certificate; every byte it answers. */
function exchangeTls(port: number, identity: TestIdentity, data: string): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      const s = tls.connect({
        host: LOOPBACK,
        port,
        servername: identity.name,
        ca: identity.anchorsPem,
        ALPNProtocols: ['http/1.1'],
      });
      let text = '';
      s.setEncoding('latin1');
      s.on('secureConnect', () => s.write(data));
      s.on('data', (c: string) => {
        text += c;
      });
      s.on('close', () => resolve(text));
      s.on('error', reject);
    }),
    10_000,
    'a TLS exchange',
  );
}

const echoOf = (res: RawResponse): Echo => JSON.parse(res.body.toString()) as Echo;

describe('HTTP/1 requests the proxy refuses', () => {
  const cleanup = new Cleanup();
  let app: LoggingApp;
  let web: TestIdentity;
  let inbound: Side;
  let inboundTls: Side;
  let outbound: Side;
  let appHost: string;

  before(async () => {
    app = await startLoggingApp();
    cleanup.add(() => app.close());
    appHost = `${LOOPBACK}:${app.port}`;
    const { pki } = await meshIdentities();
    web = await pki.identity('web');
    const target = { host: LOOPBACK, port: app.port };
    inbound = await side('inbound', undefined, target);
    inboundTls = await side('inbound', web, target);
    outbound = await side('outbound', undefined, target);
    for (const s of [inbound, inboundTls, outbound]) cleanup.add(() => closeSide(s));
  });
  after(() => cleanup.run());

  /** Nothing reached the app since `mark` (a count of its received bytes). */
  const nothingArrivedSince = (mark: number, what: string): void => {
    assert.equal(app.received().slice(mark), '', `${what}: the app received nothing`);
  };

  for (const token of [
    'content-length',
    'Content-Length',
    'transfer-encoding',
    'host',
    'keep-alive, content-length',
  ]) {
    for (const via of ['inbound', 'outbound'] as const) {
      test(
        `${via}: a request whose Connection names ${token} is refused with 400, nothing forwarded`,
        T,
        async () => {
          const s = via === 'inbound' ? inbound : outbound;
          const mark = app.received().length;
          const seen = app.seen.length;
          const { res, closed } = await exchange(s.addr.port, smuggling(appHost, token));
          assert.equal(res.statusCode, 400, res.body.toString());
          assert.match(res.body.toString(), /Connection header names/i);
          assert.ok(closed, 'the connection is closed');
          nothingArrivedSince(mark, token);
          // The next client, on its own connection, gets its own response: nothing was queued upstream.
          const next = await exchange(
            s.addr.port,
            `GET /next HTTP/1.1\r\nHost: ${appHost}\r\nConnection: close\r\n\r\n`,
          );
          assert.equal(next.res.statusCode, 200);
          assert.equal(echoOf(next.res).url, '/next');
          assert.deepEqual(
            app.seen.slice(seen).map((e) => e.url),
            ['/next'],
            'the app parsed only the next request',
          );
          assert.ok(!app.received().includes('forged'), 'no forged weft-client-id reached the app');
        },
      );
    }
  }

  test('inbound over TLS without a client certificate: the same request is refused', T, async () => {
    const mark = app.received().length;
    const text = await exchangeTls(inboundTls.addr.port, web, smuggling('web', 'content-length'));
    assert.match(text, /^HTTP\/1\.1 400 /);
    nothingArrivedSince(mark, 'TLS');
  });

  test('requests pipelined behind a refused one on its connection are not forwarded', T, async () => {
    const mark = app.received().length;
    const c = await RawConn.connect(inbound.addr.port);
    cleanup.add(() => c.destroy());
    c.write(`${smuggling('web', 'content-length')}GET /pipelined HTTP/1.1\r\nHost: web\r\n\r\n`);
    const res = await c.readResponse();
    assert.equal(res.statusCode, 400);
    await c.waitEnd();
    assert.equal(c.take().length, 0, 'no second response');
    nothingArrivedSince(mark, 'pipelined');
  });

  test(
    `a request with more than ${MAX_HEADER_COUNT} header fields gets 431, never a truncated request`,
    T,
    async () => {
      const mark = app.received().length;
      const many = Array.from({ length: 1100 }, (_, i) => `x-h-${i}: v\r\n`).join('');
      const { res, closed } = await exchange(
        inbound.addr.port,
        `POST /many HTTP/1.1\r\nHost: web\r\n${many}Content-Length: 4\r\n\r\nbody`,
      );
      assert.equal(res.statusCode, 431, res.body.toString());
      assert.ok(closed);
      nothingArrivedSince(mark, 'too many headers');
      // One past the limit is refused too.
      const over = Array.from({ length: MAX_HEADER_COUNT - 1 }, (_, i) => `x-h-${i}: v\r\n`).join('');
      const one = await exchange(
        inbound.addr.port,
        `POST /over HTTP/1.1\r\nHost: web\r\n${over}Content-Length: 4\r\n\r\nbody`,
      );
      assert.equal(one.res.statusCode, 431);
      nothingArrivedSince(mark, 'one header too many');
    },
  );

  test(
    `a request with exactly ${MAX_HEADER_COUNT} header fields is forwarded whole, body included`,
    T,
    async () => {
      const fields = Array.from({ length: MAX_HEADER_COUNT - 3 }, (_, i) => `x-h-${i}: v${i}\r\n`).join('');
      const { res } = await exchange(
        inbound.addr.port,
        `POST /limit HTTP/1.1\r\nHost: web\r\n${fields}Content-Length: 4\r\nConnection: close\r\n\r\nbody`,
      );
      assert.equal(res.statusCode, 200, res.body.toString());
      const echo = echoOf(res);
      assert.equal(echo.bodyLength, 4);
      assert.equal(
        rawHeaderValues(echo.rawHeaders, `x-h-${MAX_HEADER_COUNT - 4}`)[0],
        `v${MAX_HEADER_COUNT - 4}`,
      );
    },
  );

  test('two Host headers get 400', T, async () => {
    const mark = app.received().length;
    const { res } = await exchange(inbound.addr.port, 'GET / HTTP/1.1\r\nHost: web\r\nHost: admin\r\n\r\n');
    assert.equal(res.statusCode, 400);
    assert.match(res.body.toString(), /more than one Host/);
    nothingArrivedSince(mark, 'two Hosts');
  });

  test('HTTP/1.0 with Transfer-Encoding: chunked gets 400 (RFC 9112 section 6.1)', T, async () => {
    const mark = app.received().length;
    const { res } = await exchange(
      inbound.addr.port,
      'POST / HTTP/1.0\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    );
    assert.equal(res.statusCode, 400);
    nothingArrivedSince(mark, 'HTTP/1.0 chunked');
  });

  test('Content-Length with Transfer-Encoding gets 400 (llhttp refuses it)', T, async () => {
    const mark = app.received().length;
    const { res } = await exchange(
      inbound.addr.port,
      'POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n',
    );
    assert.equal(res.statusCode, 400);
    nothingArrivedSince(mark, 'CL.TE');
  });

  test(
    'inbound: an absolute-form target reaches the app in origin-form, with the Host it names',
    T,
    async () => {
      const { res } = await exchange(
        inbound.addr.port,
        'GET http://web.example:8080/p?q=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n',
      );
      assert.equal(res.statusCode, 200);
      const echo = echoOf(res);
      assert.equal(echo.url, '/p?q=1');
      assert.deepEqual(rawHeaderValues(echo.rawHeaders, 'host'), ['web.example:8080']);
    },
  );
});

describe('HTTP/1 between two proxies (HTTP/2 carrying weft-orig-proto)', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());
  const newApp = async (): Promise<LoggingApp> => {
    const app = await startLoggingApp();
    cleanup.add(() => app.close());
    return app;
  };

  test('a request whose Connection names Content-Length is refused by the outbound proxy', T, async () => {
    const app = await newApp();
    const { client, web } = await meshIdentities();
    const m = await proxyPair(client, web, { host: LOOPBACK, port: app.port });
    cleanup.add(() => m.close());
    const { res } = await exchange(m.client.addr.port, smuggling(AUTHORITY, 'content-length'));
    assert.equal(res.statusCode, 400);
    assert.equal(app.received(), '', 'nothing reached the app');
  });

  test(
    'a stream with more body than its content-length never reaches the app as a second request',
    T,
    async () => {
      const app = await newApp();
      const { web } = await meshIdentities();
      const server = await side('inbound', web, { host: LOOPBACK, port: app.port });
      cleanup.add(() => closeSide(server));
      const session = http2.connect(`http://${LOOPBACK}:${server.addr.port}`);
      cleanup.add(() => session.destroy());
      session.on('error', () => {});
      const stream = session.request({
        ':method': 'POST',
        ':path': '/attack',
        'weft-orig-proto': 'HTTP/1.1',
        'content-length': '5',
      });
      stream.on('error', () => {});
      stream.end(`xxxxx${SMUGGLED}`);
      await withTimeout(new Promise((r) => stream.once('close', r)), 10_000, 'the stream to close');
      assert.ok(!app.seen.some((e) => e.url === '/smuggled'), 'the app never parsed the smuggled request');
      assert.ok(!app.received().includes('forged'));
    },
  );
});

describe('HTTP/1 responses the proxy refuses (502), and keeps the client in step', () => {
  const cleanup = new Cleanup();
  let raw: RawHttpApp;
  let inbound: Side;
  after(() => cleanup.run());

  before(async () => {
    raw = await startRawHttpApp((head) => {
      const path = (head.split(' ')[1] ?? '/') as string;
      const fields = (n: number): string => Array.from({ length: n }, (_, i) => `x-r-${i}: v\r\n`).join('');
      switch (path) {
        case '/connection-cl':
          // The length named hop-by-hop: dropped, the body would be unframed.
          return 'HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\nhello';
        case '/many':
          return `HTTP/1.1 200 OK\r\n${fields(MAX_HEADER_COUNT)}Content-Length: 4\r\n\r\nmany`;
        case '/upgrade-many':
          // Past Node's own count too (2,000 raw entries), which kept the first 1,000 silently.
          return `HTTP/1.1 200 OK\r\n${fields(1100)}Content-Length: 4\r\n\r\nmany`;
        case '/limit':
          return `HTTP/1.1 200 OK\r\n${fields(MAX_HEADER_COUNT - 1)}Content-Length: 5\r\n\r\nlimit`;
        default:
          return `HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`;
      }
    });
    cleanup.add(() => raw.close());
    inbound = await side('inbound', undefined, { host: LOOPBACK, port: raw.port });
    cleanup.add(() => closeSide(inbound));
  });

  for (const path of ['/connection-cl', '/many']) {
    test(`${path}: the client gets 502, then its next request's own response`, T, async () => {
      const c = await RawConn.connect(inbound.addr.port);
      cleanup.add(() => c.destroy());
      c.write(`GET ${path} HTTP/1.1\r\nHost: web\r\n\r\n`);
      const res = await c.readResponse();
      assert.equal(res.statusCode, 502, res.body.toString());
      c.write('GET /after HTTP/1.1\r\nHost: web\r\n\r\n');
      const next = await c.readResponse();
      assert.equal(next.statusCode, 200);
      assert.equal(next.body.toString(), '/after');
    });
  }

  test(
    'a declined upgrade answered with 1,100 header fields gets 502, never a truncated response',
    T,
    async () => {
      const c = await RawConn.connect(inbound.addr.port);
      cleanup.add(() => c.destroy());
      c.write('GET /upgrade-many HTTP/1.1\r\nHost: web\r\nConnection: upgrade\r\nUpgrade: weft-test\r\n\r\n');
      const res = await c.readResponse();
      assert.equal(res.statusCode, 502, res.body.toString());
    },
  );

  test(`a response with ${MAX_HEADER_COUNT} header fields passes whole`, T, async () => {
    const c = await RawConn.connect(inbound.addr.port);
    cleanup.add(() => c.destroy());
    c.write('GET /limit HTTP/1.1\r\nHost: web\r\n\r\n');
    const res = await c.readResponse();
    assert.equal(res.statusCode, 200);
    assert.equal(res.body.toString(), 'limit');
    assert.equal(res.headers.filter(([k]) => k.startsWith('x-r-')).length, MAX_HEADER_COUNT - 1);
  });
});
