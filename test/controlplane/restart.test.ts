/**
 * The control plane going away and coming back: proxies keep serving what they know
 * while it is down, and pick up changes once it is back; the state directory keeps the
 * catalog across a clean stop and across kill -9, and is locked against a second `weft up`.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type ControlPlaneHandle,
  controlPlaneArgs,
  controlPlaneMetric,
  describeFailures,
  Load,
  makeTempDir,
  removeTempDir,
  serviceYaml,
  startClientProxy,
  startControlPlane,
  startReplica,
  weft,
  weftOk,
} from '../helpers/controlplane.js';
import { Cleanup, waitFor } from '../helpers/net.js';
import type { ProxyHandle } from '../helpers/proxy.js';

const T = { timeout: 40_000 };
const AUTHORITY = 'web-svc:80';

describe('control plane restarts', () => {
  const cleanup = new Cleanup();
  const stateDir = makeTempDir('weft-restart-');
  let cp: ControlPlaneHandle;
  let port: number;
  let client: ProxyHandle;

  /** Starts `weft up` on the state dir and gRPC port of the first run. */
  const restart = (): Promise<ControlPlaneHandle> =>
    startControlPlane({ stateDir, addr: `127.0.0.1:${port}`, cleanup });
  /** Waits until the client proxy's Destination watch is open on the current control plane. */
  const clientWatching = (): Promise<void> =>
    waitFor(
      async () => (await controlPlaneMetric(cp, 'destination_watchers')) >= 1,
      'the client proxy to watch web-svc again',
      10_000,
      25,
    );

  before(async () => {
    cleanup.add(() => removeTempDir(stateDir));
    cp = await startControlPlane({ stateDir, cleanup });
    port = cp.grpc.port;
    await weftOk(cp, ['apply', '-f', '-'], serviceYaml('web-svc'));
    await Promise.all(['web-a', 'web-b', 'web-c'].map((name) => startReplica(cp, { name }, cleanup)));
    client = await startClientProxy(cp, 'default', cleanup);
  });

  after(() => cleanup.run());

  test('SIGINT and a restart on the same state dir and port under load: no request fails', T, async (t) => {
    const load = new Load(client.outbound, { authority: AUTHORITY, concurrency: 16 });
    try {
      await load.waitMore(200);
      assert.equal(load.failures().length, 0, describeFailures(load.failures()));

      const stoppedAt = Date.now();
      const code = await cp.stop('SIGINT');
      assert.equal(code, 0, `weft up exit code after SIGINT\n${cp.stderrLines.join('\n')}`);
      assert.ok(!existsSync(join(stateDir, 'weft-up.lock')), 'the lock is released on a clean stop');
      // Serve a while with the control plane gone: endpoints already known keep working.
      const sentSinceStop = () => load.samples.filter((s) => s.start >= stoppedAt).length;
      await waitFor(() => sentSinceStop() >= 500, '500 requests sent since the stop to end', 15_000, 5);
      const duringOutage = sentSinceStop();

      cp = await restart();
      const ready = cp.logs('control plane ready')[0];
      assert.equal(ready?.services, 1, 'the Service is restored from the state dir');
      assert.equal(ready?.workloads, 3, 'the registrations are restored from the state dir');
      await clientWatching();
      await waitFor(
        async () => (await controlPlaneMetric(cp, 'catalog_workloads')) === 3,
        'the replicas to be registered',
        10_000,
      );
      await load.waitMore(300);

      // A change after the restart reaches the client: a fourth replica takes traffic.
      const added = await startReplica(cp, { name: 'web-d' }, cleanup);
      await waitFor(() => added.servedAt.length > 0, 'a request at the replica added after the restart');
      const delay = (added.servedAt[0] as number) - added.registeredAt;
      t.diagnostic(
        `${duringOutage} requests while the control plane was down; web-d served ${delay} ms after registering`,
      );
      assert.ok(delay < 1000, `the new replica got its first request ${delay} ms after registering`);
      await load.stop();
      assert.deepEqual(load.failures(), [], describeFailures(load.failures()));
    } finally {
      await load.stop();
    }
  });

  test('a second weft up on the same state dir refuses, naming the dir', T, async () => {
    const r = await weft(controlPlaneArgs(stateDir));
    assert.equal(r.code, 1, `exit code\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stderr, /another weft control plane/);
    assert.ok(r.stderr.includes(stateDir), `the message names ${stateDir}:\n${r.stderr}`);
    assert.ok(r.stderr.includes(`pid ${cp.process.pid}`), `the message names the holder:\n${r.stderr}`);
    // The running one is untouched.
    assert.match(await weftOk(cp, ['get', 'services']), /web-svc/);
    assert.ok(existsSync(join(stateDir, 'weft-up.lock')));
  });

  test('after kill -9 a restart takes over the stale lock, with the catalog intact', T, async () => {
    await cp.kill();
    assert.ok(existsSync(join(stateDir, 'weft-up.lock')), 'kill -9 leaves the lock behind');
    cp = await restart();
    const ready = cp.logs('control plane ready')[0];
    assert.equal(ready?.services, 1);
    assert.equal(ready?.workloads, 4, 'the four registrations were saved before the kill');
    const svc = JSON.parse(await weftOk(cp, ['get', 'services', 'web-svc', '-o', 'json'])) as {
      metadata: { name: string };
      spec: { selector: Record<string, string> };
    };
    assert.equal(svc.metadata.name, 'web-svc');
    assert.deepEqual(svc.spec.selector, { app: 'web' });
    await clientWatching();
    const load = new Load(client.outbound, { authority: AUTHORITY, concurrency: 8, total: 200 });
    await load.done;
    assert.deepEqual(load.failures(), [], describeFailures(load.failures()));
  });

  test('deleting the Service after a restart sends requests by DNS within a second', T, async (t) => {
    await clientWatching();
    const load = new Load(client.outbound, { authority: AUTHORITY, concurrency: 8 });
    try {
      await load.waitMore(100);
      assert.equal(load.failures().length, 0, describeFailures(load.failures()));
      const sent = Date.now();
      await weftOk(cp, ['delete', '-f', '-'], serviceYaml('web-svc'));
      const deletedAt = Date.now();
      await waitFor(
        () => load.samples.some((s) => s.start > deletedAt + 1000),
        'requests started 1 s after the delete',
      );
      await load.stop();
      const lateOk = load.samples.filter((s) => s.status === 200 && s.start > deletedAt + 1000);
      const firstFailure = load.failures(sent)[0];
      t.diagnostic(
        `delete took ${deletedAt - sent} ms; first failure ${firstFailure ? firstFailure.start - deletedAt : '-'} ms after it`,
      );
      assert.equal(lateOk.length, 0, 'no request started a second after the delete reached a replica');
      const late = load.failures(deletedAt + 1000);
      assert.ok(late.length > 0);
      // web-svc is not a DNS name here: the proxy answers the failure itself (502 when the
      // resolver says so at once, 504 when it is slow enough to use up the connect timeout).
      for (const f of late) {
        assert.ok(f.status === 502 || f.status === 504, describeFailures([f], deletedAt));
        assert.match(f.error ?? '', /could not resolve web-svc|connect to web-svc:80 timed out/);
      }
    } finally {
      await load.stop();
    }
  });

  test('applying the Service again brings the replicas back within a second', T, async (t) => {
    const load = new Load(client.outbound, { authority: AUTHORITY, concurrency: 8 });
    try {
      await load.waitMore(16);
      assert.ok(load.failures().length > 0, 'web-svc is still unknown');
      await weftOk(cp, ['apply', '-f', '-'], serviceYaml('web-svc'));
      const appliedAt = Date.now();
      await waitFor(
        () => load.samples.filter((s) => s.start > appliedAt + 1000).length >= 50,
        'requests started 1 s after the apply',
      );
      await load.stop();
      const firstOk = load.samples.find((s) => s.status === 200);
      t.diagnostic(`first success started ${firstOk ? firstOk.start - appliedAt : '-'} ms after the apply`);
      const late = load.failures(appliedAt + 1000);
      assert.deepEqual(late, [], describeFailures(late, appliedAt));
      const replicas = new Set(load.samples.filter((s) => s.status === 200).map((s) => s.replica));
      assert.deepEqual([...replicas].sort(), ['web-a', 'web-b', 'web-c', 'web-d']);
    } finally {
      await load.stop();
    }
  });
});
