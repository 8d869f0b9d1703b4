// What the http1 scenarios share: a real proxy (bin/weft.js proxy) in front of a logging
// echo app, plaintext inbound, and raw exchanges with it.
import { type LoggingApp, startLoggingApp } from '../../test/helpers/apps.js';
import { LOOPBACK, RawConn } from '../../test/helpers/net.js';
import { baseArgs, type ProxyHandle, startProxy } from '../../test/helpers/proxy.js';
import { sampleProcess } from '../context.js';
import type { ResourceSample } from '../scenario.js';

export interface ProxiedApp {
  readonly app: LoggingApp;
  readonly proxy: ProxyHandle;
  /** The proxy's inbound port, where the scenarios attack. */
  readonly port: number;
  sample(): ResourceSample;
  close(): Promise<void>;
}

/** A logging echo app behind a proxy child process (`extraArgs` added to its flags). */
export async function proxiedApp(extraArgs: string[] = []): Promise<ProxiedApp> {
  const app = await startLoggingApp();
  let proxy: ProxyHandle;
  try {
    proxy = await startProxy([...baseArgs(app.port), ...extraArgs]);
  } catch (err) {
    await app.close();
    throw err;
  }
  const pid = proxy.proc.pid as number;
  return {
    app,
    proxy,
    port: proxy.inbound.port,
    sample: () => sampleProcess(pid),
    async close() {
      await proxy.stop('SIGKILL');
      await app.close();
    },
  };
}

/** What came back for bytes sent on a fresh connection: the status line, or how it ended. */
export async function rawAttempt(port: number, data: string | Buffer, timeoutMs = 5000): Promise<string> {
  const c = await RawConn.connect(port, LOOPBACK);
  try {
    c.write(data);
    let got: Buffer;
    try {
      got = await c.waitEnd(timeoutMs);
    } catch {
      got = c.take();
      if (got.length === 0) return 'no answer, connection left open';
    }
    const line = got.toString('latin1').split('\r\n')[0] ?? '';
    return line === '' ? 'closed without an answer' : line;
  } finally {
    c.destroy();
  }
}

/** One plain GET through the proxy on its own connection; the path the app says it saw, or the failure. */
export async function victimGet(port: number, path: string): Promise<string> {
  const c = await RawConn.connect(port, LOOPBACK);
  try {
    c.write(`GET ${path} HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n`);
    const res = await c.readResponse({ timeoutMs: 10_000 });
    if (res.statusCode !== 200) return `status ${res.statusCode}`;
    return (JSON.parse(res.body.toString()) as { url: string }).url;
  } catch (err) {
    return `failed: ${(err as Error).message}`;
  } finally {
    c.destroy();
  }
}

/** The percentile `p` (0-100) of `values`, in their unit. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export const MiB = 1024 * 1024;
