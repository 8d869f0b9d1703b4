/**
 * The viz HTTP API's requests as query strings, both ways: the CLI and the dashboard
 * encode them, the server decodes them (and names the parameter when one is wrong).
 */
import { parseDuration } from '../util/duration.js';
import type { EdgesRequest } from './edges.js';
import { formatTarget, parseTarget, type VizTarget, VizUsageError } from './resources.js';
import type { RoutesRequest } from './routes.js';
import type { NamespacedTarget, StatRequest } from './stat.js';

export const DEFAULT_WINDOW = '1m';

function targetParam(params: URLSearchParams, name: string): VizTarget | undefined {
  const text = params.get(name);
  if (text === null || text === '') return undefined;
  try {
    return parseTarget(text);
  } catch (err) {
    throw new VizUsageError(`${name}: ${(err as Error).message}`);
  }
}

function requiredTarget(params: URLSearchParams, name: string): VizTarget {
  const t = targetParam(params, name);
  if (!t) throw new VizUsageError(`${name}: missing (e.g. ${name}=deploy/web)`);
  return t;
}

export function windowParam(params: URLSearchParams, name = 'window', fallback = DEFAULT_WINDOW): number {
  const text = params.get(name) ?? fallback;
  try {
    return parseDuration(text, name);
  } catch (err) {
    throw new VizUsageError((err as Error).message);
  }
}

function namespaced(
  t: VizTarget | undefined,
  ns: string | null,
  fallback: string | undefined,
): NamespacedTarget | undefined {
  if (!t) return undefined;
  return { ...t, namespace: ns ?? fallback ?? 'default' };
}

const set = (p: URLSearchParams, name: string, value: string | undefined): void => {
  if (value !== undefined) p.set(name, value);
};

/** A --from or --to resource: `from=deploy/web&fromNamespace=emojivoto`. */
function setPeer(q: URLSearchParams, name: 'from' | 'to', t: NamespacedTarget | undefined): void {
  if (!t) return;
  q.set(name, formatTarget(t));
  q.set(`${name}Namespace`, t.namespace);
}

// stat -----------------------------------------------------------------------------------

export interface StatParams {
  readonly target: VizTarget;
  /** Unset: all namespaces. */
  readonly namespace?: string;
  readonly from?: NamespacedTarget;
  readonly to?: NamespacedTarget;
  /** A duration: 10s, 1m. */
  readonly window?: string;
}

function statQuery(p: StatParams): URLSearchParams {
  const q = new URLSearchParams({ resource: formatTarget(p.target) });
  set(q, 'namespace', p.namespace);
  setPeer(q, 'from', p.from);
  setPeer(q, 'to', p.to);
  set(q, 'window', p.window);
  return q;
}

export function encodeStat(p: StatParams): string {
  return `/api/stat?${statQuery(p)}`;
}

export function decodeStat(params: URLSearchParams): StatRequest {
  const namespace = params.get('namespace') ?? undefined;
  const from = namespaced(targetParam(params, 'from'), params.get('fromNamespace'), namespace);
  const to = namespaced(targetParam(params, 'to'), params.get('toNamespace'), namespace);
  return {
    target: requiredTarget(params, 'resource'),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
    windowMs: windowParam(params),
  };
}

// routes ---------------------------------------------------------------------------------

export interface RoutesParams {
  readonly target: NamespacedTarget;
  readonly to?: NamespacedTarget;
  readonly window?: string;
}

export function encodeRoutes(p: RoutesParams): string {
  const q = new URLSearchParams({ resource: formatTarget(p.target), namespace: p.target.namespace });
  setPeer(q, 'to', p.to);
  set(q, 'window', p.window);
  return `/api/routes?${q}`;
}

export function decodeRoutes(params: URLSearchParams, clusterDomain: string): RoutesRequest {
  const namespace = params.get('namespace') ?? 'default';
  const target = namespaced(requiredTarget(params, 'resource'), namespace, namespace) as NamespacedTarget;
  const to = namespaced(targetParam(params, 'to'), params.get('toNamespace'), namespace);
  return { target, ...(to ? { to } : {}), windowMs: windowParam(params), clusterDomain };
}

