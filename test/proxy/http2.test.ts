/**
 * HTTP/2 (prior knowledge) and gRPC through the inbound listener (protocol detected by
 * the preface) and the outbound listener (h2 with :authority, and gRPC over CONNECT):
 * trailers, concurrent streams, streaming in both directions, and error answers.
 */
import assert from 'node:assert/strict';
import type http2 from 'node:http2';
import { constants as http2Constants } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  type H2App,
  type H2Echo,
  type H2Server,
  sha256,
  startH2App,
  startH2Server,
} from '../helpers/apps.js';
import { bidiPingPong, EchoClient, type GrpcApp, type Msg, msg, startGrpcApp } from '../helpers/grpc.js';
import { h2connect, h2request } from '../helpers/h2.js';
import { adminRequest, Cleanup, deferred, refusedPort, waitFor, withTimeout } from '../helpers/net.js';
import { scrape, sumSamples } from '../helpers/prom.js';
import { baseArgs, type ProxyHandle, startBehindProxy, startProxy } from '../helpers/proxy.js';

const T = { timeout: 30_000 };

type Side = 'inbound' | 'outbound';
/** gRPC also goes through the outbound listener as plain HTTP/2 with the target as :authority. */
type GrpcSide = Side | 'outbound-h2';

/** An h2c app that holds every stream open and reports when one arrives and when it is aborted. */
function startH2Watcher(opened: { resolve(): void }, cancelled: { resolve(): void }): Promise<H2Server> {
  return startH2Server((stream) => {
    stream.respond({ ':status': 200 });
    stream.write('held;');
    stream.on('data', () => opened.resolve());
    stream.on('close', () => {
      if (stream.rstCode !== http2Constants.NGHTTP2_NO_ERROR || stream.aborted) cancelled.resolve();
    });
  });
}

