// The soak: a steady paced load through the meshed hop (30 min at 1k rps; 30 s at 200 rps in the short
// form), sampling both proxies' RSS and descriptors every 10 s and each 10 s window's p99. After the
// warm-up RSS must grow under 5 %, descriptors stay flat, no request fail. A server proxy's heap is
// snapshotted after the warm-up and at the end, and the constructors whose live objects grew are named.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Load, type LoadSample } from '../../test/helpers/controlplane.js';
import { sampleProcess } from '../context.js';
import { countByConstructor, growth, heapSnapshotNodeOptions, takeHeapSnapshot } from '../heap.js';
import { AUTHORITY, startMesh } from '../mesh.js';
import type { ResourceSample, Scenario } from '../scenario.js';

const WINDOW_MS = 10_000;
/** RSS growth allowed after the warm-up: the goal, and the short form's bound for a gross leak. */
const RSS_BOUND = 0.05;
const SHORT_RSS_BOUND = 0.2;
/**
 * Descriptors gained after the warm-up: flat in the full form; in the short form the load's agent may
 * still open a few of its keep-alive connections late under a burst, which is no leak.
 */
const FDS_BOUND = 2;
const SHORT_FDS_BOUND = 8;

/**
 * p99 (nearest rank) of each 10 s window of successful samples by send time, in ms, leaving out those
 * in flight during a pause (a heap snapshot stops the proxy for a second or more).
 */
export function windowP99s(
  samples: readonly LoadSample[],
  t0: number,
  pauses: ReadonlyArray<readonly [number, number]> = [],
): number[] {
  const windows: number[][] = [];
  for (const s of samples) {
    if (s.status !== 200) continue;
    if (pauses.some(([a, b]) => s.end >= a && s.start <= b)) continue;
    const w = Math.floor((s.start - t0) / WINDOW_MS);
    const window = windows[w] ?? [];
    window.push(s.end - s.start);
    windows[w] = window;
  }
  return windows.map((w) => {
    const sorted = [...w].sort((a, b) => a - b);
    return sorted[Math.max(0, Math.ceil(sorted.length * 0.99) - 1)] ?? 0;
  });
}

const mb = (b: number) => (b / 1048576).toFixed(1);

export const soak: Scenario = {
  name: 'soak',
  group: 'soak',
  goal: 'RSS growth under 5 % after warm-up, descriptors flat, no failed request',
  inShortForm: true,
  async run(ctx) {
    const seconds = Number(process.env.WEFT_CHAOS_SOAK_S ?? (ctx.short ? 30 : 1800));
    const rate = ctx.short ? 200 : 1000;
    const warmupS = ctx.short ? 10 : Math.min(120, seconds / 5);
    const heapDir = join(ctx.dir, 'heap');
    mkdirSync(heapDir);
    const mesh = await startMesh({
      dir: ctx.dir,
      replicas: 2,
      proxyEnv: { NODE_OPTIONS: heapSnapshotNodeOptions(heapDir) },
    });
    try {
      const client = mesh.client.proc.pid as number;
      const server = mesh.replicas[0]?.proxy.proc.pid as number;
      // A heap snapshot leaves its process's RSS higher for a while, so the heap is snapshotted on the
      // other replica's proxy, and RSS judged on the client proxy and the first replica's.
      const snapped = mesh.replicas[1]?.proxy.proc.pid as number;
      const t0 = Date.now();
      const load = new Load(mesh.client.outbound, {
        authority: AUTHORITY,
        rate,
        total: rate * seconds,
        concurrency: Math.max(32, Math.ceil(rate / 20)),
      });
      const series: Array<{ client: ResourceSample; server: ResourceSample }> = [];
      const sample = () => series.push({ client: sampleProcess(client), server: sampleProcess(server) });
      const timer = setInterval(sample, WINDOW_MS);
      await new Promise((r) => setTimeout(r, warmupS * 1000));
      // The snapshot pauses that proxy for a moment: requests in flight then are left out of the p99s.
      const pauses: Array<[number, number]> = [];
      const snapAt = Date.now();
      const heapStart = await takeHeapSnapshot(snapped, heapDir);
      pauses.push([snapAt, Date.now()]);
      ctx.log(`warm after ${warmupS} s; heap snapshot ${heapStart}`);
      await new Promise((r) => setTimeout(r, 2000));
      sample();
      const warm = series.length - 1;
      await load.done;
      clearInterval(timer);
      sample();
      const heapEnd = await takeHeapSnapshot(snapped, heapDir);
      const grew = growth(countByConstructor(heapStart), countByConstructor(heapEnd));
      const w = series[warm];
      const end = series[series.length - 1];
      if (!w || !end) throw new Error('no samples');
      const rssGrowth = (end.client.rssBytes - w.client.rssBytes) / w.client.rssBytes;
      const serverGrowth = (end.server.rssBytes - w.server.rssBytes) / w.server.rssBytes;
      const fdsDelta = Math.max(end.client.fds - w.client.fds, end.server.fds - w.server.fds);
      const failed = load.failures().length;
      const p99s = windowP99s(load.samples, t0, pauses);
      const pauseMs = pauses.reduce((sum, [a, b]) => sum + b - a, 0);
      const pct = (v: number) => `${(v * 100).toFixed(1)} %`;
      // 30 s is too short for the heap to settle: the short form catches a gross leak, the full form 5 %.
      const bound = ctx.short ? SHORT_RSS_BOUND : RSS_BOUND;
      return {
        did: `${load.samples.length} requests at ${rate} rps for ${seconds} s through the meshed hop (warm-up ${warmupS} s)`,
        outcome: `${failed} failed; RSS after warm-up client ${mb(w.client.rssBytes)}->${mb(end.client.rssBytes)} MB (${pct(rssGrowth)}), server ${mb(w.server.rssBytes)}->${mb(end.server.rssBytes)} MB (${pct(serverGrowth)}); fds +${fdsDelta}; p99 per 10 s ${p99s.slice(0, 6).join('/')}...${p99s.at(-1)} ms; server heap grew: ${grew.slice(0, 3).join(', ') || 'nothing'} (snapshot pause ${pauseMs} ms left out of the p99s)`,
        before: w.client,
        after: end.client,
        pass:
          failed === 0 &&
          rssGrowth < bound &&
          serverGrowth < bound &&
          fdsDelta <= (ctx.short ? SHORT_FDS_BOUND : FDS_BOUND),
        figures: {
          rate,
          seconds,
          requests: load.samples.length,
          failed,
          clientRssGrowthPct: Math.round(rssGrowth * 1000) / 10,
          serverRssGrowthPct: Math.round(serverGrowth * 1000) / 10,
          fdsDelta,
          p99PerWindowMs: p99s.join(' '),
          rssClientMbPerWindow: series.map((s) => mb(s.client.rssBytes)).join(' '),
          rssServerMbPerWindow: series.map((s) => mb(s.server.rssBytes)).join(' '),
          heapGrowth: grew.join('; '),
          snapshotPauseMs: pauseMs,
        },
      };
    } finally {
      await mesh.cleanup.run();
    }
  },
};
