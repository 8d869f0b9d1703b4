import { useEffect, useRef, useState } from 'preact/hooks';
import { isFailure } from '../../../metrics/http.js';
import { DEFAULT_MAX_RPS } from '../../api.js';
import { DASH, formatLatency } from '../../format.js';
import type { TapEventView } from '../../tap-events.js';
import { grpcStatusName } from '../../tap-format.js';
import { ErrorNote } from '../components/status.js';
import { eventError, explainStreamFailure, useFetch } from '../live.js';
import { navigate, paths } from '../router.js';

/** The newest requests kept on the page. */
export const MAX_ROWS = 100;

const FIELDS = [
  'resource',
  'namespace',
  'to',
  'toNamespace',
  'method',
  'path',
  'authority',
  'maxRps',
] as const;
type Field = (typeof FIELDS)[number];
type Filters = Record<Field, string>;

const DEFAULTS: Filters = {
  resource: '',
  namespace: '',
  to: '',
  toNamespace: '',
  method: '',
  path: '',
  authority: '',
  maxRps: String(DEFAULT_MAX_RPS),
};

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

function filtersOf(query: URLSearchParams): Filters {
  const f = { ...DEFAULTS };
  for (const k of FIELDS) f[k] = query.get(k) ?? f[k];
  return f;
}

function queryOf(f: Filters): Record<string, string> {
  const q: Record<string, string> = {};
  for (const k of FIELDS) if (f[k].trim() !== '') q[k] = f[k].trim();
  return q;
}

/** One request: its three events merged. */
interface TapRow {
  readonly id: string;
  req: TapEventView;
  rsp?: TapEventView;
  end?: TapEventView;
}

const workload = (l: Readonly<Record<string, string>>, prefix: string): string | undefined =>
  l[`${prefix}_deployment`] ?? l[`${prefix}_pod`] ?? l.deployment ?? l.pod;

function source(e: TapEventView): string {
  return workload(e.srcLabels, 'src') ?? (e.direction === 'outbound' ? e.pod : undefined) ?? e.src;
}

function destination(e: TapEventView): string {
  return (
    workload(e.dstLabels, 'dst') ??
    e.dstLabels.dst_service ??
    (e.direction === 'inbound' ? e.pod : undefined) ??
    e.dst
  );
}

type State = 'idle' | 'connecting' | 'running' | 'ended' | 'failed';

