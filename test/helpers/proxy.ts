/**
 * Starts the Weft proxy as a real child process (`bin/weft.js proxy ...`) and
 * waits for its "proxy ready" log line, which carries the bound addresses.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { failOnLeakWarning } from './fail-on-warnings.js';
import type { Cleanup } from './net.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface ProxyHandle {
  inbound: HostPort;
  outbound: HostPort;
  admin: HostPort;
  /** The tap server's address, when the proxy serves tap (it has an identity). */
  tap?: HostPort;
  proc: ChildProcess;
  /** Every stdout line so far (pino JSON lines). */
  stdoutLines: string[];
  /** Every stderr line so far. */
  stderrLines: string[];
  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  exited: Promise<number | null>;
  /** Sends `signal` (SIGTERM by default) unless already exited, and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The repository root: this file is compiled to dist/test/helpers/proxy.js. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const WEFT_BIN = fileURLToPath(new URL('../../../bin/weft.js', import.meta.url));

const live = new Set<ChildProcess>();
/** Kills `proc` with the proxies if the test process exits or is interrupted before it does. */
export function trackChild(proc: ChildProcess): void {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
}
function killAll(): void {
  for (const p of live) p.kill('SIGKILL');
}
// Last resort so no proxy outlives a crashed or interrupted test file. A signal's default
// action skips 'exit' handlers, so each signal kills the proxies and is then re-raised.
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    killAll();
    process.kill(process.pid, sig);
  });
}

/** Parses `host:port` or `[v6]:port`. */
export function parseHostPort(value: unknown, what: string): HostPort {
  if (typeof value !== 'string')
    throw new Error(`ready line: ${what} is not a string: ${JSON.stringify(value)}`);
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(value);
  if (!m || m[1] === undefined || m[2] === undefined) {
    throw new Error(`ready line: ${what} is not host:port: ${JSON.stringify(value)}`);
  }
  return { host: m[1], port: Number(m[2]) };
}

/** The usual flags: every listener on 127.0.0.1 port 0, inbound forwarding to appPort. */
export function baseArgs(appPort: number): string[] {
  return [
    '--inbound-addr',
    '127.0.0.1:0',
    '--outbound-addr',
    '127.0.0.1:0',
    '--admin-addr',
    '127.0.0.1:0',
    '--tap-addr',
    '127.0.0.1:0',
    '--inbound-forward',
    `127.0.0.1:${appPort}`,
  ];
}

/** The child's environment: ours without any WEFT_PROXY_* or *_proxy variables, plus `env`. */
export function childEnv(env: Record<string, string | undefined> | undefined): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('WEFT_')) continue;
    if (/_proxy$/i.test(k)) continue;
    out[k] = v;
  }
  for (const [k, v] of Object.entries(env ?? {})) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

export interface StartOptions {
  /** How long to wait for the ready line (default 15 s). */
  readyTimeoutMs?: number;
  /** Runs the child under `ulimit -n` of this many descriptors (through sh). */
  fdLimit?: number;
}

