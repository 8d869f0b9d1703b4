import type {
  DestinationProfile,
  RequestMatchMessage,
  ResponseMatchMessage,
  RouteMessage,
  StringMatchMessage,
  WeightedDstMessage,
} from '../../grpc/protos.js';
import { isFailure } from '../../metrics/http.js';
import type { LabelledRoute } from '../../metrics/route.js';
import { type HostPort, parseHostPort } from '../../util/addr.js';
import type { Exchange } from '../http/exchange.js';

/** Whether a request matches, given the exchange and its path without the query. */
type RequestTest = (ex: Exchange, path: string) => boolean;
type ResponseTest = (status: number) => boolean;

const never = (): boolean => false;

/** The whole path must match, as Linkerd anchors pathRegex. */
function anchored(source: string): RegExp | undefined {
  try {
    return new RegExp(`^(?:${source})$`, 'u');
  } catch {
    return undefined;
  }
}

/** Header names arrive lower-case; query parameter names match as they are. */
function stringTest(
  m: StringMatchMessage,
  name: string,
  value: (ex: Exchange, name: string) => string | undefined,
): RequestTest {
  if (m.value === 'regex') {
    const re = anchored(m.regex ?? '');
    if (!re) return never;
    return (ex) => {
      const v = value(ex, name);
      return v !== undefined && re.test(v);
    };
  }
  const exact = m.exact ?? '';
  return (ex) => value(ex, name) === exact;
}

function queryParam(ex: Exchange, name: string): string | undefined {
  const q = ex.path.indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams(ex.path.slice(q + 1)).get(name) ?? undefined;
}

/** Compiles a request condition; one that cannot compile (a bad regex) never matches. */
export function requestTest(m: RequestMatchMessage | null | undefined): RequestTest {
  switch (m?.match) {
    case 'all': {
      const parts = (m.all?.matches ?? []).map(requestTest);
      return (ex, path) => parts.every((t) => t(ex, path));
    }
    case 'any': {
      const parts = (m.any?.matches ?? []).map(requestTest);
      return (ex, path) => parts.some((t) => t(ex, path));
    }
    case 'not': {
      const inner = requestTest(m.not);
      return (ex, path) => !inner(ex, path);
    }
    case 'pathRegex': {
      const re = anchored(m.pathRegex ?? '');
      return re ? (_ex, path) => re.test(path) : never;
    }
    case 'method': {
      const method = (m.method ?? '').toUpperCase();
      return (ex) => ex.method === method;
    }
    case 'header':
      return m.header
        ? stringTest(m.header, m.header.name.toLowerCase(), (ex, n) => ex.requestHeader(n))
        : never;
    case 'query':
      return m.query ? stringTest(m.query, m.query.name, queryParam) : never;
    default:
      return never;
  }
}

export function responseTest(m: ResponseMatchMessage | null | undefined): ResponseTest {
  switch (m?.match) {
    case 'all': {
      const parts = (m.all?.matches ?? []).map(responseTest);
      return (status) => parts.every((t) => t(status));
    }
    case 'any': {
      const parts = (m.any?.matches ?? []).map(responseTest);
      return (status) => parts.some((t) => t(status));
    }
    case 'not': {
      const inner = responseTest(m.not);
      return (status) => !inner(status);
    }
    case 'status': {
      const min = m.status?.min ?? 100;
      const max = m.status?.max ?? 599;
      return (status) => status >= min && status <= max;
    }
    default:
      return never;
  }
}

/** Whether a condition looks at nothing but the method and the path. */
function onlyMethodAndPath(m: RequestMatchMessage | null | undefined): boolean {
  switch (m?.match) {
    case 'all':
      return (m.all?.matches ?? []).every(onlyMethodAndPath);
    case 'any':
      return (m.any?.matches ?? []).every(onlyMethodAndPath);
    case 'not':
      return onlyMethodAndPath(m.not);
    case 'header':
    case 'query':
      return false;
    default:
      return true;
  }
}

/** Method-and-path keys a profile remembers before it starts over. */
const MAX_CACHED_PATHS = 1024;

/** Where a split sends a request: the authority to resolve, and its address when the mesh does not know it. */
export interface Backend {
  readonly authority: string;
  readonly target: HostPort | undefined;
}

function backendOf(authority: string): Backend {
  let target: HostPort | undefined;
  try {
    target = parseHostPort(authority, 'backend', 80);
  } catch {
    target = undefined;
  }
  return { authority, target };
}

/** Picks one of several backends by weight. */
export class WeightedSplit {
  private readonly cumulative: number[] = [];
  private readonly backends: Backend[] = [];
  private readonly total: number;

