/**
 * The API, live: `/api/watch` re-evaluates an API path on the server every few seconds and
 * pushes each answer as a server-sent event, so a page holds one EventSource per view and
 * never polls. Each stream holds one of the browser's six HTTP/1.1 connections to the
 * server, so a page keeps to four streams at most.
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

export function watchUrl(path: string, every: string): string {
  return `/api/watch?${new URLSearchParams({ path, every })}`;
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
    const url = watchUrl(path, every);
    const es = new EventSource(url);
    let closed = false;
    es.addEventListener('update', (e) => {
      const data = JSON.parse((e as MessageEvent<string>).data) as T;
      callback.current?.(data);
      setLive({ data, error: undefined, state: 'live', updatedAt: Date.now() });
    });
    es.addEventListener('error', (e) => {
      const message = eventError(e);
      if (message !== undefined) {
        // The server could not answer this time; the stream goes on.
        setLive((l) => ({ ...l, error: message }));
        return;
      }
      if (es.readyState === EventSource.CLOSED) {
        explainStreamFailure(url).then((why) => {
          if (!closed) setLive((l) => ({ ...l, error: why, state: 'failed' }));
        });
      } else {
        setLive((l) => ({ ...l, state: 'reconnecting' }));
      }
    });
    return () => {
      closed = true;
      es.close();
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
