// What the control-plane scenarios share: a real `weft up` (loopback pods, its own state
// directory and free ports), whether it still answers, and a digest of its state directory.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  type ControlPlaneHandle,
  callAs,
  ownerToken,
  startControlPlane,
} from '../../test/helpers/controlplane.js';
import { adminRequest } from '../../test/helpers/net.js';
import { sampleProcess } from '../context.js';
import type { ResourceSample, ScenarioContext } from '../scenario.js';

export interface Plane {
  readonly cp: ControlPlaneHandle;
  /** The owner credential, as `weft apply` presents it. */
  readonly owner: string;
  sample(): ResourceSample;
  /** Writes weft up's log into the scenario's directory and stops it. */
  stop(): Promise<void>;
}

export async function startPlane(ctx: ScenarioContext, extraArgs: string[] = []): Promise<Plane> {
  const cp = await startControlPlane({
    stateDir: join(ctx.dir, 'state'),
    extraArgs: ['--pod-mode', 'loopback', '--viz-addr', 'off', ...extraArgs],
  });
  const pid = cp.process.pid as number;
  return {
    cp,
    owner: ownerToken(cp),
    sample: () => sampleProcess(pid),
    stop: async () => {
      await cp.stop('SIGINT');
      writeFileSync(
        join(ctx.dir, 'weft-up.log'),
        `${cp.stdoutLines.join('\n')}\n${cp.stderrLines.join('\n')}`,
      );
    },
  };
}

/** Whether weft up is alive and answers: /live on its admin port, and a Resources list as the owner. */
export async function answers(p: Plane): Promise<boolean> {
  if (p.cp.process.exitCode !== null || p.cp.process.signalCode !== null) return false;
  try {
    const live = await adminRequest(p.cp.admin, '/live');
    await callAs(p.cp, 'resources', 'list', { kind: 'services', allNamespaces: true }, p.owner);
    return live.status === 200;
  } catch {
    return false;
  }
}

/**
 * A digest of every file under the state directory but the lock (path, mode and content):
 * equal before and after a refused request means nothing was written, not even halfway.
 */
export function stateDigest(p: Plane): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = statSync(path);
      hash.update(`${relative(p.cp.stateDir, path)} ${(st.mode & 0o777).toString(8)}\n`);
      if (st.isDirectory()) walk(path);
      else if (name !== 'weft-up.lock') hash.update(readFileSync(path));
    }
  };
  walk(p.cp.stateDir);
  return hash.digest('hex');
}

/** The gRPC status name and details of a refused call, or 'OK'. */
export async function outcomeOf(call: Promise<unknown>): Promise<{ code: string; details: string }> {
  try {
    await call;
    return { code: 'OK', details: '' };
  } catch (err) {
    const e = err as { code?: number; details?: string; message: string };
    const { status } = await import('@grpc/grpc-js');
    return {
      code: e.code === undefined ? 'ERROR' : (status[e.code] ?? String(e.code)),
      details: e.details ?? e.message,
    };
  }
}

/** Runs `body` against a fresh plane, stopping it however `body` ends. */
export async function withPlane<T>(
  ctx: ScenarioContext,
  body: (p: Plane) => Promise<T>,
  extraArgs: string[] = [],
): Promise<T> {
  const p = await startPlane(ctx, extraArgs);
  try {
    return await body(p);
  } finally {
    await p.stop();
  }
}
