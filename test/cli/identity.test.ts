/**
 * `weft identity` against a real `weft up` and real proxies: each pod's certificate as its
 * proxy serves it over TLS, checked here with openssl.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { identityStatePaths } from '../../src/identity/state-paths.js';
import {
  type ControlPlaneHandle,
  makeTempDir,
  startControlPlane,
  startReplica,
  weft,
} from '../helpers/controlplane.js';
import { Cleanup } from '../helpers/net.js';

const T = { timeout: 30_000 };
const IDENTITY = 'default.default.serviceaccount.identity.weft.cluster.local';
const PEM_CHAIN = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

describe('weft identity', () => {
  const cleanup = new Cleanup();
  let cp: ControlPlaneHandle;

  before(async () => {
    cp = await startControlPlane();
    cleanup.add(() => cp.stop());
    await startReplica(cp, { name: 'web-1' }, cleanup);
    await startReplica(cp, { name: 'web-2' }, cleanup);
  });
  after(() => cleanup.run());

  const identity = (args: string[]) =>
    weft(['identity', ...args, '--state-dir', cp.stateDir, '--control-plane', cp.grpcAddr]);

  test("prints each pod's identity, expiry and a chain openssl verifies", T, async () => {
    const r = await identity(['web']);
    assert.equal(r.code, 0, r.stderr);
    const sections = r.stdout.split(/^POD /m).slice(1);
    assert.deepEqual(
      sections.map((s) => s.split(' ')[0]),
      ['web-1', 'web-2'],
      r.stdout,
    );
    const paths = identityStatePaths(cp.stateDir);
    const dir = makeTempDir('weft-identity-out-');
    for (const [i, s] of sections.entries()) {
      assert.match(s, new RegExp(`^Identity: +${IDENTITY.replaceAll('.', '\\.')}$`, 'm'));
      assert.match(s, /^Trust: +verified against the trust anchors$/m);
      assert.match(s, /^Issuer: +CN=identity\.weft\.cluster\.local$/m);
      assert.match(s, /^Serial: +[0-9A-F]+$/m);
      const expires = /^Expires: +(\S+) \(in (23h\d+m|24h0m)\)$/m.exec(s);
      assert.ok(expires, s);
      const left = Date.parse(expires[1] as string) - Date.now();
      assert.ok(Math.abs(left - 24 * 3600_000) < 5 * 60_000, `expires in ${left} ms`);
      const certs = s.match(PEM_CHAIN) ?? [];
      assert.equal(certs.length, 2, 'the leaf, then the issuer');
      const chainFile = join(dir, `chain-${i}.pem`);
      writeFileSync(chainFile, `${certs.join('\n')}\n`);
      const out = execFileSync(
        'openssl',
        ['verify', '-CAfile', paths.trustAnchors, '-untrusted', paths.issuerCertificate, chainFile],
        { encoding: 'utf8' },
      );
      assert.match(out, /: OK$/m);
      const subject = execFileSync(
        'openssl',
        ['x509', '-noout', '-ext', 'subjectAltName', '-in', chainFile],
        {
          encoding: 'utf8',
        },
      );
      assert.match(subject, new RegExp(`DNS:${IDENTITY.replaceAll('.', '\\.')}`));
    }
  });

  test('-o json gives an array with each pod and its chain', T, async () => {
    const r = await identity(['web', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const pods = JSON.parse(r.stdout) as Array<{
      pod: string;
      identity: string;
      verified: boolean;
      certificate: { dnsNames: string[]; chain: string[]; notAfter: string };
    }>;
    assert.deepEqual(
      pods.map((p) => [p.pod, p.identity, p.verified, p.certificate.dnsNames, p.certificate.chain.length]),
      [
        ['web-1', IDENTITY, true, [IDENTITY], 2],
        ['web-2', IDENTITY, true, [IDENTITY], 2],
      ],
    );
  });

  test('an unknown workload exits 1 naming it and the namespace', T, async () => {
    const r = await identity(['nope', '-n', 'shop']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /workload "nope" not found in namespace shop/);
  });

  test('a pod whose proxy is gone is reported, and the command exits 1', T, async () => {
    const gone = await startReplica(cp, { name: 'api-1', app: 'api' }, cleanup);
    await gone.kill(); // kill -9: it stays registered until its lease lapses
    const r = await identity(['api']);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^POD api-1 /m);
    assert.match(r.stdout, /cannot reach its proxy at 127\.0\.0\.1:\d+: connection refused/);
    assert.match(r.stderr, /1 of 1 pods failed: api-1/);
  });
});
