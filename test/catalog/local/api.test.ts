/**
 * Who may call `weft up`'s Registry, Resources and Pods APIs (issue 18, High): the owner,
 * who proves it with the credential in the state directory, and each pod's proxy, for its
 * own pod only, with the credential weft up issued for that pod. Anyone else is refused:
 * UNAUTHENTICATED without a credential that names someone, PERMISSION_DENIED for a caller
 * asking for what is not its own, and the catalog stays as it was.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { WorkloadMessage } from '../../../src/grpc/protos.js';
import { type ControlPlaneHandle, callAs, startControlPlane } from '../../helpers/controlplane.js';
import { Cleanup, refusedPort, waitFor } from '../../helpers/net.js';
import { weftRun } from '../../helpers/pods.js';

const T = { timeout: 60_000 };

const rpc = <Res>(
  cp: ControlPlaneHandle,
  service: 'registry' | 'resources' | 'pods',
  method: string,
  req: unknown,
  credential?: string,
): Promise<Res> => callAs<Res>(cp, service, method, req, credential);

async function refused(p: Promise<unknown>, code: grpc.status, details: RegExp): Promise<void> {
  await assert.rejects(p, (err: grpc.ServiceError) => {
    assert.equal(grpc.status[err.code], grpc.status[code], err.details);
    assert.match(err.details, details);
    return true;
  });
}

const workload = (pod: string, port: number, serviceAccount = 'web'): WorkloadMessage => ({
  namespace: 'default',
  name: 'web',
  pod,
  serviceAccount,
  labels: { app: 'web' },
  address: '127.0.0.1',
  port,
  namedPorts: {},
  starting: false,
});

describe('the local APIs take only callers that prove who they are', () => {
  const cleanup = new Cleanup();
  let cp: ControlPlaneHandle;
  let owner: string;
  let legitPort: number;
  const endpoints = async (): Promise<string[]> => {
    const res = await rpc<{ objects: string[] }>(
      cp,
      'resources',
      'list',
      { kind: 'endpoints', name: 'web' },
      owner,
    );
    const [view] = res.objects.map(
      (o) => JSON.parse(o) as { ports: Array<{ addresses: Array<{ address: string }> }> },
    );
    return (view?.ports ?? []).flatMap((p) => p.addresses.map((a) => a.address)).sort();
  };

  before(async () => {
    cp = await startControlPlane({ cleanup, extraArgs: ['--pod-mode', 'loopback'] });
    // Read in the tests too, so that where there is none (before issue 18) they fail on what they check.
    owner = existsSync(join(cp.stateDir, 'owner.token'))
      ? readFileSync(join(cp.stateDir, 'owner.token'), 'latin1')
      : '';
    await rpc(
      cp,
      'resources',
      'apply',
      { documents: [{ source: 'web.yaml', json: JSON.stringify(yamlService()) }], dryRun: false },
      owner,
    );
    legitPort = await refusedPort();
    await rpc(cp, 'registry', 'register', workload('web-1', legitPort), owner);
  });
  after(() => cleanup.run());

  test('the owner credential is a 0600 file in the 0700 state directory', () => {
    assert.equal(statSync(cp.stateDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(cp.stateDir, 'owner.token')).mode & 0o777, 0o600);
    assert.match(owner, /^weft-owner-v1\.[A-Za-z0-9_-]{43}$/);
  });

  test(
    'no credential: a registration, a deregistration, an apply and a pod run are refused, nothing changes',
    T,
    async () => {
      const before = await endpoints();
      assert.deepEqual(before, [`127.0.0.1:${legitPort}`]);
      const attacker = await refusedPort();
      await refused(
        rpc(cp, 'registry', 'register', workload('web-evil', attacker)),
        grpc.status.UNAUTHENTICATED,
        /Registry\/Register needs a credential.*none was sent/,
      );
      await refused(
        rpc(cp, 'registry', 'deregister', { namespace: 'default', pod: 'web-1' }),
        grpc.status.UNAUTHENTICATED,
        /needs a credential/,
      );
      await refused(
        rpc(cp, 'resources', 'apply', {
          documents: [{ source: 'x.yaml', json: JSON.stringify(yamlService('other')) }],
          dryRun: false,
        }),
        grpc.status.UNAUTHENTICATED,
        /Resources\/Apply needs a credential/,
      );
      await refused(
        rpc(cp, 'resources', 'list', { kind: 'services' }),
        grpc.status.UNAUTHENTICATED,
        /needs a credential/,
      );
      await refused(
        rpc(cp, 'pods', 'run', {
          namespace: 'default',
          workload: 'evil',
          command: ['/bin/true'],
          replicas: 1,
        }),
        grpc.status.UNAUTHENTICATED,
        /Pods\/Run needs a credential/,
      );
      assert.deepEqual(await endpoints(), before, "the Service's endpoints are unchanged");
      const services = await rpc<{ objects: string[] }>(cp, 'resources', 'list', { kind: 'services' }, owner);
      assert.equal(services.objects.length, 1, 'nothing was applied');
    },
  );

  test('a wrong credential is refused, and the log names the refusal but not the credential', T, async () => {
    const forged = `weft-owner-v1.${'A'.repeat(43)}`;
    await refused(
      rpc(cp, 'registry', 'register', workload('web-evil', await refusedPort()), forged),
      grpc.status.UNAUTHENTICATED,
      /owner credential is not this control plane's/,
    );
    await refused(
      rpc(cp, 'resources', 'list', { kind: 'services' }, 'hunter2'),
      grpc.status.UNAUTHENTICATED,
      /not a credential of this platform/,
    );
    await waitFor(() => cp.logs('call refused').length >= 2, 'the refusals logged');
    const log = cp.stdoutLines.join('\n');
    assert.ok(
      !log.includes(forged) && !log.includes('hunter2') && !log.includes(owner),
      'no credential logged',
    );
  });

  test(
    "a pod's credential registers that pod only: another pod or service account is PERMISSION_DENIED",
    T,
    async () => {
      const port = await refusedPort();
      const server = `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`;
      await weftRun(cp, ['api', '--port', String(port)], [process.execPath, '-e', server]);
      const dir = join(cp.stateDir, 'credentials', 'default');
      const [file] = readdirSync(dir);
      assert.ok(file, 'weft up issued the pod a credential');
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      assert.equal(statSync(join(dir, file)).mode & 0o777, 0o600);
      const pod = file.replace(/\.token$/, '');
      const credential = readFileSync(join(dir, file), 'latin1');
      // The pod's own proxy registered with it.
      await waitFor(async () => {
        const res = await rpc<{ objects: string[] }>(
          cp,
          'resources',
          'list',
          { kind: 'workloads', name: pod },
          owner,
        ).catch(() => ({ objects: [] }));
        return res.objects.some((o) => (JSON.parse(o) as { ready: boolean }).ready);
      }, 'the pod registered as ready');
      const before = await endpoints();
      await refused(
        rpc(cp, 'registry', 'register', workload('web-evil', await refusedPort()), credential),
        grpc.status.PERMISSION_DENIED,
        new RegExp(
          `credential is pod default/${pod} \\(service account api\\)'s, not pod default/web-evil's`,
        ),
      );
      await refused(
        rpc(
          cp,
          'registry',
          'register',
          { ...workload('web-1', await refusedPort()), namespace: 'default' },
          credential,
        ),
        grpc.status.PERMISSION_DENIED,
        /not pod default\/web-1's/,
      );
      await refused(
        rpc(cp, 'registry', 'register', { ...workload(pod, port, 'admin'), name: 'api' }, credential),
        grpc.status.PERMISSION_DENIED,
        /not service account admin's/,
      );
      await refused(
        rpc(cp, 'registry', 'deregister', { namespace: 'default', pod: 'web-1' }, credential),
        grpc.status.PERMISSION_DENIED,
        /deregistration refused/,
      );
      await refused(
        rpc(cp, 'resources', 'list', { kind: 'services' }, credential),
        grpc.status.PERMISSION_DENIED,
        /for the owner only/,
      );
      assert.deepEqual(await endpoints(), before, "the Service's endpoints are unchanged");
    },
  );
});

/** A Service selecting app=web, as the JSON document the CLI sends. */
function yamlService(name = 'web'): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name },
    spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
  };
}
