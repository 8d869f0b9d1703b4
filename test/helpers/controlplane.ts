/**
 * End-to-end helpers for the control plane: `weft up` as a child process, the `weft`
 * CLI, replicas (an HTTP app in this process and its registered proxy), a client proxy
 * that discovers services, and a closed-loop load generator that records every request.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { controlPlaneArgs } from '../../bench/discovery.js';
import { controlPlaneClient } from '../../src/grpc/client.js';
import { type Cleanup, type HttpUpstream, refusedPort, startHttpServer, waitFor } from './net.js';
import { scrape } from './prom.js';
import {
  baseArgs,
  childEnv,
  type HostPort,
  type ProxyHandle,
  parseHostPort,
  parseJsonLine,
  REPO_ROOT,
  startProxy,
  startWeft,
  trackChild,
  WEFT_BIN,
} from './proxy.js';

/** The bench's `weft up` command line: every listener on a free port. */
export { controlPlaneArgs };

// ---------------------------------------------------------------------------------------
// Temporary directories

const tempDirs = new Set<string>();
process.on('exit', () => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh directory under os.tmpdir(), removed by `removeTempDir` or when the test process exits. */
export function makeTempDir(prefix = 'weft-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

// ---------------------------------------------------------------------------------------
// weft up

export interface ControlPlaneHandle {
  /** The gRPC address as bound, e.g. 127.0.0.1:40123 (for --destination and --control-plane). */
  grpcAddr: string;
  grpc: HostPort;
  adminAddr: string;
  admin: HostPort;
  /** The Identity API's address as bound (gRPC over TLS). */
  identityAddr: string;
  /** viz's HTTP API as bound, e.g. 127.0.0.1:40125 (for --viz-addr). */
  vizAddr: string;
  stateDir: string;
  process: ChildProcess;
  /** Every stdout line so far (pino JSON). */
  stdoutLines: string[];
  stderrLines: string[];
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Sends `signal` (SIGINT by default) and waits for the exit (SIGKILL after 15 s). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** kill -9, and waits for the exit. */
  kill(): Promise<void>;
  /** The log records (parsed stdout lines) with this `msg`. */
  logs(msg: string): Array<Record<string, unknown>>;
}

export interface ControlPlaneOptions {
  /** Default: a new temporary directory. */
  stateDir?: string;
  /** --lease-duration, default 10s. */
  leaseDuration?: string;
  /** --addr, default 127.0.0.1:0. */
  addr?: string;
  readyTimeoutMs?: number;
  /** More flags for `weft up` (--identity-* say). */
  extraArgs?: string[];
  /** Given, it kills weft up and removes the state directory the helper made. */
  cleanup?: Cleanup;
  /** More environment (say WEFT_LOG=debug). */
  env?: Record<string, string>;
}

/** Runs `weft up` on free ports and waits for its "control plane ready" line. */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlaneHandle> {
  const stateDir = opts.stateDir ?? makeTempDir('weft-state-');
  const args = [
    ...controlPlaneArgs(stateDir, opts.addr),
    '--lease-duration',
    opts.leaseDuration ?? '10s',
    ...(opts.extraArgs ?? []),
  ];
  const readyOpts = opts.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: opts.readyTimeoutMs };
  const w = await startWeft(args, 'control plane ready', 'SIGINT', opts.env ?? {}, readyOpts);
  if (opts.cleanup) {
    if (opts.stateDir === undefined) opts.cleanup.add(() => removeTempDir(stateDir));
    opts.cleanup.add(() => w.stop('SIGKILL'));
  }
  try {
    const grpc = parseHostPort(w.ready.grpc, 'grpc');
    const admin = parseHostPort(w.ready.admin, 'admin');
    return {
      grpcAddr: `${grpc.host}:${grpc.port}`,
      grpc,
      adminAddr: `${admin.host}:${admin.port}`,
      admin,
      identityAddr: String(w.ready.identity),
      vizAddr: String(w.ready.viz),
      stateDir,
      process: w.proc,
      stdoutLines: w.stdoutLines,
      stderrLines: w.stderrLines,
      exited: w.exited,
      stop: w.stop,
      kill: async () => {
        await w.stop('SIGKILL');
      },
      logs: (msg) =>
        w.stdoutLines.map(parseJsonLine).filter((r): r is Record<string, unknown> => r?.msg === msg),
    };
  } catch (err) {
    w.proc.kill('SIGKILL');
    throw err;
  }
}

/** A gauge or counter of the control plane's /metrics (sum over series), e.g. destination_watchers. */
export async function controlPlaneMetric(cp: ControlPlaneHandle, name: string): Promise<number> {
  const exp = await scrape(cp.admin);
  return exp.samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
}

// ---------------------------------------------------------------------------------------
// The weft CLI

export interface WeftResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bin/weft.js ...args` to completion (killed after `timeoutMs`), with `input` on stdin. */
export function weft(
  args: string[],
  opts: { input?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<WeftResult> {
  const proc = spawn(WEFT_BIN, args, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: childEnv({}),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  trackChild(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  proc.stdin?.on('error', () => {});
  proc.stdin?.end(opts.input ?? '');
  return new Promise<WeftResult>((resolve) => {
    const timer = setTimeout(() => {
      stderr += `\n[test: killed after ${opts.timeoutMs ?? 20_000} ms]`;
      proc.kill('SIGKILL');
    }, opts.timeoutMs ?? 20_000);
    proc.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A control plane the CLI calls as its owner: its address and its state directory. */
export interface OwnedControlPlane {
  readonly grpcAddr: string;
  readonly stateDir: string;
}

/** `--control-plane` and `--state-dir` (whose owner credential the CLI presents) of `cp`. */
export function ownerArgs(cp: OwnedControlPlane): string[] {
  return ['--control-plane', cp.grpcAddr, '--state-dir', cp.stateDir];
}

/** The owner credential file of `cp`, for a proxy registered by hand (--control-plane-token-file). */
export function ownerTokenFile(cp: { readonly stateDir: string }): string {
  return join(cp.stateDir, 'owner.token');
}

/** The owner credential of `cp`, for gRPC clients of its Registry, Resources and Pods APIs. */
export function ownerToken(cp: { readonly stateDir: string }): string {
  return readFileSync(ownerTokenFile(cp), 'latin1');
}

/**
 * Calls `method` of one of `cp`'s local APIs with `credential` as its bearer token (none
 * when undefined), as any local process could: rejects with the gRPC error.
 */
export function callAs<Res>(
  cp: { readonly grpc: HostPort },
  service: 'registry' | 'resources' | 'pods',
  method: string,
  req: unknown,
  credential?: string,
  timeoutMs = 5000,
): Promise<Res> {
  const client = controlPlaneClient(service, cp.grpc);
  const md = new grpc.Metadata();
  if (credential !== undefined) md.set('authorization', `Bearer ${credential}`);
  const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method];
  if (!fn) throw new Error(`no gRPC method ${method}`);
  return new Promise<Res>((resolve, reject) => {
    fn.call(client, req, md, { deadline: Date.now() + timeoutMs }, (err: Error | null, res: Res) =>
      err ? reject(err) : resolve(res),
    );
  }).finally(() => client.close());
}

/** `weft(args)` as the owner of `cp` (its address and state directory appended), failing unless it exits 0. */
export async function weftOk(cp: OwnedControlPlane, args: string[], input?: string): Promise<string> {
  const r = await weft([...args, ...ownerArgs(cp)], input === undefined ? {} : { input });
  if (r.code !== 0) {
    throw new Error(`weft ${args.join(' ')} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
  return r.stdout;
}

