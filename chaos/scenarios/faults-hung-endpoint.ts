// A backend that accepts requests and never answers, next to a healthy peer, under open-loop load
// through a meshed client proxy: every request gets an answer or a timely 504 (the proxy's
// response-headers timeout), and the balancer sheds the hung endpoint after its first timeout, sending
// it only the probes of its backoff.
import { runOpenLoop } from '../../bench/openloop-run.js';
import type { OpenLoopResult } from '../../bench/types.js';
import {
  type Replica,
  type ReplicaOptions,
  serviceYaml,
  startClientProxy,
  startControlPlane,
  startReplica,
  weftOk,
} from '../../test/helpers/controlplane.js';
import { Cleanup } from '../../test/helpers/net.js';
import type { ProxyHandle } from '../../test/helpers/proxy.js';
import { sampleProcess } from '../context.js';
import type { ResourceSample, Scenario, ScenarioContext, ScenarioResult } from '../scenario.js';

export const SERVICE_AUTHORITY = 'web.default.svc.cluster.local:80';

/** Two replicas of Service `web`, each behind its own registered proxy, and a meshed client proxy. */
export interface BalancedPair {
  readonly a: Replica;
  readonly b: Replica;
  readonly client: ProxyHandle;
  readonly cleanup: Cleanup;
}

/** Starts the control plane, Service `web`, replicas `a` and `b` and a client proxy with `clientArgs`. */
export async function startBalancedPair(
  ctx: ScenarioContext,
  a: ReplicaOptions,
  b: ReplicaOptions,
  clientArgs: string[],
): Promise<BalancedPair> {
  const cleanup = new Cleanup();
  try {
    const cp = await startControlPlane({ stateDir: ctx.dir, cleanup });
    await weftOk(cp, ['apply', '-f', '-'], serviceYaml('web'));
    const [ra, rb] = await Promise.all([startReplica(cp, a, cleanup), startReplica(cp, b, cleanup)]);
    const client = await startClientProxy(cp, 'default', cleanup, 'bot', clientArgs);
    ctx.log(`replicas ${a.name} and ${b.name} registered; client proxy ${client.proc.pid} ready`);
    return { a: ra, b: rb, client, cleanup };
  } catch (err) {
    await cleanup.run();
    throw err;
  }
}

/** The open-loop load of a scenario, through the client proxy's outbound listener to Service `web`. */
export function loadThrough(
  client: ProxyHandle,
  load: { rate: number; durationS: number; timeoutMs: number },
): Promise<OpenLoopResult> {
  return runOpenLoop({
    port: client.outbound.port,
    host: SERVICE_AUTHORITY,
    connections: 64,
    ...load,
  });
}

/** Errors other than the given statuses (`status_504` and the like), summed. */
export function otherErrors(r: OpenLoopResult, allowed: readonly string[]): number {
  let n = 0;
  for (const [kind, count] of Object.entries(r.errorKinds)) if (!allowed.includes(kind)) n += count;
  return n;
}

/** The figures every load of these scenarios reports: what was sent, how it ended, its latency. */
export function loadFigures(r: OpenLoopResult): Record<string, number | string> {
  return {
    sent: r.sent,
    errorKinds: JSON.stringify(r.errorKinds),
    ok: r.ok,
    p50Ms: r.latency.p50Ms,
    p99Ms: r.latency.p99Ms,
  };
}

export const pct = (part: number, whole: number): number =>
  whole === 0 ? 0 : Math.round((1000 * part) / whole) / 10;

/** The scenario's process under test, sampled before and after. */
export function sample(p: ProxyHandle): ResourceSample {
  return sampleProcess(p.proc.pid as number);
}

async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  // Short form: a 1 s response-headers timeout, a few hundred requests. Full: the proxy's defaults
  // (10 s), ~1k rps for 30 s.
  const timeoutMs = ctx.short ? 1000 : 10_000;
  const load = ctx.short ? { rate: 200, durationS: 3 } : { rate: 1000, durationS: 30 };
  // The generator gives up on a request 2 s past the proxy's deadline: any such is a request
  // that waited past the timeout.
  const generatorTimeoutMs = timeoutMs + 2000;
  const pair = await startBalancedPair(
    ctx,
    { name: 'web-good' },
    // Reads the request and never answers: the connection stays open, nothing comes back.
    { name: 'web-hung', respond: () => {} },
    ctx.short ? ['--response-headers-timeout', `${timeoutMs}ms`] : [],
  );
  try {
    const { a: good, b: hung, client } = pair;
    const before = sample(client);
    const r = await loadThrough(client, { ...load, timeoutMs: generatorTimeoutMs });
    const after = sample(client);
    const timedOut = r.errorKinds.status_504 ?? 0;
    const waitedPast = r.errorKinds.timeout ?? 0;
    const unexpected = otherErrors(r, ['status_504']);
    const hungGot = hung.servedAt.length;
    // Shed once its first request timed out: what it got after that were the breaker's probes.
    const shedAt = (hung.servedAt[0] ?? Number.POSITIVE_INFINITY) + timeoutMs + 100;
    const hungAfter = hung.servedAt.filter((t) => t > shedAt).length;
    const allAfter = hungAfter + good.servedAt.filter((t) => t > shedAt).length;
    const shareAfter = pct(hungAfter, allAfter);
    const pass = waitedPast === 0 && unexpected === 0 && hungGot > 0 && shareAfter < 5;
    return {
      did: `${r.sent} requests at ${load.rate} rps open loop through a meshed client proxy to 2 endpoints, one that accepts and never answers (response-headers timeout ${timeoutMs} ms)`,
      outcome: `${r.ok} answered, ${timedOut} answered 504 in time, ${waitedPast} waited past the timeout, ${unexpected} other errors; the hung endpoint got ${hungGot} requests (${pct(hungGot, r.sent)} %), ${hungAfter} of ${allAfter} (${shareAfter} %) after it was shed (probes); slowest answer ${r.service.maxMs} ms (the generator gives up on a request at the timeout + 2 s)`,
      before,
      after,
      pass,
      figures: {
        ...loadFigures(r),
        timedOut504: timedOut,
        waitedPastTimeout: waitedPast,
        otherErrors: unexpected,
        hungRequests: hungGot,
        hungRequestsAfterShed: hungAfter,
        hungSharePctAfterShed: shareAfter,
        responseHeadersTimeoutMs: timeoutMs,
        maxServiceMs: r.service.maxMs,
      },
    };
  } finally {
    await pair.cleanup.run();
  }
}

export const hungEndpoint: Scenario = {
  name: 'faults-hung-endpoint',
  group: 'faults',
  goal: 'every request answered or failed with 504 within the response-headers timeout; the hung endpoint shed (under 5 % of requests after its first timeout)',
  inShortForm: true,
  run,
};
