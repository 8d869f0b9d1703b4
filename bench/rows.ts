// Measures one row (one target, one protocol): start the target, optional pre-load check, warm-up,
// maximum throughput, then the open-loop fixed rates; always stops the target afterwards.
import { runOpenLoop } from './openloop-run.js';
import { measure, peakRssMb } from './phases.js';
import { stopProcess } from './procs.js';
import { sleep } from './ready.js';
import { type LoadTarget, type StartedTarget, starters, type TargetContext } from './targets.js';
import type { Protocol, Row, TargetName, ThroughputResult } from './types.js';

export interface RowPlan {
  target: TargetName;
  protocol: Protocol;
  ctx: TargetContext;
  /** A functional check before any load; returns a note for the report. */
  check?: (target: LoadTarget) => Promise<string>;
  /** Closed-loop maximum throughput for `durationS` seconds. */
  max: (target: LoadTarget, durationS: number) => Promise<ThroughputResult>;
  /** Open-loop rates to measure (HTTP/1.1 only). */
  rates: number[];
}

export interface RowSettings {
  durationS: number;
  warmupS: number;
  connections: number;
  log: (line: string) => void;
}

const PAUSE_MS = 300;

/** The whole message (it may carry the tail of a process's output); the table shows its first line. */
function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim();
}

export async function runRow(plan: RowPlan, s: RowSettings): Promise<Row> {
  const row: Row = { target: plan.target, protocol: plan.protocol, fixed: {} };
  const label = `[${plan.protocol}] ${plan.target}`;
  let started: StartedTarget;
  try {
    s.log(`${label}: starting`);
    started = await starters[plan.target](plan.ctx);
  } catch (err) {
    row.error = `failed to start: ${errorText(err)}`;
    row.startFailed = true;
    s.log(`${label}: ${row.error}`);
    return row;
  }
  row.path = started.route;
  const procs = started.procs;
  try {
    if (plan.check) {
      row.grpcCheck = await plan.check(started);
      s.log(`${label}: check ok (${row.grpcCheck})`);
    }
    if (s.warmupS > 0) {
      s.log(`${label}: warm-up ${s.warmupS} s`);
      await plan.max(started, s.warmupS);
      await sleep(PAUSE_MS);
    }
    s.log(`${label}: max throughput, ${s.durationS} s`);
    row.max = await measure(procs, () => plan.max(started, s.durationS));
    for (const rate of plan.rates) {
      await sleep(PAUSE_MS);
      s.log(`${label}: open loop ${rate} req/s, ${s.durationS} s`);
      row.fixed[String(rate)] = await measure(procs, () =>
        runOpenLoop({
          port: started.port,
          ...(started.authority ? { host: started.authority } : {}),
          rate,
          durationS: s.durationS,
          connections: s.connections,
        }),
      );
    }
    if (procs.length > 0) {
      const hwm = procs.map((p) => ({ name: p.name, mb: peakRssMb(p) }));
      row.hwmMb = Math.max(...hwm.map((h) => h.mb));
      if (procs.length > 1) row.hwmMbByProc = Object.fromEntries(hwm.map((h) => [h.name, h.mb]));
    }
  } catch (err) {
    row.error = errorText(err);
    s.log(`${label}: ${row.error}`);
  } finally {
    // In the target's order (e.g. a client-side proxy before the server side), then its helpers.
    for (const p of [...procs, ...(started.helpers ?? [])]) await stopProcess(p);
    started.cleanup?.();
  }
  return row;
}
