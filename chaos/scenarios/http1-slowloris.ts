// Slowloris against the proxy's HTTP/1 side: many connections that each start a request
// and send its headers a byte at a time, never finishing, while other clients go on
// sending ordinary requests. They must still be served; the full form compares their
// latency with and without the attack (goal: within 2x).
import net from 'node:net';
import { LOOPBACK } from '../../test/helpers/net.js';
import type { ResourceSample, Scenario, ScenarioContext, ScenarioResult } from '../scenario.js';
import { percentile, proxiedApp, victimGet } from './http1-setup.js';

/**
 * Sends requests one after the other, at least `count` and for at least `minMs`; each
 * one's latency in ms, and how many failed.
 */
async function sequential(port: number, count: number, minMs = 0): Promise<{ ms: number[]; failed: number }> {
  const ms: number[] = [];
  let failed = 0;
  const until = performance.now() + minMs;
  for (let i = 0; i < count || performance.now() < until; i++) {
    const start = performance.now();
    const path = `/served-${i}`;
    if ((await victimGet(port, path)) === path) ms.push(performance.now() - start);
    else failed++;
  }
  return { ms, failed };
}

/** Opens `count` slowloris connections: each sends a request line, then a header byte every `everyMs`. */
async function slowloris(
  port: number,
  count: number,
  everyMs: number,
): Promise<{ sockets: net.Socket[]; stop: () => void }> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const s = net.connect(port, LOOPBACK);
    s.on('error', () => {});
    s.write('GET /slow HTTP/1.1\r\nHost: web\r\nX-Slow: ');
    sockets.push(s);
    // Connect in batches so the listen backlog is not the thing measured.
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 10));
  }
  const timer = setInterval(() => {
    for (const s of sockets) if (!s.destroyed) s.write('a');
  }, everyMs);
  return {
    sockets,
    stop() {
      clearInterval(timer);
      for (const s of sockets) s.destroy();
    },
  };
}

export const http1Slowloris: Scenario = {
  name: 'http1-slowloris',
  group: 'http1',
  goal: 'other clients served while 2,000 connections trickle headers (full form: their p50 within 2x of normal)',
  inShortForm: true,
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const connections = ctx.short ? 200 : 2000;
    const requests = ctx.short ? 50 : 500;
    const p = await proxiedApp();
    try {
      await sequential(p.port, requests); // warm-up, so that the baseline is not the JIT's
      // The full form measures both phases over the same time (20 s), on the same warm proxy.
      const baseline = await sequential(p.port, requests, ctx.short ? 0 : 20_000);
      const before = p.sample();
      const attack = await slowloris(p.port, connections, 1000);
      let during: { ms: number[]; failed: number };
      let open: number;
      let after: ResourceSample;
      try {
        // Let the proxy accept them all and start their header timers.
        await new Promise((r) => setTimeout(r, 500));
        // The full form keeps the attack on for 20 s: every connection trickles 20 bytes.
        during = await sequential(p.port, requests, ctx.short ? 0 : 20_000);
        after = p.sample();
        open = attack.sockets.filter((s) => !s.destroyed).length;
      } finally {
        attack.stop();
      }
      const p50 = (x: number[]): number => percentile(x, 50);
      const ratio = p50(during.ms) / p50(baseline.ms);
      ctx.log(`baseline p50 ${p50(baseline.ms).toFixed(2)} ms, during ${p50(during.ms).toFixed(2)} ms`);
      const served = during.failed === 0 && baseline.failed === 0;
      // Timings are judged in the full form only: a busy CI machine must not flake the short one.
      const pass = served && (ctx.short || ratio <= 2);
      const f = (n: number): string => n.toFixed(2);
      return {
        did: `${connections} connections sending request headers one byte a second, ordinary requests before (${baseline.ms.length}) and during (${during.ms.length + during.failed})`,
        outcome:
          `${during.ms.length}/${during.ms.length + during.failed} served during the attack (${baseline.failed} failed before); ` +
          `p50 ${f(p50(baseline.ms))} -> ${f(p50(during.ms))} ms (${f(ratio)}x), p99 ${f(percentile(baseline.ms, 99))} -> ${f(percentile(during.ms, 99))} ms; ` +
          `${open}/${connections} attack connections still open`,
        before,
        after,
        pass,
        figures: {
          connections,
          requestsDuring: during.ms.length + during.failed,
          failedDuring: during.failed,
          p50BaselineMs: Number(f(p50(baseline.ms))),
          p50DuringMs: Number(f(p50(during.ms))),
          p99BaselineMs: Number(f(percentile(baseline.ms, 99))),
          p99DuringMs: Number(f(percentile(during.ms, 99))),
          p50Ratio: Number(f(ratio)),
          attackOpen: open,
        },
      };
    } finally {
      await p.close();
    }
  },
};