/** Spawns `bin/weft.js ARGS` with piped output, killed with the others if the test process dies. */
function spawnWeft(args: string[], env: Record<string, string | undefined> | undefined): ChildProcess {
  const proc = spawn(WEFT_BIN, args, {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(proc);
  return proc;
}

/** A running `bin/weft.js` child, once it has logged its ready line. */
export interface WeftProcess {
  proc: ChildProcess;
  /** The ready log record. */
  ready: Record<string, unknown>;
  stdoutLines: string[];
  stderrLines: string[];
  exited: Promise<number | null>;
  /** Sends `signal` (the process's default stop signal) unless already exited; SIGKILL after 15 s. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function parseJsonLine(line: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(line) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** How a child process ends, for the helpers that start one. */
export interface ChildEnd {
  /** Resolves with the exit code once the child has exited and every line it wrote is read. */
  exited: Promise<number | null>;
  /** The exit code once `exited` has resolved; undefined before. */
  readonly code: number | null | undefined;
  /** Sends `signal` unless the child has ended; SIGKILL after 15 s. Resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function childEnd(proc: ChildProcess, defaultStop: NodeJS.Signals): ChildEnd {
  let code: number | null | undefined;
  // 'close', not 'exit': by then every line the process wrote has been read.
  const exited = new Promise<number | null>((resolve) =>
    proc.once('close', (c) => {
      code = c;
      resolve(c);
    }),
  );
  return {
    exited,
    get code() {
      return code;
    },
    async stop(signal = defaultStop) {
      if (code !== undefined) return code;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * Spawns `bin/weft.js ARGS` and waits for the JSON log line whose msg is `readyMsg`;
 * fails with its output if it exits first or prints no such line within the timeout.
 */
export function startWeft(
  args: string[],
  readyMsg: string,
  defaultStop: NodeJS.Signals,
  env?: Record<string, string | undefined>,
  opts: StartOptions = {},
): Promise<WeftProcess> {
  // exec: the shell becomes the proxy, so the child's pid and signals are the proxy's.
  const [cmd, argv] =
    opts.fdLimit === undefined
      ? [WEFT_BIN, args]
      : ['sh', ['-c', `ulimit -n ${opts.fdLimit} && exec "$0" "$@"`, WEFT_BIN, ...args]];
  const proc = spawn(cmd, argv, {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(proc);
  const stdoutLines: string[] = [];
  const stderrLines: string[] = [];
  const { exited, stop } = childEnd(proc, defaultStop);
  // Keep draining both pipes for the whole life of the process so it never blocks on a full pipe.
  createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    stderrLines.push(line);
    failOnLeakWarning(line, `weft ${args[0]}`);
  });
  const outRl = createInterface({ input: proc.stdout as NodeJS.ReadableStream });

  const timeoutMs = opts.readyTimeoutMs ?? 15_000;
  const describe = (): string =>
    `args: ${args.join(' ')}\nstdout:\n${stdoutLines.join('\n')}\nstderr:\n${stderrLines.join('\n')}`;
  return new Promise<WeftProcess>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      proc.kill('SIGKILL');
      reject(
        new Error(`weft ${args[0]} printed no "${readyMsg}" line within ${timeoutMs} ms\n${describe()}`),
      );
    }, timeoutMs);
    outRl.on('line', (line) => {
      stdoutLines.push(line);
      if (settled) return;
      const rec = parseJsonLine(line);
      if (rec?.msg !== readyMsg) return;
      settled = true;
      clearTimeout(timer);
      resolve({ proc, ready: rec, stdoutLines, stderrLines, exited, stop });
    });
    void exited.then((code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Give readline a tick to flush the last lines into the message.
      setImmediate(() =>
        reject(new Error(`weft ${args[0]} exited with code ${code} before it was ready\n${describe()}`)),
      );
    });
  });
}

/** Runs `weft proxy ARGS` and waits for "proxy ready", which carries the bound addresses. */
export async function startProxy(
  args: string[],
  env?: Record<string, string | undefined>,
  opts: StartOptions = {},
): Promise<ProxyHandle> {
  const w = await startWeft(['proxy', ...args], 'proxy ready', 'SIGTERM', env, opts);
  try {
    return {
      inbound: parseHostPort(w.ready.inbound, 'inbound'),
      outbound: parseHostPort(w.ready.outbound, 'outbound'),
      admin: parseHostPort(w.ready.admin, 'admin'),
      ...(w.ready.tap !== undefined ? { tap: parseHostPort(w.ready.tap, 'tap') } : {}),
      proc: w.proc,
      stdoutLines: w.stdoutLines,
      stderrLines: w.stderrLines,
      exited: w.exited,
      stop: w.stop,
    };
  } catch (err) {
    w.proc.kill('SIGKILL');
    throw err;
  }
}

/**
 * Starts an app with `startApp`, then a proxy whose inbound listener forwards to it
 * (`baseArgs(app.port)` plus `extraArgs`); both are added to `cleanup` (the proxy is killed).
 */
export async function startBehindProxy<A extends { port: number; close(): unknown }>(
  cleanup: Cleanup,
  startApp: () => Promise<A>,
  extraArgs: string[] = [],
): Promise<{ app: A; p: ProxyHandle }> {
  const app = await startApp();
  cleanup.add(() => app.close());
  const p = await startProxy([...baseArgs(app.port), ...extraArgs]);
  cleanup.add(() => p.stop('SIGKILL'));
  return { app, p };
}

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the process did not exit in time and was killed by us. */
  timedOut: boolean;
}

/** Runs the proxy with arguments expected to make it exit by itself (bad flags). */
export function runProxyExpectExit(
  args: string[],
  env?: Record<string, string | undefined>,
  timeoutMs = 10_000,
): Promise<ExitResult> {
  const proc = spawnWeft(['proxy', ...args], env);
  let stdout = '';
  let stderr = '';
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return new Promise<ExitResult>((resolve) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, timeoutMs);
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** Resident set size of a process in bytes, from /proc (Linux). */
export async function rssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m || m[1] === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}
