// The discovery scenario: how fast the control plane tells every watching proxy that a Service's
// endpoints changed, and what that costs it. See "The discovery scenario" in bench/README.md.
//
//   1. `bin/weft.js up` runs as a child process (its own state dir in the run's temp dir).
//   2. The harness applies one Service and registers `endpoints` workloads that it selects.
//   3. `watcherProcesses` child processes open `watchers` Destination.Get streams in all, one
//      connection each, and report once every stream holds the whole set.
//   4. Churn, open loop: `warmupChanges` unrecorded then `changes` measured Register/Deregister calls
//      at `changesPerS`, alternately removing the oldest workload and registering a new one on a
//      fresh address (a rolling restart). Meanwhile every registered workload renews its lease every ttl/3,
//      as a proxy does.
//   5. Each change is timestamped when its call is issued; each watcher process timestamps every address
//      it sees added/removed. A change's latency is the last watcher's time minus the issue time.
//
// Clock: process.hrtime (CLOCK_MONOTONIC), which every process on the machine shares.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { ownerCredentialFile } from '../src/catalog/local/callers.js';
import { controlPlaneClient, unary } from '../src/grpc/client.js';
import type { WorkloadMessage } from '../src/grpc/protos.js';
import type { WatcherProcessResult } from './discovery-watchers.js';
import { distBench, repoRoot, weftBin } from './paths.js';
import { describeExit, type Managed, startProcess, stopProcess } from './procs.js';
import { cpuSeconds, hwmMb, NoiseMeter, processTree, rssMb, UsageMeter } from './procstat.js';
import { sleep, waitForLine } from './ready.js';
import type { DiscoveryResult, DiscoverySettings, LatencyPercentiles } from './types.js';

const NAMESPACE = 'bench';
const SERVICE = 'churn';
const APP = 'churn-app';
const SERVICE_PORT = 80;
const AUTHORITY = `${SERVICE}.${NAMESPACE}.svc.cluster.local:${SERVICE_PORT}`;
/** Concurrent Register calls while the initial endpoints are registered. */
const REGISTER_CONCURRENCY = 32;
const RPC_TIMEOUT_MS = 10_000;
const SYNC_TIMEOUT_MS = 60_000;
/** Pause between the initial sync and the first change. */
const SETTLE_MS = 500;
/** How long to wait, after the last change was acknowledged, for every watcher to see every change. */
const DRAIN_TIMEOUT_MS = 10_000;

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const round3 = (v: number): number => Math.round(v * 1000) / 1000;
const round1 = (v: number): number => Math.round(v * 10) / 10;

/** Nearest-rank percentiles of a list of millisecond values. */
export function percentiles(values: number[]): LatencyPercentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const at = (q: number): number => (n === 0 ? 0 : (sorted[Math.min(n - 1, Math.ceil(q * n) - 1)] ?? 0));
  const mean = n === 0 ? 0 : sorted.reduce((s, v) => s + v, 0) / n;
  return {
    count: n,
    meanMs: round3(mean),
    p50Ms: round3(at(0.5)),
    p90Ms: round3(at(0.9)),
    p99Ms: round3(at(0.99)),
    p999Ms: round3(at(0.999)),
    maxMs: round3(n === 0 ? 0 : (sorted[n - 1] ?? 0)),
  };
}

/**
 * `weft up` on `stateDir` with every listener on a free port (gRPC on `addr`), so a bench never
 * meets a running mesh, and tests running together never meet on a default port.
 */
export function controlPlaneArgs(stateDir: string, addr = '127.0.0.1:0'): string[] {
  return [
    'up',
    '--state-dir',
    stateDir,
    '--addr',
    addr,
    '--admin-addr',
    '127.0.0.1:0',
    '--viz-addr',
    '127.0.0.1:0',
    '--identity-addr',
    '127.0.0.1:0',
  ];
}

/** Parses the control plane's pino line `"msg":"control plane ready"`; returns its gRPC host:port. */
export function parseControlPlaneReady(line: string): { host: string; port: number } | undefined {
  if (!line.startsWith('{') || !line.includes('control plane ready')) return undefined;
  try {
    const obj = JSON.parse(line) as { msg?: unknown; grpc?: unknown };
    if (obj.msg !== 'control plane ready' || typeof obj.grpc !== 'string') return undefined;
    const colon = obj.grpc.lastIndexOf(':');
    const port = Number(obj.grpc.slice(colon + 1));
    const host = obj.grpc.slice(0, colon).replace(/^\[|\]$/g, '');
    return Number.isInteger(port) && port > 0 ? { host, port } : undefined;
  } catch {
    return undefined;
  }
}

