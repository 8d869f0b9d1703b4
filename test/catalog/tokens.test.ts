import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalCatalog } from '../../src/catalog/local/local-catalog.js';
import { SnapshotStore } from '../../src/catalog/local/store.js';
import { LOCAL_TOKEN_PREFIX } from '../../src/catalog/local/tokens.js';
import { TokenError } from '../../src/controlplane/identity/tokens.js';
import { workload } from '../helpers/catalog.js';
import { makeTempDir } from '../helpers/controlplane.js';

const LEASE = 10_000;

function open(
  t: { after: (fn: () => void) => void },
  dir = makeTempDir(),
  clock = { now: 1_700_000_000_000 },
) {
  const catalog = new LocalCatalog(new SnapshotStore(dir), {
    leaseMs: LEASE,
    saveDelayMs: 1,
    now: () => clock.now,
  });
  t.after(() => catalog.close());
  return { catalog, dir, clock };
}

const mode = (p: string): number => statSync(p).mode & 0o777;

async function refusal(p: Promise<unknown>, reason: TokenError['reason']): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof TokenError, String(err));
    assert.equal(err.reason, reason, err.message);
    return true;
  });
}

test('a registration gets a token file (0600 in 0700 dirs) that proves its service account', async (t) => {
  const { catalog, dir } = open(t);
  const { tokenFile } = catalog.register(workload('web-1', { serviceAccount: 'web' }));
  assert.equal(tokenFile, join(dir, 'tokens', 'default', 'web-1.token'));
  assert.equal(mode(tokenFile), 0o600);
  assert.equal(mode(join(dir, 'tokens')), 0o700);
  assert.equal(mode(join(dir, 'tokens', 'default')), 0o700);
  const token = readFileSync(tokenFile);
  assert.match(token.toString(), /^weft-local-v1\.[A-Za-z0-9_-]{43}$/);
  assert.ok(token.toString().startsWith(LOCAL_TOKEN_PREFIX));
  assert.deepEqual(await catalog.tokens.validate(token), { namespace: 'default', serviceAccount: 'web' });
  // A final newline (echo, cat into a file) is tolerated.
  assert.deepEqual(await catalog.tokens.validate(Buffer.concat([token, Buffer.from('\n')])), {
    namespace: 'default',
    serviceAccount: 'web',
  });
  // No temporary files are left.
  assert.deepEqual(readdirSync(join(dir, 'tokens', 'default')), ['web-1.token']);
});

test('renewals keep the token; a new service account gets a new one', async (t) => {
  const { catalog } = open(t);
  const { tokenFile } = catalog.register(workload('web-1'));
  const first = readFileSync(tokenFile);
  catalog.register(workload('web-1'));
  catalog.register(workload('web-1', { labels: { app: 'web', v: '2' } }));
  assert.deepEqual(readFileSync(tokenFile), first);
  catalog.register(workload('web-1', { serviceAccount: 'admin' }));
  const second = readFileSync(tokenFile);
  assert.notDeepEqual(second, first);
  await refusal(catalog.tokens.validate(first), 'unknown');
  assert.deepEqual(await catalog.tokens.validate(second), { namespace: 'default', serviceAccount: 'admin' });
});

test('missing, malformed and unknown tokens are refused', async (t) => {
  const { catalog } = open(t);
  catalog.register(workload('web-1'));
  await refusal(catalog.tokens.validate(Buffer.alloc(0)), 'missing');
  await refusal(catalog.tokens.validate(Buffer.from('hello')), 'malformed');
  await refusal(catalog.tokens.validate(Buffer.from(`${LOCAL_TOKEN_PREFIX}${'A'.repeat(44)}`)), 'malformed');
  await refusal(catalog.tokens.validate(Buffer.from(`${LOCAL_TOKEN_PREFIX}${'A'.repeat(43)}`)), 'unknown');
  // The message never carries the token.
  const secret = `${LOCAL_TOKEN_PREFIX}${'B'.repeat(43)}`;
  await assert.rejects(
    catalog.tokens.validate(Buffer.from(secret)),
    (err: Error) => !err.message.includes('BBBB'),
  );
});

