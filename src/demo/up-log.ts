/**
 * `weft up`'s output as the demo reads it over a pipe: its recent lines (bounded), and
 * for each workload of the demo's namespace the last problem weft up logged for it (a
 * warn or error line naming it), so that the demo can say why a pod did not start.
 */
import { LogBuffer } from '../pods/pod.js';

/** The last warn or error line that named a workload, and how many have. */
export interface PodProblem {
  /** The line's error (its `err`), or its message. */
  readonly error: string;
  readonly count: number;
}

/** pino's level of warn; error and fatal are above it. */
const WARN = 40;

interface LogLine {
  level?: unknown;
  namespace?: unknown;
  deployment?: unknown;
  workload?: unknown;
  err?: unknown;
  msg?: unknown;
}

export class UpLog {
  private readonly buffer = new LogBuffer();
  private readonly problems = new Map<string, PodProblem>();

  constructor(private readonly namespace: string) {}

  /** Takes a chunk of weft up's stdout or stderr; returns the whole lines it completed. */
  push(chunk: string, stream: 'out' | 'err'): string[] {
    const lines = this.buffer.push(chunk, stream);
    for (const line of lines) this.note(line);
    return lines;
  }

  /** The last `n` lines, oldest first. */
  tail(n: number): string[] {
    return this.buffer.lines.slice(-n);
  }

  /** The last problem logged for the namespace's workload (a Deployment's pods, or a pod run by hand). */
  problem(workload: string): PodProblem | undefined {
    return this.problems.get(workload);
  }

  private note(line: string): void {
    if (!line.startsWith('{')) return;
    let entry: LogLine;
    try {
      entry = JSON.parse(line) as LogLine;
    } catch {
      return;
    }
    if (typeof entry.level !== 'number' || entry.level < WARN || entry.namespace !== this.namespace) return;
    const workload = [entry.deployment, entry.workload].find((w) => typeof w === 'string');
    if (workload === undefined) return;
    const error = typeof entry.err === 'string' ? entry.err : String(entry.msg ?? line);
    const count = (this.problems.get(workload)?.count ?? 0) + 1;
    this.problems.set(workload, { error, count });
  }
}
