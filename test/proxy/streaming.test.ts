/**
 * Bodies are streamed, not buffered: the first bytes of a response (or a request) get
 * through before the sender has finished, and a 50 MB body against a reader that has
 * stopped reading stalls the writer instead of growing the proxy's memory.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startH2Server } from '../helpers/apps.js';
import { h2connect } from '../helpers/h2.js';
import {
  adminRequest,
  Cleanup,
  deferred,
  type HttpUpstream,
  hashUntilEnd,
  openRequest,
  request,
  startHttpServer,
  waitFor,
  withTimeout,
  writeChunks,
} from '../helpers/net.js';
import { findSample, scrape } from '../helpers/prom.js';
import { baseArgs, type ProxyHandle, rssBytes, startBehindProxy, startProxy } from '../helpers/proxy.js';

const T = { timeout: 60_000 };
const MB = 1024 * 1024;
const TOTAL = 50 * MB;
const CHUNK = 64 * 1024;

type Side = 'inbound' | 'outbound';

/** Chunk i of the 50 MB body: its bytes depend on i, so loss or reordering changes the hash. */
function chunk(i: number): Buffer {
  const b = Buffer.allocUnsafe(CHUNK);
  b.fill(i % 251);
  b.writeUInt32BE(i, 0);
  return b;
}
function expectedSha(): string {
  const h = createHash('sha256');
  for (let i = 0; i < TOTAL / CHUNK; i++) h.update(chunk(i));
  return h.digest('hex');
}

/** Resolves when `read()` has not changed for `quietMs` (the writer is stalled). */
async function stalled(read: () => number, what: string, quietMs = 750): Promise<number> {
  let last = read();
  let since = Date.now();
  await waitFor(
    () => {
      const now = read();
      if (now !== last) {
        last = now;
        since = Date.now();
        return false;
      }
      return Date.now() - since >= quietMs;
    },
    what,
    30_000,
  );
  return last;
}

/** A diagnostic line in the test report (and on stderr with WEFT_TEST_VERBOSE=1). */
function note(t: { diagnostic(message: string): void }, message: string): void {
  t.diagnostic(message);
  if (process.env.WEFT_TEST_VERBOSE) console.error(message);
}

async function proxyRss(p: ProxyHandle): Promise<number> {
  if (p.proc.pid !== undefined) {
    try {
      return await rssBytes(p.proc.pid);
    } catch {
      // fall back to the metric below
    }
  }
  const s = findSample(await scrape(p.admin), 'process_resident_memory_bytes');
  assert.ok(s, 'process_resident_memory_bytes is exported');
  return s.value;
}

