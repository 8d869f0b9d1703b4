// A replica's proxy SIGTERMed under load (its app answers in 20 ms, so requests are in flight): it drains
// (deregisters, finishes what it holds) and exits within its grace period, and no request is lost.
import { sampleProcess } from '../context.js';
import { failureFigures, faultLoad, loadWith, startMesh } from '../mesh.js';
import type { Scenario } from '../scenario.js';

/** startReplica's --shutdown-grace-period. */
const GRACE_MS = 2000;

export const faultsSigterm: Scenario = {
  name: 'faults-sigterm-proxy',
  group: 'faults',
  goal: 'no in-flight request lost; the proxy exits 0 within its grace period',
  inShortForm: true,
  async run(ctx) {
    const mesh = await startMesh({ dir: ctx.dir, replicas: 3 });
    try {
      for (const r of mesh.replicas) r.setDelay(20);
      const { rate, seconds } = faultLoad(ctx.short);
      const victim = mesh.replicas[0];
      if (!victim) throw new Error('no replica');
      const pid = victim.proxy.proc.pid as number;
      const before = sampleProcess(pid);
      let after = before;
      let exitMs = 0;
      let code: number | null = null;
      const samples = await loadWith(mesh, rate, seconds, async () => {
        after = sampleProcess(pid);
        const t = Date.now();
        code = await victim.proxy.stop('SIGTERM');
        exitMs = Date.now() - t;
        ctx.log(`${victim.name}'s proxy exited ${code} ${exitMs} ms after SIGTERM`);
      });
      const f = failureFigures(samples);
      const served = victim.servedAt.length;
      return {
        did: `${f.requests} requests at ${rate} rps to 3 replicas; ${victim.name}'s proxy SIGTERMed after it had served ${served}`,
        outcome: `${f.failed} failed${f.failed ? ` (${f.kinds})` : ''}; exited ${code} after ${exitMs} ms (grace ${GRACE_MS} ms)`,
        before,
        after,
        pass: f.failed === 0 && code === 0 && exitMs <= GRACE_MS + 1000,
        figures: { rate, requests: f.requests, failed: f.failed, exitMs, exitCode: String(code) },
      };
    } finally {
      await mesh.cleanup.run();
    }
  },
};
