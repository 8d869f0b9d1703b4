#!/usr/bin/env node
// Refreshes the dashboard's screenshots in docs/images (`npm run screenshots`, as root, after
// a build): runs the emojivoto demo as pods on its own bridge and subnets, gives its
// services route profiles (so the routes table has rows), lets the vote bot's traffic fill
// a few minutes of charts, and saves the main pages from headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core) at 1280x800.
//
//   --wait SECONDS   how long to let traffic build up before the shots (default 90)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const WEFT = join(root, 'bin', 'weft.js');
const CHROMIUM = '/usr/bin/chromium';
const OUT = join(root, 'docs', 'images');
const NS = 'emojivoto';
const waitArg = process.argv.indexOf('--wait');
const WAIT_MS = (waitArg > 0 ? Number(process.argv[waitArg + 1]) : 90) * 1000;

function fail(message) {
  console.error(`screenshots: ${message}`);
  process.exit(1);
}

if (process.getuid?.() !== 0) fail('run as root: the demo runs its workloads as pods (network namespaces)');
if (!existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing (apt-get install chromium)`);
if (!existsSync(join(root, 'dist', 'web', 'index.html'))) fail('the dashboard is not built: npm run build');

async function until(what, cond, timeoutMs, everyMs = 500) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond().catch((err) => {
      if (err.message.startsWith('the demo exited')) throw err;
      return undefined;
    });
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// The demo, in its own process group (one SIGINT stops all of it).
const demo = spawn(
  WEFT,
  [
    'demo',
    '--pod-bridge',
    'wvshot0',
    '--pod-cidr',
    '10.93.0.0/16',
    '--service-cidr',
    '10.94.0.0/16',
    '--viz-addr',
    '127.0.0.1:0',
    '--metrics-scrape-interval',
    '1s',
  ],
  { stdio: ['ignore', 'pipe', 'inherit'], detached: true },
);
let out = '';
demo.stdout.setEncoding('utf8').on('data', (d) => {
  out += d;
});
const exited = new Promise((resolve) => demo.once('exit', resolve));
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  try {
    process.kill(-demo.pid, 'SIGINT');
  } catch {
    // already gone
  }
  await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
};
process.on('SIGINT', () => stop().then(() => process.exit(130)));

let browser;
try {
  let code;
  exited.then((c) => {
    code = c;
  });
  await until(
    'the demo to start',
    async () => {
      if (code !== undefined) throw new Error(`the demo exited (${code}) before it started`);
      return out.includes('Press Ctrl-C');
    },
    120_000,
    200,
  );
  const base = /^The dashboard: +(http:\/\/[\d.:]+)\/?$/m.exec(out)?.[1];
  const cp = /--control-plane (\S+)/.exec(out)?.[1];
  if (!base || !cp) throw new Error(`the demo's guide names no dashboard or control plane:\n${out}`);
  console.log(`screenshots: the demo's dashboard is at ${base}`);

  // Route profiles for voting-svc (from its protobuf) and web-svc (from its OpenAPI spec).
  const profiles = [
    ['--proto', join(root, 'examples', 'emojivoto', 'proto', 'Voting.proto'), 'voting-svc'],
    ['--open-api', join(root, 'examples', 'emojivoto', 'emojivoto.swagger'), 'web-svc'],
  ];
  for (const [flag, file, svc] of profiles) {
    const yaml = execFileSync(WEFT, ['profile', flag, file, svc, '-n', NS], { encoding: 'utf8' });
    execFileSync(WEFT, ['apply', '-f', '-', '--control-plane', cp], {
      input: yaml,
      stdio: ['pipe', 'ignore', 'inherit'],
    });
  }

  const json = async (path) => {
    const r = await fetch(base + path);
    if (!r.ok) throw new Error(`${path}: ${r.status}`);
    return r.json();
  };
  await until(
    'the demo traffic in the metrics',
    async () => {
      const { rows } = await json(`/api/stat?resource=deploy&namespace=${NS}`);
      return rows.some((r) => r.name === 'web' && (r.requests?.rps ?? 0) > 0);
    },
    90_000,
  );
  console.log(`screenshots: letting traffic build up for ${WAIT_MS / 1000}s`);
  await new Promise((r) => setTimeout(r, WAIT_MS));

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`screenshots: console error: ${m.text()}`);
  });
  const allLive = () =>
    page.waitForFunction(
      () => {
        const s = [...document.querySelectorAll('section[data-state]')];
        return s.length > 0 && s.every((x) => x.dataset.state === 'live');
      },
      undefined,
      { timeout: 20_000 },
    );
  const shot = async (name) => {
    const path = join(OUT, `dashboard-${name}.png`);
    await page.screenshot({ path });
    console.log(`screenshots: ${relative(root, path)} (${Math.round(statSync(path).size / 1024)} KiB)`);
  };
  mkdirSync(OUT, { recursive: true });

  await page.goto(`${base}/`);
  await allLive();
  await page.waitForFunction(
    () => Number(document.querySelector('svg.spark')?.getAttribute('data-points')) >= 3,
  );
  await shot('overview');

  await page.goto(`${base}/namespaces/${NS}`);
  await allLive();
  await page.waitForFunction(() => document.querySelectorAll('#routes tbody tr').length > 0, undefined, {
    timeout: 20_000,
  });
  await shot('namespace');

  await page.goto(`${base}/namespaces/${NS}/deployments/web`);
  await allLive();
  await page.waitForFunction(() => Number(document.getElementById('chart-latency')?.dataset.points) >= 3);
  await shot('workload');
  // The same page further down: its edges and the dependency graph.
  await page.evaluate(() => document.getElementById('edges')?.scrollIntoView());
  await shot('workload-edges');

  await page.goto(`${base}/tap?resource=deploy/web&namespace=${NS}`);
  await page.getByRole('button', { name: 'Start' }).click();
  try {
    await page.waitForFunction(() => document.querySelectorAll('#tap tbody tr').length >= 12, undefined, {
      timeout: 30_000,
    });
  } catch {
    console.error('screenshots: tap showed no requests in 30s; the shot shows what it did show');
  }
  await shot('tap');
} catch (err) {
  console.error(`screenshots: ${err.message}`);
  process.exitCode = 1;
} finally {
  await browser?.close();
  await stop();
}
