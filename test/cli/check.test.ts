/**
 * `weft check` against a real `weft up`: all green when fresh, a warning for an issuer that
 * expires soon, failures for an issuer no anchor signed and for a control plane that is down.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createIssuer, createTrustAnchor } from '../../src/controlplane/identity/ca.js';
import { identityStatePaths } from '../../src/identity/state-paths.js';
import { type ControlPlaneHandle, makeTempDir, startControlPlane, weft } from '../helpers/controlplane.js';

const T = { timeout: 30_000 };
const DAY = 86_400_000;

const check = (cp: ControlPlaneHandle) =>
  weft(['check', '--state-dir', cp.stateDir, '--control-plane', cp.grpcAddr]);

/** The lines of `stdout` that start with `mark`. */
const marked = (stdout: string, mark: string): string[] =>
  stdout.split('\n').filter((l) => l.startsWith(`${mark} `));

test('a fresh weft up passes every check', T, async () => {
  const cp = await startControlPlane();
  try {
    const r = await check(cp);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^weft-control-plane\n-+\n√ the control plane answers at /m);
    assert.match(r.stdout, /^weft-identity\n-+\n/m);
    assert.match(r.stdout, /^√ the issuer certificate is signed by a trust anchor$/m);
    assert.match(
      r.stdout,
      /^√ the Identity API answers TLS with a certificate that chains to the trust anchors$/m,
    );
    assert.deepEqual([...marked(r.stdout, '‼'), ...marked(r.stdout, '×')], []);
    assert.ok(marked(r.stdout, '√').length >= 9, r.stdout);
    assert.match(r.stdout, /Status check results are √\n$/);
  } finally {
    await cp.stop();
  }
});

test('an issuer expiring within 60 days is a warning naming its expiry', T, async () => {
  const anchor = await createTrustAnchor();
  const issuer = await createIssuer(anchor, { lifetimeMs: 30 * DAY });
  const dir = makeTempDir('weft-own-ca-');
  const files = { anchors: join(dir, 'ca.crt'), cert: join(dir, 'issuer.crt'), key: join(dir, 'issuer.key') };
  writeFileSync(files.anchors, anchor.certPem);
  writeFileSync(files.cert, issuer.certPem);
  writeFileSync(files.key, issuer.keyPem, { mode: 0o600 });
  const cp = await startControlPlane({
    extraArgs: [
      '--identity-trust-anchors-file',
      files.anchors,
      '--identity-issuer-certificate-file',
      files.cert,
      '--identity-issuer-key-file',
      files.key,
    ],
  });
  try {
    const r = await check(cp);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(marked(r.stdout, '×'), []);
    assert.deepEqual(marked(r.stdout, '‼'), ['‼ the issuer certificate is valid for at least 60 days']);
    const hint = r.stdout.split('\n')[r.stdout.split('\n').indexOf(marked(r.stdout, '‼')[0] as string) + 1];
    assert.match(
      hint ?? '',
      /^ {4}issuer "CN=identity\.weft\.cluster\.local" expires on 20\d\d-\d\d-\d\dT[\d:.]+Z \(in 29d2[0-3]h\)/,
    );
    assert.match(r.stdout, /Status check results are √/);
  } finally {
    await cp.stop();
  }
});

test('an issuer that no trust anchor signed fails, naming the problem', T, async () => {
  const cp = await startControlPlane();
  try {
    const other = await createTrustAnchor();
    const stranger = await createIssuer(other);
    writeFileSync(identityStatePaths(cp.stateDir).issuerCertificate, stranger.certPem);
    const r = await check(cp);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(marked(r.stdout, '×'), ['× the issuer certificate is signed by a trust anchor']);
    assert.match(
      r.stdout,
      /^ {4}issuer "CN=identity\.weft\.cluster\.local" in \S+issuer\.crt is not signed by any trust anchor in \S+trust-anchors\.pem/m,
    );
    assert.match(r.stdout, /Status check results are ×/);
    assert.match(r.stderr, /1 check failed/);
  } finally {
    await cp.stop();
  }
});

test('a control plane that is down fails', T, async () => {
  const cp = await startControlPlane();
  await cp.stop();
  const r = await check(cp);
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(
    r.stdout,
    /^× the control plane answers at 127\.0\.0\.1:\d+\n {4}cannot reach the control plane/m,
  );
  assert.match(r.stdout, /^× the Identity API answers TLS[^\n]*\n {4}no weft up is running with state dir/m);
  // The files are still there and sound.
  assert.match(r.stdout, /^√ the issuer certificate is signed by a trust anchor$/m);
  assert.match(r.stdout, /Status check results are ×/);
});
