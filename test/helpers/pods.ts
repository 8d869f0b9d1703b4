/** Driving `weft run`, `weft logs` and `weft demo` from the pods tests. */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ControlPlaneHandle,
  makeTempDir,
  type OwnedControlPlane,
  ownerArgs,
  weft,
  weftOk,
} from './controlplane.js';
import { waitFor } from './net.js';
import { trackChild, WEFT_BIN } from './proxy.js';

/**
 * Stops a `weft up` that runs pods gracefully (so it takes its pods away even when the
 * test failed), then removes its bridge if it was left behind.
 */
export async function stopWithPods(cp: ControlPlaneHandle | undefined, bridge: string): Promise<void> {
  await cp?.stop('SIGINT');
  try {
    execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
  } catch {
    // Gone with weft up, as it should be.
  }
}

export interface NodeDeploymentOptions {
  readonly replicas?: number;
  /** The container port, and its name if it has one. */
  readonly port?: number;
  readonly portName?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly gracePeriodSeconds?: number;
}

/**
 * A Deployment whose pods run `node <program>` (from the manifest's directory), labelled
 * app=<name>, with the service account <name>.
 */
export function nodeDeploymentYaml(name: string, program: string, opts: NodeDeploymentOptions = {}): string {
  const env = Object.entries(opts.env ?? {});
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${opts.replicas ?? 1}
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      serviceAccountName: ${name}
      terminationGracePeriodSeconds: ${opts.gracePeriodSeconds ?? 3}
      containers:
        - name: ${name}
          command: ["${process.execPath}", "${program}"]
${env.length > 0 ? `          env:\n${env.map(([k, v]) => `            - name: ${k}\n              value: "${v}"\n`).join('')}` : ''}${
  opts.port === undefined
    ? ''
    : `          ports:\n            - ${opts.portName ? `name: ${opts.portName}\n              ` : ''}containerPort: ${opts.port}\n`
}`;
}

/** `weft run` (the control plane's flag goes before the command); fails unless it exits 0. */
export async function weftRun(cp: OwnedControlPlane, args: string[], command: string[]): Promise<string> {
  const r = await weft(['run', ...args, ...ownerArgs(cp), '--', ...command]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** Waits until `weft logs <workload> [flags]` matches `pattern`; returns those logs. */
export async function waitForLogs(
  cp: OwnedControlPlane,
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

/**
 * Runs `weft demo <args>` in its own process group, as a terminal would (viz on a free port
 * unless given), with `env` over this process's environment.
 */
export function startDemoProcess(args: string[], env: NodeJS.ProcessEnv = {}): DemoProcess {
  const viz = args.includes('--viz-addr') ? [] : ['--viz-addr', '127.0.0.1:0'];
  const demo = spawn(WEFT_BIN, ['demo', ...viz, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, ...env },
  });
  trackChild(demo);
  const output = { out: '', err: '' };
  demo.stdout?.setEncoding('utf8').on('data', (d: string) => (output.out += d));
  demo.stderr?.setEncoding('utf8').on('data', (d: string) => (output.err += d));
  return {
    output,
    // 'close': after every line it printed has been read.
    exited: new Promise((resolve) => demo.once('close', resolve)),
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

/**
 * A PATH without iptables (neither iptables-legacy nor iptables-nft): a directory of links
 * to what the demo, weft up and pods run otherwise (node, ip, nsenter, setpriv, sh).
 */
export function pathWithoutIptables(): string {
  const dir = makeTempDir('weft-path-');
  symlinkSync(process.execPath, join(dir, 'node'));
  for (const tool of ['ip', 'nsenter', 'setpriv', 'sh']) {
    const where = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
    symlinkSync(where, join(dir, tool));
  }
  return dir;
}
