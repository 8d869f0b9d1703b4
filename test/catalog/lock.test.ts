import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readStateDirLock, StateDirLock, StateDirLockedError } from '../../src/catalog/local/lock.js';

const root = mkdtempSync(join(tmpdir(), 'weft-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => {
  const dir = join(root, `d${++n}`);
  mkdirSync(dir);
  return dir;
};

/** A pid no process has: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

test('acquire writes a private lock file with our pid and address; release removes it', () => {
  const dir = freshDir();
  const lock = StateDirLock.acquire(dir, '127.0.0.1:8086');
  const path = join(dir, 'weft-up.lock');
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { pid: process.pid, address: '127.0.0.1:8086' });
  assert.equal(statSync(path).mode & 0o777, 0o600);
  lock.release();
  assert.equal(existsSync(path), false);
  lock.release(); // twice is harmless
  // Free again.
  StateDirLock.acquire(dir, 'x').release();
});

test('setAddress records the bound addresses and trust domain; readStateDirLock reads them', () => {
  const dir = freshDir();
  assert.equal(readStateDirLock(dir), undefined);
  const lock = StateDirLock.acquire(dir, '127.0.0.1:0');
  lock.setAddress('127.0.0.1:40001', { identityAddress: '127.0.0.1:40002', trustDomain: 'example.org' });
  assert.deepEqual(readStateDirLock(dir), {
    pid: process.pid,
    alive: true,
    address: '127.0.0.1:40001',
    identityAddress: '127.0.0.1:40002',
    trustDomain: 'example.org',
  });
  lock.release();
  writeFileSync(join(dir, 'weft-up.lock'), JSON.stringify({ pid: deadPid(), address: 'a:1' }));
  assert.deepEqual(readStateDirLock(dir), {
    pid: (readStateDirLock(dir) as { pid: number }).pid,
    alive: false,
    address: 'a:1',
  });
});

test('a lock held by another live process is refused, naming the dir, pid and address', async (t) => {
  const child = spawn('sleep', ['5'], { stdio: 'ignore' });
  t.after(() => child.kill());
  const pid = child.pid;
  assert.ok(pid);
  const dir = freshDir();
  const path = join(dir, 'weft-up.lock');
  writeFileSync(path, JSON.stringify({ pid, address: '127.0.0.1:9999' }));
  assert.throws(
    () => StateDirLock.acquire(dir, '127.0.0.1:8086'),
    (err: unknown) => {
      assert.ok(err instanceof StateDirLockedError);
      assert.equal(err.name, 'StateDirLockedError');
      assert.equal(err.dir, dir);
      assert.deepEqual(err.holder, { pid, address: '127.0.0.1:9999' });
      assert.equal(
        err.message,
        `another weft control plane (pid ${pid}, serving 127.0.0.1:9999) is using state dir ${dir}; stop it first, or pass a different --state-dir`,
      );
      return true;
    },
  );
  // The holder's lock is left alone.
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).pid, pid);
  // Without an address, the message leaves it out.
  writeFileSync(path, JSON.stringify({ pid }));
  assert.throws(() => StateDirLock.acquire(dir, 'x'), {
    message: `another weft control plane (pid ${pid}) is using state dir ${dir}; stop it first, or pass a different --state-dir`,
  });
});

test("a dead owner's lock is taken over, as is an unreadable one", () => {
  for (const content of [JSON.stringify({ pid: deadPid(), address: 'old' }), '{"pid": 12', '']) {
    const dir = freshDir();
    const path = join(dir, 'weft-up.lock');
    writeFileSync(path, content);
    const lock = StateDirLock.acquire(dir, 'new:1');
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { pid: process.pid, address: 'new:1' }, content);
    lock.release();
    assert.equal(existsSync(path), false);
  }
});

test('an error other than "exists" is not mistaken for a held lock', () => {
  assert.throws(
    () => StateDirLock.acquire(join(root, 'no', 'such', 'dir'), 'x'),
    (err: NodeJS.ErrnoException) => err.code === 'ENOENT' && !(err instanceof StateDirLockedError),
  );
});
