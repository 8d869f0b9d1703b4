/**
 * HTTP/2 connections the proxy must close itself: after nghttp2 answers a protocol error
 * with GOAWAY it stops reading and Node reports nothing, so without the session guard the
 * socket stayed open for ever (one descriptor per bad frame) and enough of them left the
 * proxy dead. Each case sends one bad frame on the inbound, outbound and mesh (mTLS)
 * ports and waits for the GOAWAY and then for the proxy to close the socket; idle HTTP/2
 * connections close after the idle timeout; a proxy whose descriptors ran out recovers.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { type H2App, startH2App } from '../../helpers/apps.js';
import {
  FLAG,
  FRAME,
  frame,
  h2connect,
  h2request,
  pingFrame,
  RawH2,
  type RawH2Options,
  windowUpdateFrame,
} from '../../helpers/h2.js';
import { adminRequest, Cleanup, LOOPBACK, waitFor, withTimeout } from '../../helpers/net.js';
import { type TestIdentity, TestPki } from '../../helpers/pki.js';
import { findSample } from '../../helpers/prom.js';
import { baseArgs, type ProxyHandle, startProxy } from '../../helpers/proxy.js';
import { closeSide, metrics, type Side, side } from '../../helpers/stacks.js';

const T = { timeout: 60_000 };
const {
  NGHTTP2_PROTOCOL_ERROR,
  NGHTTP2_FRAME_SIZE_ERROR,
  NGHTTP2_COMPRESSION_ERROR,
  NGHTTP2_INTERNAL_ERROR,
} = http2.constants;
/** Short bounds so that the tests wait well under a second for each close. */
const TIMEOUT_FLAGS = ['--http2-liveness-timeout', '300ms', '--idle-timeout', '1500ms'];
const IDLE_TIMEOUTS = { idleTimeoutMs: 1500, livenessTimeoutMs: 300, streamIdleTimeoutMs: 300_000 };
/** Generous: what is asserted is that the proxy closes the socket at all. */
const CLOSE_WITHIN_MS = 10_000;

/** One bad thing a client can send, and the GOAWAY code nghttp2 answers it with. */
const BAD_INPUTS: Array<{ name: string; frames: () => Buffer[]; code: number }> = [
  {
    name: 'a 9-byte PING with no payload',
    frames: () => [frame(FRAME.PING, 0, 0)],
    code: NGHTTP2_FRAME_SIZE_ERROR,
  },
  {
    name: 'DATA on stream 0',
    frames: () => [frame(FRAME.DATA, 0, 0, Buffer.from('x'))],
    code: NGHTTP2_PROTOCOL_ERROR,
  },
  {
    name: 'a header block that is not HPACK (index 0)',
    frames: () => [frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, Buffer.from([0x80]))],
    code: NGHTTP2_COMPRESSION_ERROR,
  },
  {
    // nghttp2 reports the overflow to Node as an error, and Node's destroy() says INTERNAL_ERROR.
    name: 'WINDOW_UPDATEs past 2^31-1',
    frames: () => [windowUpdateFrame(0, 0x7fffffff), windowUpdateFrame(0, 0x7fffffff)],
    code: NGHTTP2_INTERNAL_ERROR,
  },
  {
    name: 'a CONTINUATION with no HEADERS before it',
    frames: () => [frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, Buffer.from([0x82]))],
    code: NGHTTP2_PROTOCOL_ERROR,
  },
];

/** Sends `bad` on a fresh connection; resolves with the GOAWAY code once the proxy has closed it. */
async function sendAndAwaitClose(port: number, bad: Buffer[], opts: RawH2Options = {}): Promise<number> {
  const c = await RawH2.connect(port, opts);
  try {
    c.send(...bad);
    const code = await c.goawayCode();
    await c.waitClosed(CLOSE_WITHIN_MS);
    return code;
  } finally {
    c.destroy();
  }
}

