import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyError } from '../../../src/proxy/errors.js';
import { absoluteForm, authorityRouter, fixedRouter } from '../../../src/proxy/layers/route.js';

test('an absolute-form target names its authority and the origin-form path to send', () => {
  assert.deepEqual(absoluteForm('http://web:8080/a?b=1'), { authority: 'web:8080', path: '/a?b=1' });
  assert.deepEqual(absoluteForm('http://web'), { authority: 'web', path: '/' });
  assert.deepEqual(absoluteForm('HTTP://web?q'), { authority: 'web', path: '/?q' });
  for (const target of ['https://web/', 'web:80', 'http://user@web/', 'x']) {
    const out = absoluteForm(target);
    assert.ok(out instanceof ProxyError, target);
    assert.equal(out.status, 400);
  }
});

test('outbound routes by the authority, with port 80 by default', () => {
  const r = authorityRouter();
  assert.deepEqual(r.route('web', '/'), {
    authority: 'web',
    target: { host: 'web', port: 80 },
    path: '/',
  });
  assert.deepEqual(r.route('api.ns:9', '/x'), {
    authority: 'api.ns:9',
    target: { host: 'api.ns', port: 9 },
    path: '/x',
  });
  assert.deepEqual(r.route('[::1]:7', '/'), {
    authority: '[::1]:7',
    target: { host: '::1', port: 7 },
    path: '/',
  });
});

test('outbound refuses what it cannot route, with a 400', () => {
  const r = authorityRouter();
  for (const [authority, path] of [
    [undefined, '/x'],
    ['', '/x'],
    ['bad host', '/'],
    ['web:99999', '/'],
  ] as const) {
    const out = r.route(authority, path);
    assert.ok(out instanceof ProxyError, `${authority} ${path}`);
    assert.equal(out.status, 400);
  }
});

test("inbound routes everything to the application, labelled by the request's authority", () => {
  const r = fixedRouter({ host: '127.0.0.1', port: 8080 });
  assert.deepEqual(r.route('web:80', '/a'), {
    authority: 'web:80',
    target: { host: '127.0.0.1', port: 8080 },
    path: '/a',
  });
  assert.equal((r.route(undefined, '/') as { authority: string }).authority, '127.0.0.1:8080');
});
