/**
 * The API, live: `/api/watch` re-evaluates API paths on the server every few seconds and
 * pushes each answer as a server-sent event, so a page never polls. Every view of a page
 * shares one stream (one per refresh period): a browser keeps at most six HTTP/1.1
 * connections to a server, across all its tabs, and each stream holds one.
 */
import { useEffect, useRef, useState } from 'preact/hooks';

export interface Live<T> {
  /** The latest answer (kept while reconnecting or after an error event). */
  readonly data: T | undefined;
  /** What went wrong, as the API said it; unset while all is well. */
  readonly error: string | undefined;
  readonly state: 'connecting' | 'live' | 'reconnecting' | 'failed';
  /** When the latest answer arrived (ms since the epoch); 0 before the first. */
  readonly updatedAt: number;
}

const INITIAL: Live<never> = { data: undefined, error: undefined, state: 'connecting', updatedAt: 0 };

/** The API's `{error}` message of a failed request, or its status. */
export async function apiError(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: unknown };
    if (typeof body.error === 'string') return body.error;
  } catch {
    // not JSON
  }
  return `${res.status} ${res.statusText}`.trim();
}

/** GETs an API path's JSON; throws the API's error message. */
export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { signal: signal ?? null, headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(await apiError(res));
  return (await res.json()) as T;
}

/**
 * Why a stream could not open: EventSource only says that it failed, so ask again with
 * fetch to read the API's message (an answer that starts streaming is dropped at once).
 */
export async function explainStreamFailure(url: string): Promise<string> {
  const ac = new AbortController();
  try {
    const res = await fetch(url, { signal: ac.signal });
    if (!res.ok) return await apiError(res);
    return 'the connection to the dashboard server was lost';
  } catch (err) {
    return `the dashboard server cannot be reached (${(err as Error).message})`;
  } finally {
    ac.abort();
  }
}

/** The error message a server-sent `error` event carries, if it is one (not a broken connection). */
export function eventError(e: Event): string | undefined {
  if (!(e instanceof MessageEvent) || typeof e.data !== 'string' || e.data === '') return undefined;
  try {
    const body = JSON.parse(e.data) as { error?: unknown };
    return typeof body.error === 'string' ? body.error : e.data;
  } catch {
    return e.data;
  }
}

export function watchUrl(paths: readonly string[], every: string): string {
  const q = new URLSearchParams();
  for (const p of paths) q.append('path', p);
  q.set('every', every);
  return `/api/watch?${q}`;
}

/** A view following one API path. */
interface Subscription {
  readonly path: string;
  readonly every: string;
  update(body: unknown): void;
  /** The server could not answer this path this time; the stream goes on. */
  failed(message: string): void;
  state(state: 'reconnecting' | 'failed', why?: string): void;
}

const subscriptions = new Set<Subscription>();
const streams: EventSource[] = [];
let reopening = false;

/** Reopens the page's streams for the current subscriptions, once per turn of the event loop. */
function reopenSoon(): void {
  if (reopening) return;
  reopening = true;
  setTimeout(() => {
    reopening = false;
    for (const es of streams.splice(0)) es.close();
    const byEvery = new Map<string, Subscription[]>();
    for (const sub of subscriptions) byEvery.set(sub.every, [...(byEvery.get(sub.every) ?? []), sub]);
    for (const [every, subs] of byEvery) streams.push(open(subs, every));
  }, 0);
}

function open(subs: readonly Subscription[], every: string): EventSource {
  const url = watchUrl(
    subs.map((s) => s.path),
    every,
  );
  const es = new EventSource(url);
  es.addEventListener('update', (e) => {
    const { index, body } = JSON.parse((e as MessageEvent<string>).data) as { index: number; body: unknown };
    subs[index]?.update(body);
  });
  es.addEventListener('error', (e) => {
    const message = eventError(e);
    if (message !== undefined) {
      const index = indexOf(e);
      for (const [i, sub] of subs.entries()) if (index === undefined || i === index) sub.failed(message);
      return;
    }
    if (es.readyState === EventSource.CLOSED) {
      explainStreamFailure(url).then((why) => {
        if (streams.includes(es)) for (const sub of subs) sub.state('failed', why);
      });
    } else {
      for (const sub of subs) sub.state('reconnecting');
    }
  });
  return es;
}

/** Which path a server-sent `error` event is about; undefined: the whole stream. */
function indexOf(e: Event): number | undefined {
  try {
    const index = (JSON.parse((e as MessageEvent<string>).data) as { index?: unknown }).index;
    return typeof index === 'number' ? index : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An API path's answer, now and every `every` after, for as long as the component is
 * mounted (or until `path` changes). `onUpdate` sees each answer as it arrives.
 */
export function useWatch<T>(path: string | null, every = '2s', onUpdate?: (data: T) => void): Live<T> {
  const [live, setLive] = useState<Live<T>>(INITIAL);
  // Read at each event, so a new function each render does not reopen the stream.
  const callback = useRef(onUpdate);
  callback.current = onUpdate;
  useEffect(() => {
    setLive(INITIAL);
    if (path === null) return;
    const sub: Subscription = {
      path,
      every,
      update: (body) => {
        const data = body as T;
        callback.current?.(data);
        setLive({ data, error: undefined, state: 'live', updatedAt: Date.now() });
      },
      failed: (message) => setLive((l) => ({ ...l, error: message })),
      state: (state, why) => setLive((l) => ({ ...l, state, ...(why !== undefined ? { error: why } : {}) })),
    };
    subscriptions.add(sub);
    reopenSoon();
    return () => {
      subscriptions.delete(sub);
      reopenSoon();
    };
  }, [path, every]);
  return live;
}

/** One API answer (for what does not change while a page is open, or seeds a live view). */
export function useFetch<T>(path: string | null): { data: T | undefined; error: string | undefined } {
  const [state, setState] = useState<{ data: T | undefined; error: string | undefined }>({
    data: undefined,
    error: undefined,
  });
  useEffect(() => {
    setState({ data: undefined, error: undefined });
    if (path === null) return;
    const ac = new AbortController();
    getJson<T>(path, ac.signal).then(
      (data) => setState({ data, error: undefined }),
      (err: Error) => {
        if (!ac.signal.aborted) setState({ data: undefined, error: err.message });
      },
    );
    return () => ac.abort();
  }, [path]);
  return state;
}
