/** The local platform's callers: the owner credential in the state directory, and per-pod credentials. */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalCallers, ownerCredentialFile } from '../../../src/catalog/local/callers.js';
import { CallerError } from '../../../src/controlplane/callers.js';
import { makeTempDir } from '../../helpers/controlplane.js';

const WEB = { namespace: 'default', pod: 'web-1', serviceAccount: 'web' };

test('the owner credential is made once (0600) and kept across restarts', () => {
  const dir = makeTempDir();
  const first = new LocalCallers(dir);
  const file = ownerCredentialFile(dir);
  assert.equal(first.ownerFile, file);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const token = readFileSync(file, 'latin1');
  assert.deepEqual(first.authenticate(token), { kind: 'owner' });
  const again = new LocalCallers(dir);
  assert.equal(readFileSync(file, 'latin1'), token, 'the same credential after a restart');
  assert.deepEqual(again.authenticate(token), { kind: 'owner' });
});

test('an owner credential others could read, or a malformed one, is replaced', () => {
  const dir = makeTempDir();
  new LocalCallers(dir);
  const file = ownerCredentialFile(dir);
  const old = readFileSync(file, 'latin1');
  chmodSync(file, 0o644);
  const callers = new LocalCallers(dir);
  const replaced = readFileSync(file, 'latin1');
  assert.notEqual(replaced, old);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.throws(() => callers.authenticate(old), CallerError);
  writeFileSync(file, 'not a token', { mode: 0o600 });
  new LocalCallers(dir);
  assert.match(readFileSync(file, 'latin1'), /^weft-owner-v1\./);
});

test('a pod credential names its pod and service account until it is revoked or weft up restarts', () => {
  const dir = makeTempDir();
  const callers = new LocalCallers(dir);
  const file = callers.issuePod(WEB);
  assert.equal(file, join(dir, 'credentials', 'default', 'web-1.token'));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'credentials', 'default')).mode & 0o777, 0o700);
  const token = readFileSync(file, 'latin1');
  assert.deepEqual(callers.authenticate(token), { kind: 'workload', ...WEB });
  // Reissued: the old one no longer counts.
  const reissued = readFileSync(callers.issuePod(WEB), 'latin1');
  assert.throws(() => callers.authenticate(token), { message: /unknown or revoked/ });
  assert.deepEqual(callers.authenticate(reissued), { kind: 'workload', ...WEB });
  callers.revokePod('default', 'web-1');
  assert.equal(existsSync(file), false);
  assert.throws(() => callers.authenticate(reissued), { message: /unknown or revoked/ });
  const other = readFileSync(callers.issuePod({ ...WEB, pod: 'web-2' }), 'latin1');
  const restarted = new LocalCallers(dir);
  assert.throws(() => restarted.authenticate(other), { message: /unknown or revoked/ });
  assert.equal(existsSync(join(dir, 'credentials')), false, "the previous run's pod credentials are deleted");
});

test('anything else names no one, and the error never repeats the credential', () => {
  const callers = new LocalCallers(makeTempDir());
  for (const bad of [
    '',
    'hunter2',
    `weft-owner-v1.${'A'.repeat(43)}`,
    `weft-pod-v1.${'A'.repeat(43)}`,
    `weft-local-v1.${'A'.repeat(43)}`,
  ]) {
    assert.throws(
      () => callers.authenticate(bad),
      (err: Error) => err instanceof CallerError && (bad === '' || !err.message.includes(bad)),
    );
  }
});
