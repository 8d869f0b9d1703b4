#!/usr/bin/env node
// Builds the dashboard (src/viz/web) into dist/web, at `npm ci` / `npm install` (the
// package's install script), in `npm run build`, or by hand (`node scripts/build-web.js`):
// type-checks it (its own tsconfig, with the DOM), bundles and minifies it with esbuild
// into content-hashed assets (served with a year's cache lifetime), and writes
// dist/web/index.html naming them. The new build replaces the old one in one rename.
//
//   --no-check   skip the type check (esbuild alone)
//
// Where the sources are not there (the package installed from its tarball, which ships
// dist/web already built), it keeps the prebuilt dashboard. Anything wrong fails the
// build with a message saying what and how to fix it.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src', 'viz', 'web');
const out = join(root, 'dist', 'web');
/** The whole dashboard's assets, gzipped: a guard against a heavy dependency slipping in. */
const BUDGET_GZIP = 100 * 1024;

function fail(message) {
  console.error(`weft: the dashboard was not built: ${message}`);
  process.exit(1);
}

if (!existsSync(join(src, 'main.tsx'))) {
  if (existsSync(join(out, 'index.html'))) {
    console.error('weft: the dashboard sources are not here; keeping the prebuilt dist/web');
    process.exit(0);
  }
  fail(`neither its sources (${relative(root, src)}) nor a prebuilt dist/web are here`);
}

let esbuild;
try {
  esbuild = await import('esbuild');
} catch (err) {
  fail(
    `esbuild is not installed (${err.message.split('\n')[0]}); it is a devDependency: run npm ci (without --omit=dev)`,
  );
}

if (!process.argv.includes('--no-check')) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) fail('typescript is not installed (a devDependency): run npm ci, or pass --no-check');
  const r = spawnSync(process.execPath, [tsc, '-p', join(src, 'tsconfig.json')], {
    encoding: 'utf8',
    cwd: root,
  });
  if (r.status !== 0) {
    process.stderr.write(r.stdout + r.stderr);
    fail(`type errors in ${relative(root, src)} (above)`);
  }
}

const staging = `${out}.tmp-${process.pid}`;
rmSync(staging, { recursive: true, force: true });
mkdirSync(join(staging, 'assets'), { recursive: true });

let result;
try {
  result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { main: join(src, 'main.tsx') },
    outdir: join(staging, 'assets'),
    bundle: true,
    splitting: true,
    format: 'esm',
    minify: true,
    target: ['es2022', 'chrome100', 'firefox100', 'safari15.4'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]-[hash]',
    chunkNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    define: { 'process.env.NODE_ENV': '"production"' },
    tsconfig: join(src, 'tsconfig.json'),
    metafile: true,
    logLevel: 'silent',
    legalComments: 'eof',
  });
} catch (err) {
  rmSync(staging, { recursive: true, force: true });
  const errors = err.errors ?? [];
  const lines = errors.map((e) =>
    e.location ? `  ${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : `  ${e.text}`,
  );
  fail(`esbuild failed:\n${lines.join('\n') || err.message}`);
}
for (const w of result.warnings) console.error(`weft: dashboard build warning: ${w.text}`);

// The entry's script and stylesheet, as index.html names them.
const outputs = Object.entries(result.metafile.outputs);
const entry = outputs.find(([, o]) => o.entryPoint?.endsWith('main.tsx'));
if (!entry) fail('esbuild produced no entry script');
const [jsPath, jsOut] = entry;
const cssPath = jsOut.cssBundle;
if (!cssPath) fail('esbuild produced no stylesheet (styles.css is imported by main.tsx)');
const url = (p) => `/assets/${basename(p)}`;

// The icon, hashed like the rest.
const icon = readFileSync(join(src, 'favicon.svg'));
const iconName = `favicon-${createHash('sha256').update(icon).digest('hex').slice(0, 8)}.svg`;
writeFileSync(join(staging, 'assets', iconName), icon);

const html = readFileSync(join(src, 'index.html'), 'utf8')
  .replace('%JS%', url(jsPath))
  .replace('%CSS%', url(cssPath))
  .replace('%FAVICON%', `/assets/${iconName}`);
if (html.includes('%')) fail('index.html has a placeholder left unfilled');
writeFileSync(join(staging, 'index.html'), html);

// Sizes, and the budget.
let total = 0;
const rows = [];
for (const [path] of outputs) {
  const body = readFileSync(join(root, path));
  const gz = gzipSync(body, { level: 9 }).length;
  total += gz;
  rows.push(
    `  ${basename(path).padEnd(28)} ${(body.length / 1024).toFixed(1).padStart(6)} KiB  ${(gz / 1024).toFixed(1).padStart(5)} KiB gzip`,
  );
}
if (total > BUDGET_GZIP) {
  rmSync(staging, { recursive: true, force: true });
  fail(
    `its assets weigh ${(total / 1024).toFixed(1)} KiB gzipped, over the ${BUDGET_GZIP / 1024} KiB budget:\n${rows.join('\n')}`,
  );
}

// Swap in the new build.
const old = `${out}.old-${process.pid}`;
if (existsSync(out)) renameSync(out, old);
renameSync(staging, out);
rmSync(old, { recursive: true, force: true });
console.log(
  `weft: dashboard built into ${relative(root, out)} (${(total / 1024).toFixed(1)} KiB gzip)\n${rows.join('\n')}`,
);
