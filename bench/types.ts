// Shared result shapes for the benchmark harness. Plain data only: everything here is written to JSON.
import type { BenchOptions } from './args.js';

export const TARGET_NAMES = [
  'direct',
  'weft',
  'haproxy',
  'http-proxy',
  'weft-mesh',
  'weft-mesh-routes',
  'haproxy-mtls',
] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** Scenarios that are not a proxy row; `--only` selects them by name like targets. */
export const SCENARIO_NAMES = ['discovery'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];
export type BenchName = TargetName | ScenarioName;

export const PROTOCOLS = ['http1', 'h2', 'grpc'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** CPU and memory of one measured proxy process (and its descendants) during one phase. */
export interface ProcShare {
  /** The process's name in the harness, e.g. "weft client proxy". */
  name: string;
  cpuS: number;
  peakRssMb: number;
  /** Highest sampled RssAnon: the private part of the RSS (the rest is shared file pages). */
  peakAnonMb: number;
}

/**
 * CPU and memory used by a row's proxy process(es) during one phase. Rows with two proxies (the
 * meshed hop: a client-side and a server-side proxy) sum the CPU and report memory per proxy.
 */
export interface ProcUsage {
  /** utime+stime, summed over the measured processes. */
  cpuS: number;
  /** Highest VmRSS sampled; with several proxies, the highest of any one proxy (not their sum). */
  peakRssMb: number;
  /** The same for RssAnon, the private part (heap and other anonymous memory). */
  peakAnonMb: number;
  /** Per process, when the row measures more than one. */
  procs?: ProcShare[];
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
  /** VmHWM of the proxy process just before it was stopped (with several proxies, the highest one). */
  hwmMb?: number;
  /** VmHWM per proxy process, keyed by its name, when the row measures more than one. */
  hwmMbByProc?: Record<string, number>;
  /** For gRPC rows: the reply seen by the real grpc-js client call made before the load. */
  grpcCheck?: string;
}

export interface CheckResult {
  name: string;
  status: 'PASS' | 'MISS' | 'SKIP';
  detail: string;
}

/** Size of the discovery scenario (bench/discovery.ts). */
export interface DiscoverySettings {
  /** Destination.Get streams, each on its own connection. */
  watchers: number;
  /** Processes the watchers are split over. */
  watcherProcesses: number;
  /** Endpoints the Service keeps throughout (workloads registered before the churn). */
  endpoints: number;
  /** Changes at the start of the churn that are not measured (the first ones after the sync are slow). */
  warmupChanges: number;
  /** Measured changes: alternately one deregistration and one new registration. */
  changes: number;
  /** Changes per second (open loop: each is sent at its scheduled time, acknowledged or not). */
  changesPerS: number;
}

/** CPU and memory of the control plane process during the discovery scenario. */
export interface ControlPlaneUsage {
  /** VmRSS right after its ready line, before anything was registered. */
  startRssMb: number;
  /** VmHWM (the kernel's peak resident set since start), read just before it is stopped. */
  peakRssMb: number;
  /** Highest VmRSS sampled every 100 ms during the churn. */
  churnPeakRssMb: number;
  /** utime+stime during the measured churn (first measured change sent to the last one seen everywhere). */
  churnCpuS: number;
  /** utime+stime over its whole life: start, registrations, initial sync, churn. */
  totalCpuS: number;
}

export interface DiscoveryResult {
  settings: DiscoverySettings;
  /** Set when the scenario could not be measured (a process failed, the initial sync timed out, ...). */
  error?: string;
  /** The control plane's command line. */
  command?: string;
  /** Seconds to register the initial endpoints, and for every watcher to receive the whole set. */
  registerS?: number;
  syncS?: number;
  /** Seconds from the first measured change sent to the last one seen everywhere (or the wait's end). */
  churnS?: number;
  /**
   * Per change, from the moment its Register/Deregister call was issued to the moment the LAST watcher
   * saw the address added/removed. Over the changes every watcher saw; also split by kind.
   */
  latency?: LatencyPercentiles;
  latencyAdd?: LatencyPercentiles;
  latencyRemove?: LatencyPercentiles;
  /** The same, to the FIRST watcher that saw it: the difference to `latency` is the fan-out. */
  firstWatcher?: LatencyPercentiles;
  /** From issuing the call to its acknowledgement, as the harness saw it. */
  ack?: LatencyPercentiles;
  /** Changes some watcher never saw within the wait (10 s after the last change was acknowledged). */
  incomplete: number;
  /** The warm-up changes' latency to every watcher (not in `latency` or the check). */
  warmupLatency?: LatencyPercentiles;
  /** Register/Deregister calls that failed (churn, and lease renewals). */
  rpcErrors: number;
  /** Lease renewals sent during the run (each workload renews every ttl/3, as a proxy does). */
  renewals: number;
  /** Of those, how many were sent during the measured churn. */
  churnRenewals?: number;
  /** Watch streams that failed or ended, `noEndpoints` messages, and streams whose final set was wrong. */
  streamErrors: number;
  noEndpoints: number;
  finalSetMismatches: number;
  controlPlane?: ControlPlaneUsage;
  /** CPU seconds of the watcher processes during the churn (they share the machine's two cores). */
  watcherCpuS?: number;
  noise?: { otherCpuS: number; stealS: number };
  errorSamples?: string[];
  /**
   * Per change, in the order sent, warm-up first: [issued at (ms after the first), ack, first watcher,
   * last watcher] (the last three in ms after it was issued; -1: never, or not by every watcher).
   */
  timeline?: Array<[number, number, number, number]>;
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
  /** The discovery scenario, when selected. */
  discovery?: DiscoveryResult;
  checks: CheckResult[];
  /** Reasons the run counts as failed (exit code 1). */
  problems: string[];
  totalSeconds: number;
}
