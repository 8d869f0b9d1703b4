// Starts one of the harness's own node servers (h2 upstream, gRPC upstream, http-proxy peer) as a
// separate process and waits for its `{"ready":true,"port":N}` line.
import { distBench } from './paths.js';
import { type Managed, startProcess } from './procs.js';
import { readyPort, waitForLine } from './ready.js';

export interface NodeServer {
  proc: Managed;
  port: number;
}

export async function startNodeServer(
  name: string,
  script: string,
  args: string[] = [],
): Promise<NodeServer> {
  const proc = startProcess(name, process.execPath, [distBench(script), ...args]);
  const port = await waitForLine(proc, readyPort, 15_000, 'its ready line');
  return { proc, port };
}

/** What the servers print once listening. */
export function announceReady(port: number): void {
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
}

/** Exits quietly on SIGTERM/SIGINT (the harness stops its children with SIGTERM). */
export function exitOnSignals(close?: () => void): void {
  const stop = () => {
    close?.();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
