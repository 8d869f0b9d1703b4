// The whole benchmark: for each protocol, start its upstream once, then measure each selected target
// in turn against it. Exported for programmatic use (e.g. a CI smoke test); bench/run.ts is the CLI.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BenchOptions } from './args.js';
import { computeChecks } from './checks.js';
import { runDiscovery } from './discovery.js';
import { ECHO_PATH, framedEchoRequest, grpcClientCheck, rawFramedCheck } from './grpc-payload.js';
import { H2_CLIENTS, H2_STREAMS, runH2load } from './h2load.js';
import { startNginx } from './nginx.js';
import { startNodeServer } from './node-child.js';
import { h2Probe, http1Probe } from './probe.js';
import { installCleanupHandlers, type Managed, onExit, stopAll, stopProcess } from './procs.js';
import { type RowPlan, type RowSettings, runRow } from './rows.js';
import { requireTools, toolVersions } from './tools.js';
import type { BenchReport, DiscoveryResult, Protocol, Row, TargetName } from './types.js';
import { runWrk, WRK_CONNECTIONS } from './wrk.js';

/**
 * Targets measured per protocol (HTTP/2 and gRPC compare Weft, one hop and meshed, with direct only;
 * weft-mesh-routes, like haproxy-mtls, is HTTP/1.1 only).
 */
const TARGETS_BY_PROTOCOL: Record<Protocol, TargetName[]> = {
  http1: ['direct', 'weft', 'haproxy', 'http-proxy', 'weft-mesh', 'weft-mesh-routes', 'haproxy-mtls'],
  h2: ['direct', 'weft', 'weft-mesh'],
  grpc: ['direct', 'weft', 'weft-mesh'],
};

const TOOLS_BY_PROTOCOL: Record<Protocol, string[]> = {
  http1: ['wrk', 'nginx'],
  h2: ['h2load'],
  grpc: ['h2load'],
};

/** Tools a target needs besides its protocol's. */
const TOOLS_BY_TARGET: Partial<Record<TargetName, string[]>> = {
  haproxy: ['haproxy'],
  'haproxy-mtls': ['haproxy', 'openssl'],
};

interface Upstream {
  proc: Managed;
  port: number;
  name: string;
}

async function startUpstream(protocol: Protocol, tempDir: string): Promise<Upstream> {
  if (protocol === 'http1') return { ...(await startNginx(tempDir)), name: 'nginx' };
  if (protocol === 'h2')
    return { ...(await startNodeServer('h2-upstream', 'h2-upstream.js')), name: 'h2 upstream' };
  return { ...(await startNodeServer('grpc-upstream', 'grpc-upstream.js')), name: 'grpc-js upstream' };
}

function planFor(
  protocol: Protocol,
  target: TargetName,
  upstream: Upstream,
  tempDir: string,
  opts: BenchOptions,
): RowPlan {
  const base = { tempDir, protocol, upstreamPort: upstream.port, upstreamName: upstream.name };
  if (protocol === 'http1') {
    return {
      target,
      protocol,
      ctx: { ...base, probe: http1Probe },
      rates: opts.rates,
      max: (t, durationS) => runWrk(t.port, durationS, t.authority),
    };
  }
  if (protocol === 'h2') {
    return {
      target,
      protocol,
      ctx: { ...base, probe: (t) => h2Probe(t) },
      rates: [],
      max: (t, durationS) =>
        runH2load({ port: t.port, durationS, ...(t.authority ? { authority: t.authority } : {}) }),
    };
  }
  const dataFile = join(tempDir, 'grpc-echo-request.bin');
  const frame = framedEchoRequest();
  writeFileSync(dataFile, frame);
  return {
    target,
    protocol,
    ctx: { ...base, probe: (t) => rawFramedCheck(t.port, frame, t.authority) },
    rates: [],
    check: async (t) => {
      const note = await grpcClientCheck(t.port, t.authority);
      await rawFramedCheck(t.port, frame, t.authority);
      return `${note}; raw ${frame.length}-byte frame POST ok`;
    },
    max: (t, durationS) =>
      runH2load({
        port: t.port,
        durationS,
        path: ECHO_PATH,
        dataFile,
        headers: ['content-type: application/grpc', 'te: trailers'],
        ...(t.authority ? { authority: t.authority } : {}),
      }),
  };
}