/** A Service manifest: `name` in `namespace`, port 80 selecting `selector`, with `annotations`. */
export function serviceYaml(
  name: string,
  opts: {
    namespace?: string;
    selector?: Record<string, string>;
    port?: number;
    targetPort?: number;
    annotations?: Record<string, string>;
  } = {},
): string {
  const selector = opts.selector ?? { app: 'web' };
  const annotations = Object.entries(opts.annotations ?? {});
  return [
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    `  name: ${name}`,
    ...(opts.namespace ? [`  namespace: ${opts.namespace}`] : []),
    ...(annotations.length > 0
      ? ['  annotations:', ...annotations.map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)]
      : []),
    'spec:',
    '  selector:',
    ...Object.entries(selector).map(([k, v]) => `    ${k}: ${v}`),
    '  ports:',
    `    - port: ${opts.port ?? 80}`,
    `      targetPort: ${opts.targetPort ?? 8080}`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------
// Replicas and client proxies

export interface Replica {
  /** The instance name: the app's x-replica header, and dst_pod. */
  name: string;
  namespace: string;
  app: HttpUpstream;
  proxy: ProxyHandle;
  /** The registered endpoint: the proxy's inbound listener. */
  inbound: HostPort;
  /** Date.now() of each request the app received. */
  servedAt: number[];
  /** The weft-client-id header of each request the app received ('' when it had none). */
  clientIds: string[];
  /** When the proxy's registration succeeded (its log line's time). */
  registeredAt: number;
  /** Changes the app's added delay for the requests that arrive from now on. */
  setDelay(ms: number): void;
  /** SIGKILLs the proxy and closes the app at once; resolves with Date.now() of the kill. */
  kill(): Promise<number>;
  /** Stops the proxy with `signal` (graceful on SIGTERM) and closes the app. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface ReplicaOptions {
  name: string;
  /** The `app` label (and workload name); default web. */
  app?: string;
  namespace?: string;
  /** Added to every response. */
  delayMs?: number;
  /**
   * Answers instead of the default 200 naming the replica (called once the request body
   * has been read, with the replica's name and how many requests it has had, from 1).
   */
  respond?: (req: http.IncomingMessage, res: http.ServerResponse, name: string, count: number) => void;
  /** More environment for the proxy (say WEFT_PROXY_LOG=debug). */
  env?: Record<string, string>;
}

/** The time of the proxy's "workload registered" log line, once it appears. */
export async function registeredAt(p: ProxyHandle, timeoutMs = 10_000): Promise<number> {
  let at: number | undefined;
  await waitFor(
    () => {
      for (const line of p.stdoutLines) {
        const rec = parseJsonLine(line);
        if (rec?.msg === 'workload registered') {
          at = Number(rec.time);
          return true;
        }
      }
      return false;
    },
    `proxy registration\nstdout:\n${p.stdoutLines.join('\n')}`,
    timeoutMs,
    10,
  );
  return at as number;
}

/**
 * A proxy in front of the app on `appPort`, registered with the control plane as an
 * instance (`pod`) of `workload`, labelled app=<workload>; resolves once registered.
 */
export async function startWorkloadProxy(
  cp: OwnedControlPlane,
  appPort: number,
  w: { workload: string; pod: string; namespace?: string; serviceAccount?: string },
  cleanup?: Cleanup,
  extraArgs: string[] = [],
  env?: Record<string, string>,
): Promise<{ proxy: ProxyHandle; registeredAt: number }> {
  const proxy = await startProxy(
    [
      ...baseArgs(appPort),
      '--destination',
      cp.grpcAddr,
      '--control-plane-token-file',
      ownerTokenFile(cp),
      '--workload',
      w.workload,
      '--pod',
      w.pod,
      ...(w.namespace ? ['--namespace', w.namespace] : []),
      ...(w.serviceAccount ? ['--service-account', w.serviceAccount] : []),
      '--label',
      `app=${w.workload}`,
      ...extraArgs,
    ],
    env,
  );
  cleanup?.add(() => proxy.stop('SIGKILL'));
  return { proxy, registeredAt: await registeredAt(proxy) };
}

/**
 * Starts a replica: an HTTP app answering `x-replica: <name>` (after `delayMs`), and a
 * proxy in front of it that registers with the control plane as workload `app`, pod
 * `name`, label app=<app>. Resolves once the registration has succeeded.
 *
 * The inbound listener gets a port chosen here rather than port 0: a proxy registers the
 * configured inbound address, not the bound one (see the port-0 test in resources.test.ts).
 */
export async function startReplica(
  cp: OwnedControlPlane,
  opts: ReplicaOptions,
  cleanup?: Cleanup,
): Promise<Replica> {
  const servedAt: number[] = [];
  const clientIds: string[] = [];
  let delay = opts.delayMs ?? 0;
  const app = await startHttpServer((req, res) => {
    servedAt.push(Date.now());
    clientIds.push(String(req.headers['weft-client-id'] ?? ''));
    req.resume();
    req.on('end', () => {
      const count = servedAt.length;
      const send = (): void => {
        if (opts.respond) {
          opts.respond(req, res, opts.name, count);
          return;
        }
        res.writeHead(200, { 'x-replica': opts.name, 'content-length': Buffer.byteLength(opts.name) });
        res.end(opts.name);
      };
      if (delay > 0) setTimeout(send, delay);
      else send();
    });
  });
  cleanup?.add(() => app.close());
  const appName = opts.app ?? 'web';
  const namespace = opts.namespace ?? 'default';
  const { proxy: p, registeredAt: at } = await startWorkloadProxy(
    cp,
    app.port,
    { workload: appName, pod: opts.name, namespace },
    cleanup,
    ['--shutdown-grace-period', '2s'],
    opts.env,
  );
  return {
    name: opts.name,
    namespace,
    app,
    proxy: p,
    inbound: p.inbound,
    servedAt,
    clientIds,
    registeredAt: at,
    setDelay: (ms: number) => {
      delay = ms;
    },
    kill: async () => {
      const t = Date.now();
      p.proc.kill('SIGKILL');
      await app.close();
      await p.exited;
      return t;
    },
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      await p.stop(signal);
      await app.close();
    },
  };
}

