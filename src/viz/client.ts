/** The CLI's side of the viz HTTP API: JSON calls and server-sent event streams. */
import { formatHostPort, type HostPort } from '../util/addr.js';

export class VizClientError extends Error {
  override readonly name = 'VizClientError';
}

const TIMEOUT_MS = 30_000;

function url(addr: HostPort, path: string): string {
  return `http://${formatHostPort(addr)}${path}`;
}

function unreachable(addr: HostPort, err: unknown): VizClientError {
  const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
  return new VizClientError(
    `cannot reach viz at ${formatHostPort(addr)} (is \`weft up\` running?): ${cause}`,
  );
}

async function failure(res: Response): Promise<VizClientError> {
  const text = await res.text();
  let message = text;
  try {
    message = (JSON.parse(text) as { error?: string }).error ?? text;
  } catch {
    // Not JSON: the text as is.
  }
  return new VizClientError(message || `HTTP ${res.status}`);
}

export async function vizGet<T>(addr: HostPort, path: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url(addr, path), { signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    throw unreachable(addr, err);
  }
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

/**
 * Reads a server-sent event stream, calling `onEvent` for each event until the stream
 * ends or `signal` aborts. An `error` event from the server rejects with its message.
 */
export async function vizStream(
  addr: HostPort,
  path: string,
  onEvent: (event: string, data: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url(addr, path), { signal, headers: { accept: 'text/event-stream' } });
  } catch (err) {
    if (signal.aborted) return;
    throw unreachable(addr, err);
  }
  if (!res.ok || !res.body) throw await failure(res);
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let end = buffered.indexOf('\n\n');
      while (end >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        end = buffered.indexOf('\n\n');
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length === 0) continue;
        const value = JSON.parse(data.join('\n')) as unknown;
        if (event === 'error') throw new VizClientError((value as { error?: string }).error ?? 'viz failed');
        onEvent(event, value);
      }
    }
  } catch (err) {
    if (signal.aborted && !(err instanceof VizClientError)) return;
    throw err;
  }
}
