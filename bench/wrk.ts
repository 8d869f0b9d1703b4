// Maximum HTTP/1.1 throughput with wrk: one thread, 64 keep-alive connections, closed loop.
import { runToCompletion } from './procs.js';
import type { ThroughputResult } from './types.js';

export const WRK_CONNECTIONS = 64;

/** `host`: the Host header to send (default: wrk's, 127.0.0.1:port). */
export function wrkArgs(port: number, durationS: number, host?: string): string[] {
  return [
    '-t1',
    `-c${WRK_CONNECTIONS}`,
    `-d${durationS}s`,
    '--timeout',
    '5s',
    '--latency',
    ...(host ? ['-H', `Host: ${host}`] : []),
    `http://127.0.0.1:${port}/`,
  ];
}

/** wrk prints durations like "212.19us", "1.25ms", "1.02s", "1.50m". */
export function wrkTimeMs(text: string): number | undefined {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return undefined;
  const scale: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
  return Number(m[1]) * (scale[m[2] ?? ''] ?? Number.NaN);
}

export function parseWrk(output: string, command: string): ThroughputResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const total = /(\d+) requests in/.exec(output);
  if (!rps || !total) throw new Error(`could not parse wrk output:\n${output}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const errors = socket ? socket.slice(1, 5).reduce((sum, n) => sum + Number(n), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(output);
    return m?.[1] ? wrkTimeMs(m[1]) : undefined;
  };
  const mean = /Latency\s+(\S+)/.exec(output)?.[1];
  const result: ThroughputResult = {
    tool: 'wrk',
    command,
    rps: Number(rps[1]),
    requests: Number(total[1]),
    errors,
    non2xx,
  };
  const meanMs = mean ? wrkTimeMs(mean) : undefined;
  const p50Ms = pct('50');
  const p99Ms = pct('99');
  if (meanMs !== undefined) result.meanMs = meanMs;
  if (p50Ms !== undefined) result.p50Ms = p50Ms;
  if (p99Ms !== undefined) result.p99Ms = p99Ms;
  if (result.requests === 0) throw new Error(`wrk completed no request:\n${output}`);
  return result;
}

export async function runWrk(port: number, durationS: number, host?: string): Promise<ThroughputResult> {
  const args = wrkArgs(port, durationS, host);
  const output = await runToCompletion('wrk', 'wrk', args, (durationS + 30) * 1000);
  return parseWrk(output, `wrk ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`);
}