/**
 * A proxy that only sends: outbound through the control plane's Destination API, as
 * `namespace`. Given a `workload`, it registers as that workload (pod `<workload>-1`,
 * service account and label app both `<workload>`, nothing listening behind it) and so
 * holds an identity, as a meshed client does; without one it has no identity and speaks
 * plaintext.
 */
export async function startClientProxy(
  cp: OwnedControlPlane,
  namespace = 'default',
  cleanup?: Cleanup,
  workload?: string,
  /** More flags for `weft proxy` (its timeouts, say). */
  extraArgs: string[] = [],
): Promise<ProxyHandle> {
  const p = await startProxy([
    ...baseArgs(await refusedPort()),
    '--destination',
    cp.grpcAddr,
    '--namespace',
    namespace,
    ...(workload
      ? [
          '--control-plane-token-file',
          ownerTokenFile(cp),
          '--workload',
          workload,
          '--pod',
          `${workload}-1`,
          '--service-account',
          workload,
          '--label',
          `app=${workload}`,
        ]
      : []),
    ...extraArgs,
  ]);
  cleanup?.add(() => p.stop('SIGKILL'));
  return p;
}

// ---------------------------------------------------------------------------------------
// Load

export interface LoadSample {
  /** Date.now() when the request was sent and when its response ended (or it failed). */
  start: number;
  end: number;
  /** 0 when the request failed without a response. */
  status: number;
  /** The answering replica (x-replica), on success. */
  replica?: string;
  /** The proxy's weft-proxy-error header, or the client-side error message. */
  error?: string;
}

