// One backend 10x slower than its peer (20 ms against 2 ms per answer; 50 against 5 in the short form) under open-loop load through a
// meshed client proxy: nothing fails, and power of two choices over peak-EWMA sends the slow one
// less of the traffic.
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js';
import {
  loadFigures,
  loadThrough,
  otherErrors,
  pct,
  sample,
  startBalancedPair,
} from './faults-hung-endpoint.js';

/**
 * Answer delays, 10x apart: 2 and 20 ms, and in the short form (run inside `npm test`, on a
 * busy machine, where the proxies' own queueing can take tens of milliseconds) 5 and 50 ms.
 */
const DELAYS = { full: { fast: 2, slow: 20 }, short: { fast: 5, slow: 50 } };
/**
 * Round robin would give it half; well under that says the balancer saw it was slow. The
 * short form only asks for less than its peer: inside a loaded `npm test` the proxies'
 * own queueing (hundreds of milliseconds at a load average of 12 on 2 cores) can dwarf
 * the 45 ms between the two.
 */
const MAX_SLOW_SHARE_PCT = { full: 25, short: 50 };

async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const load = ctx.short ? { rate: 200, durationS: 3 } : { rate: 1000, durationS: 30 };
  const { fast: FAST_MS, slow: SLOW_MS } = ctx.short ? DELAYS.short : DELAYS.full;
  const maxShare = ctx.short ? MAX_SLOW_SHARE_PCT.short : MAX_SLOW_SHARE_PCT.full;
  const pair = await startBalancedPair(
    ctx,
    { name: 'web-fast', delayMs: FAST_MS },
    { name: 'web-slow', delayMs: SLOW_MS },
    [],
  );
  try {
    const { a: fast, b: slow, client } = pair;
    const before = sample(client);
    // Generous: a loaded machine must not turn a slow answer into a failure.
    const r = await loadThrough(client, { ...load, timeoutMs: 15_000 });
    const after = sample(client);
    const errors = otherErrors(r, []);
    const fastGot = fast.servedAt.length;
    const slowGot = slow.servedAt.length;
    const slowShare = pct(slowGot, fastGot + slowGot);
    const pass = errors === 0 && r.ok === r.sent && slowGot + fastGot >= r.sent && slowShare < maxShare;
    return {
      did: `${r.sent} requests at ${load.rate} rps open loop through a meshed client proxy to 2 endpoints answering in ${FAST_MS} ms and ${SLOW_MS} ms`,
      outcome: `${r.ok} answered, ${errors} errors; the slow endpoint got ${slowGot} (${slowShare} %), the fast one ${fastGot} (${pct(fastGot, fastGot + slowGot)} %); p50 ${r.latency.p50Ms} ms, p99 ${r.latency.p99Ms} ms`,
      before,
      after,
      pass,
      figures: {
        ...loadFigures(r),
        errors,
        fastRequests: fastGot,
        slowRequests: slowGot,
        slowSharePct: slowShare,
        maxMs: r.latency.maxMs,
      },
    };
  } finally {
    await pair.cleanup.run();
  }
}

export const slowEndpoint: Scenario = {
  name: 'faults-slow-endpoint',
  group: 'faults',
  goal: `no request fails, and the endpoint 10x slower than its peer gets under ${MAX_SLOW_SHARE_PCT.full} % of the requests (short form: ${MAX_SLOW_SHARE_PCT.short} %)`,
  inShortForm: true,
  run,
};
