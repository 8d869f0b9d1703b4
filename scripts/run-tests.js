#!/usr/bin/env node
// Runs every compiled test file under dist/test with Node's own test runner.
// Node 20's `--test` takes no globs, so the files are listed here.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...find(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = find('dist/test')
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files found under dist/test (did the build run?)');
  process.exit(1);
}
// Tests that add and remove links on this host (pods, network namespaces) say so with a
// `@host-network` tag near their top. They run one at a time after the others: a browser
// drops its requests when the host's links change (net::ERR_NETWORK_CHANGED), and two
// demos starting at once on two cores are slow enough to miss their deadlines.
const HOST_NETWORK = '@host-network';
const FAIL_ON_WARNINGS = pathToFileURL(join('dist', 'test', 'helpers', 'fail-on-warnings.js')).href;
const isHostNetwork = (f) => readFileSync(f, 'utf8').slice(0, 4096).includes(HOST_NETWORK);
const serial = files.filter(isHostNetwork);
const parallel = files.filter((f) => !serial.includes(f));
let status = 0;
for (const [group, concurrency] of [
  [parallel, 2],
  [serial, 1],
]) {
  if (group.length === 0) continue;
  const result = spawnSync(
    process.execPath,
    // Each test file's process fails on a MaxListenersExceededWarning (test/helpers/fail-on-warnings.ts).
    ['--import', FAIL_ON_WARNINGS, '--test', `--test-concurrency=${concurrency}`, ...group],
    { stdio: 'inherit' },
  );
  if (result.status !== 0) status = result.status ?? 1;
}
process.exit(status);