describe('HTTP/2 proxying', () => {
  const cleanup = new Cleanup();
  let app: H2App;
  let p: ProxyHandle;

  before(async () => {
    ({ app, p } = await startBehindProxy(cleanup, startH2App));
  });
  after(() => cleanup.run());

  function port(side: Side): number {
    return side === 'inbound' ? p.inbound.port : p.outbound.port;
  }
  function authority(side: Side): string {
    return side === 'inbound' ? 'h2.app.test:8080' : `127.0.0.1:${app.port}`;
  }

  for (const side of ['inbound', 'outbound'] as Side[]) {
    test(`${side}: request and response with body, headers and response trailers`, T, async () => {
      const s = await h2connect(port(side));
      cleanup.add(() => s.destroy());
      const body = Buffer.alloc(300_000, 'q');
      const r = await h2request(
        s,
        {
          ':method': 'POST',
          ':path': '/echo?x=1',
          ':authority': authority(side),
          'x-custom': 'Value With  Spaces',
          cookie: ['c1=1', 'c2=2'],
        },
        body,
      );
      assert.equal(r.status, 200);
      const e = JSON.parse(r.body.toString()) as H2Echo;
      assert.equal(e.method, 'POST');
      assert.equal(e.path, '/echo?x=1');
      assert.equal(e.authority, authority(side), ':authority passes through');
      assert.equal(e.headers['x-custom'], 'Value With  Spaces');
      assert.equal(e.bodyLength, body.length);
      assert.equal(e.bodySha256, sha256(body));
      assert.equal(r.headers['x-e2e'], 'yes');
      assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2'], 'duplicate response header kept');
      assert.ok(r.trailers, 'response trailers arrived');
      assert.equal(r.trailers?.['x-trailer'], 'done');
      assert.equal(r.trailers?.['x-body-sha'], sha256(body));
      s.close();
    });

    test(`${side}: request trailers reach the app`, T, async () => {
      const s = await h2connect(port(side));
      cleanup.add(() => s.destroy());
      const r = await h2request(
        s,
        { ':method': 'POST', ':path': '/echo', ':authority': authority(side) },
        'with-trailers',
        { 'x-req-trailer': 'sent-last' },
      );
      assert.equal(r.status, 200);
      const e = JSON.parse(r.body.toString()) as H2Echo;
      assert.equal(e.bodySha256, sha256('with-trailers'));
      assert.equal(e.trailers?.['x-req-trailer'], 'sent-last');
      s.close();
    });

    test(`${side}: 50 concurrent streams on one connection`, T, async () => {
      const s = await h2connect(port(side));
      cleanup.add(() => s.destroy());
      const all = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          h2request(
            s,
            { ':method': 'POST', ':path': `/echo/${i}`, ':authority': authority(side) },
            `body-${i}`,
          ),
        ),
      );
      all.forEach((r, i) => {
        assert.equal(r.status, 200);
        const e = JSON.parse(r.body.toString()) as H2Echo;
        assert.equal(e.path, `/echo/${i}`, 'each response belongs to its request');
        assert.equal(e.bodySha256, sha256(`body-${i}`));
        assert.equal(r.trailers?.['x-trailer'], 'done');
      });
      s.close();
    });

    test(`${side}: a stream is relayed both ways without buffering (ping-pong)`, T, async () => {
      const s = await h2connect(port(side));
      cleanup.add(() => s.destroy());
      const req = s.request({ ':method': 'POST', ':path': '/duplex', ':authority': authority(side) });
      const trailers = deferred<http2.IncomingHttpHeaders>();
      const ended = deferred();
      req.on('trailers', (t) => trailers.resolve(t));
      req.on('end', () => ended.resolve());
      req.on('error', (e) => ended.reject(e));
      const status = await withTimeout(
        new Promise<number>((r) => req.once('response', (h) => r(Number(h[':status'])))),
        10_000,
        'response headers before the request body ended',
      );
      assert.equal(status, 200);
      let got = '';
      for (let i = 0; i < 10; i++) {
        const word = `ping-${i};`;
        const echoed = withTimeout(
          new Promise<void>((resolve) => {
            const on = (c: Buffer): void => {
              got += c.toString();
              if (got.endsWith(word)) {
                req.off('data', on);
                resolve();
              }
            };
            req.on('data', on);
          }),
          10_000,
          `echo of ${word} before the stream ends`,
        );
        req.write(word);
        await echoed;
      }
      req.end();
      const t = await withTimeout(trailers.promise, 10_000, 'duplex trailers');
      await withTimeout(ended.promise, 10_000, 'duplex end');
      assert.equal(t['x-trailer'], 'duplex-done');
      assert.equal(got, Array.from({ length: 10 }, (_, i) => `ping-${i};`).join(''));
      s.close();
    });

    test(`${side}: an upstream 503 passes through unmarked`, T, async () => {
      const s = await h2connect(port(side));
      cleanup.add(() => s.destroy());
      const r = await h2request(s, {
        ':method': 'GET',
        ':path': '/status/503',
        ':authority': authority(side),
      });
      assert.equal(r.status, 503);
      assert.equal(r.headers['weft-proxy-error'], undefined);
      assert.equal(r.body.toString(), 'status 503');
      s.close();
    });
  }

  test('outbound: streams on one client connection are routed by their own :authority', T, async () => {
    const other = await startH2App();
    cleanup.add(() => other.close());
    const s = await h2connect(p.outbound.port);
    cleanup.add(() => s.destroy());
    const before = { a: app.streams(), b: other.streams() };
    const rs = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        h2request(s, {
          ':method': 'GET',
          ':path': `/echo/${i}`,
          ':authority': `127.0.0.1:${i % 2 === 0 ? app.port : other.port}`,
        }),
      ),
    );
    rs.forEach((r, i) => {
      const e = JSON.parse(r.body.toString()) as H2Echo;
      assert.equal(e.authority, `127.0.0.1:${i % 2 === 0 ? app.port : other.port}`);
    });
    assert.equal(app.streams() - before.a, 5, 'five streams reached the first app');
    assert.equal(other.streams() - before.b, 5, 'five streams reached the second app');
    s.close();
  });

  for (const side of ['inbound', 'outbound'] as Side[]) {
    test(`${side}: a 20 MB response body over HTTP/2 arrives intact (flow control)`, T, async () => {
      const s = await h2connect(port(side));
      cleanup.add(() => s.destroy());
      const body = Buffer.alloc(20 * 1024 * 1024);
      for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
      // /duplex echoes the upload, so this pushes 20 MB each way through the proxy.
      const r = await h2request(
        s,
        { ':method': 'POST', ':path': '/duplex', ':authority': authority(side) },
        body,
        undefined,
        30_000,
      );
      assert.equal(r.status, 200);
      assert.equal(r.body.length, body.length);
      assert.equal(sha256(r.body), sha256(body));
      assert.equal(r.trailers?.['x-trailer'], 'duplex-done');
      s.close();
    });

    test(`${side}: a client cancelling its stream (RST_STREAM) reaches the app`, T, async () => {
      const cancelled = deferred();
      const opened = deferred();
      const watcher = await startH2Watcher(opened, cancelled);
      cleanup.add(() => watcher.close());
      const q = await startProxy(baseArgs(watcher.port));
      cleanup.add(() => q.stop('SIGKILL'));
      const s = await h2connect(side === 'inbound' ? q.inbound.port : q.outbound.port);
      cleanup.add(() => s.destroy());
      const req = s.request({
        ':method': 'POST',
        ':path': '/hold',
        ':authority': `127.0.0.1:${watcher.port}`,
      });
      req.on('error', () => {});
      req.write('start');
      await withTimeout(opened.promise, 10_000, 'the stream to reach the app');
      req.close(http2Constants.NGHTTP2_CANCEL);
      await withTimeout(cancelled.promise, 10_000, 'the app to see its stream cancelled');
      s.close();
      await q.stop('SIGKILL');
    });
  }

  test('outbound: an h2 :authority of localhost:port resolves by DNS', T, async () => {
    const s = await h2connect(p.outbound.port);
    cleanup.add(() => s.destroy());
    const r = await h2request(s, {
      ':method': 'GET',
      ':path': '/echo',
      ':authority': `localhost:${app.port}`,
    });
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body.toString()) as H2Echo).authority, `localhost:${app.port}`);
    s.close();
  });

  test('outbound: h2 to a refused :authority answers 502 with weft-proxy-error', T, async () => {
    const gone = await refusedPort();
    const s = await h2connect(p.outbound.port);
    cleanup.add(() => s.destroy());
    const r = await h2request(s, { ':method': 'GET', ':path': '/', ':authority': `127.0.0.1:${gone}` });
    assert.equal(r.status, 502);
    assert.match(String(r.headers['weft-proxy-error']), /refused/i);
    // The same connection still serves a good stream afterwards.
    const ok = await h2request(s, {
      ':method': 'GET',
      ':path': '/echo',
      ':authority': `127.0.0.1:${app.port}`,
    });
    assert.equal(ok.status, 200);
    s.close();
  });

  test('inbound: h2 with a refused app answers 502 with weft-proxy-error', T, async () => {
    const gone = await refusedPort();
    const q = await startProxy(baseArgs(gone));
    cleanup.add(() => q.stop('SIGKILL'));
    const s = await h2connect(q.inbound.port);
    cleanup.add(() => s.destroy());
    const r = await h2request(s, { ':method': 'GET', ':path': '/', ':authority': 'x:1' });
    assert.equal(r.status, 502);
    assert.match(String(r.headers['weft-proxy-error']), /refused/i);
    s.close();
    await q.stop('SIGKILL');
  });

  test('inbound: upstream HTTP/2 connections are reused across client connections', T, async () => {
    const before = app.sessions();
    for (let i = 0; i < 5; i++) {
      const s = await h2connect(p.inbound.port);
      const r = await h2request(s, { ':method': 'GET', ':path': '/echo', ':authority': 'reuse:1' });
      assert.equal(r.status, 200);
      s.close();
    }
    const opened = app.sessions() - before;
    assert.ok(opened < 5, `5 client connections opened ${opened} upstream HTTP/2 sessions`);
  });
});

