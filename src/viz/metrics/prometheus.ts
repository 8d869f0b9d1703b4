/**
 * viz's metrics from a Prometheus server: each query rendered as PromQL (promql.ts) and
 * asked of `/api/v1/query` or `/api/v1/query_range` with Node's fetch, with a timeout
 * and a bound on the answer's size. Every failure is a MetricsSourceError naming the URL
 * and what went wrong.
 */
import { parseFloatGo } from './exposition.js';
import { checkInstant, checkRange, renderCheckedQuery } from './promql.js';
import type { Query, Sample, Series } from './query.js';
import { type MetricsSource, MetricsSourceError } from './source.js';

export interface PrometheusSourceOptions {
  /** Per request, in ms (default 10 s); also sent to Prometheus as the query's timeout. */
  readonly timeoutMs?: number;
  /** A longer answer is refused (default 16 MiB). */
  readonly maxResponseBytes?: number;
}

export const DEFAULT_PROMETHEUS_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

type Labels = Record<string, string>;

/** The parts of Prometheus's API answer this source reads. */
interface ApiAnswer {
  status?: unknown;
  errorType?: unknown;
  error?: unknown;
  data?: { resultType?: unknown; result?: unknown };
}

/**
 * A Prometheus base URL as given (`weft up --prometheus-url`, PrometheusSource): parsed,
 * and http or https. Throws MetricsSourceError naming `what` (the flag), the URL and the problem.
 */
export function parsePrometheusUrl(url: string, what = 'Prometheus URL'): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MetricsSourceError(`${what}: ${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new MetricsSourceError(`${what}: ${JSON.stringify(url)} is not an http(s) URL`);
  }
  return parsed;
}

export class PrometheusSource implements MetricsSource {
  readonly name: string;
  /** The instant and range query endpoints' URLs. */
  private readonly queryUrl: string;
  private readonly rangeUrl: string;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly inFlight = new Set<AbortController>();
  private closed = false;

  /** `url`: Prometheus's base URL (e.g. `http://prometheus:9090`, or with a path prefix). */
  constructor(url: string, options: PrometheusSourceOptions = {}) {
    const base = parsePrometheusUrl(url);
    // A base without a trailing slash would lose its last path segment to `api/v1/...`.
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.queryUrl = new URL('api/v1/query', base).href;
    this.rangeUrl = new URL('api/v1/query_range', base).href;
    this.name = url;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_PROMETHEUS_TIMEOUT_MS;
    this.maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  async instant(query: Query, atMs: number = Date.now()): Promise<Sample[]> {
    checkInstant(query, atMs);
    const promql = renderCheckedQuery(query);
    const data = await this.call(this.queryUrl, { query: promql, time: isoTime(atMs) }, promql);
    const result = expectResult(data, 'vector', this.queryUrl, promql);
    const out: Sample[] = [];
    for (const item of result) {
      const labels = metricOf(item);
      const value = sampleValue((item as { value?: unknown }).value);
      if (!labels || value === undefined) throw this.malformed(this.queryUrl, promql, item);
      if (!Number.isNaN(value[1])) out.push({ labels, value: value[1] });
    }
    return out;
  }

  async range(query: Query, startMs: number, endMs: number, stepMs: number): Promise<Series[]> {
    checkRange(query, startMs, endMs, stepMs);
    const promql = renderCheckedQuery(query);
    const params = { query: promql, start: isoTime(startMs), end: isoTime(endMs), step: `${stepMs}ms` };
    const data = await this.call(this.rangeUrl, params, promql);
    const result = expectResult(data, 'matrix', this.rangeUrl, promql);
    const out: Series[] = [];
    for (const item of result) {
      const labels = metricOf(item);
      const values = (item as { values?: unknown }).values;
      if (!labels || !Array.isArray(values)) throw this.malformed(this.rangeUrl, promql, item);
      const points: Array<readonly [number, number]> = [];
      for (const v of values) {
        const p = sampleValue(v);
        if (!p) throw this.malformed(this.rangeUrl, promql, item);
        if (!Number.isNaN(p[1])) points.push(p);
      }
      if (points.length > 0) out.push({ labels, points });
    }
    return out;
  }

  /** Cancels requests in flight; later calls fail. */
  close(): void {
    this.closed = true;
    for (const c of this.inFlight) c.abort(new MetricsSourceError(`${this.name}: source closed`));
  }

  private malformed(url: string, promql: string, item: unknown): MetricsSourceError {
    return new MetricsSourceError(
      `${url} answered ${promql} with a malformed series: ${JSON.stringify(item).slice(0, 200)}`,
    );
  }

  /** POSTs the form and returns `data` of a successful answer; anything else throws. */
  private async call(
    url: string,
    params: Record<string, string>,
    promql: string,
  ): Promise<ApiAnswer['data']> {
    if (this.closed) throw new MetricsSourceError(`${url}: source closed`);
    const body = new URLSearchParams({ ...params, timeout: `${this.timeoutMs}ms` });
    const controller = new AbortController();
    this.inFlight.add(controller);
    const timer = setTimeout(
      () => controller.abort(new MetricsSourceError(`${url} did not answer within ${this.timeoutMs} ms`)),
      this.timeoutMs,
    );
    try {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          body,
          headers: { accept: 'application/json' },
          signal: controller.signal,
        });
      } catch (err) {
        throw this.failure(url, controller, err, 'is unreachable');
      }
      let text: string;
      try {
        text = await readLimited(res, this.maxBytes, url);
      } catch (err) {
        throw this.failure(url, controller, err, 'failed while answering');
      }
      let answer: ApiAnswer | undefined;
      try {
        answer = JSON.parse(text) as ApiAnswer;
      } catch {
        answer = undefined;
      }
      if (answer && answer.status === 'error') {
        throw new MetricsSourceError(
          `${url} refused ${promql} (HTTP ${res.status}, ${String(answer.errorType ?? 'error')}): ${String(answer.error ?? '')}`,
        );
      }
      if (!res.ok) {
        throw new MetricsSourceError(`${url} answered HTTP ${res.status}: ${text.slice(0, 200)}`);
      }
      if (answer?.status !== 'success' || typeof answer.data !== 'object' || answer.data === null) {
        throw new MetricsSourceError(
          `${url} answered with something that is not a Prometheus API answer: ${text.slice(0, 200)}`,
        );
      }
      return answer.data;
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(controller);
    }
  }

  /** The error for a failed fetch or body read: our own (timeout, close, size) or the network's. */
  private failure(url: string, controller: AbortController, err: unknown, what: string): MetricsSourceError {
    if (err instanceof MetricsSourceError) return err;
    const reason: unknown = controller.signal.reason;
    if (controller.signal.aborted && reason instanceof MetricsSourceError) return reason;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code ?? cause?.message ?? (err as Error).message;
    return new MetricsSourceError(`${url} ${what}: ${detail}`);
  }
}

