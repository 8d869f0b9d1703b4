import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EndpointChange, EndpointInfo } from '../../../src/controlplane/destination/endpoints.js';
import {
  contextNamespace,
  failureAccrualMessage,
  updatesFor,
} from '../../../src/controlplane/destination/service.js';

const ref = { namespace: 'prod', service: 'web', port: 80 };

function ep(address: string, port: number, inboundPort = 0): EndpointInfo {
  return {
    key: `${address}:${port}`,
    address,
    port,
    weight: 10_000,
    pod: `pod-${port}`,
    workload: 'web',
    serviceAccount: 'sa',
    identity: 'sa.prod.serviceaccount.identity.weft.cluster.local',
    inboundPort,
  };
}

const change = (c: Partial<EndpointChange>): EndpointChange => ({
  exists: true,
  added: [],
  removed: [],
  size: 0,
  ...c,
});

test('contextNamespace reads {"ns"} from the token, else "default"', () => {
  assert.equal(contextNamespace('{"ns":"prod"}'), 'prod');
  assert.equal(contextNamespace('{"ns":"prod","nodeName":"x"}'), 'prod');
  for (const token of [
    '',
    '{}',
    '{"ns":""}',
    '{"ns":7}',
    'not json',
    'null',
    '"prod"',
    '[]',
    '{"ns":null}',
  ]) {
    assert.equal(contextNamespace(token), 'default', token);
  }
});

test('an empty set is one NoEndpoints update carrying exists', () => {
  assert.deepEqual(updatesFor(ref, change({ exists: false }), true), [{ noEndpoints: { exists: false } }]);
  assert.deepEqual(updatesFor(ref, change({ exists: true }), true), [{ noEndpoints: { exists: true } }]);
  // Emptied by a change: NoEndpoints, not a Remove.
  assert.deepEqual(updatesFor(ref, change({ removed: [ep('10.0.0.1', 8080)], size: 0 }), false), [
    { noEndpoints: { exists: true } },
  ]);
});

test('additions become one Add with weights, metric labels, identity and an h2 hint', () => {
  const [u, ...rest] = updatesFor(
    ref,
    change({ added: [ep('10.0.0.1', 8080), ep('10.0.0.2', 8081, 4143)], size: 2 }),
    true,
  );
  assert.equal(rest.length, 0);
  assert.deepEqual(u, {
    add: {
      addrs: [
        {
          addr: { ip: '10.0.0.1', port: 8080 },
          weight: 10_000,
          metricLabels: { pod: 'pod-8080', deployment: 'web', serviceaccount: 'sa' },
          tlsIdentity: { dnsLikeIdentity: 'sa.prod.serviceaccount.identity.weft.cluster.local' },
          protocolHint: { h2: {} },
        },
        {
          addr: { ip: '10.0.0.2', port: 8081 },
          weight: 10_000,
          metricLabels: { pod: 'pod-8081', deployment: 'web', serviceaccount: 'sa' },
          tlsIdentity: { dnsLikeIdentity: 'sa.prod.serviceaccount.identity.weft.cluster.local' },
          // Its proxy's inbound port is known: opaque TCP goes there.
          protocolHint: { h2: {}, opaqueTransport: { inboundPort: 4143 } },
        },
      ],
      metricLabels: { namespace: 'prod', service: 'web' },
    },
  });
});

test('a later change sends Remove then Add; the first update never sends Remove', () => {
  const c = change({
    added: [ep('10.0.0.3', 80)],
    removed: [ep('10.0.0.1', 80), ep('10.0.0.2', 81)],
    size: 2,
  });
  const later = updatesFor(ref, c, false);
  assert.equal(later.length, 2);
  assert.deepEqual(later[0], {
    remove: {
      addrs: [
        { ip: '10.0.0.1', port: 80 },
        { ip: '10.0.0.2', port: 81 },
      ],
    },
  });
  assert.deepEqual(
    later[1]?.add?.addrs.map((a) => a.addr),
    [{ ip: '10.0.0.3', port: 80 }],
  );
  const first = updatesFor(ref, c, true);
  assert.equal(first.length, 1);
  assert.ok(first[0]?.add);
  // Only removals, set not empty: just a Remove.
  assert.deepEqual(updatesFor(ref, change({ removed: [ep('10.0.0.1', 80)], size: 1 }), false), [
    { remove: { addrs: [{ ip: '10.0.0.1', port: 80 }] } },
  ]);
});

test("failure accrual in the Destination API's shape (Linkerd's FailureAccrual): none is an empty message", () => {
  assert.deepEqual(failureAccrualMessage({ kind: 'none' }), {});
  assert.deepEqual(
    failureAccrualMessage({
      kind: 'consecutive',
      maxFailures: 3,
      minPenaltyMs: 250,
      maxPenaltyMs: 10_000,
      jitterRatio: 0.5,
    }),
    {
      consecutiveFailures: {
        maxFailures: 3,
        backoff: { minBackoffMs: 250, maxBackoffMs: 10_000, jitterRatio: 0.5 },
      },
    },
  );
});
