/**
 * Scrapes proxies' `/metrics` into the embedded store, as a Prometheus scrape job would:
 * every interval it asks for the current targets, scrapes them all in parallel (each
 * with a timeout and a body-size limit), adds each target's labels to its series
 * (a scraped label with a target label's name is kept as `exported_<name>`, as with
 * `honor_labels: false`), records `up`, and writes staleness markers for series that
 * vanished from a scrape, for every series of a failed scrape, and for every series of a
 * target that is no longer listed.
 *
 * Only the metric families viz reads are kept; the rest of a page costs a name scan.
 * Samples' own timestamps are ignored: every sample of a scrape is stored at the time the
 * round started (as with `honor_timestamps: false`; proxies never send timestamps).
 */
import http from 'node:http';
import https from 'node:https';
import { type ExpositionSample, parseExposition, setLabel } from './exposition.js';
import type { AppendStats, LabelSet, MetricStore, StoredSeries } from './store.js';

/**
 * The families viz reads (sample names: a histogram's `_bucket` series): `golden.ts` reads
 * `<prefix>response_total` and `<prefix>response_latency_ms` for the prefixes '', `route_`
 * and `route_actual_`, `edges.ts` reads `response_total`, `stat.ts` the TCP gauge and byte
 * counters.
 */
export const VIZ_METRICS: readonly string[] = [
  'response_total',
  'response_latency_ms_bucket',
  'route_response_total',
  'route_response_latency_ms_bucket',
  'route_actual_response_total',
  'route_actual_response_latency_ms_bucket',
  'tcp_open_connections',
  'tcp_read_bytes_total',
  'tcp_write_bytes_total',
];

export const DEFAULT_INTERVAL_MS = 10_000;
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface ScrapeTarget {
  /** The metrics URL, e.g. `http://10.0.0.5:4191/metrics`. */
  readonly url: string;
  /** Labels added to every series of the target. `instance` defaults to the URL's host:port. */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface ScraperOptions {
  /** The targets, asked again at every round. */
  readonly targets: () => readonly ScrapeTarget[] | Promise<readonly ScrapeTarget[]>;
  /** Default 10 s. */
  readonly intervalMs?: number;
  /** Per target, for the whole response (default: the interval, at most 10 s). */
  readonly timeoutMs?: number;
  /** A longer body fails the scrape (default 10 MiB). */
  readonly maxBodyBytes?: number;
  /** Kept series per scrape; more fails the scrape (default: the store's bound per target). */
  readonly maxSeriesPerScrape?: number;
  /** Default: Date.now. */
  readonly clock?: Clock;
}

export interface TargetHealth {
  readonly url: string;
  /** The target's labels, `instance` included. */
  readonly labels: LabelSet;
  readonly up: boolean;
  /** When the last scrape started (ms since the epoch, by the scraper's clock). */
  readonly lastScrapeMs: number;
  /** Wall time the last scrape took, in ms. */
  readonly durationMs: number;
  /** Why the last scrape failed. */
  readonly error?: string;
  /** What storing the last scrape did (samples, new series, dropped, stale markers). */
  readonly stats?: AppendStats;
}

export interface ScrapeRound {
  readonly timeMs: number;
  readonly targets: TargetHealth[];
  /** Targets no longer listed this round (their series were marked stale). */
  readonly removed: number;
  /** Listed targets that could not be scraped at all (an invalid URL), with why. */
  readonly invalid: string[];
}

interface Resolved {
  readonly id: string;
  readonly url: URL;
  readonly labels: LabelSet;
}

/** The scrape cache's text for `up`: no exposition line can have it, so no scraped series takes its place. */
const UP_RAW = '\u0000up';

/** Thrown inside a scrape; its message becomes the target's `error`. */
class ScrapeError extends Error {}

/**
 * A scraped series' labels with the target's added (honor_labels: false): a scraped label
 * whose name a target label has is renamed `exported_<name>` (again while that is taken,
 * shortest names first); the target's value wins.
 */
export function withTargetLabels(scraped: LabelSet, target: LabelSet): LabelSet {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(scraped)) if (v !== '') setLabel(out, k, v);
  const conflicts: Array<[string, string]> = [];
  for (const name of Object.keys(target).sort()) {
    const existing = scraped[name];
    if (existing !== undefined && existing !== '') conflicts.push([name, existing]);
    const v = target[name] as string;
    if (v === '') delete out[name];
    else setLabel(out, name, v);
  }
  if (conflicts.length > 0) {
    conflicts.sort((a, b) => a[0].length - b[0].length);
    const taken = (n: string, upTo: number): boolean =>
      Object.hasOwn(scraped, n) ||
      Object.hasOwn(target, n) ||
      conflicts.slice(0, upTo).some(([c]) => c === n);
    for (let i = 0; i < conflicts.length; i++) {
      const c = conflicts[i] as [string, string];
      let name = c[0];
      do name = `exported_${name}`;
      while (taken(name, i));
      c[0] = name;
    }
    for (const [name, v] of conflicts) setLabel(out, name, v);
  }
  return out;
}

