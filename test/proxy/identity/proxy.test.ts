/**
 * The proxy process's identity handshake: register as starting, get a certificate, then
 * register as ready and report ready; against `weft up`, and against a stand-in Registry
 * that hands out chosen identity settings.
 */
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, describe, test } from 'node:test';
import { identityName } from '../../../src/identity/names.js';
import { makeTempDir, ownerTokenFile, startControlPlane } from '../../helpers/controlplane.js';
import {
  filesWithPrivateKeys,
  leaseIdentity,
  startFakeRegistry,
  startIdentityServer,
} from '../../helpers/identity.js';
import { adminRequest, Cleanup, refusedPort, startHttpServer, waitFor } from '../../helpers/net.js';
import { parseProm, sumSamples } from '../../helpers/prom.js';
import {
  baseArgs,
  type HostPort,
  parseHostPort,
  parseJsonLine,
  runProxyExpectExit,
  startProxy,
  startWeft,
  type WeftProcess,
} from '../../helpers/proxy.js';

const T = { timeout: 60_000 };
/** What proxies present to the stand-in Registry, which takes anything. */
const FAKE_TOKEN_FILE = join(makeTempDir('weft-fake-token-'), 'token');
writeFileSync(FAKE_TOKEN_FILE, 'weft-pod-v1.stand-in');
const cleanup = new Cleanup();
after(() => cleanup.run());

async function app(): Promise<number> {
  const a = await startHttpServer((_req, res) => res.end('ok'));
  cleanup.add(() => a.close());
  return a.port;
}

const records = (lines: string[]): Array<Record<string, unknown>> =>
  lines.map(parseJsonLine).filter((r): r is Record<string, unknown> => r !== undefined);
const find = (lines: string[], msg: string) => records(lines).find((r) => r.msg === msg);

/** A proxy that may not become ready: resolves at its "proxy starting" line, with its admin address. */
/** A proxy for workload `web` of a stand-in Registry at `destination`, in front of a fresh app. */
async function workloadArgs(destination: string): Promise<string[]> {
  return [
    ...baseArgs(await app()),
    '--destination',
    destination,
    '--control-plane-token-file',
    FAKE_TOKEN_FILE,
    '--workload',
    'web',
  ];
}

async function startingProxy(args: string[]): Promise<WeftProcess & { admin: HostPort }> {
  const w = await startWeft(['proxy', ...args], 'proxy starting', 'SIGTERM');
  cleanup.add(() => w.stop('SIGKILL'));
  return Object.assign(w, { admin: parseHostPort(w.ready.admin, 'admin') });
}

async function metric(admin: HostPort, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await adminRequest(admin, '/metrics');
  return sumSamples(parseProm(res.body.toString()), name, labels);
}

describe('with weft up', () => {
  test('a workload proxy gets its certificate, then registers as ready and reports ready', T, async () => {
    const cp = await startControlPlane();
    cleanup.add(() => cp.stop('SIGKILL'));
    const p = await startProxy([
      ...baseArgs(await app()),
      '--destination',
      cp.grpcAddr,
      '--control-plane-token-file',
      ownerTokenFile(cp),
      '--workload',
      'web',
      '--pod',
      'web-1',
      '--service-account',
      'web-sa',
    ]);
    cleanup.add(() => p.stop('SIGKILL'));
    const msgs = records(p.stdoutLines).map((r) => r.msg);
    const order = [
      'proxy starting',
      'workload registered as starting',
      'certificate issued',
      'workload registered',
      'proxy ready',
    ];
    assert.deepEqual(
      msgs.filter((m) => order.includes(String(m))),
      order,
      p.stdoutLines.join('\n'),
    );
    const issued = find(p.stdoutLines, 'certificate issued');
    assert.equal(issued?.identity, identityName('web-sa', 'default'));
    const expires = Date.parse(String(issued?.expires));
    assert.ok(
      Math.abs(expires - Date.now() - 24 * 3600_000) < 120_000,
      `a 24 h certificate: ${issued?.expires}`,
    );
    assert.equal((await adminRequest(p.admin, '/ready')).status, 200);
    assert.equal(
      await metric(p.admin, 'identity_cert_expiration_timestamp_seconds'),
      Math.floor(expires / 1000),
    );
    assert.equal(await metric(p.admin, 'identity_cert_refresh_count'), 1);
    assert.equal(await metric(p.admin, 'identity_cert_refresh_failures_total'), 0);
    // The only private key on disk is the control plane's own issuer key.
    const keys = filesWithPrivateKeys(cp.stateDir).map((f) => relative(cp.stateDir, f));
    assert.deepEqual(keys, [join('identity', 'issuer.key')]);
    assert.ok(!p.stdoutLines.join('\n').includes('PRIVATE KEY'));
    assert.equal(await p.stop(), 0);
  });
});

