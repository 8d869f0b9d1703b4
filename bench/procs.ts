// Every child process the harness starts goes through here, so that all of them are stopped at the end,
// on error and on Ctrl-C. Each child gets its own process group (detached) so that a stop also reaches
// anything it forked itself (nginx's worker, for instance).
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned at all (e.g. ENOENT). */
  spawnError?: Error;
}

export interface Managed {
  name: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<ExitInfo>;
  /** Resolves once the process has exited and its stdout/stderr are fully read. */
  closed: Promise<void>;
  /** Undefined while running. */
  exitInfo?: ExitInfo;
  /** Last lines of stdout+stderr, for error messages. */
  tail(): string;
  /** Called for every stdout line (stderr lines go to the tail only). */
  onStdoutLine(listener: (line: string) => void): void;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Keep the whole stdout (for load tools whose report is parsed at the end). */
  keepStdout?: boolean;
}

const TAIL_LINES = 40;
const live = new Set<Managed>();
const exitCleanups: Array<() => void> = [];
let stopping = false;

/** A synchronous clean-up (e.g. removing a temp dir) to run when this process exits, however it exits. */
export function onExit(cleanup: () => void): void {
  exitCleanups.push(cleanup);
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  opts: StartOptions = {},
): Managed {
  if (stopping) throw new Error(`not starting ${name}: the benchmark is stopping`);
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const lines: string[] = [];
  const listeners: Array<(line: string) => void> = [];
  const remember = (line: string): void => {
    lines.push(line);
    if (lines.length > TAIL_LINES) lines.shift();
  };
  const managed: Managed = {
    name,
    pid: child.pid ?? -1,
    child,
    exited: new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (err) => resolve({ code: null, signal: null, spawnError: err }));
    }),
    closed: new Promise<void>((resolve) => {
      child.once('close', () => resolve());
      child.once('error', () => resolve());
    }),
    tail: () => lines.join('\n'),
    onStdoutLine: (listener) => {
      listeners.push(listener);
    },
  };
  if (child.stdout) {
    createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      if (!opts.keepStdout) remember(line);
      for (const l of listeners) l(line);
    });
  }
  if (child.stderr) {
    createInterface({ input: child.stderr, crlfDelay: Number.POSITIVE_INFINITY }).on('line', remember);
  }
  live.add(managed);
  void managed.exited.then((info) => {
    managed.exitInfo = info;
    live.delete(managed);
  });
  return managed;
}

export function describeExit(info: ExitInfo): string {
  if (info.spawnError) return `could not be started: ${info.spawnError.message}`;
  return info.signal ? `was killed by ${info.signal}` : `exited with code ${info.code}`;
}

function signalGroup(m: Managed, signal: NodeJS.Signals): void {
  if (m.pid <= 0 || m.exitInfo) return;
  try {
    process.kill(-m.pid, signal);
  } catch {
    try {
      process.kill(m.pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/** SIGTERM, then SIGKILL after graceMs. Resolves when the process has exited. */
export async function stopProcess(m: Managed, graceMs = 3000): Promise<void> {
  if (m.exitInfo) return;
  signalGroup(m, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      signalGroup(m, 'SIGKILL');
      resolve();
    }, graceMs);
  });
  await Promise.race([m.exited, killed]);
  clearTimeout(timer);
  await m.exited;
  // The group may still hold children (e.g. a worker); make sure they go too.
  try {
    process.kill(-m.pid, 'SIGKILL');
  } catch {
    // No such group any more.
  }
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((m) => stopProcess(m)));
}

function onProcessExit(): void {
  for (const m of live) signalGroup(m, 'SIGKILL');
  for (const cleanup of exitCleanups) {
    try {
      cleanup();
    } catch {
      // Best effort: the process is exiting anyway.
    }
  }
}

let installed = false;

/**
 * Stops every started process when this process ends: normally, on an uncaught error, or on
 * SIGINT/SIGTERM/SIGHUP. The 'exit' hook is synchronous, so it can only SIGKILL.
 */
export function installCleanupHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onProcessExit);
  const onSignal = (signal: NodeJS.Signals, code: number) => {
    stopping = true;
    process.stderr.write(`\nbench: ${signal}, stopping ${live.size} process(es)...\n`);
    const hardStop = setTimeout(() => process.exit(code), 5000);
    hardStop.unref();
    void stopAll().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => onSignal('SIGINT', 130));
  process.once('SIGTERM', () => onSignal('SIGTERM', 143));
  process.once('SIGHUP', () => onSignal('SIGHUP', 129));
}

/** Runs a command to completion (e.g. a load tool) and returns its stdout; throws on failure or timeout. */
export async function runToCompletion(
  name: string,
  command: string,
  args: string[],
  timeoutMs: number,
  opts: StartOptions = {},
): Promise<string> {
  const m = startProcess(name, command, args, { ...opts, keepStdout: true });
  const out: string[] = [];
  m.onStdoutLine((line) => out.push(line));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void stopProcess(m, 1000);
  }, timeoutMs);
  const info = await m.exited;
  clearTimeout(timer);
  // readline may deliver the last lines after 'exit'; wait for the streams to finish.
  await m.closed;
  if (info.spawnError || info.code !== 0) {
    const how = timedOut ? `timed out after ${timeoutMs} ms` : describeExit(info);
    throw new Error(`${name} ${how}\n${m.tail()}\n${out.slice(-20).join('\n')}`.trim());
  }
  return out.join('\n');
}
