import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createIssuer, createTrustAnchor, pemBlocks } from '../../../src/controlplane/identity/ca.js';
import {
  IdentityConfigError,
  identityStatePaths,
  loadOrCreateStateCredentials,
  loadUserCredentials,
  missingIdentityFlags,
  persistUserCredentials,
} from '../../../src/controlplane/identity/credentials.js';
import { controlPlaneArgs, makeTempDir, startControlPlane, weft } from '../../helpers/controlplane.js';
import { makeRoot, makeSigned } from './fixtures.js';

const SETTINGS = { trustDomain: 'cluster.local', issuanceLifetimeMs: 86_400_000, clockSkewMs: 20_000 };
const T = { timeout: 60_000 };
const mode = (p: string): number => statSync(p).mode & 0o777;
const ID = 'web.default.serviceaccount.identity.weft.cluster.local';

test('first start generates an anchor and issuer: public files, the issuer key 0600, no anchor key', async () => {
  const dir = makeTempDir();
  const first = await loadOrCreateStateCredentials(dir, SETTINGS);
  assert.equal(first.generated, true);
  const paths = identityStatePaths(dir);
  assert.deepEqual(readdirSync(paths.dir).sort(), ['issuer.crt', 'issuer.key', 'trust-anchors.pem']);
  assert.equal(mode(paths.dir), 0o700);
  assert.equal(mode(paths.issuerKey), 0o600);
  assert.equal(mode(paths.trustAnchors), 0o644);
  assert.equal(mode(paths.issuerCertificate), 0o644);
  assert.equal(new X509Certificate(readFileSync(paths.trustAnchors)).subject, 'CN=root.weft.cluster.local');

  // A restart takes the same anchor and issuer back.
  const anchors = readFileSync(paths.trustAnchors, 'utf8');
  const second = await loadOrCreateStateCredentials(dir, SETTINGS);
  assert.equal(second.generated, false);
  assert.equal(readFileSync(paths.trustAnchors, 'utf8'), anchors);
  assert.equal(second.ca.trustAnchorsPem, anchors);
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leaf = new X509Certificate((await second.ca.issue(ID, publicKey)).leafPem);
  assert.ok(leaf.verify(new X509Certificate(readFileSync(paths.issuerCertificate)).publicKey));
});

test("the user's files: validated without writing, then the public files rewritten and no key kept", async () => {
  const dir = makeTempDir();
  const files = makeTempDir();
  const root = makeRoot(files, 'root');
  const other = makeRoot(files, 'other');
  const int = makeSigned(files, 'int', root);
  writeFileSync(
    join(files, 'bundle.pem'),
    readFileSync(root.cert, 'utf8') + readFileSync(other.cert, 'utf8'),
  );
  // A generated state first: its key must go when the user's issuer takes over.
  await loadOrCreateStateCredentials(dir, SETTINGS);
  const ca = await loadUserCredentials(
    { trustAnchorsFile: join(files, 'bundle.pem'), issuerCertificateFile: int.cert, issuerKeyFile: int.key },
    SETTINGS,
  );
  const paths = persistUserCredentials(dir, ca);
  assert.deepEqual(readdirSync(paths.dir).sort(), ['issuer.crt', 'trust-anchors.pem']);
  assert.equal(pemBlocks(readFileSync(paths.trustAnchors, 'utf8')).length, 2);
  assert.deepEqual(
    pemBlocks(readFileSync(paths.issuerCertificate, 'utf8'))[0]?.der,
    pemBlocks(readFileSync(int.cert, 'utf8'))[0]?.der,
  );

  // Without the files again, a restart is refused, saying what to pass.
  await assert.rejects(loadOrCreateStateCredentials(dir, SETTINGS), (err: Error) => {
    assert.ok(err instanceof IdentityConfigError);
    assert.ok(
      err.message.startsWith(`${paths.issuerCertificate}: the last run used your own issuer`),
      err.message,
    );
    assert.match(
      err.message,
      /--identity-trust-anchors-file, --identity-issuer-certificate-file and --identity-issuer-key-file again/,
    );
    return true;
  });
});

test('state credentials that went bad are refused, naming the state file and the way out', async () => {
  const dir = makeTempDir();
  await loadOrCreateStateCredentials(dir, SETTINGS);
  const paths = identityStatePaths(dir);
  // An issuer that expired since (signed by another anchor, here: also not signed by ours).
  const anchor = await createTrustAnchor();
  const expired = await createIssuer(anchor, {
    notBefore: new Date(Date.now() - 3 * 86_400_000),
    lifetimeMs: 86_400_000,
  });
  writeFileSync(paths.issuerCertificate, expired.certPem);
  writeFileSync(paths.issuerKey, expired.keyPem);
  await assert.rejects(loadOrCreateStateCredentials(dir, SETTINGS), (err: Error) => {
    assert.ok(
      err.message.startsWith(
        `${paths.issuerCertificate}: certificate "CN=identity.weft.cluster.local" expired on`,
      ),
      err.message,
    );
    assert.match(err.message, /move .*identity aside to generate a new trust anchor/);
    return true;
  });
  // Anchors without an issuer certificate: refused, not silently replaced.
  const { unlinkSync } = await import('node:fs');
  unlinkSync(paths.issuerCertificate);
  await assert.rejects(
    loadOrCreateStateCredentials(dir, SETTINGS),
    /holds trust-anchors\.pem but no issuer\.crt/,
  );
});

