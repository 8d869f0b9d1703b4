// What the hostile HTTP/2 scenarios share: a real proxy in front of a real h2c app,
// attacking connections written frame by frame (RawH2), a good client served meanwhile,
// and the proxy's memory and descriptors before and after.
import { once } from 'node:events';
import http2 from 'node:http2';
import { type H2App, startH2App } from '../../test/helpers/apps.js';
import { h2connect, h2request, RawH2 } from '../../test/helpers/h2.js';
import { Cleanup, waitFor } from '../../test/helpers/net.js';
import { baseArgs, type ProxyHandle, startProxy } from '../../test/helpers/proxy.js';
import { sampleProcess } from '../context.js';
import type { ResourceSample, ScenarioContext, ScenarioResult } from '../scenario.js';

export const CODE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(http2.constants)
    .filter(([k]) => k.startsWith('NGHTTP2_') && k.endsWith('_ERROR') && !k.includes('ERR_'))
    .map(([k, v]) => [v as number, k.slice('NGHTTP2_'.length)]),
);
CODE_NAMES[http2.constants.NGHTTP2_ENHANCE_YOUR_CALM] = 'ENHANCE_YOUR_CALM';
CODE_NAMES[http2.constants.NGHTTP2_CANCEL] = 'CANCEL';
CODE_NAMES[http2.constants.NGHTTP2_SETTINGS_TIMEOUT] = 'SETTINGS_TIMEOUT';
CODE_NAMES[http2.constants.NGHTTP2_REFUSED_STREAM] = 'REFUSED_STREAM';

/**
 * The flags the scenarios give the proxy: a short liveness timeout in the short form, so
 * closes come quickly; and a 1 s connect timeout to the app (100 ms by default), because
 * the app runs in the scenario's own process, whose event loop the attackers keep busy.
 */
export function livenessFlag(ctx: ScenarioContext): string[] {
  return ['--http2-liveness-timeout', ctx.short ? '500ms' : '2s', '--inbound-connect-timeout', '1s'];
}

export interface Target {
  readonly proxy: ProxyHandle;
  readonly app: H2App;
  readonly cleanup: Cleanup;
}

/** startH2App (or `app`) behind a proxy started with `flags`; the caller runs `cleanup`. */
export async function startTarget(flags: string[], app?: () => Promise<H2App>): Promise<Target> {
  const cleanup = new Cleanup();
  const a = await (app ?? startH2App)();
  cleanup.add(() => a.close());
  const proxy = await startProxy([...baseArgs(a.port), ...flags]);
  cleanup.add(() => proxy.stop('SIGKILL'));
  return { proxy, app: a, cleanup };
}

/** How one attacking connection ended. */
export interface AttackEnd {
  /** The proxy closed it (before the attacker gave up). */
  readonly closedByProxy: boolean;
  /**
   * GOAWAY codes received, the first saying why; empty when the proxy's close reset the
   * connection before the attacker read it.
   */
  readonly goaways: readonly number[];
  readonly socketError: string | undefined;
  readonly resets: number;
  /** What the attack said it sent (frames), when it says. */
  readonly sent: number;
}

/**
 * Opens `n` connections to `port`, runs `attack` on each at once, then waits up to
 * `closeWithinMs` for the proxy to close each.
 */
export async function attack(
  port: number,
  n: number,
  attackOne: (c: RawH2) => Promise<unknown>,
  closeWithinMs: number,
  opts: Parameters<typeof RawH2.connect>[1] = {},
): Promise<AttackEnd[]> {
  const conns = await Promise.all(Array.from({ length: n }, () => RawH2.connect(port, opts)));
  const sent = await Promise.all(
    conns.map((c) =>
      attackOne(c).then(
        (n) => (typeof n === 'number' ? n : 0),
        () => 0,
      ),
    ),
  );
  const ends = await Promise.all(
    conns.map(async (c, i) => {
      const closedByProxy = await c.waitClosed(closeWithinMs).then(
        () => true,
        () => false,
      );
      c.destroy();
      return {
        closedByProxy,
        goaways: c.goaways,
        socketError: c.socketError,
        resets: c.resets.length,
        sent: sent[i] ?? 0,
      };
    }),
  );
  return ends;
}

/** What an attacker lets queue in its own process before it waits for the proxy to read. */
const ATTACKER_QUEUE_BYTES = 1024 * 1024;
/** How long it waits for the proxy to read before it gives up writing: the proxy held the line. */
const ATTACKER_STALL_MS = 3000;

/**
 * Writes `frames()` to `c` until `count` have gone, the socket is gone, or the proxy has
 * stopped reading (nothing drained for ATTACKER_STALL_MS), yielding so the proxy can answer.
 */
