/**
 * The benchmark is not a timed test, but it must keep working: this runs it end to end in
 * its quick mode (direct and Weft, every protocol) and checks that each row was measured
 * with real traffic and no errors. Figures are not asserted; they live in bench/README.md.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const RUN = fileURLToPath(new URL('../../bench/run.js', import.meta.url));

interface Row {
  target: string;
  protocol: string;
  max?: { result?: { rps?: number; errors?: number } };
  fixed?: Record<string, { result?: { ok?: number; errors?: number } }>;
}

test('npm run bench works end to end (quick mode, direct and Weft)', { timeout: 180_000 }, async () => {
  const out = join(tmpdir(), `weft-bench-smoke-${process.pid}.json`);
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    execFile(
      process.execPath,
      [RUN, '--quick', '--only', 'direct,weft', '--out', out],
      { timeout: 170_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
  assert.equal(code, 0, output);
  const result = JSON.parse(readFileSync(out, 'utf8')) as { rows: Row[] };
  rmSync(out, { force: true });
  for (const protocol of ['http1', 'h2', 'grpc']) {
    for (const target of ['direct', 'weft']) {
      const row = result.rows.find((r) => r.target === target && r.protocol === protocol);
      assert.ok(row, `a ${target} ${protocol} row`);
      assert.ok(
        (row.max?.result?.rps ?? 0) > 100,
        `${target} ${protocol} carried load: ${JSON.stringify(row.max)}`,
      );
      assert.equal(row.max?.result?.errors ?? 0, 0, `${target} ${protocol} without errors`);
    }
  }
  const weft = result.rows.find((r) => r.target === 'weft' && r.protocol === 'http1');
  for (const rate of ['1000', '5000']) {
    const phase = weft?.fixed?.[rate]?.result;
    assert.ok((phase?.ok ?? 0) > 0, `open-loop phase at ${rate} req/s answered`);
    assert.equal(phase?.errors, 0, `open-loop phase at ${rate} req/s without errors`);
  }
});
