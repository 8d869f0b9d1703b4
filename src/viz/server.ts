import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Catalog } from '../catalog/catalog.js';
import type { TrustDomain } from '../identity/names.js';
import type { HostPort } from '../util/addr.js';
import type { Logger } from '../util/log.js';
import { decodeEdges, decodeRoutes, decodeSeries, decodeStat, windowParam } from './api.js';
import { edges } from './edges.js';
import { knownResources } from './inventory.js';
import { type MetricsSource, MetricsSourceError } from './metrics/source.js';
import { VizUsageError } from './resources.js';
import { routes } from './routes.js';
import { stat, statSeries } from './stat.js';
import { prometheusHttpSd } from './targets.js';

export interface VizServerOptions {
  readonly catalog: Catalog;
  readonly source: MetricsSource;
  readonly clusterDomain: string;
  readonly domain: TrustDomain;
  /** The longest window a query may ask for (the embedded store's retention). */
  readonly maxWindowMs: number;
  /** The dashboard's built files (index.html and its assets); unset: no dashboard. */
  readonly webRoot?: string;
  /** Live requests for `/api/tap`; unset: tap is not available. */
  readonly tap?: TapHandler;
  readonly log: Logger;
}

/** Streams tap events for a request's query string until `signal` aborts; each item is one event. */
export type TapHandler = (params: URLSearchParams, signal: AbortSignal) => AsyncIterable<unknown>;

/** At most this many live streams (watches and taps) at once. */
const MAX_STREAMS = 64;
const MIN_WATCH_MS = 1000;
/** API paths one watch stream may follow. */
const MAX_WATCHED_PATHS = 16;
const HEARTBEAT_MS = 15_000;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.map': 'application/json',
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * viz's HTTP API and dashboard: JSON for stat, routes, edges and series; server-sent
 * events for live views (`/api/watch` re-evaluates another API path every few seconds,
 * `/api/tap` streams live requests); Prometheus service discovery of the proxies; the
 * dashboard's static files. Only Host headers naming this machine are served, so a web
 * page elsewhere cannot reach it through DNS rebinding.
 */
export class VizServer {
  private readonly server: Server;
  private streams = 0;
  private readonly abort = new AbortController();

