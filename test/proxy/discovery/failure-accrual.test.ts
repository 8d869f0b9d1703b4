/**
 * A Service's failure accrual from the control plane's Destination service to the proxy's
 * balancer, over real gRPC in this process: a catalog the test fills, the control plane's
 * Destination service on a loopback port, and the proxy's DestinationClient.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { Workload } from '../../../src/catalog/catalog.js';
import type { Service } from '../../../src/catalog/resources.js';
import { EndpointIndex } from '../../../src/controlplane/destination/endpoints.js';
import { destinationService } from '../../../src/controlplane/destination/service.js';
import { serviceConstructor } from '../../../src/grpc/protos.js';
import { Registry } from '../../../src/metrics/registry.js';
import type { Endpoint } from '../../../src/proxy/balance/endpoint.js';
import { DestinationClient } from '../../../src/proxy/discovery/destination.js';
import { MemoryCatalog, workload as podWorkload, service } from '../../helpers/catalog.js';
import { captureLogger } from '../../helpers/identity.js';
import { Cleanup, LOOPBACK, waitFor } from '../../helpers/net.js';

const AUTHORITY = 'web.default.svc.cluster.local:80';

function annotated(annotations: Record<string, string>): Service {
  const s = service('web');
  return { ...s, metadata: { ...s.metadata, annotations } };
}

const workload = (pod: string, address: string): Workload => podWorkload(pod, { address });

/** The control plane's Destination service over `catalog`, on `port` (0: any). */
async function serve(catalog: MemoryCatalog, port = 0): Promise<{ port: number; stop: () => void }> {
  const index = new EndpointIndex(catalog, (w) => `${w.serviceAccount}.id`);
  const server = new grpc.Server();
  server.addService(
    serviceConstructor('destination').service,
    destinationService(index, { clusterDomain: 'cluster.local', catalog, log: captureLogger('warn').log }),
  );
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${LOOPBACK}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port: bound,
    stop: () => {
      server.forceShutdown();
      index.close();
    },
  };
}

const cleanup = new Cleanup();
after(() => cleanup.run());

test("the proxy's balancer takes the Service's failure accrual, and each change to it, live", async () => {
  const catalog = new MemoryCatalog();
  catalog.services.put(
    annotated({
      'balancer.linkerd.io/failure-accrual': 'consecutive',
      'balancer.linkerd.io/failure-accrual-consecutive-max-failures': '3',
      'balancer.linkerd.io/failure-accrual-consecutive-min-penalty': '250ms',
      'balancer.linkerd.io/failure-accrual-consecutive-jitter-ratio': '0.25',
    }),
  );
  catalog.workloads.put(workload('web-1', '10.0.0.1'));
  const server = await serve(catalog);
  cleanup.add(server.stop);
  const client = new DestinationClient({
    addr: { host: LOOPBACK, port: server.port },
    namespace: 'default',
    pod: 'client-1',
    balancer: {},
    registry: new Registry(),
    log: captureLogger('warn').log,
  });
  cleanup.add(() => client.close());

  const r = client.resolve(AUTHORITY);
  await waitFor(() => r.status === 'mesh', 'the first answer');
  assert.deepEqual(r.balancer.failureAccrual, {
    maxFailures: 3,
    backoff: { minMs: 250, maxMs: 60_000, jitterRatio: 0.25 },
  });
  const ep = r.balancer.get('10.0.0.1:8080') as Endpoint;
  assert.equal(ep.accrual?.state, 'closed');
  // Each authority has its own Service's settings (a traffic split's backends too).
  catalog.services.put(service('api'));
  const other = client.resolve('api.default.svc.cluster.local:80');
  await waitFor(() => other.status === 'mesh', 'the other Service');
  assert.equal(other.balancer.failureAccrual, undefined);

  // A change to the annotations alone reaches the live balancer and its endpoint.
  catalog.services.put(annotated({ 'balancer.weft.io/failure-accrual': 'consecutive' }));
  await waitFor(() => r.balancer.failureAccrual?.maxFailures === 7, 'the new settings');
  assert.equal(r.balancer.get('10.0.0.1:8080'), ep, 'the same endpoint, not a new set');
  for (let i = 0; i < 7; i++) {
    ep.begin();
    ep.finished(true);
  }
  assert.equal(ep.isAvailable(), false);

  // The annotation removed: no failure accrual; the endpoint it had taken out is back.
  catalog.services.put(annotated({}));
  await waitFor(() => r.balancer.failureAccrual === undefined, 'no failure accrual');
  assert.equal(ep.accrual, undefined);
  assert.equal(ep.isAvailable(), true);
});

test('a reopened stream: the settings come first and the set after them still replaces the old one', async () => {
  const catalog = new MemoryCatalog();
  catalog.services.put(annotated({ 'balancer.linkerd.io/failure-accrual': 'consecutive' }));
  catalog.workloads.put(workload('web-1', '10.0.0.1'));
  catalog.workloads.put(workload('web-2', '10.0.0.2'));
  const first = await serve(catalog);
  const client = new DestinationClient({
    addr: { host: LOOPBACK, port: first.port },
    namespace: 'default',
    pod: 'client-1',
    balancer: {},
    registry: new Registry(),
    log: captureLogger('error').log,
  });
  cleanup.add(() => client.close());
  const r = client.resolve(AUTHORITY);
  await waitFor(() => r.balancer.size === 2, 'both endpoints');
  first.stop();
  // While the control plane is away, web-2 goes and the settings change.
  catalog.workloads.remove('default', 'web-2');
  catalog.services.put(
    annotated({
      'balancer.linkerd.io/failure-accrual': 'consecutive',
      'balancer.linkerd.io/failure-accrual-consecutive-max-failures': '2',
    }),
  );
  const second = await serve(catalog, first.port);
  cleanup.add(second.stop);
  await waitFor(() => r.balancer.failureAccrual?.maxFailures === 2, 'the settings after reconnecting');
  await waitFor(() => r.balancer.size === 1, 'the set replaced: web-2 gone');
  assert.deepEqual(
    [...r.balancer.endpoints()].map((e) => e.key),
    ['10.0.0.1:8080'],
  );
  assert.equal(r.status, 'mesh');
});
