// Floods on one HTTP/2 connection: rapid reset (CVE-2023-44487), CONTINUATION (the
// CVE-2024-27316 class), SETTINGS and PING whose acknowledgements are never read, and an
// HPACK bomb. Each attacking connection must be closed by the proxy, with the GOAWAY code
// nghttp2 or the proxy chose where the attacker could still read it, while a good client
// on another connection is served and the proxy's memory and descriptors stay bounded.
import http2 from 'node:http2';
import {
  FLAG,
  FRAME,
  frame,
  getFrame,
  HPACK_FIRST_DYNAMIC,
  hpackIndexed,
  hpackLiteralHeader,
  pingFrame,
  type RawH2,
  requestBlock,
  rstFrame,
  settingsFrame,
} from '../../test/helpers/h2.js';
import { deferred } from '../../test/helpers/net.js';
import { sampleProcess } from '../context.js';
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js';
import {
  type AttackEnd,
  attack,
  flood,
  goodClient,
  livenessFlag,
  settledSample,
  type Target,
  verdict,
  withTarget,
} from './http2-harness.js';

const {
  NGHTTP2_ENHANCE_YOUR_CALM,
  NGHTTP2_INTERNAL_ERROR,
  NGHTTP2_PROTOCOL_ERROR,
  NGHTTP2_NO_ERROR,
  NGHTTP2_SETTINGS_TIMEOUT,
} = http2.constants;

interface Flood {
  name: string;
  goal: string;
  /** What one attacking connection does (resolving with the frames it sent), and a sentence for it. */
  attackOne: (c: RawH2, count: number, short: boolean) => Promise<number>;
  describe: (n: number, count: number, short: boolean) => string;
  count: (short: boolean) => number;
  /** GOAWAY codes that are right for this attack (checked where the attacker could read one). */
  codes: readonly number[];
  /** An attacking connection the proxy may leave open (each must be closed otherwise). */
  mayStayOpen?: (e: AttackEnd) => boolean;
  /** Checks of this scenario's own, given the attack's streams that reached the app. */
  check?: (
    attackStreams: number,
    t: Target,
    connections: number,
  ) => { pass: boolean; outcome: string; figures: Record<string, number> };
}

function floodScenario(f: Flood): Scenario {
  return {
    name: f.name,
    group: 'http2',
    goal: f.goal,
    inShortForm: true,
    run: (ctx: ScenarioContext) =>
      withTarget(livenessFlag(ctx), async (t): Promise<ScenarioResult> => {
        const pid = t.proxy.proc.pid as number;
        const n = ctx.short ? 4 : 50;
        const count = f.count(ctx.short);
        const did = f.describe(n, count, ctx.short);
        const before = sampleProcess(pid);
        const attacked = deferred();
        const good = goodClient(t.proxy.inbound.port, attacked.promise);
        ctx.log(`${f.name}: ${did}`);
        const ends = await attack(
          t.proxy.inbound.port,
          n,
          (c) => f.attackOne(c, count, ctx.short),
          ctx.short ? 8000 : 20_000,
        );
        attacked.resolve();
        const served = await good;
        const after = await settledSample(pid, before);
        // The good client's requests reach the app too; the rest are the attack's.
        const own = f.check?.(t.app.streams() - served.ok - served.failed, t, n);
        const wrongCode = ends.filter((e: AttackEnd) => {
          const first = e.goaways[0];
          return first !== undefined && !f.codes.includes(first);
        }).length;
        return verdict(did, ends, served, before, after, {
          pass: wrongCode === 0 && (own?.pass ?? true),
          outcome: [wrongCode ? `${wrongCode} with an unexpected GOAWAY code` : '', own?.outcome ?? '']
            .filter(Boolean)
            .join('; '),
          figures: { perConnection: count, wrongCode, ...own?.figures },
          ...(f.mayStayOpen ? { mayStayOpen: f.mayStayOpen } : {}),
        });
      }),
  };
}

export const h2RapidReset = floodScenario({
  name: 'h2-rapid-reset',
  goal: "HEADERS+RST_STREAM in a loop: each connection closed with GOAWAY ENHANCE_YOUR_CALM (or nghttp2's INTERNAL_ERROR), upstream streams bounded, others served",
  count: (short) => (short ? 3000 : 20_000),
  describe: (n, count) =>
    `${n} connections each sent up to ${count} HEADERS+RST_STREAM pairs (CVE-2023-44487)`,
  attackOne: (c, count) =>
    flood(c, count, (i) => Buffer.concat([getFrame(1 + 2 * i, '/status/200'), rstFrame(1 + 2 * i)])),
  // The proxy's premature-reset limit, or nghttp2's own reset rate limit, whichever comes first.
  codes: [NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INTERNAL_ERROR],
  check: (streams, t, connections) => {
    // The streams that got through before the proxy closed the connection; the proxy's
    // upstream connections (retired after 500 resets each, before the app's own limit).
    const sessions = t.app.sessions();
    return {
      // At most what the premature-reset limit lets one connection open, each.
      pass: streams <= connections * 100,
      outcome: `${streams} attack streams reached the app, over ${sessions} upstream connection(s)`,
      figures: { appStreams: streams, upstreamSessions: sessions },
    };
  },
});

