import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  grpcStatusOf,
  setHost,
  stripH2ConnectionHeaders,
  stripHopByHop,
  trailersObject,
} from '../../../src/proxy/http/headers.js';

test('hop-by-hop headers and those named in Connection are removed; the rest keep case and order', () => {
  const raw = [
    'Host',
    'svc:80',
    'Connection',
    'keep-alive, X-Hop',
    'X-Hop',
    'secret',
    'Keep-Alive',
    'timeout=5',
    'Proxy-Connection',
    'keep-alive',
    'Proxy-Authorization',
    'Basic abc',
    'TE',
    'trailers',
    'Transfer-Encoding',
    'gzip, chunked',
    'Upgrade',
    'websocket',
    'Set-Cookie',
    'a=1',
    'Set-Cookie',
    'b=2',
    'X-End',
    'kept',
  ];
  const out = stripHopByHop(raw);
  assert.deepEqual(out.headers, [
    'Host',
    'svc:80',
    'Set-Cookie',
    'a=1',
    'Set-Cookie',
    'b=2',
    'X-End',
    'kept',
  ]);
  assert.equal(out.host, 'svc:80');
  assert.equal(out.chunked, true);
  assert.equal(out.upgrade, 'websocket');
});

test('a message that is not chunked says so', () => {
  const out = stripHopByHop(['Content-Length', '3', 'Transfer-Encoding', 'chunked, gzip']);
  assert.equal(out.chunked, false);
  assert.deepEqual(out.headers, ['Content-Length', '3']);
});

test('setHost replaces or adds the Host header', () => {
  const h = ['host', 'a', 'x', 'y'];
  setHost(h, 'b:1');
  assert.deepEqual(h, ['host', 'b:1', 'x', 'y']);
  const none = ['x', 'y'];
  setHost(none, 'c');
  assert.deepEqual(none, ['host', 'c', 'x', 'y']);
});

test('trailers and HTTP/2 connection headers', () => {
  assert.deepEqual(trailersObject(['Grpc-Status', '0', 'X', '1', 'x', '2']), {
    'grpc-status': '0',
    x: '1, 2',
  });
  const h: Record<string, unknown> = { connection: 'x', te: 'gzip', upgrade: 'h2c', ':path': '/', a: 'b' };
  stripH2ConnectionHeaders(h);
  assert.deepEqual(h, { ':path': '/', a: 'b' });
  const t: Record<string, unknown> = { te: 'trailers' };
  stripH2ConnectionHeaders(t);
  assert.deepEqual(t, { te: 'trailers' });
});

test('grpc-status is read from headers or trailers', () => {
  assert.equal(grpcStatusOf({ 'grpc-status': '0' }), 0);
  assert.equal(grpcStatusOf({ 'grpc-status': '14' }), 14);
  assert.equal(grpcStatusOf({ 'grpc-status': 'junk' }), 2);
  assert.equal(grpcStatusOf({}), undefined);
  assert.equal(grpcStatusOf(undefined), undefined);
});

test('a Connection header naming a framing field or Host is a fault; naming others is not', () => {
  for (const named of ['content-length', 'Transfer-Encoding', 'host', 'close, Content-Length']) {
    const out = stripHopByHop(['Host', 'a', 'Connection', named, 'Content-Length', '3']);
    assert.match(out.fault ?? '', /never hop-by-hop/, named);
  }
  for (const named of ['close', 'keep-alive', 'upgrade', 'x-custom']) {
    assert.equal(stripHopByHop(['Host', 'a', 'Connection', named]).fault, undefined, named);
  }
});

test('a second Host header is reported; the first is the one kept', () => {
  const out = stripHopByHop(['Host', 'a', 'host', 'b']);
  assert.equal(out.extraHost, true);
  assert.equal(out.host, 'a');
  assert.equal(stripHopByHop(['Host', 'a']).extraHost, false);
});
