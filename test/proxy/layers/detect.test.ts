import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import {
  classify,
  detectProtocol,
  type Protocol,
  startsLikeRequestLine,
} from '../../../src/proxy/layers/detect.js';

test('classify tells HTTP/1, the HTTP/2 preface and other bytes apart', () => {
  assert.equal(classify(Buffer.from('GET / HTTP/1.1\r\n')), 'http1');
  assert.equal(classify(Buffer.from('M-SEARCH * HTTP/1.1\r\n')), 'http1');
  assert.equal(classify(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'h2');
  assert.equal(classify(Buffer.from('PRI * HTTP/2.0\r\n')), 'more');
  assert.equal(classify(Buffer.from('POS')), 'more');
  assert.equal(classify(Buffer.from('\x16\x03\x01\x02\x00')), 'tls');
  assert.equal(classify(Buffer.from('hello world')), 'opaque');
  assert.equal(classify(Buffer.from(' GET')), 'opaque');
  assert.equal(classify(Buffer.from('A'.repeat(40))), 'opaque');
  // Text that starts like an unknown method is not HTTP once its line ends.
  assert.equal(classify(Buffer.from('SET key value\r\n')), 'opaque');
  assert.equal(classify(Buffer.from('GET / HTTP/1.1')), 'more');
  assert.equal(classify(Buffer.from('GET / HTTP/1.0\n')), 'http1');
  assert.equal(classify(Buffer.from(`GET /${'a'.repeat(9000)}`)), 'http1');
  // A known method and a space, then not a valid request line: malformed HTTP, never opaque.
  assert.equal(classify(Buffer.from('GET key\r\n')), 'http-malformed');
  assert.equal(classify(Buffer.from('GET / HTTP/2.0\r\n')), 'http-malformed');
  assert.equal(classify(Buffer.from('GET /\x01 HTTP/1.1\r\n')), 'http-malformed');
  assert.equal(classify(Buffer.from('GET  /x HTTP/1.1\r\n')), 'http-malformed');
  assert.equal(classify(Buffer.from('GET /x\0 HTTP/1.1\r\n')), 'http-malformed');
  assert.equal(classify(Buffer.from('M-SEARCH\t* HTTP/1.1\r\n')), 'opaque');
});

test('startsLikeRequestLine: a known method and a space, or a prefix of one', () => {
  for (const yes of ['G', 'GE', 'GET', 'GET ', 'GET /x', 'M-SEARCH ', 'PRI * HTTP/2.0', 'UNSUBSCRIBE']) {
    assert.equal(startsLikeRequestLine(Buffer.from(yes)), true, yes);
  }
  for (const no of ['', 'SET k v', 'SET', 'get /', 'GETX /', 'GET\t/', 'PING\r\n', '\x00GET ', 'hello']) {
    assert.equal(startsLikeRequestLine(Buffer.from(no)), false, JSON.stringify(no));
  }
});

/** Connects a client to a one-shot listener running detection, and reports what it decided. */
function detectOver(
  send: (client: net.Socket) => void,
  timeoutMs: number,
): Promise<{ p: Protocol | undefined; timedOut: boolean; rest: string }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      detectProtocol(socket, timeoutMs, (p, timedOut) => {
        const done = (rest: string): void => {
          resolve({ p, timedOut, rest });
          socket.destroy();
          server.close();
        };
        // Whatever detection read must still be readable from the socket's start.
        if (socket.readableLength > 0) done((socket.read() as Buffer).toString());
        else if (p === undefined || timedOut) done('');
        else socket.once('readable', () => done((socket.read() as Buffer | null)?.toString() ?? ''));
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => send(client));
      client.on('error', reject);
    });
  });
}

test('detected bytes are put back for the next layer', async () => {
  const r = await detectOver((c) => c.write('GET /x HTTP/1.1\r\nhost: a\r\n\r\n'), 5000);
  assert.equal(r.p, 'http1');
  assert.ok(r.rest.startsWith('GET /x HTTP/1.1'));
});

test('bytes split across packets are joined before deciding', async () => {
  const r = await detectOver((c) => {
    c.write('PRI * HTTP/2.0\r\n');
    setImmediate(() => c.write('\r\nSM\r\n\r\n'));
  }, 5000);
  assert.equal(r.p, 'h2');
  assert.equal(r.rest.slice(0, 24), 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
});

test('at the timeout, silence and undecided non-HTTP are opaque, a partial request line malformed', async () => {
  const partial = await detectOver((c) => c.write('GE'), 100);
  assert.deepEqual(partial, { p: 'http-malformed', timedOut: true, rest: 'GE' });
  const undecided = await detectOver((c) => c.write('SE'), 100);
  assert.deepEqual(undecided, { p: 'http-malformed', timedOut: true, rest: 'SE' });
  const text = await detectOver((c) => c.write('AB'), 100);
  assert.deepEqual(text, { p: 'opaque', timedOut: true, rest: 'AB' });
  // A server-speaks-first client sends nothing: carried on as opaque TCP, as Linkerd does.
  const silent = await detectOver(() => {}, 100);
  assert.deepEqual(silent, { p: 'opaque', timedOut: true, rest: '' });
  // Decided from the bytes, before the timeout: not a timeout.
  const decided = await detectOver((c) => c.write('\x00\x01'), 5000);
  assert.deepEqual(decided, { p: 'opaque', timedOut: false, rest: '\x00\x01' });
});

test('a connection that closes or half-closes having sent nothing gets undefined', async () => {
  const closed = await detectOver((c) => c.destroy(), 5000);
  assert.deepEqual([closed.p, closed.timedOut], [undefined, false]);
  const ended = await detectOver((c) => c.end(), 5000);
  assert.deepEqual([ended.p, ended.timedOut], [undefined, false]);
});
