import assert from 'node:assert/strict';
import { test } from 'node:test';
import { workloadProblems } from '../../src/catalog/local/api.js';
import type { WorkloadMessage } from '../../src/grpc/protos.js';

const good: WorkloadMessage = {
  namespace: 'default',
  name: 'web',
  pod: 'web-1',
  serviceAccount: 'web',
  labels: { app: 'web' },
  address: '10.42.0.5',
  port: 0,
  namedPorts: { http: 8080 },
  adminPort: 4191,
  tapPort: 4190,
};

test('a registration names every field that is wrong, ports included', () => {
  assert.deepEqual(workloadProblems(good), []);
  assert.deepEqual(workloadProblems({ ...good, adminPort: undefined, tapPort: undefined }), []);
  const problems = workloadProblems({ ...good, port: 70000, adminPort: 65536, tapPort: 1.5, address: 'a b' });
  assert.deepEqual(problems, [
    'address "a b" is not an IP address or host name',
    'port 70000 is out of range',
    'admin_port 65536 is out of range',
    'tap_port 1.5 is out of range',
  ]);
});