describe('with a stand-in Registry', () => {
  test(
    'a refused token keeps it starting and not ready, saying why; a good token makes it ready',
    T,
    async () => {
      const srv = await startIdentityServer();
      cleanup.add(() => srv.close());
      const settings = srv.workload('web');
      writeFileSync(settings.tokenFile, 'not-a-token');
      const reg = await startFakeRegistry(() => ({ ttlMs: 10_000, identity: leaseIdentity(settings) }));
      cleanup.add(() => reg.close());
      const w = await startingProxy([...(await workloadArgs(reg.addr)), '--pod', 'web-1']);
      await waitFor(
        () =>
          find(w.stdoutLines, 'no certificate yet: cannot get one from the identity service') !== undefined,
        `a warning\n${w.stdoutLines.join('\n')}`,
      );
      const warn = find(w.stdoutLines, 'no certificate yet: cannot get one from the identity service');
      assert.equal(warn?.level, 40);
      assert.equal(warn?.code, 'UNAUTHENTICATED');
      assert.equal(warn?.reason, 'refused');
      assert.match(String(warn?.details), /token/);
      assert.equal((await adminRequest(w.admin, '/ready')).status, 503);
      assert.ok((await metric(w.admin, 'identity_cert_refresh_failures_total', { reason: 'refused' })) >= 1);
      assert.equal(find(w.stdoutLines, 'proxy ready'), undefined);
      assert.ok(reg.registrations.length >= 1);
      assert.ok(
        reg.registrations.every((r) => r.starting === true),
        'registered as starting only',
      );

      copyFileSync(srv.workload('web').tokenFile, settings.tokenFile);
      await waitFor(() => find(w.stdoutLines, 'proxy ready') !== undefined, 'proxy ready', 15_000);
      const ready = find(w.stdoutLines, 'proxy ready');
      const inbound = parseHostPort(ready?.inbound, 'inbound');
      assert.equal((await adminRequest(w.admin, '/ready')).status, 200);
      const last = reg.registrations.at(-1);
      assert.equal(last?.starting, false);
      assert.equal(last?.port, inbound.port, 'advertises the bound inbound port');
      assert.equal(await w.stop(), 0);
      assert.deepEqual(reg.deregistrations, [{ namespace: 'default', pod: 'web-1' }]);
    },
  );

  test(
    'each identity flag overrides the Lease; flags alone suffice with an older control plane',
    T,
    async () => {
      const srv = await startIdentityServer();
      cleanup.add(() => srv.close());
      const settings = srv.workload('web');
      const wrong = {
        ...leaseIdentity(settings),
        addr: `127.0.0.1:${await refusedPort()}`,
        tokenFile: '/nonexistent',
      };
      const reg = await startFakeRegistry(() => ({ ttlMs: 10_000, identity: wrong }));
      cleanup.add(() => reg.close());
      const p = await startProxy([
        ...(await workloadArgs(reg.addr)),
        '--identity-addr',
        `127.0.0.1:${settings.addr.port}`,
        '--identity-token-file',
        settings.tokenFile,
      ]);
      cleanup.add(() => p.stop('SIGKILL'));
      assert.equal(find(p.stdoutLines, 'certificate issued')?.identity, settings.name);

      reg.lease = () => ({ ttlMs: 10_000, identity: null });
      const name = identityName('web', 'default');
      const q = await startProxy([...(await workloadArgs(reg.addr))], {
        WEFT_PROXY_IDENTITY_NAME: name,
        WEFT_PROXY_IDENTITY_ADDR: `127.0.0.1:${settings.addr.port}`,
        WEFT_PROXY_IDENTITY_TOKEN_FILE: settings.tokenFile,
        WEFT_PROXY_IDENTITY_TRUST_ANCHORS_FILE: settings.trustAnchorsFile,
        WEFT_PROXY_IDENTITY_SERVER_NAME: settings.serverName,
      });
      cleanup.add(() => q.stop('SIGKILL'));
      assert.equal(find(q.stdoutLines, 'certificate issued')?.identity, name);
    },
  );

  test(
    'an older control plane (no identity in the Lease): a warning, and ready in plaintext',
    T,
    async () => {
      const reg = await startFakeRegistry(() => ({ ttlMs: 10_000 }));
      cleanup.add(() => reg.close());
      const p = await startProxy([...(await workloadArgs(reg.addr))]);
      cleanup.add(() => p.stop('SIGKILL'));
      const warn = records(p.stdoutLines).find((r) => /gives no identity settings/.test(String(r.msg)));
      assert.equal(warn?.level, 40);
      assert.equal((await adminRequest(p.admin, '/ready')).status, 200);
      assert.equal(reg.registrations.at(-1)?.starting, false);
      const text = (await adminRequest(p.admin, '/metrics')).body.toString();
      assert.doesNotMatch(text, /identity_cert_/);
    },
  );

  test('an unreachable identity service: not ready, warned; SIGTERM still exits cleanly', T, async () => {
    const srv = await startIdentityServer();
    cleanup.add(() => srv.close());
    const settings = { ...srv.workload('web'), addr: { host: '127.0.0.1', port: await refusedPort() } };
    const reg = await startFakeRegistry(() => ({ ttlMs: 10_000, identity: leaseIdentity(settings) }));
    cleanup.add(() => reg.close());
    const w = await startingProxy([...(await workloadArgs(reg.addr))]);
    await waitFor(
      () => records(w.stdoutLines).some((r) => r.reason === 'unavailable'),
      `a warning\n${w.stdoutLines.join('\n')}`,
    );
    const warn = records(w.stdoutLines).find((r) => r.reason === 'unavailable');
    assert.equal(warn?.code, 'UNAVAILABLE');
    assert.equal(warn?.level, 40);
    assert.equal((await adminRequest(w.admin, '/ready')).status, 503);
    assert.equal(await w.stop('SIGTERM'), 0);
    assert.ok(find(w.stdoutLines, 'shutdown complete'));
    assert.equal(find(w.stdoutLines, 'proxy ready'), undefined);
    assert.equal(reg.deregistrations.length, 1);
  });

  test('incomplete identity settings: exit 1 naming the missing flags', T, async () => {
    const reg = await startFakeRegistry(() => ({ ttlMs: 10_000 }));
    cleanup.add(() => reg.close());
    const r = await runProxyExpectExit([
      ...(await workloadArgs(reg.addr)),
      '--identity-name',
      identityName('web', 'default'),
    ]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /incomplete identity settings: neither the control plane nor the flags give --identity-token-file, --identity-trust-anchors-file, --identity-addr, --identity-server-name/,
    );
  });

  test('a client-only proxy (no --workload) has no identity and registers nothing', T, async () => {
    const reg = await startFakeRegistry(() => ({ ttlMs: 10_000 }));
    cleanup.add(() => reg.close());
    const p = await startProxy([...baseArgs(await app()), '--destination', reg.addr]);
    cleanup.add(() => p.stop('SIGKILL'));
    assert.equal(find(p.stdoutLines, 'proxy starting'), undefined);
    assert.equal(reg.registrations.length, 0);
    assert.doesNotMatch((await adminRequest(p.admin, '/metrics')).body.toString(), /identity_cert_/);
  });
});
