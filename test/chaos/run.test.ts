// The runner of `npm run chaos` (chaos/runner.ts) on a list of its own: one scenario that meets its goal
// against a real child process, one that misses it, one that throws, one only in the full form.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { sampleProcess } from '../../chaos/context.js';
import { runScenarios, scenarioLine } from '../../chaos/runner.js';
import type { Scenario } from '../../chaos/scenario.js';

/** Starts a real node child that idles, samples it, then stops it. */
async function sampleChild(): Promise<{
  before: ReturnType<typeof sampleProcess>;
  after: ReturnType<typeof sampleProcess>;
}> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await new Promise<void>((resolve) => child.once('spawn', () => resolve()));
  const pid = child.pid as number;
  const before = sampleProcess(pid);
  const after = sampleProcess(pid);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  return { before, after };
}

const passing: Scenario = {
  name: 'tiny-pass',
  group: 'faults',
  goal: 'a child process is sampled',
  inShortForm: true,
  async run(ctx) {
    assert.ok(existsSync(ctx.dir), 'the runner gives each scenario a fresh directory');
    ctx.log('sampling');
    const { before, after } = await sampleChild();
    return {
      did: 'sampled a child',
      outcome: 'nothing lost',
      before,
      after,
      pass: before.fds > 0,
      figures: { n: 1 },
    };
  },
};
const failing: Scenario = {
  name: 'tiny-fail',
  group: 'files',
  goal: 'never met',
  inShortForm: true,
  run: async () => ({ did: 'did nothing', outcome: '1 request lost', pass: false }),
};
const throwing: Scenario = {
  name: 'tiny-throw',
  group: 'files',
  goal: 'never met',
  inShortForm: true,
  run: async () => {
    throw new Error('setup broke');
  },
};
const fullOnly: Scenario = {
  name: 'tiny-soak',
  group: 'soak',
  goal: 'runs only in the full form',
  inShortForm: false,
  run: async () => ({ did: 'soaked', outcome: 'nothing', pass: true }),
};
const all = [passing, failing, throwing, fullOnly];

test('the runner runs each scenario, prints one line each and a summary, and counts failures', async () => {
  const lines: string[] = [];
  const progress: string[] = [];
  const report = await runScenarios(all, {
    short: false,
    print: (l) => lines.push(l),
    progress: (name, m) => progress.push(`${name}: ${m}`),
  });
  assert.deepEqual(
    report.scenarios.map((s) => [s.name, s.pass]),
    [
      ['tiny-pass', true],
      ['tiny-fail', false],
      ['tiny-throw', false],
      ['tiny-soak', true],
    ],
  );
  assert.equal(report.passed, 2);
  assert.equal(report.failed, 2);
  assert.deepEqual(progress, ['tiny-pass: sampling']);
  const pass = report.scenarios[0];
  assert.ok(pass?.before && pass.before.rssBytes > 0 && pass.after, 'the process samples are kept');
  assert.deepEqual(pass?.figures, { n: 1 });
  assert.match(
    lines[0] ?? '',
    /^PASS {2}tiny-pass \[faults\] [\d.]+ s: sampled a child; nothing lost; RSS [\d.]+->[\d.]+ MB fds \d+->\d+$/,
  );
  assert.match(lines[1] ?? '', /^FAIL {2}tiny-fail \[files\] .*1 request lost$/);
  assert.match(lines[2] ?? '', /^FAIL {2}tiny-throw .*threw: setup broke$/);
  assert.match(report.scenarios[2]?.error ?? '', /setup broke/);
  assert.ok(
    lines.some((l) => /^tiny-fail\s+files\s+FAIL/.test(l)),
    `a summary row per scenario:\n${lines.join('\n')}`,
  );
  assert.equal(lines.at(-1), '2 passed, 2 failed');
  assert.doesNotThrow(() => JSON.parse(JSON.stringify(report)));
});

test('the short form skips full-form scenarios and --only picks by name or group', async () => {
  const quiet = { print: () => {}, progress: () => {} };
  const short = await runScenarios(all, { short: true, ...quiet });
  assert.deepEqual(
    short.scenarios.map((s) => s.name),
    ['tiny-pass', 'tiny-fail', 'tiny-throw'],
  );
  const byGroup = await runScenarios(all, { short: false, only: 'files', ...quiet });
  assert.deepEqual(
    byGroup.scenarios.map((s) => s.name),
    ['tiny-fail', 'tiny-throw'],
  );
  const byName = await runScenarios(all, { short: false, only: 'soak', ...quiet });
  assert.deepEqual(
    byName.scenarios.map((s) => s.name),
    ['tiny-soak'],
  );
  assert.equal(scenarioLine(byName.scenarios[0] ?? (passing as never)).startsWith('PASS'), true);
});
