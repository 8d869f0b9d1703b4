// Shared result shapes for the benchmark harness. Plain data only: everything here is written to JSON.
import type { BenchOptions } from './args.js';

export const TARGET_NAMES = ['direct', 'weft', 'haproxy', 'http-proxy'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export const PROTOCOLS = ['http1', 'h2', 'grpc'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** CPU and memory used by a proxy process (and its descendants) during one phase. */
export interface ProcUsage {
  cpuS: number;
  peakRssMb: number;
}

/** Result of a closed-loop maximum-throughput phase (wrk or h2load). */
export interface ThroughputResult {
  tool: 'wrk' | 'h2load';
  command: string;
  rps: number;
  requests: number;
  /** Socket errors, failed/errored/timed-out requests. */
  errors: number;
  /** Responses that were not 2xx (or 3xx for wrk). */
  non2xx: number;
  /** Closed-loop latency as the tool reports it; informational only (it hides coordinated omission). */
  meanMs?: number;
  p50Ms?: number;
  p99Ms?: number;
}

/** Result of one open-loop constant-rate phase, as printed by the generator (bench/openloop.ts). */
export interface OpenLoopResult {
  rate: number;
  durationS: number;
  connections: number;
  /** Requests the schedule asked for (rate x duration). */
  scheduled: number;
  /** Requests actually written to a socket. */
  sent: number;
  /** Requests answered with a 2xx status. */
  ok: number;
  errors: number;
  errorKinds: Record<string, number>;
  /** Connections that had to be opened again (server closed them, or a connect failed). */
  reconnects: number;
  /** Completed requests divided by the time from the first scheduled send to the last response. */
  achievedRps: number;
  /** Latency from the scheduled send time to the end of the response (coordinated-omission free). */
  latency: LatencyPercentiles;
  /** Latency from the moment the request was written (service time; hides queueing, for comparison). */
  service: LatencyPercentiles;
  /**
   * How late each request was written versus its schedule: the generator's timer lag, plus any wait
   * for a free socket when all of them had a request in flight (that part is the target's doing).
   */
  sendLag: LatencyPercentiles;
}

export interface LatencyPercentiles {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export interface Phase<T> {
  result: T;
  /** Absent for the direct path (there is no proxy process to measure). */
  usage?: ProcUsage;
  /** What the rest of the machine did meanwhile: other processes' CPU, and steal. */
  noise: { otherCpuS: number; stealS: number };
}

/** One row of the final table: one target for one protocol. */
export interface Row {
  target: TargetName;
  protocol: Protocol;
  /** Set when the row could not be measured (process failed to start, load tool failed, ...). */
  error?: string;
  /** True when the failure was a target process that did not start. */
  startFailed?: boolean;
  /** How the load reached the target, e.g. "nginx 127.0.0.1:40001 via haproxy 127.0.0.1:40002". */
  path?: string;
  max?: Phase<ThroughputResult>;
  /** Open-loop phases keyed by rate (requests/s). */
  fixed: Record<string, Phase<OpenLoopResult>>;
  /** VmHWM of the proxy process just before it was stopped. */
  hwmMb?: number;
  /** For gRPC rows: the reply seen by the real grpc-js client call made before the load. */
  grpcCheck?: string;
}

export interface CheckResult {
  name: string;
  status: 'PASS' | 'MISS' | 'SKIP';
  detail: string;
}

export interface BenchReport {
  date: string;
  machine: {
    cpus: number;
    cpuModel: string;
    totalMemGb: number;
    kernel: string;
    node: string;
    /** 1-minute load average when the run started: other work on the machine adds noise. */
    loadAvgAtStart: number;
  };
  tools: Record<string, string>;
  /** The run's options, and the load tools' command lines. */
  options: Omit<BenchOptions, 'outFile' | 'strict'> & { wrk: string; h2load: string };
  rows: Row[];
  checks: CheckResult[];
  /** Reasons the run counts as failed (exit code 1). */
  problems: string[];
  totalSeconds: number;
}
