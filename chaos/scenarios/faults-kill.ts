// An endpoint's app and its proxy SIGKILLed under load, through the meshed hop with three replicas:
// with a retryable route (goal: no failed request) and without one (goal: under 1 s of errors).
import { sampleProcess } from '../context.js';
import { failureFigures, faultLoad, loadWith, retryableProfileYaml, startMesh } from '../mesh.js';
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js';

async function killOne(ctx: ScenarioContext, retryable: boolean): Promise<ScenarioResult> {
  const mesh = await startMesh({
    dir: ctx.dir,
    replicas: 3,
    ...(retryable ? { manifest: retryableProfileYaml() } : {}),
  });
  try {
    const { rate, seconds } = faultLoad(ctx.short);
    const pid = mesh.client.proc.pid as number;
    const before = sampleProcess(pid);
    const victim = mesh.replicas[0];
    if (!victim) throw new Error('no replica');
    let killedAt = 0;
    const samples = await loadWith(mesh, rate, seconds, async () => {
      killedAt = await victim.kill();
      ctx.log(`killed ${victim.name} (app and proxy) with SIGKILL`);
    });
    const after = sampleProcess(pid);
    const f = failureFigures(samples);
    const pass = retryable ? f.failed === 0 : f.errorWindowMs < 1000;
    const firstFailAfterKill = samples.filter((s) => s.status !== 200).map((s) => s.start - killedAt)[0];
    return {
      did: `${f.requests} requests at ${rate} rps through the meshed hop to 3 replicas${retryable ? ' (retryable route)' : ''}; one replica's app and proxy SIGKILLed`,
      outcome:
        f.failed === 0 ? 'no request failed' : `${f.failed} failed over ${f.errorWindowMs} ms (${f.kinds})`,
      before,
      after,
      pass,
      figures: {
        rate,
        seconds,
        requests: f.requests,
        failed: f.failed,
        errorWindowMs: f.errorWindowMs,
        ...(firstFailAfterKill === undefined ? {} : { firstFailureAfterKillMs: firstFailAfterKill }),
      },
    };
  } finally {
    await mesh.cleanup.run();
  }
}

export const faultsKillRetryable: Scenario = {
  name: 'faults-kill-endpoint-retryable',
  group: 'faults',
  goal: 'no failed request on a retryable route',
  inShortForm: true,
  run: (ctx) => killOne(ctx, true),
};

export const faultsKill: Scenario = {
  name: 'faults-kill-endpoint',
  group: 'faults',
  goal: 'under 1 s of errors without a retryable route',
  inShortForm: true,
  run: (ctx) => killOne(ctx, false),
};
