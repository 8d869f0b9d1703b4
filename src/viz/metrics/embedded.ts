/**
 * The local platform's metrics source: scrapes every proxy itself into an in-memory
 * store and answers viz's queries over it with Prometheus's semantics (evaluate.ts).
 */
import { evaluateInstant, evaluateRange } from './evaluate.js';
import type { Query, Sample, Series } from './query.js';
import {
  type Clock,
  type ScrapeRound,
  Scraper,
  type ScraperOptions,
  systemClock,
  type TargetHealth,
} from './scraper.js';
import { type MetricsSource, MetricsSourceError } from './source.js';
import { MetricStore, type StoreOptions } from './store.js';

export interface EmbeddedSourceOptions extends StoreOptions, Partial<ScraperOptions> {
  /** A store to read (and scrape into); default a new one with these options' bounds. */
  readonly store?: MetricStore;
}

export class EmbeddedSource implements MetricsSource {
  readonly name = 'embedded';
  readonly store: MetricStore;
  readonly scraper: Scraper;
  private readonly clock: Clock;
  private closed = false;

  /** Scrapes nothing until start() (or scrapeOnce()); without `targets`, it only reads its store. */
  constructor(options: EmbeddedSourceOptions = {}) {
    this.store = options.store ?? new MetricStore(options);
    this.clock = options.clock ?? systemClock;
    this.scraper = new Scraper(this.store, { ...options, targets: options.targets ?? (() => []) });
  }

  /** Starts scraping every interval. */
  start(): this {
    this.scraper.start();
    return this;
  }

  /** One scrape round now (tests and benchmarks drive the scraper with it). */
  scrapeOnce(): Promise<ScrapeRound> {
    return this.scraper.scrapeOnce();
  }

  /** The last scrape of each target. */
  targets(): TargetHealth[] {
    return this.scraper.targets();
  }

  async instant(query: Query, atMs?: number): Promise<Sample[]> {
    this.checkOpen();
    return evaluateInstant(this.store, query, atMs ?? this.clock.now());
  }

  async range(query: Query, startMs: number, endMs: number, stepMs: number): Promise<Series[]> {
    this.checkOpen();
    return evaluateRange(this.store, query, startMs, endMs, stepMs);
  }

  close(): void {
    this.closed = true;
    this.scraper.stop();
  }

  private checkOpen(): void {
    if (this.closed) throw new MetricsSourceError('the embedded metrics source is closed');
  }
}
