// Parent side of the open-loop generator: runs bench/openloop.ts in its own process (so it never shares
// an event loop with the harness or a proxy) and reads its one-line JSON result.
import { distBench } from './paths.js';
import { runToCompletion } from './procs.js';
import type { OpenLoopResult } from './types.js';

export interface OpenLoopRequest {
  port: number;
  /** The Host header to send (default 127.0.0.1:port). */
  host?: string;
  rate: number;
  durationS: number;
  connections: number;
  /** How long a request may wait for its response before the generator fails it (default 5000). */
  timeoutMs?: number;
}

export async function runOpenLoop(req: OpenLoopRequest): Promise<OpenLoopResult> {
  const args = [
    distBench('openloop.js'),
    '--port',
    String(req.port),
    '--rate',
    String(req.rate),
    '--duration',
    String(req.durationS),
    '--connections',
    String(req.connections),
    ...(req.host ? ['--host', req.host] : []),
    ...(req.timeoutMs !== undefined ? ['--timeout-ms', String(req.timeoutMs)] : []),
  ];
  let output: string;
  try {
    const limitS = req.durationS + 30 + (req.timeoutMs ?? 0) / 1000;
    output = await runToCompletion('openloop', process.execPath, args, limitS * 1000);
  } catch (err) {
    // The generator prints {"error": "..."} before exiting non-zero; surface that text.
    const message = (err as Error).message;
    const json = /\{"error":.*\}/.exec(message)?.[0];
    throw new Error(json ? `open-loop generator: ${(JSON.parse(json) as { error: string }).error}` : message);
  }
  const last = output.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as OpenLoopResult;
}
