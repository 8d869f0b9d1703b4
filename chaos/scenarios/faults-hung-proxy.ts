// A meshed endpoint black-holed above TCP, mid-load: its proxy is frozen with SIGSTOP, so its kernel
// still accepts connections and ACKs bytes but nothing answers a TLS handshake or an HTTP/2 stream.
// Requests already on its connection wait for the response-headers timeout, new connections for the
// mTLS handshake timeout; the client proxy sheds it after the first, and its peer takes the load.
import { scrape, sumSamples } from '../../test/helpers/prom.js';
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js';
import {
  loadFigures,
  loadThrough,
  otherErrors,
  pct,
  sample,
  startBalancedPair,
} from './faults-hung-endpoint.js';

async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const timeoutMs = ctx.short ? 1000 : 10_000;
  const load = ctx.short ? { rate: 200, durationS: 5 } : { rate: 1000, durationS: 30 };
  const pair = await startBalancedPair(
    ctx,
    { name: 'web-live' },
    { name: 'web-frozen' },
    ctx.short ? ['--response-headers-timeout', `${timeoutMs}ms`] : [],
  );
  const frozen = pair.b.proxy.proc;
  try {
    const { client } = pair;
    const toFrozen = async (): Promise<number> =>
      sumSamples(await scrape(client.admin), 'request_total', {
        direction: 'outbound',
        dst_pod: 'web-frozen',
      });
    const before = sample(client);
    const running = loadThrough(client, { ...load, timeoutMs: timeoutMs + 2000 });
    // A third of the way in, the endpoint's proxy stops answering anything.
    await new Promise((r) => setTimeout(r, (load.durationS * 1000) / 3));
    const beforeFreeze = await toFrozen();
    frozen.kill('SIGSTOP');
    ctx.log(`froze ${pair.b.name}'s proxy (pid ${frozen.pid})`);
    // Its requests in flight time out by then, and the first of them takes it out.
    await new Promise((r) => setTimeout(r, timeoutMs + 500));
    const shedAt = Date.now();
    const beforeShed = await toFrozen();
    const r = await running;
    const after = sample(client);
    const end = await toFrozen();
    const afterFreeze = end - beforeFreeze;
    const afterShed = end - beforeShed;
    const liveAfter = pair.a.servedAt.filter((t) => t > shedAt).length;
    const failed = (r.errorKinds.status_504 ?? 0) + (r.errorKinds.status_502 ?? 0);
    const waitedPast = r.errorKinds.timeout ?? 0;
    const unexpected = otherErrors(r, ['status_504', 'status_502']);
    const shareAfter = pct(afterShed, afterShed + liveAfter);
    const pass = waitedPast === 0 && unexpected === 0 && afterFreeze > 0 && shareAfter < 5;
    return {
      did: `${r.sent} requests at ${load.rate} rps open loop through a meshed client proxy to 2 endpoints; one endpoint's proxy frozen (SIGSTOP) a third of the way in (response-headers timeout ${timeoutMs} ms, mTLS handshake timeout 3 s)`,
      outcome: `${r.ok} answered, ${failed} failed in time (504/502), ${waitedPast} waited past the timeout, ${unexpected} other errors; the frozen endpoint was sent ${afterFreeze} requests after the freeze, ${afterShed} of ${afterShed + liveAfter} (${shareAfter} %) after it was shed (the timeout + 0.5 s later)`,
      before,
      after,
      pass,
      figures: {
        ...loadFigures(r),
        failedInTime: failed,
        waitedPastTimeout: waitedPast,
        otherErrors: unexpected,
        frozenRequestsAfterFreeze: afterFreeze,
        frozenRequestsAfterShed: afterShed,
        frozenSharePctAfterShed: shareAfter,
        responseHeadersTimeoutMs: timeoutMs,
      },
    };
  } finally {
    frozen.kill('SIGCONT');
    await pair.cleanup.run();
  }
}

export const hungProxy: Scenario = {
  name: 'faults-hung-proxy',
  group: 'faults',
  goal: 'a meshed endpoint frozen mid-load (SIGSTOP): every request answered or failed within the timeout, the endpoint shed (under 5 % of requests from the timeout after the freeze)',
  inShortForm: true,
  run,
};
