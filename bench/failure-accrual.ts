// Issue 17's case: a Service with one endpoint whose application answers 500 to every request,
// 300 requests through a client proxy. `npm run build && node dist/bench/failure-accrual.js`
// [--requests 300] [--concurrency 32] [--settings none,consecutive] [--json]. See "Failure
// accrual" in bench/README.md.
//
//   1. `weft up` (its own state dir, free ports) and a client proxy that resolves through it.
//   2. For each concurrency and each Service setting (no annotation; balancer.linkerd.io/
//      failure-accrual: consecutive with Linkerd's defaults), a fresh Service, one replica (an app
//      in this process answering 500, behind its registered proxy), then `requests` requests
//      through the client's outbound listener, closed loop: `concurrency` keep-alive workers (32,
//      the test helpers' Load default, as in the issue's measurement). With the endpoint out, each
//      request waits the 3 s failfast timeout, so one at a time (--concurrency 1) with accrual on
//      takes about 300 × 3 s.
//   3. Per run: the total time, the statuses the client got, the requests the app saw, and the
//      median and slowest request.
//
// On code without per-Service settings (before issue 17) the annotation is ignored: accrual is on.
import { parseArgs } from 'node:util';
import {
  Load,
  type LoadSample,
  serviceYaml,
  startClientProxy,
  startControlPlane,
  startReplica,
  weftOk,
} from '../test/helpers/controlplane.js';
import { Cleanup } from '../test/helpers/net.js';

interface Run {
  setting: string;
  concurrency: number;
  requests: number;
  totalS: number;
  statuses: Record<string, number>;
  appSaw: number;
  p50Ms: number;
  maxMs: number;
}

const SETTINGS: Readonly<Record<string, Record<string, string>>> = {
  none: {},
  consecutive: { 'balancer.linkerd.io/failure-accrual': 'consecutive' },
};

function statuses(samples: readonly LoadSample[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of samples) counts[s.status] = (counts[s.status] ?? 0) + 1;
  return counts;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '300' },
      concurrency: { type: 'string', default: '32' },
      settings: { type: 'string', default: 'none,consecutive' },
      json: { type: 'boolean', default: false },
    },
  });
  const requests = Number(values.requests);
  const concurrencies = values.concurrency.split(',').map(Number);
  const settings = values.settings.split(',');
  if (
    !Number.isInteger(requests) ||
    requests < 1 ||
    concurrencies.some((c) => !Number.isInteger(c) || c < 1) ||
    settings.some((name) => !(name in SETTINGS))
  ) {
    console.error(
      'usage: failure-accrual [--requests N] [--concurrency 32,1] [--settings none,consecutive] [--json]',
    );
    process.exit(2);
  }
  const cleanup = new Cleanup();
  const runs: Run[] = [];
  try {
    const cp = await startControlPlane({ cleanup });
    const client = await startClientProxy(cp, 'default', cleanup);
    let n = 0;
    for (const concurrency of concurrencies) {
      for (const setting of settings) {
        const app = `fail-${++n}`;
        await weftOk(
          cp,
          ['apply', '-f', '-'],
          serviceYaml(`${app}-svc`, { selector: { app }, annotations: SETTINGS[setting] ?? {} }),
        );
        const replica = await startReplica(
          cp,
          {
            name: `${app}-1`,
            app,
            respond: (_req, res) => {
              res.writeHead(500);
              res.end('the application failed');
            },
          },
          cleanup,
        );
        const started = performance.now();
        const load = new Load(client.outbound, { authority: `${app}-svc:80`, concurrency, total: requests });
        await load.done;
        const totalS = (performance.now() - started) / 1000;
        console.error(`${setting}, concurrency ${concurrency}: ${totalS.toFixed(2)} s`);
        const durations = load.samples.map((s) => s.end - s.start);
        runs.push({
          setting,
          concurrency,
          requests,
          totalS: Math.round(totalS * 100) / 100,
          statuses: statuses(load.samples),
          appSaw: replica.servedAt.length,
          p50Ms: median(durations),
          maxMs: Math.max(...durations),
        });
        await replica.stop('SIGKILL');
      }
    }
  } finally {
    await cleanup.run();
  }
  if (values.json) {
    console.log(JSON.stringify(runs));
    return;
  }
  console.log('setting      concurrency  requests  total s  statuses             app saw  p50 ms  max ms');
  for (const r of runs) {
    const counts = Object.entries(r.statuses)
      .map(([status, count]) => `${status}: ${count}`)
      .join(', ');
    console.log(
      [
        r.setting.padEnd(13),
        String(r.concurrency).padStart(11),
        String(r.requests).padStart(9),
        r.totalS.toFixed(2).padStart(8),
        ` ${counts.padEnd(20)}`,
        String(r.appSaw).padStart(7),
        String(r.p50Ms).padStart(7),
        String(r.maxMs).padStart(7),
      ].join(' '),
    );
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
