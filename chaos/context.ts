import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResourceSample, ScenarioContext } from './scenario.js';

/** A context with a fresh directory under `base` (the OS temporary directory by default). */
export function scenarioContext(
  name: string,
  short: boolean,
  log: (message: string) => void = () => {},
  base = tmpdir(),
): ScenarioContext {
  return { short, dir: mkdtempSync(join(base, `weft-chaos-${name}-`)), log };
}

/** Resident memory and open descriptors of a live process, read from /proc. */
export function sampleProcess(pid: number): ResourceSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
  return { rssBytes: rssKiB * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}
