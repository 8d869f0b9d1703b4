import * as grpc from '@grpc/grpc-js';
import type { GetDestination } from '../../grpc/protos.js';
import type { Logger } from '../../util/log.js';
import { Backoff } from './backoff.js';

/** One authority's server stream and its bookkeeping. */
export class AuthorityWatch<M> {
  lastUsed = 0;
  call: grpc.ClientReadableStream<M> | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  readonly backoff = new Backoff();
  closed = false;
  constructor(readonly authority: string) {}
}

/** What a kind of watch does with its stream's events. */
export interface WatchHandlers<W, M> {
  /** A message; `first` is the first since the stream (re)opened. */
  data(watch: W, message: M, first: boolean): void;
  /** The control plane says the authority is not a mesh name (INVALID_ARGUMENT): it will not be asked again. */
  notInMesh(watch: W): void;
  /** The stream broke (it is reopened with backoff). */
  lost(watch: W): void;
  /** The watch is dropped: closed, or the least recently used beyond the limit. */
  stopped(watch: W): void;
}

/** At most this many authorities are watched per kind; the least recently used beyond are dropped. */
export const MAX_WATCHES = 1000;

/**
 * One stream per authority on a Destination API method (Get, GetProfile): opened on
 * first use, reopened with jittered backoff when it breaks, the least recently used
 * dropped beyond MAX_WATCHES.
 */
export class AuthorityStreams<W extends AuthorityWatch<M>, M> {
  private readonly watches = new Map<string, W>();
  private closed = false;

  constructor(
    private readonly client: grpc.Client,
    private readonly method: 'get' | 'getProfile',
    private readonly contextToken: string,
    private readonly log: Logger,
    private readonly create: (authority: string) => W,
    private readonly handlers: WatchHandlers<W, M>,
  ) {}

  /** The watch of an authority, opened on the first call. */
  get(authority: string): W {
    let w = this.watches.get(authority);
    if (w === undefined) {
      if (this.watches.size >= MAX_WATCHES) this.evictOldest();
      w = this.create(authority);
      this.watches.set(authority, w);
      this.open(w);
    }
    w.lastUsed = performance.now();
    return w;
  }

  values(): IterableIterator<W> {
    return this.watches.values();
  }

  private evictOldest(): void {
    let oldest: W | undefined;
    for (const w of this.watches.values()) if (!oldest || w.lastUsed < oldest.lastUsed) oldest = w;
    if (oldest) this.stop(oldest);
  }

  private stop(w: W): void {
    w.closed = true;
    clearTimeout(w.retryTimer);
    w.call?.cancel();
    this.watches.delete(w.authority);
    this.handlers.stopped(w);
  }

  private open(w: W): void {
    const request: GetDestination = { path: w.authority, contextToken: this.contextToken };
    const method = (
      this.client as unknown as Record<string, (req: GetDestination) => grpc.ClientReadableStream<M>>
    )[this.method] as (req: GetDestination) => grpc.ClientReadableStream<M>;
    const call = method.call(this.client, request);
    w.call = call;
    let first = true;
    call.on('data', (m: M) => {
      w.backoff.reset();
      this.handlers.data(w, m, first);
      first = false;
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (w.closed || this.closed) return;
      if (err.code === grpc.status.INVALID_ARGUMENT) {
        this.log.debug({ authority: w.authority, method: this.method }, 'not a mesh name');
        w.call = undefined;
        this.handlers.notInMesh(w);
        return;
      }
      this.handlers.lost(w);
      this.retry(w, err.details || err.message);
    });
    call.on('end', () => {
      if (w.closed || this.closed || w.call !== call) return;
      this.retry(w, 'stream ended');
    });
  }

  private retry(w: W, why: string): void {
    if (w.retryTimer) return;
    w.call = undefined;
    const delay = w.backoff.next();
    this.log.debug(
      { authority: w.authority, method: this.method, why, delayMs: Math.round(delay) },
      'destination stream lost',
    );
    w.retryTimer = setTimeout(() => {
      w.retryTimer = undefined;
      if (!w.closed && !this.closed) this.open(w);
    }, delay);
    w.retryTimer.unref();
  }

  close(): void {
    this.closed = true;
    for (const w of [...this.watches.values()]) this.stop(w);
  }
}