function workload(i: number): WorkloadMessage {
  return {
    namespace: NAMESPACE,
    name: APP,
    pod: `${APP}-${i}`,
    serviceAccount: APP,
    labels: { app: APP },
    // Distinct address:port per workload ever registered (the port alone is unique).
    address: `127.0.0.${(i % 250) + 1}`,
    port: 20_000 + i,
    namedPorts: {},
  };
}

const endpointKey = (w: WorkloadMessage): string => `${w.address}:${w.port}`;

/** One watcher process and what it has printed so far. */
interface WatcherProc {
  proc: Managed;
  watchers: number;
  syncedMs?: number;
  done: boolean;
  result?: WatcherProcessResult;
}

function startWatchers(index: number, watchers: number, grpcAddr: string, s: DiscoverySettings): WatcherProc {
  const args = [
    distBench('discovery-watchers.js'),
    '--addr',
    grpcAddr,
    '--path',
    AUTHORITY,
    '--ns',
    NAMESPACE,
    '--watchers',
    String(watchers),
    '--endpoints',
    String(s.endpoints),
    '--changes',
    String(s.warmupChanges + s.changes),
  ];
  const proc = startProcess(`discovery watchers ${index + 1}`, process.execPath, args, { keepStdout: true });
  const w: WatcherProc = { proc, watchers, done: false };
  proc.onStdoutLine((line) => {
    if (!line.startsWith('{')) return;
    let msg: { synced?: boolean; ms?: number; done?: boolean; result?: WatcherProcessResult };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    if (msg.synced) w.syncedMs = msg.ms ?? 0;
    if (msg.done) w.done = true;
    if (msg.result) w.result = msg.result;
  });
  return w;
}

/** Polls until `cond` holds; throws on timeout or when the control plane or a watcher process exits. */
async function waitFor(
  cond: () => boolean,
  cp: Managed,
  procs: WatcherProc[],
  timeoutMs: number,
  what: string,
  throwOnTimeout = true,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    const dead = [cp, ...procs.filter((w) => !w.result).map((w) => w.proc)].find((m) => m.exitInfo);
    if (dead?.exitInfo) {
      throw new Error(`${dead.name} ${describeExit(dead.exitInfo)} before ${what}\n${dead.tail()}`);
    }
    if (Date.now() > deadline) {
      if (throwOnTimeout) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      return false;
    }
    await sleep(20);
  }
  return true;
}

