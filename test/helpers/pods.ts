/** Driving `weft run`, `weft logs` and `weft demo` from the pods tests. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { weft, weftOk } from './controlplane.js';
import { waitFor } from './net.js';
import { trackChild, WEFT_BIN } from './proxy.js';

/** `weft run` (the control plane's flag goes before the command); fails unless it exits 0. */
export async function weftRun(cp: { grpcAddr: string }, args: string[], command: string[]): Promise<string> {
  const r = await weft(['run', ...args, '--control-plane', cp.grpcAddr, '--', ...command]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** Waits until `weft logs <workload> [flags]` matches `pattern`; returns those logs. */
export async function waitForLogs(
  cp: { grpcAddr: string },
  workload: string,
  pattern: RegExp,
  what: string,
  opts: { flags?: string[]; timeoutMs?: number } = {},
): Promise<string> {
  let logs = '';
  await waitFor(
    async () => {
      logs = await weftOk(cp, ['logs', workload, ...(opts.flags ?? [])]);
      return pattern.test(logs);
    },
    what,
    opts.timeoutMs ?? 20_000,
    200,
  );
  return logs;
}

export interface DemoProcess {
  /** What it has printed so far. */
  readonly output: { out: string; err: string };
  /** Resolves with its exit code. */
  readonly exited: Promise<number | null>;
  /** Resolves once it has printed its guide (the pods run and the page answers). */
  guide(timeoutMs: number): Promise<string>;
  /** Ctrl-C, as a terminal sends it: to its process group. */
  interrupt(): void;
}

/** Runs `weft demo <args>` in its own process group, as a terminal would (viz on a free port unless given). */
export function startDemoProcess(args: string[]): DemoProcess {
  const viz = args.includes('--viz-addr') ? [] : ['--viz-addr', '127.0.0.1:0'];
  const demo = spawn(WEFT_BIN, ['demo', ...viz, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  trackChild(demo);
  const output = { out: '', err: '' };
  demo.stdout?.setEncoding('utf8').on('data', (d: string) => (output.out += d));
  demo.stderr?.setEncoding('utf8').on('data', (d: string) => (output.err += d));
  return {
    output,
    exited: new Promise((resolve) => demo.once('exit', resolve)),
    async guide(timeoutMs) {
      await waitFor(
        () => output.out.includes('Press Ctrl-C'),
        `the demo's guide\n${output.err}`,
        timeoutMs,
        100,
      );
      return output.out;
    },
    interrupt() {
      if (demo.pid) process.kill(-demo.pid, 'SIGINT');
    },
  };
}
