// Maximum HTTP/2 (h2c, prior knowledge) and gRPC-unary throughput with h2load: one thread,
// 4 connections x 16 concurrent streams = 64 requests in flight, closed loop.
import { runToCompletion } from './procs.js';
import type { ThroughputResult } from './types.js';

export const H2_CLIENTS = 4;
export const H2_STREAMS = 16;

export interface H2LoadRequest {
  port: number;
  durationS: number;
  warmupS?: number;
  path?: string;
  /** POST the contents of this file (h2load -d). */
  dataFile?: string;
  headers?: string[];
  /** The :authority to ask for (default 127.0.0.1:port, from the URI). */
  authority?: string;
}

export function h2loadArgs(req: H2LoadRequest): string[] {
  const args = ['-t1', `-c${H2_CLIENTS}`, `-m${H2_STREAMS}`, '-D', `${req.durationS}`];
  if (req.warmupS) args.push(`--warm-up-time=${req.warmupS}`);
  if (req.dataFile) args.push('-d', req.dataFile);
  if (req.authority) args.push('-H', `:authority: ${req.authority}`);
  for (const h of req.headers ?? []) args.push('-H', h);
  // An http:// URI makes h2load speak HTTP/2 with prior knowledge (h2c).
  args.push(`http://127.0.0.1:${req.port}${req.path ?? '/'}`);
  return args;
}

/** h2load prints times like "1.23ms", "456us", "1.02s". */
function h2TimeMs(text: string): number | undefined {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text.trim());
  if (!m) return undefined;
  const scale: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };
  return Number(m[1]) * (scale[m[2] ?? ''] ?? Number.NaN);
}

export function parseH2load(output: string, command: string): ThroughputResult {
  const finished = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(output);
  const reqs =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      output,
    );
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(output);
  if (!finished || !reqs || !codes) throw new Error(`could not parse h2load output:\n${output}`);
  const n = (m: RegExpExecArray, i: number) => Number(m[i]);
  const result: ThroughputResult = {
    tool: 'h2load',
    command,
    rps: Number(finished[1]),
    requests: n(reqs, 3),
    // 'failed' also counts non-2xx answers, which non2xx already has: count errored + timeout here.
    errors: n(reqs, 6) + n(reqs, 7),
    non2xx: n(codes, 2) + n(codes, 3) + n(codes, 4),
  };
  const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(output)?.[1];
  const meanMs = mean ? h2TimeMs(mean) : undefined;
  if (meanMs !== undefined) result.meanMs = meanMs;
  if (result.requests === 0) throw new Error(`h2load completed no request:\n${output}`);
  return result;
}

export async function runH2load(req: H2LoadRequest): Promise<ThroughputResult> {
  const args = h2loadArgs(req);
  const output = await runToCompletion(
    'h2load',
    'h2load',
    args,
    (req.durationS + (req.warmupS ?? 0) + 30) * 1000,
  );
  return parseH2load(output, `h2load ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`);
}