/** Runs `task` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

interface Change {
  key: string;
  sentMs: number;
  ackMs?: number;
  failed?: boolean;
}

export async function runDiscovery(
  settings: DiscoverySettings,
  tempDir: string,
  log: (line: string) => void,
): Promise<DiscoveryResult> {
  // Even numbers of changes leave the set at its starting size, which the watchers check.
  const even = (n: number): number => n + (n % 2);
  const s = { ...settings, warmupChanges: even(settings.warmupChanges), changes: even(settings.changes) };
  const total = s.warmupChanges + s.changes;
  const result: DiscoveryResult = {
    settings: s,
    incomplete: 0,
    rpcErrors: 0,
    renewals: 0,
    streamErrors: 0,
    noEndpoints: 0,
    finalSetMismatches: 0,
  };
  const label = '[discovery]';
  const errorSamples: string[] = [];
  const rpcFailed = (what: string, err: unknown): void => {
    result.rpcErrors++;
    if (errorSamples.length < 5) errorSamples.push(`${what}: ${(err as Error).message}`);
  };
  let cp: Managed | undefined;
  const procs: WatcherProc[] = [];
  const clients: grpc.Client[] = [];
  let renewTimer: NodeJS.Timeout | undefined;
  try {
    const stateDir = join(tempDir, 'discovery-state');
    const args = controlPlaneArgs(stateDir);
    result.command = `WEFT_LOG=info bin/weft.js ${args.map((a) => (a === stateDir ? 'TMP' : a)).join(' ')}`;
    log(`${label} starting the control plane`);
    // Run as users run it: the executable (its shebang sets Node's flags), default log level.
    cp = startProcess('control plane', weftBin, args, {
      cwd: repoRoot,
      env: { ...process.env, WEFT_LOG: 'info' },
    });
    const addr = await waitForLine(cp, parseControlPlaneReady, 15_000, 'a "control plane ready" line');
    const grpcAddr = `${addr.host}:${addr.port}`;
    const startRssMb = rssMb([cp.pid]).rss;
    // The bench started weft up, so it calls as its owner.
    const owner = readFileSync(ownerCredentialFile(stateDir), 'latin1');
    const resources = controlPlaneClient('resources', addr, owner);
    const registry = controlPlaneClient('registry', addr, owner);
    clients.push(resources, registry);

    const service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: SERVICE, namespace: NAMESPACE },
      spec: { selector: { app: APP }, ports: [{ port: SERVICE_PORT, targetPort: 8080 }] },
    };
    await unary(
      resources,
      'apply',
      { documents: [{ source: 'bench discovery', json: JSON.stringify(service) }], dryRun: false },
      RPC_TIMEOUT_MS,
    );

    // When each live workload next renews its lease (a FIFO by due time).
    const renewAt = new Map<number, number>();
    let renewEveryMs = 0;
    const register = async (i: number): Promise<void> => {
      const lease = await unary<WorkloadMessage, { ttlMs: number }>(
        registry,
        'register',
        workload(i),
        RPC_TIMEOUT_MS,
      );
      renewEveryMs = lease.ttlMs / 3;
    };

    log(`${label} registering ${s.endpoints} endpoints`);
    let t = nowMs();
    const initial = Array.from({ length: s.endpoints }, (_, i) => i);
    await pool(initial, REGISTER_CONCURRENCY, async (i) => {
      await register(i);
      // Spread the first renewals over one renewal period, as for proxies that started at different
      // times; otherwise all of them would renew in the same burst, every period.
      renewAt.set(i, nowMs() + (renewEveryMs * (i + 1)) / s.endpoints);
    });
    // Live workloads, oldest registration first: the churn replaces the oldest (a rolling restart).
    const live = [...initial];
    result.registerS = round3((nowMs() - t) / 1000);
    let nextId = s.endpoints;

    // Renew every live lease every ttl/3, as each workload's proxy would.
    renewTimer = setInterval(() => {
      const now = nowMs();
      for (const [i, due] of renewAt) {
        if (due > now) break;
        renewAt.delete(i);
        renewAt.set(i, now + renewEveryMs);
        result.renewals++;
        unary(registry, 'register', workload(i), RPC_TIMEOUT_MS).catch((err) => rpcFailed('renewal', err));
      }
    }, 50);

    log(`${label} starting ${s.watchers} watchers in ${s.watcherProcesses} processes`);
    t = nowMs();
    const nProcs = Math.max(1, Math.min(s.watcherProcesses, s.watchers));
    for (let p = 0; p < nProcs; p++) {
      const share = Math.floor(s.watchers / nProcs) + (p < s.watchers % nProcs ? 1 : 0);
      procs.push(startWatchers(p, share, grpcAddr, s));
    }
    await waitFor(
      () => procs.every((w) => w.syncedMs !== undefined),
      cp,
      procs,
      SYNC_TIMEOUT_MS,
      `every watcher to receive all ${s.endpoints} endpoints`,
    );
    result.syncS = round3((nowMs() - t) / 1000);
    await sleep(SETTLE_MS);

    log(`${label} churn: ${s.warmupChanges} warm-up + ${s.changes} measured changes at ${s.changesPerS}/s`);
    const watcherPids = procs.flatMap((w) => processTree(w.proc.pid));
    const cpPid = cp.pid;
    // Started at the first measured change.
    const begin = () => ({
      at: nowMs(),
      meter: new UsageMeter(cpPid),
      noise: new NoiseMeter(),
      cpCpu: cpuSeconds([cpPid]),
      watcherCpu: cpuSeconds(watcherPids),
      renewals: result.renewals,
    });
    let measured: ReturnType<typeof begin> | undefined;
    const changes: Change[] = [];
    const acks: Array<Promise<void>> = [];
    const t0 = nowMs();
    const interval = 1000 / s.changesPerS;
    for (let k = 0; k < total; k++) {
      const wait = t0 + k * interval - nowMs();
      if (wait > 1) await sleep(wait);
      if (k === s.warmupChanges) measured = begin();
      let change: Change;
      let call: Promise<unknown>;
      if (k % 2 === 0) {
        const oldest = live.shift() as number;
        renewAt.delete(oldest);
        const w = workload(oldest);
        change = { key: `-${endpointKey(w)}`, sentMs: nowMs() };
        call = unary(registry, 'deregister', { namespace: w.namespace, pod: w.pod }, RPC_TIMEOUT_MS);
      } else {
        const i = nextId++;
        live.push(i);
        const w = workload(i);
        change = { key: `+${endpointKey(w)}`, sentMs: nowMs() };
        call = unary(registry, 'register', w, RPC_TIMEOUT_MS).then(() => {
          renewAt.set(i, nowMs() + renewEveryMs);
        });
      }
      const c = change;
      changes.push(c);
      acks.push(
        call.then(
          () => {
            c.ackMs = nowMs();
          },
          (err) => {
            c.failed = true;
            rpcFailed(c.key, err);
          },
        ),
      );
    }
    await Promise.all(acks);
    await waitFor(
      () => procs.every((w) => w.done),
      cp,
      procs,
      DRAIN_TIMEOUT_MS,
      'every watcher to see every change',
      false,
    );
    const m0 = measured ?? begin();
    result.churnS = round3((nowMs() - m0.at) / 1000);
    result.noise = m0.noise.stop();
    const churn = m0.meter.stop();
    const cpCpu = cpuSeconds([cp.pid]);
    result.watcherCpuS = round3(cpuSeconds(watcherPids) - m0.watcherCpu);
    result.churnRenewals = result.renewals - m0.renewals;
    clearInterval(renewTimer);
    renewTimer = undefined;

    for (const w of procs) w.proc.child.kill('SIGUSR2');
    await waitFor(() => procs.every((w) => w.result), cp, procs, 10_000, 'the watchers to report');
    result.controlPlane = {
      startRssMb: round3(startRssMb),
      peakRssMb: round3(hwmMb([cp.pid])),
      churnPeakRssMb: round3(churn.peakRssMb),
      churnCpuS: round3(cpCpu - m0.cpCpu),
      totalCpuS: round3(cpCpu),
    };

    // Merge the watcher processes' sightings: count, first and last time per change.
    const seen = new Map<string, [number, number, number]>();
    for (const w of procs) {
      const r = w.result as WatcherProcessResult;
      result.streamErrors += r.streamErrors;
      result.noEndpoints += r.noEndpoints;
      result.finalSetMismatches += r.finalSizeMismatches;
      for (const e of r.errorSamples) if (errorSamples.length < 5) errorSamples.push(e);
      for (const [key, [n, first, last]] of Object.entries(r.changes)) {
        const m = seen.get(key);
        if (m) seen.set(key, [m[0] + n, Math.min(m[1], first), Math.max(m[2], last)]);
        else seen.set(key, [n, first, last]);
      }
    }
    const all: number[] = [];
    const adds: number[] = [];
    const removes: number[] = [];
    const firsts: number[] = [];
    const ackTimes: number[] = [];
    const warmup: number[] = [];
    const timeline: Array<[number, number, number, number]> = [];
    const rel = (v: number | undefined, from: number): number => (v === undefined ? -1 : round1(v - from));
    changes.forEach((c, k) => {
      const m = seen.get(c.key);
      const all_ = m !== undefined && m[0] >= s.watchers;
      timeline.push([
        round1(c.sentMs - t0),
        rel(c.ackMs, c.sentMs),
        rel(m?.[1], c.sentMs),
        all_ ? rel(m?.[2], c.sentMs) : -1,
      ]);
      if (c.failed) return;
      if (k < s.warmupChanges) {
        if (all_) warmup.push((m?.[2] ?? 0) - c.sentMs);
        else result.incomplete++;
        return;
      }
      if (c.ackMs !== undefined) ackTimes.push(c.ackMs - c.sentMs);
      if (!m || !all_) {
        result.incomplete++;
        return;
      }
      const latency = m[2] - c.sentMs;
      all.push(latency);
      (c.key.startsWith('+') ? adds : removes).push(latency);
      firsts.push(m[1] - c.sentMs);
    });
    result.warmupLatency = percentiles(warmup);
    result.latency = percentiles(all);
    result.latencyAdd = percentiles(adds);
    result.latencyRemove = percentiles(removes);
    result.firstWatcher = percentiles(firsts);
    result.ack = percentiles(ackTimes);
    result.timeline = timeline;
    log(
      `${label} change -> all ${s.watchers} watchers p50/p99/max ${result.latency.p50Ms}/${result.latency.p99Ms}/${result.latency.maxMs} ms; control plane peak RSS ${result.controlPlane.peakRssMb.toFixed(1)} MB`,
    );
  } catch (err) {
    result.error = (err instanceof Error ? err.message : String(err)).trim();
    log(`${label} ${result.error.split('\n')[0]}`);
  } finally {
    if (renewTimer) clearInterval(renewTimer);
    for (const c of clients) c.close();
    await Promise.all(procs.map((w) => stopProcess(w.proc)));
    if (cp) await stopProcess(cp);
  }
  if (errorSamples.length > 0) result.errorSamples = errorSamples;
  return result;
}
