/**
 * The discovery scenario of the benchmark, end to end in its quick size: the control plane, the
 * watcher processes and the churn run, and the result carries sane numbers. Timings are not asserted.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BenchReport, LatencyPercentiles } from '../../bench/types.js';

const RUN = fileURLToPath(new URL('../../bench/run.js', import.meta.url));

function saneLatency(name: string, l: LatencyPercentiles | undefined, count: number): void {
  assert.ok(l, `${name} is reported`);
  assert.equal(l.count, count, `${name} covers every measured change`);
  for (const v of [l.p50Ms, l.p99Ms, l.maxMs, l.meanMs]) {
    assert.ok(Number.isFinite(v) && v >= 0, `${name}: ${JSON.stringify(l)}`);
  }
  assert.ok(l.p50Ms <= l.p99Ms && l.p99Ms <= l.maxMs, `${name} percentiles in order: ${JSON.stringify(l)}`);
}

test('bench --quick --only discovery measures the control plane', { timeout: 120_000 }, async () => {
  const out = join(tmpdir(), `weft-bench-discovery-${process.pid}.json`);
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    execFile(
      process.execPath,
      [RUN, '--quick', '--only', 'discovery', '--out', out],
      { timeout: 110_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
  assert.equal(code, 0, output);
  assert.match(output, /Discovery: /);
  const report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
  rmSync(out, { force: true });
  assert.equal(report.rows.length, 0, '--only discovery runs no proxy row');
  const d = report.discovery;
  assert.ok(d, 'a discovery result');
  assert.equal(d.error, undefined, output);
  const changes = d.settings.changes;
  assert.ok(changes > 0);
  saneLatency('latency', d.latency, changes);
  saneLatency('firstWatcher', d.firstWatcher, changes);
  saneLatency('ack', d.ack, changes);
  assert.equal((d.latencyAdd?.count ?? 0) + (d.latencyRemove?.count ?? 0), changes);
  assert.ok((d.latency?.p50Ms ?? 0) >= (d.firstWatcher?.p50Ms ?? 0), 'the last watcher is no earlier');
  assert.equal(d.incomplete, 0, 'every watcher saw every change');
  assert.equal(d.rpcErrors + d.streamErrors + d.noEndpoints + d.finalSetMismatches, 0, output);
  const cp = d.controlPlane;
  assert.ok(cp, 'control plane usage');
  assert.ok(cp.peakRssMb > 10 && cp.peakRssMb < 4096, `peak RSS ${cp.peakRssMb} MB`);
  assert.ok(cp.peakRssMb >= cp.startRssMb, 'the peak is at least the start');
  assert.ok(cp.totalCpuS > 0 && cp.totalCpuS >= cp.churnCpuS && cp.churnCpuS >= 0, JSON.stringify(cp));
  assert.equal(d.timeline?.length, d.settings.warmupChanges + changes);
  const check = report.checks.find((c) => c.name.startsWith('discovery'));
  assert.ok(check && check.status !== 'SKIP', `the discovery check ran: ${JSON.stringify(check)}`);
});
