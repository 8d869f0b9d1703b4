import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { childEnv, REPO_ROOT, trackChild } from './proxy.js';

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