function resolveTarget(t: ScrapeTarget): Resolved {
  const url = new URL(t.url);
  const labels: Record<string, string> = { instance: url.host };
  // Labels starting with __ are Prometheus's meta labels: never stored.
  for (const [k, v] of Object.entries(t.labels ?? {})) if (!k.startsWith('__')) labels[k] = v;
  const id = `${url.href} ${JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]),
  )}`;
  return { id, url, labels };
}

export class Scraper {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
  private readonly keep: ReadonlySet<string>;
  private readonly maxSeries: number;
  private readonly clock: Clock;
  private readonly agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 1 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 1 }),
  };
  private current = new Map<string, Resolved>();
  private readonly health = new Map<string, TargetHealth>();
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  private lastRoundMs = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private readonly requests = new Set<http.ClientRequest>();
  private lastRoundError: string | undefined;

  constructor(
    private readonly store: MetricStore,
    private readonly options: ScraperOptions,
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.timeoutMs = options.timeoutMs ?? Math.min(this.intervalMs, 10_000);
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.keep = new Set(VIZ_METRICS);
    this.maxSeries = options.maxSeriesPerScrape ?? store.maxSeriesPerTarget;
    this.clock = options.clock ?? systemClock;
  }

  /** Scrapes now and then every interval (a round still running when the next is due is not doubled). */
  start(): void {
    if (this.timer || this.stopped) return;
    const tick = (): void => {
      if (this.inFlight) return;
      this.scrapeOnce().catch(() => {
        // Kept in lastError (the targets callback failed, or the clock went back).
      });
    };
    this.timer = setInterval(tick, this.intervalMs);
    this.timer.unref();
    tick();
  }

  /** Stops the timer and cancels scrapes in flight. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const req of this.requests) req.destroy(new ScrapeError('scraper stopped'));
    this.requests.clear();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** One round, after any round in progress. */
  scrapeOnce(): Promise<ScrapeRound> {
    const round = this.chain.then(() => this.round());
    this.chain = round.catch(() => {});
    return round;
  }

  /** The last scrape of each current target. */
  targets(): TargetHealth[] {
    return [...this.health.values()];
  }

  /** Why the last round failed as a whole (its targets' own failures are in their health). */
  get lastError(): string | undefined {
    return this.lastRoundError;
  }

  private async round(): Promise<ScrapeRound> {
    if (this.stopped) throw new Error('scraper stopped');
    this.inFlight = true;
    try {
      const round = await this.runRound();
      this.lastRoundError = undefined;
      return round;
    } catch (err) {
      this.lastRoundError = (err as Error).message;
      throw err;
    } finally {
      this.inFlight = false;
    }
  }

  private async runRound(): Promise<ScrapeRound> {
    const timeMs = this.clock.now();
    if (!(timeMs > this.lastRoundMs)) {
      throw new Error(`the clock did not advance since the last round (${timeMs})`);
    }
    this.lastRoundMs = timeMs;
    let listed: readonly ScrapeTarget[];
    try {
      listed = await this.options.targets();
    } catch (err) {
      throw new Error(`listing the scrape targets failed: ${(err as Error).message}`);
    }
    const next = new Map<string, Resolved>();
    const invalid: string[] = [];
    for (const t of listed) {
      try {
        const r = resolveTarget(t);
        next.set(r.id, r);
      } catch {
        invalid.push(`invalid target URL ${JSON.stringify(t.url)}`);
      }
    }
    let removed = 0;
    for (const id of this.current.keys()) {
      if (next.has(id)) continue;
      this.store.retireTarget(id, timeMs);
      this.health.delete(id);
      removed++;
    }
    this.current = next;
    const results = await Promise.all([...next.values()].map((t) => this.scrapeTarget(t, timeMs)));
    this.store.trim(timeMs);
    return { timeMs, targets: results, removed, invalid };
  }

  private async scrapeTarget(target: Resolved, timeMs: number): Promise<TargetHealth> {
    const began = performance.now();
    let body: string | undefined;
    let error: string | undefined;
    try {
      body = await this.fetch(target.url);
    } catch (err) {
      error = (err as Error).message;
    }
    // From opening the scrape's slot to committing it nothing awaits, so a query never
    // reads the slot before every series has its value or marker there.
    const app = this.store.appender(target.id, timeMs);
    let samples: ExpositionSample[] = [];
    // The series the scrape cache knows, in the order of their samples (labels not parsed).
    let known: StoredSeries[] = [];
    if (body !== undefined) {
      try {
        samples = parseExposition(body, {
          keep: this.keep,
          maxSeries: this.maxSeries,
          known: (raw) => {
            const s = app.lookup(raw);
            if (s !== undefined) known.push(s);
            return s !== undefined;
          },
        }).samples;
      } catch (err) {
        error = (err as Error).message;
        known = [];
      }
    }
    // A failed scrape stores only `up` 0: every other series gets a staleness marker.
    // `up` goes first, so that a full store still records it while it keeps it.
    let stats: AppendStats;
    try {
      // `up` and every sample the cache did not know: `known` has one entry per known sample.
      app.reserve(1 + samples.length - known.length);
      app.add(UP_RAW, 'up', target.labels, error === undefined ? 1 : 0);
      let k = 0;
      for (const s of samples) {
        if (s.labels === undefined) app.addTo(known[k++] as StoredSeries, s.value);
        else app.add(s.raw, s.name, withTargetLabels(s.labels, target.labels), s.value);
      }
    } finally {
      // Even if storing failed half way, the slot is completed (what is missing is marked).
      stats = app.commit();
    }
    const health: TargetHealth = {
      url: target.url.href,
      labels: target.labels,
      up: error === undefined,
      lastScrapeMs: timeMs,
      durationMs: performance.now() - began,
      ...(error === undefined ? {} : { error }),
      stats,
    };
    if (this.current.has(target.id)) this.health.set(target.id, health);
    return health;
  }

  /** GETs the page, within the timeout and the size limit; rejects with a ScrapeError. */
  private fetch(url: URL): Promise<string> {
    const secure = url.protocol === 'https:';
    if (!secure && url.protocol !== 'http:') {
      return Promise.reject(new ScrapeError(`unsupported scheme ${url.protocol}`));
    }
    return new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const req = (secure ? https : http).get(url, {
        agent: secure ? this.agents.https : this.agents.http,
        headers: { accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1' },
      });
      this.requests.add(req);
      const done = (err: Error | undefined, body?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.requests.delete(req);
        if (err) reject(err instanceof ScrapeError ? err : new ScrapeError(err.message));
        else resolve(body ?? '');
      };
      // Settles first, then destroys the request without an error (nothing is left to hear one).
      const fail = (why: string): void => {
        done(new ScrapeError(why));
        req.destroy();
      };
      const timer = setTimeout(() => fail(`no complete answer within ${this.timeoutMs} ms`), this.timeoutMs);
      req.on('error', (err) => done(err));
      req.on('response', (res) => {
        res.on('error', (err) => done(err));
        if (res.statusCode !== 200) {
          fail(`HTTP status ${res.statusCode}`);
          return;
        }
        const length = Number(res.headers['content-length']);
        if (length > this.maxBodyBytes) {
          fail(`body of ${length} bytes exceeds the limit of ${this.maxBodyBytes}`);
          return;
        }
        res.on('data', (c: Buffer) => {
          if (settled) return;
          size += c.length;
          if (size > this.maxBodyBytes) fail(`body exceeds the limit of ${this.maxBodyBytes} bytes`);
          else chunks.push(c);
        });
        res.on('end', () => done(undefined, Buffer.concat(chunks, size).toString('utf8')));
      });
    });
  }
}