export const h2ContinuationFlood = floodScenario({
  name: 'h2-continuation-flood',
  goal: 'HEADERS then endless CONTINUATION without END_HEADERS: each connection closed, nothing reaches the app, memory bounded',
  count: (short) => (short ? 5000 : 50_000),
  describe: (n, count) =>
    `${n} connections each sent HEADERS without END_HEADERS, then up to ${count} CONTINUATION frames of 1 KiB (CVE-2024-27316 class)`,
  attackOne: async (c, count) => {
    c.send(frame(FRAME.HEADERS, 0, 1, requestBlock('/status/200')));
    const literal = hpackLiteralHeader('x-a', Buffer.alloc(1000, 0x61));
    return flood(c, count, () => frame(FRAME.CONTINUATION, 0, 1, literal));
  },
  codes: [NGHTTP2_INTERNAL_ERROR, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_PROTOCOL_ERROR],
  check: (streams) => ({
    pass: streams === 0,
    outcome: `${streams} attack streams reached the app`,
    figures: { appStreams: streams },
  }),
});

/**
 * SETTINGS or PING frames, each of which the proxy must acknowledge, while the attacker
 * reads nothing, for long enough that the proxy must have given up on it (four liveness
 * timeouts); then it reads, and a connection still open is a failure (a paused socket
 * cannot see the proxy's close).
 */
function ackFlood(name: string, what: string, make: (i: number) => Buffer): Scenario {
  const holdMs = (short: boolean): number => (short ? 2000 : 8000);
  return floodScenario({
    name,
    goal: `${what} frames whose ACKs are never read: each connection closed, the ACKs the proxy holds bounded, others served`,
    count: (short) => (short ? 20_000 : 200_000),
    describe: (n, count, short) =>
      `${n} connections each sent up to ${count} ${what} frames and read nothing for ${holdMs(short) / 1000} s`,
    attackOne: async (c, count, short) => {
      c.socket.pause();
      const sent = await flood(c, count, make);
      await new Promise((r) => setTimeout(r, holdMs(short)));
      c.socket.resume();
      return sent;
    },
    // nghttp2's limit on ACKs it holds (ENHANCE_YOUR_CALM, or Node's INTERNAL_ERROR), or the
    // proxy's own SETTINGS went unacknowledged (SETTINGS_TIMEOUT).
    codes: [NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_SETTINGS_TIMEOUT],
  });
}

export const h2SettingsFlood = ackFlood('h2-settings-flood', 'SETTINGS', () => settingsFrame([[4, 65_535]]));
export const h2PingFlood = ackFlood('h2-ping-flood', 'PING', (i) => pingFrame(i));

export const h2HpackBomb = floodScenario({
  name: 'h2-hpack-bomb',
  goal: 'a 4 KiB dynamic-table entry referenced 16,000 times a block (64 MB decoded): every bomb refused, none reaches the app, memory bounded, others served',
  count: (short) => (short ? 300 : 3000),
  describe: (n, count) =>
    `${n} connections each put a 4 KiB header in the HPACK table, then sent up to ${count} header blocks referencing it 16,000 times (64 MB each decoded)`,
  attackOne: async (c, count) => {
    const entry = hpackIndexed('x-bomb', Buffer.alloc(4000, 0x62));
    c.send(
      frame(
        FRAME.HEADERS,
        FLAG.END_HEADERS | FLAG.END_STREAM,
        1,
        Buffer.concat([requestBlock('/status/200'), entry]),
      ),
    );
    const bomb = Buffer.concat([requestBlock('/status/200'), Buffer.alloc(16_000, HPACK_FIRST_DYNAMIC[0])]);
    return flood(c, count, (i) => frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 3 + 2 * i, bomb));
  },
  // Node's session limits, or the proxy's SETTINGS unanswered by an attacker too busy writing.
  codes: [NGHTTP2_INTERNAL_ERROR, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR, NGHTTP2_SETTINGS_TIMEOUT],
  // Node refuses each bomb's stream (RST_STREAM ENHANCE_YOUR_CALM) before the proxy sees
  // it, so the proxy cannot count them: the connection stays open unless Node's own session
  // limits end it. Open is fine if every bomb it sent was refused.
  mayStayOpen: (e) => e.resets >= e.sent,
  check: (streams, _t, connections) => ({
    // Each connection's first stream (one 4 KiB header) is within bounds; no bomb may get through.
    pass: streams <= connections,
    outcome: `${streams} attack streams reached the app (each connection's first, a 4 KiB header, is allowed)`,
    figures: { appStreams: streams },
  }),
});