export interface LoadOptions {
  /** The authority to ask for: sent as Host (origin-form) or in an absolute-form URI. */
  authority: string;
  /** Requests kept in flight (default 32). */
  concurrency?: number;
  /** Stop after this many requests (default: until stop()). */
  total?: number;
  absoluteForm?: boolean;
  /** The request path (default /). */
  path?: string;
  /** Headers added to each request. */
  headers?: Record<string, string>;
  /** Requests per second, spread evenly over time (default: as fast as the workers go). */
  rate?: number;
}

/**
 * A closed-loop load generator: `concurrency` workers, each sending its next request on a
 * keep-alive connection to the outbound listener as soon as the previous one has ended
 * (or, with `rate`, when its turn comes).
 */
export class Load {
  readonly samples: LoadSample[] = [];
  private stopped = false;
  private readonly agent: http.Agent;
  private readonly workers: Promise<void>[] = [];
  private sent = 0;
  private readonly startedAt = Date.now();
  /** Resolves once every worker has finished (after `total` requests, or stop()). */
  readonly done: Promise<void>;

  constructor(
    private readonly outbound: HostPort,
    private readonly opts: LoadOptions,
  ) {
    const n = opts.concurrency ?? 32;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: n });
    for (let i = 0; i < n; i++) this.workers.push(this.worker());
    this.done = Promise.all(this.workers).then(() => this.agent.destroy());
  }

  private async worker(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      if (this.opts.total !== undefined && this.sent >= this.opts.total) return;
      const slot = this.sent++;
      if (this.opts.rate !== undefined) {
        // Paced: request n goes at n/rate seconds, whichever worker is free.
        const wait = this.startedAt + (slot * 1000) / this.opts.rate - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (this.stopped) return;
      }
      this.samples.push(await this.one());
    }
  }

  private one(): Promise<LoadSample> {
    const start = Date.now();
    const { authority, absoluteForm, path = '/' } = this.opts;
    return new Promise<LoadSample>((resolve) => {
      const req = http.request(
        {
          host: this.outbound.host,
          port: this.outbound.port,
          agent: this.agent,
          path: absoluteForm ? `http://${authority}${path}` : path,
          headers: { ...this.opts.headers, host: authority },
          timeout: 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const replica = res.headers['x-replica'];
            const proxyError = res.headers['weft-proxy-error'];
            resolve({
              start,
              end: Date.now(),
              status,
              ...(typeof replica === 'string' ? { replica } : {}),
              ...(typeof proxyError === 'string'
                ? { error: proxyError }
                : status !== 200
                  ? { error: Buffer.concat(chunks).toString('utf8').slice(0, 200) }
                  : {}),
            });
          });
          res.on('error', (err) => resolve({ start, end: Date.now(), status: 0, error: err.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('request timed out after 10 s')));
      req.on('error', (err) => resolve({ start, end: Date.now(), status: 0, error: err.message }));
      req.end();
    });
  }

  /** Requests sent so far that have ended. */
  get count(): number {
    return this.samples.length;
  }

  failures(from = 0, to = Number.POSITIVE_INFINITY): LoadSample[] {
    return this.samples.filter((s) => s.status !== 200 && s.start >= from && s.start <= to);
  }

  /** Stops sending and waits for the requests in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** Resolves once `n` more requests than now have ended (or rejects after `timeoutMs`). */
  async waitMore(n: number, timeoutMs = 15_000): Promise<void> {
    const target = this.samples.length + n;
    await waitFor(() => this.samples.length >= target, `${n} more requests`, timeoutMs, 5);
  }
}

/** Counts of successful answers per replica among `samples`. */
export function shares(samples: readonly LoadSample[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of samples) if (s.replica !== undefined) m.set(s.replica, (m.get(s.replica) ?? 0) + 1);
  return m;
}

/** A readable summary of failures for assertion messages. */
export function describeFailures(samples: readonly LoadSample[], t0 = 0, max = 10): string {
  return samples
    .slice(0, max)
    .map((s) => `  +${s.start - t0}ms status ${s.status}: ${s.error ?? ''}`)
    .join('\n');
}
