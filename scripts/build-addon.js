#!/usr/bin/env node
// Builds the SO_ORIGINAL_DST addon (native/original-dst) with node-gyp, at `npm ci` /
// `npm install` (the package's install script) or by hand (`npm run build:addon`). A failed
// build does not fail the install: the proxy's explicit mode needs no addon, and transparent
// mode says what is missing and how to fix it when it starts.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'native', 'original-dst');

function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) {
    return process.env.npm_config_node_gyp;
  }
  // npm's own copy, next to the npm that runs this node.
  const guess = join(
    dirname(process.execPath),
    '..',
    'lib',
    'node_modules',
    'npm',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  );
  return existsSync(guess) ? guess : undefined;
}

if (process.platform !== 'linux') {
  console.error('weft: the SO_ORIGINAL_DST addon is Linux only; transparent interception is off here');
  process.exit(0);
}
const gyp = nodeGyp();
if (!gyp) {
  console.error(
    'weft: node-gyp not found, so the SO_ORIGINAL_DST addon was not built: transparent interception is off (explicit mode works). Fix: npm install -g node-gyp, then npm run build:addon',
  );
  process.exit(0);
}
// Node's own headers when they are installed beside it (npm passes npm_config_nodedir when
// it runs this script): node-gyp would otherwise download them.
const prefix = join(dirname(process.execPath), '..');
const nodedir =
  process.env.npm_config_nodedir ||
  (existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined);
const args = [gyp, 'rebuild', '--directory', dir, ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  console.error(`${r.stdout}${r.stderr}`.trim().split('\n').slice(-15).join('\n'));
  console.error(
    'weft: the SO_ORIGINAL_DST addon did not build: transparent interception is off (explicit mode works). Fix: install python3, make and a C compiler (Debian: apt-get install python3 make g++) and make the Node.js headers available (installed beside node, or downloadable by node-gyp), then npm run build:addon',
  );
  process.exit(0);
}
console.error('weft: built the SO_ORIGINAL_DST addon (native/original-dst)');
