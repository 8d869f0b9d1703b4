import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Service } from '../../src/catalog/resources.js';
import { endpointPort, selects, serviceEndpoints } from '../../src/catalog/selection.js';
import { workload } from '../helpers/catalog.js';

function service(spec: Partial<Service['spec']> = {}, namespace = 'default'): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'web',
      namespace,
      labels: {},
      annotations: {},
      uid: 'u',
      resourceVersion: '1',
      creationTimestamp: '2024-01-01T00:00:00Z',
    },
    spec: { type: 'ClusterIP', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }], ...spec },
  };
}

test('a selector picks workloads carrying every one of its labels', () => {
  assert.equal(selects({ app: 'web' }, { app: 'web', v: '1' }), true);
  assert.equal(selects({ app: 'web', v: '1' }, { app: 'web', v: '1' }), true);
  assert.equal(selects({ app: 'web', v: '1' }, { app: 'web' }), false);
  assert.equal(selects({ app: 'web' }, { app: 'api' }), false);
  assert.equal(selects({ app: '' }, {}), false);
  assert.equal(selects({ app: '' }, { app: '' }), true);
  // No selector: nothing is selected (the Service's endpoints are not managed).
  assert.equal(selects(undefined, { app: 'web' }), false);
  assert.equal(selects({}, { app: 'web' }), true);
});

test('endpointPort: a fixed port wins; port 0 uses the numeric or named targetPort', () => {
  assert.equal(endpointPort(workload('a', { port: 4143 }), 8080), 4143);
  assert.equal(endpointPort(workload('a', { port: 4143 }), 'http'), 4143);
  assert.equal(endpointPort(workload('a'), 8080), 8080);
  assert.equal(endpointPort(workload('a', { namedPorts: { http: 9000 } }), 'http'), 9000);
  assert.equal(endpointPort(workload('a', { namedPorts: { http: 9000 } }), 'grpc'), undefined);
  assert.equal(endpointPort(workload('a', { namedPorts: { http: 0 } }), 'http'), undefined);
  assert.equal(endpointPort(workload('a'), 0), undefined);
  // A starting instance serves nothing yet.
  assert.equal(endpointPort(workload('a', { port: 4143, ready: false }), 8080), undefined);
  assert.equal(endpointPort(workload('a', { ready: false }), 8080), undefined);
});

test('serviceEndpoints leaves out workloads that are not ready', () => {
  const s = service({ ports: [{ port: 80, targetPort: 8080 }] });
  const workloads = [
    workload('a', { address: '10.0.0.1' }),
    workload('b', { address: '10.0.0.2', ready: false }),
  ];
  assert.deepEqual(serviceEndpoints(s, workloads), [
    { port: 80, addresses: [{ address: '10.0.0.1:8080', pod: 'a' }] },
  ]);
});

test('serviceEndpoints lists each port with the selected workloads of its namespace', () => {
  const s = service({
    ports: [
      { name: 'http', port: 80, targetPort: 8080 },
      { name: 'admin', port: 9000, targetPort: 'admin' },
    ],
  });
  const workloads = [
    workload('a', { address: '10.0.0.1', namedPorts: { admin: 9999 } }),
    workload('b', { address: '10.0.0.2' }),
    workload('c', { address: '127.0.0.1', port: 4143 }),
    workload('d', { address: '10.0.0.4', labels: { app: 'api' } }),
    workload('e', { address: '10.0.0.5', namespace: 'prod' }),
  ];
  assert.deepEqual(serviceEndpoints(s, workloads), [
    {
      port: 80,
      name: 'http',
      addresses: [
        { address: '10.0.0.1:8080', pod: 'a' },
        { address: '10.0.0.2:8080', pod: 'b' },
        { address: '127.0.0.1:4143', pod: 'c' },
      ],
    },
    {
      port: 9000,
      name: 'admin',
      addresses: [
        { address: '10.0.0.1:9999', pod: 'a' },
        { address: '127.0.0.1:4143', pod: 'c' },
      ],
    },
  ]);
  // An unnamed port has no name key; no selector, no endpoints.
  const [only] = serviceEndpoints(
    service({ selector: undefined, ports: [{ port: 80, targetPort: 80 }] }),
    workloads,
  );
  assert.deepEqual(only, { port: 80, addresses: [] });
  assert.ok(only && !('name' in only));
  assert.deepEqual(serviceEndpoints(service({}, 'prod'), workloads)[0]?.addresses, [
    { address: '10.0.0.5:8080', pod: 'e' },
  ]);
});
