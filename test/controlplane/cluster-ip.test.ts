/**
 * The Destination API for a Service's cluster IP: the control plane in this process over a
 * catalog the test fills, asked over real gRPC as proxies ask it. An authority
 * `<cluster IP>:<port>` names the Service (from any namespace) and that port; any other
 * address is refused with INVALID_ARGUMENT, so proxies send it where it was going.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ControlPlane } from '../../src/controlplane/server.js';
import { controlPlaneClient } from '../../src/grpc/client.js';
import type { DestinationProfile, DestinationUpdate } from '../../src/grpc/protos.js';
import { MemoryCatalog, service, workload } from '../helpers/catalog.js';
import { openWatch, type Watch } from '../helpers/destination.js';
import { captureLogger } from '../helpers/identity.js';
import { waitFor } from '../helpers/net.js';

const T = { timeout: 20_000 };
const ECHO_IP = '10.43.0.12';

describe('Destination: a Service cluster IP as the authority', () => {
  const catalog = new MemoryCatalog();
  let cp: ControlPlane;
  let client: grpc.Client;
  const watches: Array<Watch<unknown>> = [];
  const watch = <T>(method: 'get' | 'getProfile', path: string, ns = 'default'): Watch<T> => {
    const w = openWatch<T>(client, method, path, ns);
    watches.push(w as Watch<unknown>);
    return w;
  };
  const refused = async (w: Watch<unknown>, what: string): Promise<void> => {
    await waitFor(() => w.error !== undefined, `${what} to be refused`, 5_000);
    assert.equal(w.error?.code, grpc.status.INVALID_ARGUMENT, `${what}: ${w.error?.message}`);
    assert.deepEqual(w.messages, [], what);
  };

  before(async () => {
    catalog.services.put(
      service('echo', { namespace: 'prod', clusterIP: ECHO_IP, ports: [{ port: 7000, targetPort: 7007 }] }),
    );
    catalog.services.put(service('web', { clusterIP: '10.43.0.13' }));
    catalog.workloads.put(
      workload('echo-1', {
        namespace: 'prod',
        workload: 'echo',
        labels: { app: 'echo' },
        address: '10.42.0.5',
      }),
    );
    cp = new ControlPlane(catalog, [], {
      grpcAddr: { host: '127.0.0.1', port: 0 },
      adminAddr: { host: '127.0.0.1', port: 0 },
      clusterDomain: 'cluster.local',
      log: captureLogger('warn').log,
    });
    const bound = await cp.start();
    client = controlPlaneClient('destination', bound.grpc);
  });

  after(async () => {
    for (const w of watches) w.cancel();
    client?.close();
    await cp?.stop();
  });

  test('Get for <cluster IP>:<port> streams the Service port endpoints, from any namespace', T, async () => {
    const w = watch<DestinationUpdate>('get', `${ECHO_IP}:7000`, 'elsewhere');
    await waitFor(() => w.messages.length >= 2, 'the first answer', 5_000);
    // The first answer: the Service's failure accrual (none: no annotation), then its set.
    const [accrual, first] = w.messages;
    assert.equal(accrual?.update, 'failureAccrual', JSON.stringify(accrual));
    assert.equal(accrual?.failureAccrual?.kind, undefined);
    assert.equal(first?.update, 'add', JSON.stringify(first));
    assert.deepEqual(first?.add?.metricLabels, { namespace: 'prod', service: 'echo' });
    assert.deepEqual(
      first?.add?.addrs.map((a) => [a.addr.ip, a.addr.port, a.metricLabels.pod]),
      [['10.42.0.5', 7007, 'echo-1']],
    );
    assert.match(
      first?.add?.addrs[0]?.tlsIdentity?.dnsLikeIdentity ?? '',
      /^default\.prod\.serviceaccount\./,
    );

    // The stream is a live view of the Service, as for a name.
    catalog.workloads.put(
      workload('echo-2', {
        namespace: 'prod',
        workload: 'echo',
        labels: { app: 'echo' },
        address: '10.42.0.6',
      }),
    );
    await waitFor(() => w.messages.length >= 3, 'the update for a second endpoint', 5_000);
    assert.deepEqual(
      w.messages[2]?.add?.addrs.map((a) => `${a.addr.ip}:${a.addr.port}`),
      ['10.42.0.6:7007'],
    );
    assert.equal(w.error, undefined);
  });

  test(
    'a port the Service does not expose is a Service port that does not exist, as for a name',
    T,
    async () => {
      const w = watch<DestinationUpdate>('get', `${ECHO_IP}:9999`);
      await waitFor(() => w.messages.length >= 2, 'the first answer', 5_000);
      assert.deepEqual(w.messages[1]?.noEndpoints, { exists: false });
      assert.equal(w.error, undefined);
    },
  );

  test('an address that is no Service cluster IP gets INVALID_ARGUMENT', T, async () => {
    for (const path of ['10.43.9.9:7000', '127.0.0.1:7000', '10.42.0.5:7007', '[fd00::c]:7000']) {
      await refused(watch('get', path), `Get ${path}`);
    }
  });

  test(
    'GetProfile for <cluster IP>:<port> answers the Service FQDN; other addresses are refused',
    T,
    async () => {
      const w = watch<DestinationProfile>('getProfile', `${ECHO_IP}:7000`);
      await waitFor(() => w.messages.length >= 1, 'the profile', 5_000);
      assert.equal(w.messages[0]?.fullyQualifiedName, 'echo.prod.svc.cluster.local');
      const web = watch<DestinationProfile>('getProfile', '10.43.0.13');
      await waitFor(() => web.messages.length >= 1, 'the profile of 10.43.0.13 (port 80)', 5_000);
      assert.equal(web.messages[0]?.fullyQualifiedName, 'web.default.svc.cluster.local');
      await refused(watch('getProfile', '10.43.9.9:7000'), 'GetProfile 10.43.9.9:7000');
    },
  );
});