// edges ----------------------------------------------------------------------------------

export interface EdgesParams {
  readonly kind: VizTarget['kind'];
  readonly namespace?: string;
  readonly window?: string;
}

export function encodeEdges(p: EdgesParams): string {
  const q = new URLSearchParams({ resource: p.kind });
  set(q, 'namespace', p.namespace);
  set(q, 'window', p.window);
  return `/api/edges?${q}`;
}

export function decodeEdges(params: URLSearchParams, domain: EdgesRequest['domain']): EdgesRequest {
  const t = requiredTarget(params, 'resource');
  const namespace = params.get('namespace') ?? undefined;
  return {
    kind: t.kind,
    ...(namespace !== undefined ? { namespace } : {}),
    windowMs: windowParam(params),
    domain,
  };
}

// series (charts) ------------------------------------------------------------------------

export interface SeriesParams extends StatParams {
  /** How far back: 10m. */
  readonly range?: string;
  /** Between points: 10s. */
  readonly step?: string;
}

export function encodeSeries(p: SeriesParams): string {
  const q = statQuery(p);
  set(q, 'range', p.range);
  set(q, 'step', p.step);
  return `/api/series?${q}`;
}

export function decodeSeries(params: URLSearchParams): StatRequest & { rangeMs: number; stepMs: number } {
  const rangeMs = windowParam(params, 'range', '10m');
  const stepMs = windowParam(params, 'step', '10s');
  if (stepMs < 1000) throw new VizUsageError('step: at least 1s');
  if (rangeMs / stepMs > 1000) throw new VizUsageError('range/step: at most 1000 points');
  return { ...decodeStat(params), rangeMs, stepMs };
}

// tap ------------------------------------------------------------------------------------

/** Linkerd's default for `viz tap --max-rps`; the most one tap may ask for. */
export const DEFAULT_MAX_RPS = 100;
export const MAX_MAX_RPS = 1000;
export interface TapQuery {
  readonly target: VizTarget;
  readonly namespace: string;
  readonly to?: VizTarget & { readonly namespace: string };
  readonly method?: string;
  readonly path?: string;
  readonly authority?: string;
  readonly maxRps: number;
}

/** The query of `/api/tap` (the names `weft viz tap`'s flags have). */
export function decodeTap(params: URLSearchParams): TapQuery {
  const opt = (name: string) => params.get(name) || undefined;
  const target = requiredTarget(params, 'resource');
  if (target.kind === 'authority')
    throw new VizUsageError('tap: give a deployment, pod, namespace or service');
  const namespace = opt('namespace') ?? 'default';
  const to = namespaced(targetParam(params, 'to'), opt('toNamespace') ?? null, namespace);
  const maxRps = Number(params.get('maxRps') ?? DEFAULT_MAX_RPS);
  if (!Number.isFinite(maxRps) || maxRps <= 0 || maxRps > MAX_MAX_RPS) {
    throw new VizUsageError(`maxRps: ${params.get('maxRps')} is not a rate from 1 to ${MAX_MAX_RPS}`);
  }
  const path = opt('path');
  if (path !== undefined && !path.startsWith('/'))
    throw new VizUsageError(`path: "${path}" does not start with /`);
  const method = opt('method');
  const authority = opt('authority');
  return {
    target,
    namespace,
    ...(to ? { to } : {}),
    ...(method ? { method: method.toUpperCase() } : {}),
    ...(path ? { path } : {}),
    ...(authority ? { authority } : {}),
    maxRps,
  };
}

export function encodeTap(q: Partial<TapQuery> & { target: VizTarget; namespace: string }): string {
  const p = new URLSearchParams({ resource: formatTarget(q.target), namespace: q.namespace });
  setPeer(p, 'to', q.to);
  set(p, 'method', q.method);
  set(p, 'path', q.path);
  set(p, 'authority', q.authority);
  if (q.maxRps !== undefined) p.set('maxRps', String(q.maxRps));
  return `/api/tap?${p}`;
}