  constructor(dsts: readonly WeightedDstMessage[]) {
    let total = 0;
    for (const d of dsts) {
      if (d.weight <= 0) continue;
      total += d.weight;
      this.cumulative.push(total);
      this.backends.push(backendOf(d.authority));
    }
    this.total = total;
  }

  get empty(): boolean {
    return this.total === 0;
  }

  pick(): Backend {
    const x = Math.random() * this.total;
    const c = this.cumulative;
    for (let i = 0; i < c.length; i++) if (x < (c[i] as number)) return this.backends[i] as Backend;
    return this.backends[this.backends.length - 1] as Backend;
  }
}

function splitOf(dsts: readonly WeightedDstMessage[]): WeightedSplit | undefined {
  const split = new WeightedSplit(dsts);
  return split.empty ? undefined : split;
}

/** A profile route ready for requests: its condition, classes and backends compiled. */
export class CompiledRoute implements LabelledRoute {
  readonly name: string;
  readonly isRetryable: boolean;
  readonly timeoutMs: number;
  readonly matches: RequestTest;
  /** Where this route's requests go instead of the profile's split; unset: the profile's. */
  readonly backends: WeightedSplit | undefined;
  private readonly classes: ReadonlyArray<{ test: ResponseTest; isFailure: boolean }>;

  constructor(m: RouteMessage | undefined) {
    this.name = m?.name ?? '';
    this.isRetryable = m?.isRetryable ?? false;
    this.timeoutMs = m?.timeoutMs ?? 0;
    this.matches = m ? requestTest(m.condition) : () => true;
    this.backends = m ? splitOf(m.backends) : undefined;
    this.classes = (m?.responseClasses ?? []).map((c) => ({
      test: responseTest(c.condition),
      isFailure: c.isFailure,
    }));
  }

  /** The first response class that matches decides; none: 5xx, a gRPC error or a reset is a failure. */
  isFailure(status: number, grpcStatus: number | undefined, errored: boolean): boolean {
    if (errored) return true;
    for (const c of this.classes) if (c.test(status)) return c.isFailure;
    return isFailure(status, grpcStatus, false);
  }
}

/**
 * A service's profile as the proxy uses it: routes in order (the first whose condition
 * holds names the request's route; none: the default route, without a name, retries or
 * timeout), the retry budget's settings and the traffic split.
 */
export class Profile {
  readonly fullyQualifiedName: string;
  readonly routes: readonly CompiledRoute[];
  readonly defaultRoute = new CompiledRoute(undefined);
  readonly split: WeightedSplit | undefined;
  readonly budget: { retryRatio: number; minRetriesPerSecond: number; ttlMs: number } | undefined;
  /** Whether a ServiceProfile or HTTPRoute stands behind it (route metrics exist only then). */
  readonly defined: boolean;
  /** A request no route matches fails with 404 instead of taking the default route. */
  readonly rejectUnmatched: boolean;
  /** The service's port carries opaque TCP: connections to it are relayed without detection. */
  readonly opaqueProtocol: boolean;

  /**
   * The route of each method and path seen, when no route looks at headers or the query
   * (a service's requests repeat a few paths: one map lookup instead of every regex).
   */
  private readonly byMethodAndPath: Map<string, CompiledRoute> | undefined;

  constructor(m: DestinationProfile) {
    this.fullyQualifiedName = m.fullyQualifiedName;
    this.routes = m.routes.map((r) => new CompiledRoute(r));
    if (m.routes.every((r) => onlyMethodAndPath(r.condition))) this.byMethodAndPath = new Map();
    this.split = splitOf(m.dstOverrides);
    this.budget = m.retryBudget ?? undefined;
    this.defined = m.source !== '';
    this.rejectUnmatched = m.rejectUnmatched;
    this.opaqueProtocol = m.opaqueProtocol;
  }

  route(ex: Exchange): CompiledRoute {
    const routes = this.routes;
    if (routes.length === 0) return this.defaultRoute;
    const q = ex.path.indexOf('?');
    const path = q < 0 ? ex.path : ex.path.slice(0, q);
    const cache = this.byMethodAndPath;
    if (!cache) return this.match(ex, path);
    const key = `${ex.method} ${path}`;
    let route = cache.get(key);
    if (route === undefined) {
      route = this.match(ex, path);
      if (cache.size >= MAX_CACHED_PATHS) cache.clear();
      cache.set(key, route);
    }
    return route;
  }

  private match(ex: Exchange, path: string): CompiledRoute {
    for (const r of this.routes) if (r.matches(ex, path)) return r;
    return this.defaultRoute;
  }
}
