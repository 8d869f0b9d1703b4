import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TapEventView } from '../../src/viz/tap-events.js';
import { tapLine } from '../../src/viz/tap-format.js';
import { TopTable } from '../../src/viz/top.js';

function events(
  id: string,
  path: string,
  status: number,
  latencyMs: number,
  extra: Partial<TapEventView> = {},
) {
  const base = {
    id,
    time: 0,
    direction: 'outbound' as const,
    namespace: 'default',
    pod: 'client-1',
    src: '10.42.0.5:40000',
    dst: '10.42.0.7:8080',
    srcLabels: { src_pod: 'client-1', src_deployment: 'client', src_namespace: 'default' },
    dstLabels: { dst_pod: 'web-1', dst_deployment: 'web', dst_namespace: 'default' },
    tls: true,
    method: 'GET',
    authority: 'web-svc:80',
    path,
  };
  return [
    { ...base, type: 'req' as const },
    { ...base, type: 'rsp' as const, status, latencyMs },
    { ...base, type: 'end' as const, status, latencyMs, durationMs: 0.5, responseBytes: 12, ...extra },
  ];
}

test('top counts each ended request under its path, with best, worst and last latency and its success rate', () => {
  const top = new TopTable();
  for (const e of [
    ...events('1:1', '/a', 200, 3),
    ...events('1:2', '/a', 500, 1),
    ...events('1:3', '/a', 200, 2),
    ...events('1:4', '/b', 200, 5),
    ...events('1:5', '/b', 200, 7, { grpcStatus: 2 }),
  ]) {
    top.add(e);
  }
  top.add(events('1:6', '/c', 200, 1)[0] as TapEventView); // not ended: not counted
  const [a, b, ...rest] = top.top();
  assert.deepEqual(rest, []);
  assert.deepEqual(
    { ...a },
    {
      source: 'client-1',
      destination: 'web-1',
      method: 'GET',
      path: '/a',
      count: 3,
      successes: 2,
      best: 1,
      worst: 3,
      last: 2,
    },
  );
  assert.equal(b?.successes, 1, 'a non-zero gRPC status is a failure');
  assert.deepEqual(top.render(1)[1], ['client-1', 'web-1', 'GET', '/a', '3', '1ms', '3ms', '2ms', '66.67%']);
});

test('tap lines read as linkerd viz tap prints them', () => {
  const [req, rsp, end] = events('7:42', '/api/list', 200, 1.234, { grpcStatus: 2 });
  assert.equal(
    tapLine(req as TapEventView),
    'req id=7:42 proxy=out src=10.42.0.5:40000 dst=10.42.0.7:8080 tls=true :method=GET :authority=web-svc:80 :path=/api/list',
  );
  assert.equal(
    tapLine(rsp as TapEventView),
    'rsp id=7:42 proxy=out src=10.42.0.5:40000 dst=10.42.0.7:8080 tls=true :status=200 latency=1234µs',
  );
  assert.equal(
    tapLine(end as TapEventView, true),
    'end id=7:42 proxy=out src=10.42.0.5:40000 dst=10.42.0.7:8080 tls=true grpc-status=Unknown duration=500µs response-length=12B src_res=deploy/client src_ns=default dst_res=deploy/web dst_ns=default',
  );
});