/** Live requests through the proxies, filtered as `weft viz tap` filters them. */
export function TapPage({ query }: { query: URLSearchParams }) {
  const [filters, setFilters] = useState<Filters>(() => filtersOf(query));
  const [state, setState] = useState<State>('idle');
  const [error, setError] = useState<string>();
  const [, setVersion] = useState(0);
  const rows = useRef<TapRow[]>([]);
  const byId = useRef(new Map<string, TapRow>());
  const seen = useRef(0);
  const source$ = useRef<EventSource | null>(null);
  const frame = useRef(0);
  const namespaces = useFetch<{ namespaces: string[] }>('/api/namespaces');

  const stop = (next: State = 'idle'): void => {
    source$.current?.close();
    source$.current = null;
    setState(next);
  };
  useEffect(() => () => source$.current?.close(), []);

  /** Re-renders at most once a frame, however fast events come. */
  const schedule = (): void => {
    if (frame.current !== 0) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      setVersion((v) => v + 1);
    });
  };

  const onEvent = (e: TapEventView): void => {
    let row = byId.current.get(e.id);
    if (e.type === 'req' || !row) {
      if (e.type !== 'req' && !row) return; // its request was before the tap, or dropped from the page
      row = { id: e.id, req: e };
      byId.current.set(e.id, row);
      rows.current.unshift(row);
      seen.current++;
      while (rows.current.length > MAX_ROWS) byId.current.delete((rows.current.pop() as TapRow).id);
    } else if (e.type === 'rsp') row.rsp = e;
    else row.end = e;
    schedule();
  };

  const start = (): void => {
    source$.current?.close();
    const q = queryOf(filters);
    navigate(paths.tap(q), true);
    rows.current = [];
    byId.current.clear();
    seen.current = 0;
    setError(undefined);
    setState('connecting');
    const url = `/api/tap?${new URLSearchParams(q)}`;
    const es = new EventSource(url);
    source$.current = es;
    es.addEventListener('open', () => setState('running'));
    es.addEventListener('tap', (m) => onEvent(JSON.parse((m as MessageEvent<string>).data) as TapEventView));
    es.addEventListener('end', () => {
      if (source$.current === es) stop('ended');
    });
    es.addEventListener('error', (ev) => {
      if (source$.current !== es) return;
      const message = eventError(ev);
      if (message !== undefined) {
        setError(message);
        stop('failed');
      } else if (es.readyState === EventSource.CLOSED) {
        stop('failed');
        explainStreamFailure(url).then(setError);
      } else {
        setState('connecting');
      }
    });
  };

  const set = (k: Field) => (e: Event) =>
    setFilters({ ...filters, [k]: (e.target as HTMLInputElement).value });
  const running = state === 'running' || state === 'connecting';
  const stateText: Record<State, string> = {
    idle: 'Not running.',
    connecting: 'Connecting…',
    running: `Listening: ${seen.current} requests seen, the newest ${Math.min(seen.current, MAX_ROWS)} shown.`,
    ended: `Ended: ${seen.current} requests seen.`,
    failed: 'Stopped.',
  };
  return (
    <>
      <h1>Tap</h1>
      <p class="lead">
        Live requests through the proxies of a resource, as <code>weft viz tap</code> shows them.
      </p>
      <form
        id="tap-filters"
        aria-label="Tap filters"
        onSubmit={(e) => {
          e.preventDefault();
          start();
        }}
      >
        <div class="grid filters">
          <label>
            Resource
            <input
              name="resource"
              required
              placeholder="deploy/web"
              value={filters.resource}
              onInput={set('resource')}
              aria-describedby="resource-help"
            />
            <small id="resource-help">deploy/NAME, pod/NAME, ns/NAME…</small>
          </label>
          <label>
            Namespace
            <select name="namespace" value={filters.namespace} onChange={set('namespace')}>
              <option value="">default</option>
              {(namespaces.data?.namespaces ?? []).map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
              {filters.namespace !== '' &&
              !(namespaces.data?.namespaces ?? []).includes(filters.namespace) ? (
                <option value={filters.namespace}>{filters.namespace}</option>
              ) : null}
            </select>
          </label>
          <label>
            To
            <input name="to" placeholder="svc/voting-svc" value={filters.to} onInput={set('to')} />
          </label>
          <label>
            Method
            <select name="method" value={filters.method} onChange={set('method')}>
              <option value="">any</option>
              {METHODS.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </select>
          </label>
        </div>
        <div class="grid filters">
          <label>
            Path prefix
            <input name="path" placeholder="/api" value={filters.path} onInput={set('path')} />
          </label>
          <label>
            Authority
            <input
              name="authority"
              placeholder="web-svc:80"
              value={filters.authority}
              onInput={set('authority')}
            />
          </label>
          <label>
            Max requests/s
            <input
              name="maxRps"
              type="number"
              min="0"
              step="any"
              value={filters.maxRps}
              onInput={set('maxRps')}
            />
          </label>
          <div class="buttons">
            <button type="submit" name="start">
              {running ? 'Restart' : 'Start'}
            </button>
            <button type="button" name="stop" class="secondary" disabled={!running} onClick={() => stop()}>
              Stop
            </button>
          </div>
        </div>
      </form>
      <ErrorNote error={namespaces.error} what="namespaces" />
      <ErrorNote error={error} />
      <section id="tap" aria-labelledby="tap-title" data-state={state} data-seen={seen.current}>
        <h2 id="tap-title">Requests</h2>
        <p role="status">{stateText[state]}</p>
        <div class="overflow-auto">
          <table class="striped tap">
            <caption class="visually-hidden">Live requests, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Direction</th>
                <th scope="col">From</th>
                <th scope="col">To</th>
                <th scope="col">Method</th>
                <th scope="col">Path</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Latency
                </th>
                <th scope="col">mTLS</th>
              </tr>
            </thead>
            <tbody>
              {rows.current.map((r) => {
                const e = r.req;
                const status = r.end?.status ?? r.rsp?.status;
                // As the metrics classify it (5xx, a non-zero gRPC status, a reset); no status yet is not a failure.
                const failed = isFailure(status ?? 0, r.end?.grpcStatus, r.end?.reset !== undefined);
                return (
                  <tr key={r.id} data-id={r.id} class={failed ? 'bad' : ''}>
                    <td>{new Date(e.time).toLocaleTimeString()}</td>
                    <td>{e.direction}</td>
                    <td title={e.src}>{source(e)}</td>
                    <td title={e.dst}>{destination(e)}</td>
                    <td>{e.method}</td>
                    <td class="path" title={e.route ? `route ${e.route}` : undefined}>
                      <span class="authority">{e.authority}</span>
                      {e.path}
                    </td>
                    <td data-status={status ?? ''}>
                      {r.end?.reset ? `reset (${r.end.reset})` : (status ?? '…')}
                      {r.end?.grpcStatus !== undefined ? ` grpc ${grpcStatusName(r.end.grpcStatus)}` : ''}
                    </td>
                    <td class="num">
                      {r.rsp?.latencyMs !== undefined ? formatLatency(r.rsp.latencyMs) : DASH}
                    </td>
                    <td>{e.tls ? <span class="badge ok">mTLS</span> : <span class="badge bad">no</span>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}