/**
 * Problems that make the run fail: a row that could not be measured (its process did not start or
 * died, a check or a load tool failed), or any error on the direct path.
 */
function findProblems(rows: Row[]): string[] {
  const problems: string[] = [];
  for (const row of rows) {
    const name = `${row.target} (${row.protocol})`;
    if (row.error) problems.push(row.startFailed ? `${name} ${row.error}` : `${name}: ${row.error}`);
    if (row.target !== 'direct') continue;
    const max = row.max?.result;
    if (max && max.errors + max.non2xx > 0) {
      problems.push(`${name}: ${max.tool} saw ${max.errors} errors and ${max.non2xx} non-2xx responses`);
    }
    for (const [rate, phase] of Object.entries(row.fixed)) {
      if (phase.result.errors > 0) {
        problems.push(
          `${name}: open-loop generator saw ${phase.result.errors} errors at ${rate} req/s ${JSON.stringify(phase.result.errorKinds)}`,
        );
      }
    }
  }
  return problems;
}

export async function runBench(
  opts: BenchOptions,
  log: (line: string) => void = () => {},
): Promise<BenchReport> {
  installCleanupHandlers();
  const startedAt = Date.now();
  const loadAtStart = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  if (loadAtStart > 0.5) {
    log(
      `warning: 1-minute load average is ${loadAtStart} before the run; other work on this machine will add noise`,
    );
  }
  const tools = toolVersions();
  const tempDir = mkdtempSync(join(tmpdir(), 'weft-bench-'));
  const removeTemp = () => rmSync(tempDir, { recursive: true, force: true });
  onExit(removeTemp);
  const settings: RowSettings = {
    durationS: opts.durationS,
    warmupS: opts.warmupS,
    connections: opts.connections,
    log,
  };
  const rows: Row[] = [];
  const problems: string[] = [];
  let discovery: DiscoveryResult | undefined;
  try {
    for (const protocol of opts.protocols) {
      const targets = TARGETS_BY_PROTOCOL[protocol].filter((t) => opts.only.includes(t));
      if (targets.length === 0) continue;
      let upstream: Upstream;
      try {
        requireTools(tools, [
          ...TOOLS_BY_PROTOCOL[protocol],
          ...targets.flatMap((t) => TOOLS_BY_TARGET[t] ?? []),
        ]);
        log(`[${protocol}] starting upstream`);
        upstream = await startUpstream(protocol, tempDir);
      } catch (err) {
        const message = `${protocol} upstream failed to start: ${(err as Error).message}`;
        problems.push(message);
        log(message);
        for (const target of targets) rows.push({ target, protocol, fixed: {}, error: message });
        continue;
      }
      try {
        for (const target of targets) {
          rows.push(await runRow(planFor(protocol, target, upstream, tempDir, opts), settings));
        }
      } finally {
        await stopProcess(upstream.proc);
      }
    }
    if (opts.only.includes('discovery')) discovery = await runDiscovery(opts.discovery, tempDir, log);
  } finally {
    await stopAll();
    removeTemp();
  }
  problems.push(...findProblems(rows));
  if (discovery?.error) problems.push(`discovery: ${discovery.error}`);
  const cpu = cpus();
  return {
    date: new Date(startedAt).toISOString(),
    machine: {
      cpus: cpu.length,
      cpuModel: cpu[0]?.model ?? 'unknown',
      totalMemGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      kernel: release(),
      node: process.version,
      loadAvgAtStart: loadAtStart,
    },
    tools,
    options: {
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      only: opts.only,
      protocols: opts.protocols,
      connections: opts.connections,
      rates: opts.rates,
      discovery: opts.discovery,
      wrk: `wrk -t1 -c${WRK_CONNECTIONS} -d${opts.durationS}s`,
      h2load: `h2load -t1 -c${H2_CLIENTS} -m${H2_STREAMS} -D ${opts.durationS} (${H2_CLIENTS * H2_STREAMS} concurrent streams)`,
    },
    rows,
    ...(discovery ? { discovery } : {}),
    checks: computeChecks(rows, opts.rates[0] ?? 1000, discovery),
    problems,
    totalSeconds: Math.round((Date.now() - startedAt) / 100) / 10,
  };
}