export async function flood(c: RawH2, count: number, frames: (i: number) => Buffer): Promise<number> {
  let sent = 0;
  while (sent < count && c.send(frames(sent))) {
    sent++;
    if (c.socket.writableLength > ATTACKER_QUEUE_BYTES) {
      const drained = await Promise.race([
        once(c.socket, 'drain').then(() => true),
        c.closed.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(false), ATTACKER_STALL_MS)),
      ]);
      if (!drained) break;
    } else if (sent % 64 === 0) await new Promise((r) => setImmediate(r));
  }
  return sent;
}

export interface GoodClient {
  ok: number;
  failed: number;
  /** The first failure, if any: what it was told. */
  firstFailure?: string;
  /** The slowest answer, in ms (a figure: the proxy shares two cores with the attackers). */
  slowestMs: number;
}

/** A good client's requests, one after another on one connection, until `stop` resolves (at least `min`). */
export async function goodClient(port: number, stop: Promise<unknown>, min = 5): Promise<GoodClient> {
  let done = false;
  void stop.then(() => {
    done = true;
  });
  let ok = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  let slowestMs = 0;
  const s = await h2connect(port);
  try {
    while (!done || ok + failed < min) {
      const t0 = performance.now();
      try {
        const r = await h2request(
          s,
          { ':path': '/status/200', ':authority': 'app' },
          undefined,
          undefined,
          15_000,
        );
        slowestMs = Math.max(slowestMs, performance.now() - t0);
        if (r.status === 200) ok++;
        else {
          failed++;
          firstFailure ??= `${r.status} ${r.body.toString().trim()}`;
        }
      } catch (err) {
        failed++;
        firstFailure ??= (err as Error).message;
      }
    }
  } finally {
    s.destroy();
  }
  return { ok, failed, slowestMs: Math.round(slowestMs), ...(firstFailure ? { firstFailure } : {}) };
}

/** The proxy's sample once its descriptors are back to at most `before`'s plus `slack` (or after `withinMs`). */
export async function settledSample(
  pid: number,
  before: ResourceSample,
  slack = 3,
  withinMs = 10_000,
): Promise<ResourceSample> {
  await waitFor(() => sampleProcess(pid).fds <= before.fds + slack, 'descriptors back', withinMs, 100).catch(
    () => {},
  );
  return sampleProcess(pid);
}

/** The memory growth a scenario may cause: well above one connection's worth, far below a leak's. */
export const RSS_BOUND_BYTES = 128 * 1024 * 1024;

/** Codes as names, with counts: "ENHANCE_YOUR_CALM x4, reset x1". */
export function describeEnds(ends: readonly AttackEnd[]): string {
  const tally = new Map<string, number>();
  for (const e of ends) {
    const first = e.goaways[0];
    const key =
      first !== undefined
        ? `GOAWAY ${CODE_NAMES[first] ?? first}`
        : `closed without a readable GOAWAY (${e.socketError ?? 'FIN'})`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
  }
  return [...tally].map(([k, v]) => `${k} x${v}`).join(', ');
}

/** The common verdict: every attacker closed, the good client fully served, memory and descriptors bounded. */
export function verdict(
  did: string,
  ends: readonly AttackEnd[],
  good: GoodClient,
  before: ResourceSample,
  after: ResourceSample,
  extra: {
    pass?: boolean;
    outcome?: string;
    figures?: Record<string, number | string | boolean>;
    /** An attacking connection the proxy may leave open (by default each must be closed). */
    mayStayOpen?: (e: AttackEnd) => boolean;
  } = {},
): ScenarioResult {
  const closed = ends.filter((e) => e.closedByProxy).length;
  const handled = ends.filter((e) => e.closedByProxy || extra.mayStayOpen?.(e) === true).length;
  const rssGrowth = after.rssBytes - before.rssBytes;
  const pass =
    handled === ends.length &&
    good.failed === 0 &&
    good.ok > 0 &&
    rssGrowth < RSS_BOUND_BYTES &&
    after.fds <= before.fds + 3 &&
    (extra.pass ?? true);
  return {
    did,
    outcome: `${closed}/${ends.length} connections closed by the proxy (${describeEnds(ends)}); good client ${good.ok} ok (slowest ${good.slowestMs} ms), ${good.failed} failed${good.firstFailure ? ` (first: ${good.firstFailure})` : ''}${extra.outcome ? `; ${extra.outcome}` : ''}`,
    before,
    after,
    pass,
    figures: {
      connections: ends.length,
      closedByProxy: closed,
      goodOk: good.ok,
      goodFailed: good.failed,
      goodSlowestMs: good.slowestMs,
      rssGrowthBytes: rssGrowth,
      ...extra.figures,
    },
  };
}

/** Runs `body` with a target and always cleans it up. */
export async function withTarget<T>(
  flags: string[],
  body: (t: Target) => Promise<T>,
  app?: () => Promise<H2App>,
): Promise<T> {
  const t = await startTarget(flags, app);
  try {
    return await body(t);
  } finally {
    await t.cleanup.run();
  }
}