describe('HTTP/2 connections that end in a protocol error are closed', () => {
  const cleanup = new Cleanup();
  let app: H2App;
  let p: ProxyHandle;

  before(async () => {
    app = await startH2App();
    cleanup.add(() => app.close());
    p = await startProxy([...baseArgs(app.port), ...TIMEOUT_FLAGS], { WEFT_PROXY_LOG: 'debug' });
    cleanup.add(() => p.stop('SIGKILL'));
  });
  after(() => cleanup.run());

  for (const bad of BAD_INPUTS) {
    test(`${bad.name}: GOAWAY ${bad.code}, then the socket is closed, inbound and outbound`, T, async () => {
      for (const port of [p.inbound.port, p.outbound.port]) {
        assert.equal(await sendAndAwaitClose(port, bad.frames()), bad.code, `port ${port}`);
      }
    });
  }

  test('the closes are counted and logged at debug, and good clients are still served', T, async () => {
    await waitFor(
      () => p.stdoutLines.some((l) => l.includes('closed an HTTP/2 connection')),
      'the debug line for a closed connection',
    );
    const res = await adminRequest(p.admin, '/metrics');
    const text = res.body.toString();
    assert.match(
      text,
      /http2_connection_close_total\{direction="inbound",peer="src",reason="unresponsive"\} [1-9]/,
    );
    const s = await h2connect(p.inbound.port);
    try {
      const r = await h2request(s, { ':path': '/status/204', ':authority': 'app' });
      assert.equal(r.status, 204);
    } finally {
      s.close();
    }
  });

  test('an idle HTTP/2 connection is closed with GOAWAY NO_ERROR after the idle timeout', T, async () => {
    for (const port of [p.inbound.port, p.outbound.port]) {
      const s = await h2connect(port);
      const goaway = once(s, 'goaway') as Promise<[number]>;
      const r = await h2request(s, { ':path': '/status/200', ':authority': `127.0.0.1:${app.port}` });
      assert.equal(r.status, 200);
      // It answers the liveness SETTINGS (node:http2 acknowledges them), so it is closed as idle.
      const [code] = await withTimeout(goaway, CLOSE_WITHIN_MS, 'GOAWAY on an idle connection');
      assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
      await withTimeout(once(s, 'close'), CLOSE_WITHIN_MS, 'the idle connection to close');
    }
    const exp = await adminRequest(p.admin, '/metrics');
    assert.match(
      exp.body.toString(),
      /http2_connection_close_total\{direction="outbound",peer="src",reason="idle"\} [1-9]/,
    );
  });

  test(
    'a busy connection is not closed: a stream longer than the idle and liveness timeouts',
    T,
    async () => {
      const s = await h2connect(p.inbound.port);
      try {
        const req = s.request({ ':path': '/duplex', ':method': 'POST', ':authority': 'app' });
        req.on('error', () => {});
        let echoed = 0;
        req.on('data', (c: Buffer) => {
          echoed += c.length;
        });
        // A chunk every 200 ms for 3 s: longer than the idle timeout, each gap shorter than the liveness one.
        for (let i = 0; i < 15; i++) {
          req.write(Buffer.alloc(10, 1));
          await new Promise((r) => setTimeout(r, 200));
        }
        req.end();
        await withTimeout(once(req, 'end'), 10_000, 'the duplex stream to end');
        assert.equal(echoed, 150);
        assert.equal(s.closed, false);
      } finally {
        s.close();
      }
    },
  );
});

describe('HTTP/2 on the mesh port (mTLS): a protocol error closes the connection', () => {
  const cleanup = new Cleanup();
  let app: H2App;
  let server: Side;
  let web: TestIdentity;
  let client: TestIdentity;

  before(async () => {
    const pki = await TestPki.create();
    web = await pki.identity('web');
    client = await pki.identity('vote-bot');
    app = await startH2App();
    cleanup.add(() => app.close());
    server = await side('inbound', web, { host: LOOPBACK, port: app.port }, undefined, {
      idleTimeouts: IDLE_TIMEOUTS,
    });
    cleanup.add(() => closeSide(server));
  });
  after(() => cleanup.run());

  test('each bad frame: GOAWAY with its code, then the socket is closed', T, async () => {
    const tls = { cert: client.chainPem, key: client.keyPem, ca: web.anchorsPem, servername: web.name };
    for (const bad of BAD_INPUTS) {
      assert.equal(await sendAndAwaitClose(server.addr.port, bad.frames(), { tls }), bad.code, bad.name);
    }
    // Node reports some (the overflow: session_error); nghttp2 ends the others silently (unresponsive).
    const m = metrics(server);
    const closes = (reason: string): number =>
      findSample(m, 'http2_connection_close_total', { direction: 'inbound', peer: 'src', reason })?.value ??
      0;
    assert.equal(closes('unresponsive') + closes('session_error'), BAD_INPUTS.length);
    assert.ok(closes('unresponsive') >= 1, 'the silent ends are closed too');
    // A ping on a healthy meshed connection is still answered.
    const c = await RawH2.connect(server.addr.port, { tls });
    try {
      c.send(pingFrame(7));
      await c.until(() => c.count(FRAME.PING) === 1, 10_000, 'a PING ACK');
    } finally {
      c.destroy();
    }
  });
});

describe('a proxy whose descriptors ran out recovers once the bad connections are gone', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  test('300 bad connections against a 200-descriptor limit, then /live and a request work', T, async () => {
    const app = await startH2App();
    cleanup.add(() => app.close());
    const p = await startProxy([...baseArgs(app.port), ...TIMEOUT_FLAGS], undefined, { fdLimit: 200 });
    cleanup.add(() => p.stop('SIGKILL'));
    const conns: RawH2[] = [];
    for (let i = 0; i < 300; i++) {
      const c = await RawH2.connect(i % 2 ? p.inbound.port : p.outbound.port);
      c.send(frame(FRAME.DATA, 0, 0, Buffer.from('x')));
      conns.push(c);
    }
    // The attackers leave without waiting for anything.
    for (const c of conns) c.destroy();
    await waitFor(
      async () => {
        try {
          const live = await adminRequest(p.admin, '/live');
          if (live.status !== 200) return false;
          const s = await h2connect(p.inbound.port);
          try {
            return (
              (
                await h2request(
                  s,
                  { ':path': '/status/200', ':authority': 'app' },
                  undefined,
                  undefined,
                  2000,
                )
              ).status === 200
            );
          } finally {
            s.destroy();
          }
        } catch {
          return false;
        }
      },
      '/live and an HTTP/2 request to answer again',
      30_000,
      250,
    );
    assert.equal(p.proc.exitCode, null, 'the proxy is still running');
  });
});
