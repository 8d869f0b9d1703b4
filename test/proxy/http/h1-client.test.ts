import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { Registry } from '../../../src/metrics/registry.js';
import { TcpMetrics } from '../../../src/metrics/tcp.js';
import { type BodyFraming, H1Client, type ResponseSink } from '../../../src/proxy/http/h1-client.js';
import { tcpConnector } from '../../../src/proxy/layers/connect.js';
import { Cleanup, deferred, listen, withTimeout } from '../../helpers/net.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

/**
 * A raw upstream: each connection's received bytes, and a script answering each request
 * with that connection's bytes so far.
 */
async function rawUpstream(answer: (head: string, socket: net.Socket, index: number) => void) {
  const received: string[] = [];
  const sockets: net.Socket[] = [];
  let requests = 0;
  const server = net.createServer((socket) => {
    const id = sockets.push(socket) - 1;
    received[id] = '';
    socket.on('error', () => {});
    socket.on('data', (d) => {
      received[id] += d.toString('latin1');
      // One request head per blank line seen; bodies in these tests carry no blank lines.
      while ((received[id] as string).split('\r\n\r\n').length - 1 > countAnswered(id)) {
        answered[id] = countAnswered(id) + 1;
        answer(received[id] as string, socket, requests++);
      }
    });
  });
  const answered: number[] = [];
  const countAnswered = (id: number): number => answered[id] ?? 0;
  const port = await listen(server);
  cleanup.add(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port, received, sockets };
}

function client(): H1Client {
  const c = new H1Client(
    tcpConnector(1000, new TcpMetrics(new Registry()).stats('outbound', 'dst', [['tls', 'no_identity']])),
  );
  cleanup.add(() => c.destroy());
  return c;
}

interface Outcome {
  status: number;
  headers: string[];
  body: string;
  trailers: string[];
}

/** Sends one request and collects what the sink is given. */
function send(
  c: H1Client,
  port: number,
  head: string,
  framing: BodyFraming,
  body: Buffer[] = [],
  trailers: string[] = [],
  skipBody = false,
) {
  const done = deferred<Outcome>();
  let status = 0;
  let headers: string[] = [];
  let text = '';
  const sink: ResponseSink = {
    head: (s, _m, h) => {
      status = s;
      headers = h;
    },
    body: (chunk) => {
      text += chunk.toString();
      return true;
    },
    end: (t) => done.resolve({ status, headers, body: text, trailers: t }),
    error: (err) => done.reject(err),
  };
  const req = c.request({ host: '127.0.0.1', port }, head, framing, skipBody, sink);
  for (const b of body) req.write(b);
  if (framing !== 'none') req.end(trailers);
  return withTimeout(done.promise, 5000, 'the upstream response');
}

const GET = 'GET / HTTP/1.1\r\nhost: x\r\n\r\n';

test('responses are parsed and keep-alive connections are reused', async () => {
  const up = await rawUpstream((_h, s) =>
    s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nX-Up: 1\r\n\r\nok'),
  );
  const c = client();
  for (let i = 0; i < 3; i++) {
    const r = await send(c, up.port, GET, 'none');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    assert.deepEqual(r.headers, ['content-length', '2', 'X-Up', '1']);
  }
  assert.equal(up.sockets.length, 1, 'three requests, one connection');
});

test('a chunked request body is re-chunked with its trailers; chunked response trailers come back', async () => {
  const up = await rawUpstream((head, s) => {
    if (!head.endsWith('0\r\nx-sum: 9\r\n\r\n')) return;
    s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\ngrpc-status: 0\r\n\r\n');
  });
  const c = client();
  const head = 'POST /u HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n';
  const r = await send(
    c,
    up.port,
    head,
    'chunked',
    [Buffer.from('hello'), Buffer.alloc(0), Buffer.from('!')],
    ['x-sum', '9'],
  );
  assert.equal(up.received[0], `${head}5\r\nhello\r\n1\r\n!\r\n0\r\nx-sum: 9\r\n\r\n`);
  assert.equal(r.body, 'abc');
  assert.deepEqual(r.trailers, ['grpc-status', '0']);
});

test('interim 1xx responses are skipped; HEAD responses have no body; EOF ends an unframed body', async () => {
  const up = await rawUpstream((head, s, i) => {
    if (i === 0) s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\nx');
    else if (i === 1 && head.includes('HEAD /')) s.write('HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n');
    else s.end('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end');
  });
  const c = client();
  assert.equal((await send(c, up.port, GET, 'none')).status, 201);
  const head = await send(c, up.port, 'HEAD / HTTP/1.1\r\nhost: x\r\n\r\n', 'none', [], [], true);
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal((await send(c, up.port, GET, 'none')).body, 'until the end');
});

test('a request without a body is retried once when a reused connection was closed by the server', async () => {
  const up = await rawUpstream((_h, s, i) => {
    // The first connection answers, then drops the next request without a byte.
    if (i === 1) s.destroy();
    else s.write('HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n1');
  });
  const c = client();
  assert.equal((await send(c, up.port, GET, 'none')).status, 200);
  assert.equal((await send(c, up.port, GET, 'none')).status, 200);
  assert.equal(up.sockets.length, 2, 'the retry opened a new connection');
});

test('a request with a body is not retried, and a broken response is an error', async () => {
  const up = await rawUpstream((_h, s, i) => {
    if (i === 0) s.write('HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n1');
    else s.destroy();
  });
  const c = client();
  await send(c, up.port, GET, 'none');
  const head = 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n';
  await assert.rejects(
    send(c, up.port, head, 'length', [Buffer.from('hi')]),
    /closed the connection|ECONNRESET/,
  );
  const bad = await rawUpstream((_h, s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: nope\r\n\r\n'));
  await assert.rejects(send(client(), bad.port, GET, 'none'), (err: Error & { code?: string }) =>
    String(err.code).startsWith('HPE_'),
  );
});
