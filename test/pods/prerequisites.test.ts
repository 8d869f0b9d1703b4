/** What pods need on PATH: looked up as they will be run, and named with their Debian package. */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { missingPodTools, missingToolsProblem, onPath } from '../../src/pods/prerequisites.js';
import { makeTempDir } from '../helpers/controlplane.js';

/** A directory holding an executable script for each of `commands`. */
function binDir(commands: string[]): string {
  const dir = makeTempDir('weft-bin-');
  for (const c of commands) {
    writeFileSync(join(dir, c), '#!/bin/sh\n');
    chmodSync(join(dir, c), 0o755);
  }
  return dir;
}

describe('pod prerequisites', () => {
  test('a command is on PATH only as an executable file', () => {
    const dir = binDir(['ip']);
    writeFileSync(join(dir, 'nsenter'), '');
    chmodSync(join(dir, 'nsenter'), 0o644);
    mkdirSync(join(dir, 'setpriv'));
    assert.equal(onPath('ip', `:${dir}`), true);
    assert.equal(onPath('nsenter', dir), false, 'not executable');
    assert.equal(onPath('setpriv', dir), false, 'a directory');
    assert.equal(onPath('ip', `${makeTempDir('weft-bin-')}:${dir}`), true, 'in a later directory');
  });

  test('the missing commands are named with their packages, each package once', () => {
    const noIptables = binDir(['ip', 'nsenter', 'setpriv']);
    assert.deepEqual(
      missingPodTools(noIptables).map((t) => t.command),
      ['iptables-legacy-save', 'iptables-legacy-restore'],
    );
    assert.equal(
      missingToolsProblem(missingPodTools(noIptables)),
      'pods need iptables-legacy-save and iptables-legacy-restore, which are not on PATH (Debian: apt-get install iptables)',
    );
    const onlyIp = binDir(['ip', 'iptables-legacy-save', 'iptables-legacy-restore']);
    assert.equal(
      missingToolsProblem(missingPodTools(onlyIp)),
      'pods need nsenter and setpriv, which are not on PATH (Debian: apt-get install util-linux)',
    );
    assert.equal(
      missingToolsProblem(
        missingPodTools(binDir(['ip', 'nsenter', 'iptables-legacy-save', 'iptables-legacy-restore'])),
      ),
      'pods need setpriv, which is not on PATH (Debian: apt-get install util-linux)',
    );
    assert.equal(
      missingToolsProblem(missingPodTools(makeTempDir('weft-bin-'))),
      'pods need ip, nsenter, setpriv, iptables-legacy-save and iptables-legacy-restore, which are not on PATH (Debian: apt-get install iproute2 util-linux iptables)',
    );
  });
});
