import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeStat, decodeTap, encodeStat, encodeTap } from '../../src/viz/api.js';
import { parseTarget, VizUsageError } from '../../src/viz/resources.js';

const params = (path: string) => new URL(path, 'http://viz').searchParams;

test('stat requests survive the trip through a query string', () => {
  const path = encodeStat({
    target: { kind: 'deployment', name: 'web' },
    namespace: 'emojivoto',
    to: { kind: 'service', name: 'voting-svc', namespace: 'other' },
    window: '30s',
  });
  assert.deepEqual(decodeStat(params(path)), {
    target: { kind: 'deployment', name: 'web' },
    namespace: 'emojivoto',
    to: { kind: 'service', name: 'voting-svc', namespace: 'other' },
    windowMs: 30_000,
  });
  // No namespace: all of them; --from's namespace defaults to the request's.
  assert.deepEqual(decodeStat(params('/api/stat?resource=po&from=deploy/web')), {
    target: { kind: 'pod' },
    from: { kind: 'deployment', name: 'web', namespace: 'default' },
    windowMs: 60_000,
  });
});

test('bad parameters are usage errors naming the parameter', () => {
  for (const [path, message] of [
    ['/api/stat', /resource: missing/],
    ['/api/stat?resource=widgets', /resource: "widgets" is not a resource kind/],
    ['/api/stat?resource=deploy&window=soon', /window: "soon" is not a duration/],
    ['/api/stat?resource=deploy/', /resource: "deploy\/" is not <kind>\/<name>/],
    ['/api/tap?resource=au/x', /tap: give a deployment, pod, namespace or service/],
    ['/api/tap?resource=widgets', /resource: "widgets" is not a resource kind/],
    ['/api/tap?resource=deploy&to=widgets', /to: "widgets" is not a resource kind/],
    ['/api/tap?resource=deploy&maxRps=5000', /maxRps: 5000 is not a rate from 1 to 1000/],
    ['/api/tap?resource=deploy&path=api', /path: "api" does not start with \//],
  ] as const) {
    assert.throws(
      () => (path.startsWith('/api/tap') ? decodeTap(params(path)) : decodeStat(params(path))),
      (err: Error) => err instanceof VizUsageError && message.test(err.message),
      path,
    );
  }
});

test('resource names: kinds, aliases and kind/name', () => {
  assert.deepEqual(parseTarget('deploy/web'), { kind: 'deployment', name: 'web' });
  assert.deepEqual(parseTarget('svc', 'web-svc'), { kind: 'service', name: 'web-svc' });
  assert.deepEqual(parseTarget('workloads'), { kind: 'deployment' });
  assert.deepEqual(parseTarget('AU'), { kind: 'authority' });
  assert.throws(() => parseTarget('deploy/web', 'web'), /not both/);
});

test('tap requests survive the trip, the method upper-cased', () => {
  const path = encodeTap({
    target: { kind: 'deployment', name: 'web' },
    namespace: 'emojivoto',
    to: { kind: 'service', name: 'voting-svc', namespace: 'emojivoto' },
    method: 'post',
    path: '/api',
    maxRps: 10,
  });
  assert.deepEqual(decodeTap(params(path)), {
    target: { kind: 'deployment', name: 'web' },
    namespace: 'emojivoto',
    to: { kind: 'service', name: 'voting-svc', namespace: 'emojivoto' },
    method: 'POST',
    path: '/api',
    maxRps: 10,
  });
});