describe('gRPC proxying', () => {
  const cleanup = new Cleanup();
  let app: GrpcApp;
  let p: ProxyHandle;
  const clients: Record<GrpcSide, EchoClient | undefined> = {
    inbound: undefined,
    outbound: undefined,
    'outbound-h2': undefined,
  };

  before(async () => {
    ({ app, p } = await startBehindProxy(cleanup, startGrpcApp));
    clients.inbound = new EchoClient(`127.0.0.1:${p.inbound.port}`);
    clients.outbound = new EchoClient(`127.0.0.1:${app.port}`, `http://127.0.0.1:${p.outbound.port}`);
    clients['outbound-h2'] = new EchoClient(`127.0.0.1:${p.outbound.port}`, undefined, {
      'grpc.default_authority': `127.0.0.1:${app.port}`,
    });
    cleanup.add(() => clients.inbound?.close());
    cleanup.add(() => clients.outbound?.close());
    cleanup.add(() => clients['outbound-h2']?.close());
  });
  after(() => cleanup.run());

  function client(side: GrpcSide): EchoClient {
    const c = clients[side];
    assert.ok(c);
    return c;
  }

  test('outbound: the gRPC channel really tunnels through the proxy (CONNECT)', T, async () => {
    const before = await scrape(p.admin);
    const opened0 = sumSamples(before, 'tcp_open_total', { direction: 'outbound', peer: 'src' });
    const r = await client('outbound').unary(msg('tunnel-check'));
    assert.equal(r.error, undefined, `call failed: ${r.error?.message}`);
    assert.equal(r.response?.text, 'echo:tunnel-check');
    const after = await scrape(p.admin);
    const opened1 = sumSamples(after, 'tcp_open_total', { direction: 'outbound', peer: 'src' });
    assert.ok(opened1 > opened0 || opened0 > 0, 'the outbound listener accepted the channel');
  });

  for (const side of ['inbound', 'outbound', 'outbound-h2'] as GrpcSide[]) {
    test(`${side}: unary call with request, initial and trailing metadata`, T, async () => {
      const r = await client(side).unary(msg('hello', 7, Buffer.from([0, 1, 2, 255])), `md-${side}`);
      assert.equal(r.error, undefined, `call failed: ${r.error?.message}`);
      assert.equal(r.response?.text, 'echo:hello');
      assert.equal(r.response?.seq, 7);
      assert.deepEqual([...(r.response?.payload ?? [])], [0, 1, 2, 255]);
      assert.equal(r.initial?.get('x-initial-md')[0], 'hello', 'initial metadata (response headers)');
      assert.equal(r.trailing?.get('x-trailer-md')[0], 'unary-done', 'trailing metadata (trailers)');
      assert.ok(app.seenMetadata.includes(`md-${side}`), 'request metadata reached the server');
    });

    test(`${side}: a failing call's grpc-status, message and trailers arrive intact`, T, async () => {
      const r = await client(side).unary(msg('fail:no such widget'));
      assert.ok(r.error, 'call failed');
      assert.equal(r.error?.code, grpc.status.NOT_FOUND);
      assert.equal(r.error?.details, 'no such widget');
      assert.equal(r.trailing?.get('x-trailer-md')[0], 'unary-done');
    });

    test(`${side}: a 2 MiB unary message`, T, async () => {
      const big = Buffer.alloc(2 * 1024 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = i % 251;
      const r = await client(side).unary(msg('big', 1, big));
      assert.equal(r.error, undefined, `call failed: ${r.error?.message}`);
      assert.equal(sha256(r.response?.payload ?? Buffer.alloc(0)), sha256(big));
    });

    test(`${side}: server streaming of 200 messages`, T, async () => {
      const { messages, status } = await client(side).serverStream(msg('item', 200));
      assert.equal(status.code, grpc.status.OK, status.details);
      assert.equal(messages.length, 200);
      assert.equal(messages[199]?.text, 'item#199');
      assert.equal(status.metadata.get('x-trailer-md')[0], 'server-stream-done');
    });

    test(`${side}: client streaming of 100 messages`, T, async () => {
      const ms = Array.from({ length: 100 }, (_, i) => msg(`m${i}`, i, Buffer.alloc(1000, 1)));
      const r = await client(side).clientStream(ms);
      assert.equal(r.error, undefined, `call failed: ${r.error?.message}`);
      assert.equal(r.response?.seq, 100);
      assert.equal(r.response?.payload.toString(), '100000');
      assert.equal(r.trailing?.get('x-trailer-md')[0], 'client-stream-done');
    });

    test(`${side}: bidi streaming ping-pong of 50 rounds`, T, async () => {
      const { echoed, status, trailer } = await bidiPingPong(client(side), 50);
      assert.equal(status.code, grpc.status.OK, status.details);
      assert.equal(echoed.length, 50);
      echoed.forEach((m, i) => {
        assert.equal(m.text, `bidi:ping${i}`);
        assert.equal(m.seq, i);
      });
      assert.equal(trailer, 'bidi-done');
    });

    test(`${side}: 20 concurrent unary calls on one channel`, T, async () => {
      const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => client(side).unary(msg(`c${i}`, i))));
      rs.forEach((r, i) => {
        assert.equal(r.error, undefined, `call ${i} failed: ${r.error?.message}`);
        assert.equal(r.response?.text, `echo:c${i}`);
      });
    });
  }

  for (const side of ['inbound', 'outbound', 'outbound-h2'] as GrpcSide[]) {
    test(`${side}: a client cancelling a bidi call is seen by the server`, T, async () => {
      const before = app.cancelled();
      const call = client(side).bidi();
      call.on('error', () => {});
      const first = new Promise<Msg>((resolve) => call.once('data', resolve));
      call.write(msg('before-cancel'));
      assert.equal((await withTimeout(first, 10_000, 'the first echo')).text, 'bidi:before-cancel');
      call.cancel();
      await waitFor(() => app.cancelled() > before, 'the server to see the cancellation');
    });
  }

  test('the proxy is still live after all the gRPC traffic', T, async () => {
    assert.equal((await adminRequest(p.admin, '/live')).status, 200);
    assert.equal(p.proc.exitCode, null);
  });
});
