// Starts Weft as a child process and waits for its "proxy ready" log line, which carries the bound
// inbound/outbound/admin addresses. The benchmark sends traffic to the INBOUND listener, which forwards
// every request to --inbound-forward: one proxy hop, like HAProxy.
import { existsSync } from 'node:fs';
import { repoRoot, weftBin, weftBuiltEntry } from './paths.js';
import { type Managed, startProcess, stopProcess } from './procs.js';
import { waitForLine } from './ready.js';

export interface WeftAddresses {
  inbound: string;
  outbound: string;
  admin: string;
}

export interface RunningWeft {
  proc: Managed;
  addresses: WeftAddresses;
  /** Port of the inbound listener. */
  port: number;
}

/** Parses a pino JSON line with "msg":"proxy ready"; undefined for any other line. */
export function parseReadyLine(line: string): WeftAddresses | undefined {
  if (!line.startsWith('{') || !line.includes('proxy ready')) return undefined;
  let obj: Record<string, unknown>;
  try {
    obj = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const { msg, inbound, outbound, admin } = obj;
  if (msg !== 'proxy ready') return undefined;
  if (typeof inbound !== 'string' || typeof outbound !== 'string' || typeof admin !== 'string')
    return undefined;
  return { inbound, outbound, admin };
}

export function portOf(hostPort: string): number {
  const port = Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
  if (!Number.isInteger(port) || port <= 0) throw new Error(`cannot read a port from "${hostPort}"`);
  return port;
}

/** Weft logs "proxy ready" at info; nothing on its request path logs at that level. */
const WEFT_LOG_LEVEL = 'info';

export interface WeftOptions {
  /** The process's name in the harness (default "weft"). */
  name?: string;
  /** --inbound-addr (default 127.0.0.1:0). */
  inboundAddr?: string;
  /** More flags (--destination, --workload, ...). */
  extraArgs?: string[];
  /** How long to wait for "proxy ready" (default 10 s; a meshed proxy first gets its certificate). */
  readyTimeoutMs?: number;
}

export async function startWeft(upstreamPort: number, opts: WeftOptions = {}): Promise<RunningWeft> {
  if (!existsSync(weftBuiltEntry)) {
    throw new Error(
      `Weft is not built: ${weftBuiltEntry} is missing (the proxy is not there yet, or \`npm run build\` failed)`,
    );
  }
  const args = [
    'proxy',
    '--inbound-addr',
    opts.inboundAddr ?? '127.0.0.1:0',
    '--outbound-addr',
    '127.0.0.1:0',
    '--admin-addr',
    '127.0.0.1:0',
    '--tap-addr',
    '127.0.0.1:0',
    '--inbound-forward',
    `127.0.0.1:${upstreamPort}`,
    ...(opts.extraArgs ?? []),
  ];
  // Run as users run it: the executable, whose shebang sets Node's flags (bin/weft.js).
  const proc = startProcess(opts.name ?? 'weft', weftBin, args, {
    cwd: repoRoot,
    env: { ...process.env, WEFT_PROXY_LOG: WEFT_LOG_LEVEL },
  });
  const what = 'a "proxy ready" line on stdout';
  try {
    const addresses = await waitForLine(proc, parseReadyLine, opts.readyTimeoutMs ?? 10_000, what);
    return { proc, addresses, port: portOf(addresses.inbound) };
  } catch (err) {
    await stopProcess(proc);
    throw err;
  }
}