  constructor(private readonly opts: VizServerOptions) {
    this.server = createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(res, err));
    });
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 30_000;
  }

  listen(addr: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(addr.port, addr.host, () => {
        this.server.off('error', reject);
        const a = this.server.address() as AddressInfo;
        resolve({ host: addr.host, port: a.port });
      });
    });
  }

  close(): void {
    this.abort.abort();
    this.server.close();
    this.server.closeAllConnections();
  }

  private allowedHost(req: IncomingMessage): boolean {
    const host = (req.headers.host ?? '')
      .replace(/:\d+$/, '')
      .replace(/^\[|\]$/g, '')
      .toLowerCase();
    const bound = (this.server.address() as AddressInfo | null)?.address;
    return host === 'localhost' || host === '127.0.0.1' || host === '::1' || host === bound;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.allowedHost(req)) throw new HttpError(403, `host "${req.headers.host ?? ''}" is not allowed`);
    if (req.method !== 'GET' && req.method !== 'HEAD')
      throw new HttpError(405, `${req.method} is not allowed`);
    const url = new URL(req.url ?? '/', 'http://viz');
    if (url.pathname === '/api/watch') return this.watch(url.searchParams, req, res);
    if (url.pathname === '/api/tap') return this.tap(url.searchParams, req, res);
    if (url.pathname.startsWith('/api/'))
      return this.json(res, await this.evaluate(url.pathname, url.searchParams));
    return this.file(url.pathname, res);
  }

  private checkWindow(ms: number, what = 'window'): void {
    if (ms > this.opts.maxWindowMs) {
      throw new VizUsageError(`${what}: at most ${this.opts.maxWindowMs / 1000}s (the metrics kept)`);
    }
  }

  /** One JSON API call. */
  private async evaluate(path: string, params: URLSearchParams): Promise<unknown> {
    const { catalog, source } = this.opts;
    switch (path) {
      case '/api/stat': {
        const r = decodeStat(params);
        this.checkWindow(r.windowMs);
        return { rows: await stat(catalog, source, r) };
      }
      case '/api/routes': {
        const r = decodeRoutes(params, this.opts.clusterDomain);
        this.checkWindow(r.windowMs);
        return { rows: await routes(catalog, source, r) };
      }
      case '/api/edges': {
        const r = decodeEdges(params, this.opts.domain);
        this.checkWindow(r.windowMs);
        return { rows: await edges(catalog, source, r) };
      }
      case '/api/series': {
        const r = decodeSeries(params);
        this.checkWindow(r.windowMs);
        this.checkWindow(r.rangeMs, 'range');
        const end = Date.now();
        return { stepMs: r.stepMs, rows: await statSeries(source, r, end - r.rangeMs, end, r.stepMs) };
      }
      case '/api/namespaces':
        return {
          namespaces: knownResources(catalog, 'namespace')
            .map((r) => r.name)
            .sort(),
        };
      case '/api/info':
        return { metrics: source.name, tap: this.opts.tap !== undefined, maxWindowMs: this.opts.maxWindowMs };
      case '/api/prometheus/targets':
        return prometheusHttpSd(catalog);
      default:
        throw new HttpError(404, `no API at ${path}`);
    }
  }

  private json(res: ServerResponse, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    });
    res.end(text);
  }

  private fail(res: ServerResponse, err: unknown): void {
    let status = 500;
    if (err instanceof HttpError) status = err.status;
    else if (err instanceof VizUsageError) status = 400;
    else if (err instanceof MetricsSourceError) status = 502;
    const message = (err as Error).message ?? String(err);
    if (status === 500) this.opts.log.error({ err: message }, 'viz request failed');
    if (res.headersSent) {
      // A stream: say why in the stream, then end it.
      res.end(`event: error\ndata: ${JSON.stringify({ error: message })}\n\n`);
      return;
    }
    const text = JSON.stringify({ error: message });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  /** Starts a server-sent event stream; the returned signal aborts when the client leaves or the server closes. */
  private openStream(
    req: IncomingMessage,
    res: ServerResponse,
  ): { signal: AbortSignal; send(event: string, data: unknown): boolean } {
    if (this.streams >= MAX_STREAMS) throw new HttpError(503, `at most ${MAX_STREAMS} live streams at once`);
    this.streams++;
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    req.socket.setTimeout(0);
    res.on('close', stop);
    this.abort.signal.addEventListener('abort', stop, { once: true });
    const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
    ac.signal.addEventListener('abort', () => {
      this.streams--;
      clearInterval(heartbeat);
      this.abort.signal.removeEventListener('abort', stop);
      res.end();
    });
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    return {
      signal: ac.signal,
      send: (event, data) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
    };
  }

  /**
   * `/api/watch?path=/api/stat?...&path=/api/edges?...&every=2s`: each path's answer now
   * and every period after, as `update` events `{index, body}` (`index`: the path's place
   * in the query). One stream serves a whole page: a browser keeps at most six
   * connections to a server, and every stream holds one.
   */
  private async watch(params: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const paths = params.getAll('path');
    if (paths.length === 0 || paths.length > MAX_WATCHED_PATHS) {
      throw new VizUsageError(
        `path: give 1 to ${MAX_WATCHED_PATHS} API paths such as /api/stat?resource=deploy`,
      );
    }
    const inner = paths.map((path) => {
      const url = new URL(path, 'http://viz');
      if (!path.startsWith('/api/') || ['/api/watch', '/api/tap'].includes(url.pathname)) {
        throw new VizUsageError(
          `path: "${path.slice(0, 100)}" is not an API path such as /api/stat?resource=deploy`,
        );
      }
      return url;
    });
    const every = windowParam(params, 'every', '2s');
    if (every < MIN_WATCH_MS) throw new VizUsageError(`every: at least ${MIN_WATCH_MS / 1000}s`);
    const round = () => Promise.allSettled(inner.map((url) => this.evaluate(url.pathname, url.searchParams)));
    // Check the requests before the stream starts, so a bad one is a 400.
    const first = await round();
    for (const r of first) if (r.status === 'rejected') throw r.reason;
    const stream = this.openStream(req, res);
    const send = (results: PromiseSettledResult<unknown>[]): void => {
      results.forEach((r, index) => {
        if (r.status === 'fulfilled') stream.send('update', { index, body: r.value });
        else stream.send('error', { index, error: (r.reason as Error).message });
      });
    };
    send(first);
    while (!stream.signal.aborted) {
      try {
        await sleep(every, undefined, { signal: stream.signal });
      } catch {
        break; // aborted: the client went away or viz is stopping
      }
      send(await round());
    }
  }

  private async tap(params: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const handler = this.opts.tap;
    if (!handler) throw new HttpError(404, 'tap is not available: the control plane has no tap identity');
    const stream = this.openStream(req, res);
    try {
      for await (const event of handler(params, stream.signal)) {
        if (!stream.send('tap', event)) {
          // The client reads slower than requests arrive: wait for it rather than buffer.
          try {
            await once(res, 'drain', { signal: stream.signal });
          } catch {
            break; // aborted: the client went away or viz is stopping
          }
        }
        if (stream.signal.aborted) break;
      }
      if (!stream.signal.aborted) stream.send('end', {});
    } catch (err) {
      if (!stream.signal.aborted) stream.send('error', { error: (err as Error).message });
    } finally {
      if (!res.writableEnded) res.end();
    }
  }

  private async file(pathname: string, res: ServerResponse): Promise<void> {
    const root = this.opts.webRoot;
    if (!root) throw new HttpError(404, 'the dashboard is not built (npm run build)');
    let rel = normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, '');
    // Client-side routes (no extension) are the single page.
    if (rel === '' || extname(rel) === '') rel = 'index.html';
    const path = join(root, rel);
    if (!path.startsWith(root.endsWith(sep) ? root : root + sep)) throw new HttpError(404, 'not found');
    let body: Buffer;
    try {
      body = await readFile(path);
    } catch {
      throw new HttpError(
        404,
        rel === 'index.html' ? 'the dashboard is not built (npm run build)' : `${rel}: not found`,
      );
    }
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[extname(path)] ?? 'application/octet-stream',
      'content-length': body.length,
      // Assets carry a content hash in their names; the page itself must be fresh.
      'cache-control': rel === 'index.html' ? 'no-cache' : 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
    });
    res.end(body);
  }
}