describe('streaming and back-pressure', () => {
  const cleanup = new Cleanup();
  const sha50 = expectedSha();

  // Controls for the app, reset by each test.
  let releaseResponse = deferred();
  let requestArrived = deferred();
  let releaseRequest = deferred();
  let firstRequestChunk = deferred();
  let produced = 0;

  let app: HttpUpstream;
  let p: ProxyHandle;

  before(async () => {
    app = await startHttpServer((req: http.IncomingMessage, res: http.ServerResponse) => {
      const url = req.url ?? '';
      if (url === '/warm') {
        req.resume();
        res.end('warm');
      } else if (url === '/slow-response') {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first;');
        void releaseResponse.promise.then(() => res.end('rest'));
      } else if (url === '/streamed-request') {
        let got = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => {
          got += c;
          if (got.includes('part1;')) firstRequestChunk.resolve();
        });
        req.on('end', () => res.end(`received:${got}`));
      } else if (url === '/paused-upload') {
        req.pause();
        requestArrived.resolve();
        void releaseRequest.promise.then(() => {
          const h = createHash('sha256');
          let n = 0;
          req.on('data', (c: Buffer) => {
            h.update(c);
            n += c.length;
          });
          req.on('end', () => res.end(`${n}:${h.digest('hex')}`));
          req.resume();
        });
      } else if (url === '/big-download') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': TOTAL });
        req.resume();
        writeChunks(res, TOTAL / CHUNK, chunk, (n) => {
          produced += n;
        });
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    cleanup.add(() => app.close());
    p = await startProxy(baseArgs(app.port));
    cleanup.add(() => p.stop('SIGKILL'));
  });
  after(() => cleanup.run());

  function target(side: Side, path: string): { port: number; path: string } {
    return side === 'inbound'
      ? { port: p.inbound.port, path }
      : { port: p.outbound.port, path: `http://127.0.0.1:${app.port}${path}` };
  }

  for (const side of ['inbound', 'outbound'] as Side[]) {
    test(
      `${side}: the first bytes of a slow response arrive before the upstream has finished`,
      T,
      async () => {
        releaseResponse = deferred();
        const t = target(side, '/slow-response');
        const body = await withTimeout(
          new Promise<string>((resolve, reject) => {
            const req = http.request(
              { host: '127.0.0.1', port: t.port, path: t.path, agent: false },
              (res) => {
                let got = '';
                res.setEncoding('utf8');
                res.on('data', (c: string) => {
                  got += c;
                  // The upstream only finishes once the client has seen its first part.
                  if (got.startsWith('first;')) releaseResponse.resolve();
                });
                res.on('end', () => resolve(got));
                res.on('error', reject);
              },
            );
            req.on('error', reject);
            req.end();
          }),
          10_000,
          'the first part of the response while the upstream holds the rest',
        );
        assert.equal(body, 'first;rest');
      },
    );

    test(
      `${side}: a request body reaches the upstream before the client has finished sending`,
      T,
      async () => {
        firstRequestChunk = deferred();
        const t = target(side, '/streamed-request');
        const { req, text } = openRequest({
          host: '127.0.0.1',
          port: t.port,
          path: t.path,
          method: 'POST',
          headers: { 'transfer-encoding': 'chunked' },
        });
        req.flushHeaders();
        req.write('part1;');
        // The client sends the rest only once the app has seen the first part.
        void firstRequestChunk.promise.then(() => req.end('part2'));
        const body = await withTimeout(
          text,
          10_000,
          'the first part of the request body to reach the app while the client holds the rest',
        );
        assert.equal(body, 'received:part1;part2');
      },
    );
  }

  test(
    'inbound: a 50 MB upload to an app that is not reading stalls the client, not the proxy memory',
    T,
    async (t) => {
      requestArrived = deferred();
      releaseRequest = deferred();
      assert.equal((await request({ host: '127.0.0.1', port: p.inbound.port, path: '/warm' })).status, 200);
      const rss0 = await proxyRss(p);
      let handed = 0;
      const { req, text: response } = openRequest({
        host: '127.0.0.1',
        port: p.inbound.port,
        path: '/paused-upload',
        method: 'POST',
        headers: { 'content-length': TOTAL },
      });
      writeChunks(req, TOTAL / CHUNK, chunk, (n) => {
        handed += n;
      });
      response.catch(() => {}); // awaited below
      await withTimeout(requestArrived.promise, 10_000, 'the upload to reach the app');
      const stuckAt = await stalled(() => handed, 'the client upload to stall');
      const rss1 = await proxyRss(p);
      releaseRequest.resolve();
      note(
        t,
        `upload stalled after ${(stuckAt / MB).toFixed(1)} MB; proxy RSS +${((rss1 - rss0) / MB).toFixed(1)} MB`,
      );
      assert.ok(stuckAt < TOTAL, `the client could hand over all ${TOTAL} bytes while the app read nothing`);
      const grew = rss1 - rss0;
      assert.ok(
        grew < 30 * MB,
        `proxy RSS grew by ${(grew / MB).toFixed(1)} MB while holding a stalled upload`,
      );
      const r = await withTimeout(response, 30_000, 'the upload to complete once the app reads');
      assert.equal(r, `${TOTAL}:${sha50}`, 'every byte arrived, in order');
    },
  );

  test(
    'outbound: a 50 MB download to a client that is not reading stalls the app, not the proxy memory',
    T,
    async (t) => {
      assert.equal((await request({ host: '127.0.0.1', port: p.inbound.port, path: '/warm' })).status, 200);
      const rss0 = await proxyRss(p);
      produced = 0;
      const gotResponse = deferred<http.IncomingMessage>();
      const req = http.request(
        {
          host: '127.0.0.1',
          port: p.outbound.port,
          path: `http://127.0.0.1:${app.port}/big-download`,
          agent: false,
        },
        (res) => {
          res.pause();
          gotResponse.resolve(res);
        },
      );
      req.on('error', (e) => gotResponse.reject(e));
      req.end();
      const res = await withTimeout(gotResponse.promise, 10_000, 'download response headers');
      assert.equal(res.statusCode, 200);
      const stuckAt = await stalled(() => produced, 'the app download to stall');
      const rss1 = await proxyRss(p);
      note(
        t,
        `download stalled after ${(stuckAt / MB).toFixed(1)} MB; proxy RSS +${((rss1 - rss0) / MB).toFixed(1)} MB`,
      );
      assert.ok(stuckAt < TOTAL, `the app could write all ${TOTAL} bytes while the client read nothing`);
      const grew = rss1 - rss0;
      assert.ok(
        grew < 30 * MB,
        `proxy RSS grew by ${(grew / MB).toFixed(1)} MB while holding a stalled download`,
      );
      const done = hashUntilEnd(res);
      res.resume();
      const got = await withTimeout(done, 30_000, 'the download to complete once the client reads');
      assert.equal(got.length, TOTAL);
      assert.equal(got.sha256, sha50, 'every byte arrived, in order');
    },
  );

  test('the proxy is still live after the large transfers', T, async () => {
    assert.equal((await adminRequest(p.admin, '/live')).status, 200);
  });
});

describe('HTTP/2 back-pressure', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  for (const side of ['inbound', 'outbound'] as Side[]) {
    test(
      `${side}: a 50 MB HTTP/2 download to a client that is not reading stalls the app, not the proxy memory`,
      T,
      async (t) => {
        let produced = 0;
        const { app, p } = await startBehindProxy(cleanup, () =>
          startH2Server((stream) => {
            stream.respond({ ':status': 200 });
            writeChunks(stream, TOTAL / CHUNK, chunk, (n) => {
              produced += n;
            });
          }),
        );
        const session = await h2connect(side === 'inbound' ? p.inbound.port : p.outbound.port);
        cleanup.add(() => session.destroy());
        const rss0 = await proxyRss(p);
        const req = session.request({ ':path': '/big', ':authority': `127.0.0.1:${app.port}` });
        req.pause();
        const status = await withTimeout(
          new Promise<number>((resolve, reject) => {
            req.once('response', (h) => resolve(Number(h[':status'])));
            req.once('error', reject);
          }),
          10_000,
          'HTTP/2 response headers',
        );
        assert.equal(status, 200);
        const stuckAt = await stalled(() => produced, 'the HTTP/2 app to stall');
        const rss1 = await proxyRss(p);
        note(
          t,
          `h2 ${side} download stalled after ${(stuckAt / MB).toFixed(1)} MB; proxy RSS +${((rss1 - rss0) / MB).toFixed(1)} MB`,
        );
        assert.ok(stuckAt < TOTAL, `the app could write all ${TOTAL} bytes while the client read nothing`);
        assert.ok(rss1 - rss0 < 30 * MB, `proxy RSS grew by ${((rss1 - rss0) / MB).toFixed(1)} MB`);
        const done = hashUntilEnd(req);
        req.resume();
        const got = await withTimeout(done, 30_000, 'the HTTP/2 download to complete once the client reads');
        assert.equal(got.length, TOTAL);
        assert.equal(got.sha256, expectedSha(), 'every byte arrived, in order');
        session.close();
        await p.stop('SIGKILL');
      },
    );
  }
});
