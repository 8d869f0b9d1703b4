/**
 * Runs the real Prometheus (Debian's 2.42, /usr/bin/prometheus) for a test: a temp dir
 * with its config and storage, a free port on 127.0.0.1, ready once `/-/ready` answers
 * 200; stop() kills it and removes the dir. Scrape jobs are given as data (written as
 * JSON, which Prometheus's YAML reader takes), e.g.
 *
 *   const prom = await startPrometheus({
 *     scrapeConfigs: [staticScrapeConfig('proxies', [`127.0.0.1:${port}`])],
 *     scrapeInterval: '1s',
 *   });
 *   cleanup.add(() => prom.stop());
 *
 * or with `httpSdScrapeConfig('proxies', sd.url)` and a target list served by startHttpSd().
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK, listen, refusedPort, waitFor } from './net.js';
import { trackChild } from './proxy.js';

export const PROMETHEUS_BIN = process.env.WEFT_TEST_PROMETHEUS ?? '/usr/bin/prometheus';

/** One `scrape_configs` entry, as Prometheus's config has it (snake_case keys). */
export type ScrapeConfig = Record<string, unknown>;

export interface PrometheusOptions {
  readonly scrapeConfigs: readonly ScrapeConfig[];
  /** Global scrape interval (default `1s`), and the scrape timeout. */
  readonly scrapeInterval?: string;
}

export interface PrometheusServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** GET an API path with query parameters; resolves with the parsed JSON `data` of a success. */
  api(path: string, params?: Record<string, string>): Promise<unknown>;
  stop(): Promise<void>;
}

export function staticScrapeConfig(job: string, targets: readonly string[]): ScrapeConfig {
  return { job_name: job, static_configs: [{ targets }] };
}

/** A job whose targets come from `sdUrl`, refreshed every second. */
export function httpSdScrapeConfig(job: string, sdUrl: string): ScrapeConfig {
  return { job_name: job, http_sd_configs: [{ url: sdUrl, refresh_interval: '1s' }] };
}

export interface TargetGroup {
  readonly targets: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
}

export interface HttpSd {
  readonly url: string;
  close(): Promise<void>;
}

/** An HTTP service discovery endpoint (the JSON http_sd_configs reads) serving `groups`. */
export async function startHttpSd(groups: readonly TargetGroup[]): Promise<HttpSd> {
  const body = JSON.stringify(groups.map((g) => ({ targets: g.targets, labels: g.labels ?? {} })));
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  const port = await listen(server);
  return {
    url: `http://${LOOPBACK}:${port}/sd`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: the caller reports the text.
  }
  return { status: res.status, body };
}

/** Starts Prometheus and waits until it is ready. */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-prometheus-'));
  const interval = options.scrapeInterval ?? '1s';
  const config = {
    global: {
      scrape_interval: interval,
      scrape_timeout: interval,
      evaluation_interval: interval,
    },
    scrape_configs: options.scrapeConfigs,
  };
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  let lastError: Error | undefined;
  // The port is found free, then given to Prometheus: another process may take it in
  // between, so a failed start is tried again on a new port.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await refusedPort();
    try {
      return await launch(dir, configFile, port);
    } catch (err) {
      lastError = err as Error;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError ?? new Error('prometheus did not start');
}

async function launch(dir: string, configFile: string, port: number): Promise<PrometheusServer> {
  const url = `http://${LOOPBACK}:${port}`;
  const args = [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${join(dir, `data-${port}`)}`,
    `--web.listen-address=${LOOPBACK}:${port}`,
    '--storage.tsdb.retention.time=1h',
    '--log.level=info',
  ];
  const proc = spawn(PROMETHEUS_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  // A test that crashes or is interrupted must not leave a Prometheus behind.
  trackChild(proc);
  // Its log (stderr), the last 64 KiB: named when it exits before it is ready.
  let log = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (d: string) => {
    log = (log + d).slice(-65_536);
  });
  let exited = false;
  const exit = once(proc, 'exit').then(() => {
    exited = true;
  });
  const stop = async (): Promise<void> => {
    if (!exited) {
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`prometheus exited before it was ready:\n${log.slice(-2000)}`);
        try {
          return (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) })).status === 200;
        } catch {
          return false;
        }
      },
      'prometheus /-/ready',
      20_000,
      100,
    );
  } catch (err) {
    if (!exited) {
      proc.kill('SIGKILL');
      await exit;
    }
    throw err;
  }
  return {
    url,
    port,
    api: async (path, params = {}) => {
      const q = new URLSearchParams(params).toString();
      const { status, body } = await getJson(`${url}${path}${q ? `?${q}` : ''}`);
      const answer = body as { status?: string; data?: unknown; error?: string };
      if (status !== 200 || answer.status !== 'success') {
        throw new Error(`prometheus ${path} answered ${status}: ${JSON.stringify(body).slice(0, 500)}`);
      }
      return answer.data;
    },
    stop,
  };
}