test('deregistration, lease expiry and replacement delete the token file and revoke the token', async (t) => {
  const { catalog, clock } = open(t);
  const a = catalog.register(workload('a', { address: '10.0.0.1' }));
  const b = catalog.register(workload('b', { address: '10.0.0.2' }));
  const c = catalog.register(workload('c', { address: '10.0.0.3' }));
  const tokenA = readFileSync(a.tokenFile);
  const tokenB = readFileSync(b.tokenFile);
  const tokenC = readFileSync(c.tokenFile);

  assert.equal(catalog.deregister('default', 'a'), true);
  assert.equal(existsSync(a.tokenFile), false);
  await refusal(catalog.tokens.validate(tokenA), 'unknown');

  // c is renewed; b's lease lapses.
  clock.now += LEASE / 2;
  catalog.register(workload('c', { address: '10.0.0.3' }));
  clock.now += LEASE / 2 + 1;
  catalog.expireLeases();
  assert.equal(existsSync(b.tokenFile), false);
  await refusal(catalog.tokens.validate(tokenB), 'unknown');

  // A new pod on c's address replaces c at once.
  catalog.register(workload('c2', { address: '10.0.0.3' }));
  assert.equal(existsSync(c.tokenFile), false);
  await refusal(catalog.tokens.validate(tokenC), 'unknown');
  assert.equal(catalog.tokens.size, 1);
});

test('a restart reloads the tokens of restored workloads and deletes the others', async (t) => {
  const dir = makeTempDir();
  const first = open(t, dir);
  const kept = first.catalog.register(workload('kept', { address: '10.0.0.1', serviceAccount: 'web' }));
  const token = readFileSync(kept.tokenFile);
  first.catalog.close();
  // A token file of a workload the catalog does not have, and one of another namespace.
  writeFileSync(join(dir, 'tokens', 'default', 'gone.token'), `${LOCAL_TOKEN_PREFIX}${'x'.repeat(43)}`);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'tokens', 'old-ns'));
  writeFileSync(join(dir, 'tokens', 'old-ns', 'p.token'), 'whatever');

  const second = open(t, dir);
  assert.deepEqual(await second.catalog.tokens.validate(token), {
    namespace: 'default',
    serviceAccount: 'web',
  });
  assert.deepEqual(readdirSync(join(dir, 'tokens')), ['default']);
  assert.deepEqual(readdirSync(join(dir, 'tokens', 'default')), ['kept.token']);
  // The restored workload renews with the same token.
  assert.equal(
    second.catalog.register(workload('kept', { address: '10.0.0.1', serviceAccount: 'web' })).tokenFile,
    kept.tokenFile,
  );
  assert.deepEqual(readFileSync(kept.tokenFile), token);
});

test('a restored workload whose token file is gone gets a new one', async (t) => {
  const dir = makeTempDir();
  const first = open(t, dir);
  const { tokenFile } = first.catalog.register(workload('w'));
  const old = readFileSync(tokenFile);
  first.catalog.close();
  writeFileSync(tokenFile, 'corrupt');
  const second = open(t, dir);
  const fresh = readFileSync(tokenFile);
  assert.notDeepEqual(fresh, old);
  assert.equal(mode(tokenFile), 0o600);
  assert.deepEqual(await second.catalog.tokens.validate(fresh), {
    namespace: 'default',
    serviceAccount: 'default',
  });
});

test('a starting registration is stored with its token, ready=false, and state.json keeps it', async (t) => {
  const dir = makeTempDir();
  const first = open(t, dir);
  const { tokenFile } = first.catalog.register(workload('s', { ready: false }));
  assert.ok(existsSync(tokenFile));
  assert.equal(first.catalog.workloads.get('default', 's')?.ready, false);
  first.catalog.close();
  const second = open(t, dir);
  assert.equal(second.catalog.workloads.get('default', 's')?.ready, false);
});

test('state written before readiness existed restores its workloads as ready', (t) => {
  const dir = makeTempDir();
  const { ready: _ready, ...legacy } = workload('old');
  writeFileSync(join(dir, 'state.json'), JSON.stringify({ version: 1, services: [], workloads: [legacy] }));
  const { catalog } = open(t, dir);
  assert.equal(catalog.workloads.get('default', 'old')?.ready, true);
});
