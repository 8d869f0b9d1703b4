/**
 * The meshed hop of the benchmark (bench/mesh.ts): a quick run of `weft-mesh` next to direct, with a
 * real control plane and two proxies doing mutual TLS, must carry load without errors; plus the
 * check that tells a meshed hop from a plaintext one. Figures are not asserted (bench/README.md).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseArgs } from '../../bench/args.js';
import { requireSeries, SERVER_ID } from '../../bench/mesh.js';

const RUN = fileURLToPath(new URL('../../bench/run.js', import.meta.url));

interface Row {
  target: string;
  protocol: string;
  path?: string;
  error?: string;
  max?: { result?: { rps?: number; errors?: number; non2xx?: number }; usage?: { procs?: unknown[] } };
  fixed?: Record<string, { result?: OpenLoopCounts }>;
}

interface OpenLoopCounts {
  ok?: number;
  errors?: number;
  errorKinds?: unknown;
}

test('--only accepts the meshed targets', () => {
  assert.deepEqual(parseArgs(['--only', 'weft-mesh,haproxy-mtls'])?.only, ['weft-mesh', 'haproxy-mtls']);
  const all = parseArgs([])?.only ?? [];
  assert.ok(all.includes('weft-mesh') && all.includes('haproxy-mtls'), 'the default run includes them');
});

test('a hop counts as meshed only with a TLS series to the server identity', () => {
  const want = { direction: 'outbound', tls: 'true', server_id: SERVER_ID };
  const meshed = `# TYPE request_total counter\nrequest_total{direction="outbound",authority="a:80",tls="true",server_id="${SERVER_ID}",dst_pod="p"} 3\n`;
  requireSeries(meshed, want, 'client');
  const plain = 'request_total{direction="outbound",authority="a:80",tls="no_identity"} 3\n';
  assert.throws(() => requireSeries(plain, want, 'client'), /not meshed/);
  const otherId = meshed.replace(SERVER_ID, 'x.default.serviceaccount.identity.weft.cluster.local');
  assert.throws(() => requireSeries(otherId, want, 'client'), /not meshed/);
  assert.throws(() => requireSeries(meshed.replace('} 3', '} 0'), want, 'client'), /not meshed/);
});

test('the meshed hop carries load end to end (quick mode, direct and weft-mesh, HTTP/1.1)', {
  timeout: 90_000,
}, async () => {
  const out = join(tmpdir(), `weft-bench-mesh-smoke-${process.pid}.json`);
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    execFile(
      process.execPath,
      [RUN, '--quick', '--only', 'direct,weft-mesh', '--protocols', 'http1', '--out', out],
      { timeout: 80_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
  assert.equal(code, 0, output);
  const result = JSON.parse(readFileSync(out, 'utf8')) as { rows: Row[] };
  rmSync(out, { force: true });
  const row = result.rows.find((r) => r.target === 'weft-mesh' && r.protocol === 'http1');
  assert.ok(row, 'a weft-mesh http1 row');
  assert.equal(row.error, undefined, output);
  assert.match(
    row.path ?? '',
    /^weft outbound 127\.0\.0\.1:\d+ -> mTLS -> weft inbound 127\.0\.0\.1:\d+ -> nginx/,
  );
  assert.ok((row.max?.result?.rps ?? 0) > 100, `weft-mesh carried load: ${JSON.stringify(row.max)}`);
  assert.equal(row.max?.result?.errors, 0, 'max-rps phase without socket errors');
  assert.equal(row.max?.result?.non2xx, 0, 'max-rps phase without non-2xx answers');
  assert.equal(row.max?.usage?.procs?.length, 2, 'both proxies measured');
  for (const rate of ['1000', '5000']) {
    const phase: OpenLoopCounts | undefined = row.fixed?.[rate]?.result;
    assert.ok((phase?.ok ?? 0) > 0, `open-loop phase at ${rate} req/s answered`);
    assert.equal(
      phase?.errors,
      0,
      `open-loop phase at ${rate} req/s without errors: ${JSON.stringify(phase)}`,
    );
  }
});
