/**
 * The proxy's upstream HTTP/2 sessions against a hostile server that keeps its socket
 * open: one that sends a frame nghttp2 refuses (the client session ends silently, and
 * requests on it hung for ever), and one that says GOAWAY and then never answers. Each
 * request fails in bounded time, the connection is closed, and the next request gets a
 * new one. And against a server whose streams are stuck (responses that never end): the
 * pool caps the streams one upstream connection carries (100, or the server's own
 * SETTINGS_MAX_CONCURRENT_STREAMS if lower) and opens another past it, so a good request
 * still goes through at once.
 */
import assert from 'node:assert/strict';
import type http2 from 'node:http2';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { H2_STREAMS_PER_SESSION } from '../../../src/proxy/http/h2-pool.js';
import { startH2Server } from '../../helpers/apps.js';
import { FRAME, frame, h2connect, h2request, settingsFrame } from '../../helpers/h2.js';
import { Cleanup, startTcpServer, type TcpServer, waitFor } from '../../helpers/net.js';
import { baseArgs, type ProxyHandle, startProxy } from '../../helpers/proxy.js';

const T = { timeout: 60_000 };

/** A TCP server that answers a client's first bytes with SETTINGS and `then`, and never closes. */
async function hostileH2(
  then: Buffer,
): Promise<TcpServer & { accepted: () => number; closed: () => number }> {
  let accepted = 0;
  let closed = 0;
  const server = await startTcpServer((s: net.Socket) => {
    accepted++;
    s.on('error', () => {});
    s.once('close', () => closed++);
    s.once('data', () => s.write(Buffer.concat([settingsFrame(), then])));
    s.resume();
  });
  return Object.assign(server, { accepted: () => accepted, closed: () => closed });
}

const GOAWAY_NO_ERROR = (() => {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(0x7fffffff, 0);
  return frame(FRAME.GOAWAY, 0, 0, p);
})();

describe('upstream HTTP/2 sessions to a hostile server', () => {
  const cleanup = new Cleanup();
  let p: ProxyHandle;

  before(async () => {
    p = await startProxy([
      ...baseArgs(1),
      '--http2-liveness-timeout',
      '300ms',
      '--stream-idle-timeout',
      '1s',
    ]);
    cleanup.add(() => p.stop('SIGKILL'));
  });
  after(() => cleanup.run());

  for (const [what, then] of [
    ['DATA on stream 0 (nghttp2 ends the session without a word)', frame(FRAME.DATA, 0, 0, Buffer.from('x'))],
    ['GOAWAY, then nothing', GOAWAY_NO_ERROR],
  ] as const) {
    test(`${what}: the request fails, the socket is closed, the next request reconnects`, T, async () => {
      const hostile = await hostileH2(then);
      cleanup.add(() => hostile.close());
      const s = await h2connect(p.outbound.port);
      cleanup.add(() => s.destroy());
      const authority = `127.0.0.1:${hostile.port}`;
      for (let i = 1; i <= 2; i++) {
        const r = await h2request(s, { ':path': '/', ':authority': authority }, undefined, undefined, 20_000);
        assert.equal(r.status, 502, `request ${i}: ${r.body.toString()}`);
        assert.equal(hostile.accepted(), i, 'each request had a connection of its own');
        await waitFor(() => hostile.closed() === i, `the proxy to close upstream connection ${i}`, 10_000);
      }
    });
  }
});

describe('upstream HTTP/2 streams per connection', () => {
  const cleanup = new Cleanup();
  let p: ProxyHandle;

  before(async () => {
    p = await startProxy(baseArgs(1));
    cleanup.add(() => p.stop('SIGKILL'));
  });
  after(() => cleanup.run());

  /** An app whose /hold responses send their headers and never end; anything else is answered. */
  async function stuckApp(settings?: http2.Settings) {
    let held = 0;
    const app = await startH2Server((stream, headers) => {
      stream.respond({ ':status': 200 });
      if (headers[':path'] === '/hold') held++;
      else stream.end('ok');
    }, settings);
    cleanup.add(() => app.close());
    return Object.assign(app, { held: () => held });
  }

  for (const [what, settings, stuck, sessions] of [
    ['the proxy caps a connection at 100 streams', undefined, H2_STREAMS_PER_SESSION + 50, 2],
    ["the server's SETTINGS_MAX_CONCURRENT_STREAMS 10 is honoured", { maxConcurrentStreams: 10 }, 25, 3],
  ] as const) {
    test(
      `${what}: stuck streams past it open another connection, a good request still passes`,
      T,
      async () => {
        const app = await stuckApp(settings);
        const s = await h2connect(p.outbound.port);
        cleanup.add(() => s.destroy());
        const authority = `127.0.0.1:${app.port}`;
        const hold = (): void => {
          const req = s.request({ ':path': '/hold', ':authority': authority });
          req.on('error', () => {});
          req.resume();
        };
        // The first stream once alone: the rest then go out with the server's SETTINGS known
        // (streams opened before them count against the proxy's cap only, as in nghttp2 and hyper).
        hold();
        await waitFor(() => app.held() === 1, 'the first stream to reach the app');
        for (let i = 1; i < stuck; i++) hold();
        await waitFor(() => app.held() === stuck, `the app to hold all ${stuck} streams`, 20_000);
        assert.equal(app.sessions(), sessions, 'upstream connections');
        const r = await h2request(s, { ':path': '/ok', ':authority': authority });
        assert.equal(r.status, 200, r.body.toString());
        assert.equal(r.body.toString(), 'ok');
        assert.equal(app.sessions(), sessions, 'the good request went on a connection with room');
      },
    );
  }
});