test('missingIdentityFlags: all three or none', () => {
  assert.deepEqual(missingIdentityFlags({}), []);
  assert.deepEqual(
    missingIdentityFlags({ trustAnchorsFile: 'a', issuerCertificateFile: 'c', issuerKeyFile: 'k' }),
    [],
  );
  assert.deepEqual(missingIdentityFlags({ issuerCertificateFile: 'c' }), [
    '--identity-trust-anchors-file',
    '--identity-issuer-key-file',
  ]);
  assert.deepEqual(missingIdentityFlags({ trustAnchorsFile: 'a' }), [
    '--identity-issuer-certificate-file',
    '--identity-issuer-key-file',
  ]);
});

// ---------------------------------------------------------------------------------------
// weft up

const flags = (anchors: string, cert: string, key: string): string[] => [
  '--identity-trust-anchors-file',
  anchors,
  '--identity-issuer-certificate-file',
  cert,
  '--identity-issuer-key-file',
  key,
];

test('weft up with step-like files: serves, keeps no key, and needs the files again after', T, async () => {
  const files = makeTempDir();
  const root = makeRoot(files, 'root');
  const int = makeSigned(files, 'int', root);
  const stateDir = join(makeTempDir(), 'state');
  const cp = await startControlPlane({ stateDir, extraArgs: flags(root.cert, int.cert, int.key) });
  try {
    const paths = identityStatePaths(stateDir);
    assert.deepEqual(readdirSync(paths.dir).sort(), ['issuer.crt', 'trust-anchors.pem']);
    assert.deepEqual(
      pemBlocks(readFileSync(paths.trustAnchors, 'utf8'))[0]?.der,
      pemBlocks(readFileSync(root.cert, 'utf8'))[0]?.der,
    );
    assert.ok(cp.logs('control plane ready')[0]?.issuerExpires);
  } finally {
    await cp.stop();
  }
  const again = await weft(controlPlaneArgs(stateDir));
  assert.equal(again.code, 1, again.stderr);
  assert.match(
    again.stderr,
    /the last run used your own issuer, whose key weft does not keep; pass --identity-trust-anchors-file/,
  );
  // With the files, it starts again.
  const cp2 = await startControlPlane({ stateDir, extraArgs: flags(root.cert, int.cert, int.key) });
  await cp2.stop();
});

test(
  'weft up refuses bad files with exit 1, naming the file and the problem, and writes nothing',
  T,
  async () => {
    const files = makeTempDir();
    const root = makeRoot(files, 'root');
    const other = makeRoot(files, 'other');
    const int = makeSigned(files, 'int', root);
    const expired = makeSigned(files, 'expired', root, { days: -1 });
    const cases: Array<[string[], RegExp]> = [
      [
        flags(other.cert, int.cert, int.key),
        new RegExp(`${int.cert}: "CN=int Intermediate CA" is not signed by any of the trust anchors`),
      ],
      [flags(root.cert, expired.cert, expired.key), new RegExp(`${expired.cert}: certificate .* expired on`)],
      [
        flags(root.cert, int.cert, other.key),
        new RegExp(`${other.key}: the key does not match the issuer certificate`),
      ],
      [
        flags(root.cert, int.cert, join(files, 'nope.key')),
        new RegExp(`${files}/nope.key: cannot read the issuer key \\(no such file\\)`),
      ],
    ];
    for (const [args, message] of cases) {
      const stateDir = join(makeTempDir(), 'state');
      const r = await weft([...controlPlaneArgs(stateDir), ...args]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(existsSync(stateDir), false, 'nothing written');
    }
  },
);

test('weft up refuses a partial set of identity flags (exit 2), and a bad trust domain', T, async () => {
  const stateDir = join(makeTempDir(), 'state');
  const base = controlPlaneArgs(stateDir);
  const r = await weft([
    ...base,
    '--identity-issuer-certificate-file',
    'x.crt',
    '--identity-issuer-key-file',
    'x.key',
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--identity-trust-anchors-file missing/);
  const d = await weft([...base, '--identity-trust-domain', 'Not_A_Domain']);
  assert.equal(d.code, 2, d.stderr);
  assert.match(d.stderr, /--identity-trust-domain: "Not_A_Domain" is not a DNS domain/);
  const l = await weft([...base, '--identity-issuance-lifetime', '500ms']);
  assert.equal(l.code, 2, l.stderr);
  assert.match(l.stderr, /--identity-issuance-lifetime: must be at least 1s/);
  assert.equal(existsSync(stateDir), false);
});

test('weft up generates credentials on first start and reuses them', T, async () => {
  const cp = await startControlPlane();
  const anchors = readFileSync(identityStatePaths(cp.stateDir).trustAnchors, 'utf8');
  assert.equal(cp.logs('generated a new trust anchor and issuer').length, 1);
  await cp.stop();
  const cp2 = await startControlPlane({ stateDir: cp.stateDir });
  try {
    assert.equal(readFileSync(identityStatePaths(cp.stateDir).trustAnchors, 'utf8'), anchors);
    assert.equal(cp2.logs('generated a new trust anchor and issuer').length, 0);
  } finally {
    await cp2.stop();
  }
});
