/**
 * The vote bot, as the original's: every interval it fetches the ballot (`/api/list`) and
 * votes (`/api/vote?choice=...`), for :doughnut: 15% of the time (it has a sweet tooth) and
 * for a random emoji otherwise. Each vote's outcome is one log line.
 */
import http from 'node:http';
import { DOUGHNUT } from './emojis.js';
import type { HostPort } from './env.js';
import type { HttpProxy } from './http-proxy.js';
import type { Logger } from './main.js';

export const DOUGHNUT_PROBABILITY = 0.15;
const REQUEST_TIMEOUT_MS = 10_000;

export interface VoteBotOptions {
  log: Logger;
  web: HostPort;
  intervalMs: number;
  proxy?: HttpProxy | undefined;
  /** [0, 1) random numbers; Math.random by default. */
  random?: () => number;
}

interface Response {
  status: number;
  body: string;
}

export interface VoteBot {
  /** Stops after aborting any request in flight; resolves once the loop has ended. */
  stop(): Promise<void>;
}

export function startVoteBot(options: VoteBotOptions): VoteBot {
  const { log, web, proxy } = options;
  const random = options.random ?? Math.random;
  const abort = new AbortController();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  const get = (path: string): Promise<Response> =>
    new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { host: web.authority, 'user-agent': 'emojivoto-vote-bot' };
      if (proxy?.authorization) headers['proxy-authorization'] = proxy.authorization;
      const req = http.request(
        {
          host: proxy ? proxy.host : web.host,
          port: proxy ? proxy.port : web.port,
          // Through a proxy, the absolute form names the origin.
          path: proxy ? `http://${web.authority}${path}` : path,
          headers,
          agent,
          signal: abort.signal,
          timeout: REQUEST_TIMEOUT_MS,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end();
    });

  const errorOf = (r: Response): string => {
    try {
      const body = JSON.parse(r.body) as { error?: unknown };
      if (typeof body.error === 'string') return body.error;
    } catch {
      // Not JSON: the status says enough.
    }
    return `HTTP ${r.status}`;
  };

  const shortcodes = async (): Promise<string[]> => {
    const r = await get('/api/list');
    if (r.status !== 200) throw new Error(`GET /api/list: ${errorOf(r)}`);
    const list = JSON.parse(r.body) as Array<{ shortcode?: unknown }>;
    const codes = list.map((e) => e.shortcode).filter((s): s is string => typeof s === 'string');
    if (codes.length === 0) throw new Error('GET /api/list: the ballot is empty');
    return codes;
  };

  const vote = async (choice: string): Promise<void> => {
    // Shortcodes are [a-z0-9_:]; the colons go unescaped, as the original sends them.
    const path = `/api/vote?choice=${encodeURIComponent(choice).replace(/%3A/gi, ':')}`;
    const started = Date.now();
    try {
      const r = await get(path);
      const fields = { choice, status: r.status, durationMs: Date.now() - started };
      if (r.status === 200) log.info(fields, `voted for ${choice}`);
      else log.warn({ ...fields, error: errorOf(r) }, 'vote failed');
    } catch (err) {
      if (abort.signal.aborted) return;
      log.warn({ choice, error: String(err), durationMs: Date.now() - started }, 'vote failed');
    }
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        abort.signal.removeEventListener('abort', done);
        resolve();
      }
      abort.signal.addEventListener('abort', done);
    });

  const loop = async (): Promise<void> => {
    while (!abort.signal.aborted) {
      await sleep(options.intervalMs);
      if (abort.signal.aborted) break;
      let codes: string[];
      try {
        codes = await shortcodes();
      } catch (err) {
        if (!abort.signal.aborted) log.warn({ error: String(err) }, 'listing the emoji failed');
        continue;
      }
      const choice =
        random() < DOUGHNUT_PROBABILITY ? DOUGHNUT : (codes[Math.floor(random() * codes.length)] ?? DOUGHNUT);
      await vote(choice);
    }
  };

  const done = loop().finally(() => agent.destroy());
  return {
    stop: async () => {
      abort.abort();
      await done;
    },
  };
}