/** A time checkInstant or checkRange found finite. */
function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** The body as text, refusing more than `max` bytes (read in chunks, never whole first). */
async function readLimited(res: Response, max: number, url: string): Promise<string> {
  const length = Number(res.headers.get('content-length'));
  if (length > max) {
    await res.body?.cancel();
    throw new MetricsSourceError(`${url} answered ${length} bytes, more than the limit of ${max}`);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new MetricsSourceError(`${url} answered more than the limit of ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function expectResult(data: ApiAnswer['data'], type: string, url: string, promql: string): unknown[] {
  const got = data?.resultType;
  if (got !== type) {
    throw new MetricsSourceError(
      `${url} answered ${promql} with a ${String(got)} result, expected a ${type}`,
    );
  }
  const result = data?.result;
  if (!Array.isArray(result)) throw new MetricsSourceError(`${url} answered ${promql} without a result list`);
  return result;
}

function metricOf(item: unknown): Labels | undefined {
  const metric = (item as { metric?: unknown } | null)?.metric;
  if (typeof metric !== 'object' || metric === null) return undefined;
  const labels: Labels = {};
  for (const [k, v] of Object.entries(metric)) {
    if (typeof v !== 'string') return undefined;
    labels[k] = v;
  }
  return labels;
}

/** `[seconds, "value"]` as [ms, value]. */
function sampleValue(v: unknown): readonly [number, number] | undefined {
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'number' || typeof v[1] !== 'string')
    return undefined;
  const value = parseFloatGo(v[1]);
  if (value === undefined) return undefined;
  return [Math.round(v[0] * 1000), value];
}
