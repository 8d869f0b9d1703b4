import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { weft } from './controlplane.js';
import { childEnv, REPO_ROOT, trackChild } from './proxy.js';

/** `weft viz ARGS --viz-addr VIZADDR -o json`: asserts it exits 0 and returns its parsed output. */
export async function vizJson<R>(vizAddr: string, args: string[]): Promise<R> {
  const r = await weft(['viz', ...args, '--viz-addr', vizAddr, '-o', 'json']);
  assert.equal(r.code, 0, `weft viz ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as R;
}

/**
 * Waits 14 s while traffic flows: rates over a 10 s window need a window's worth of
 * scrapes, and a few more seconds. A fixed wait on purpose: there is nothing to poll for.
 */
export function trafficWindow(): Promise<void> {
  return sleep(14_000);
}

/** `actual` is within `tolerance` (a fraction) of `expected`. */
export function near(
  actual: number | null | undefined,
  expected: number,
  tolerance: number,
  what: string,
): void {
  assert.ok(
    actual !== null && actual !== undefined && Math.abs(actual - expected) <= Math.abs(expected) * tolerance,
    `${what}: ${actual} is not within ${tolerance * 100}% of ${expected}`,
  );
}

/** A running command whose output the test reads as it comes (a tap, say). */
export interface Running {
  readonly proc: ChildProcess;
  out: string;
  err: string;
  readonly exited: Promise<number | null>;
}

export function runStreaming(command: string, args: string[]): Running {
  const proc = spawn(command, args, { cwd: REPO_ROOT, env: childEnv({}), stdio: ['pipe', 'pipe', 'pipe'] });
  trackChild(proc);
  const r: Running = {
    proc,
    out: '',
    err: '',
    exited: new Promise((resolve) => proc.once('close', resolve)),
  };
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => (r.out += d));
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => (r.err += d));
  return r;
}
