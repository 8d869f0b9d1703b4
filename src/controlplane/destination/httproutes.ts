import { gatewayDurationMs, type HTTPRouteMatch, type HTTPValueMatch } from '../../catalog/httproutes.js';
import type { HTTPRoute } from '../../catalog/resources.js';
import type {
  DestinationProfile,
  RequestMatchMessage,
  RouteMessage,
  StringMatchMessage,
} from '../../grpc/protos.js';
import { type ServiceRef, serviceFqdn } from './names.js';

/** Regex syntax characters, escaped so a literal path matches only itself (valid with flag u). */
const escapeRegex = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

/**
 * A Gateway API path match as an anchored path regex. A prefix matches whole path
 * elements: `/api` matches `/api` and `/api/x`, not `/apix`.
 */
export function pathRegexOf(path: HTTPRouteMatch['path']): string {
  switch (path.type) {
    case 'Exact':
      return escapeRegex(path.value);
    case 'RegularExpression':
      return path.value;
    default: {
      const prefix = path.value.replace(/\/+$/, '');
      return prefix === '' ? '/.*' : `${escapeRegex(prefix)}(?:/.*)?`;
    }
  }
}

const valueMatch = (m: HTTPValueMatch, name: string): StringMatchMessage =>
  m.type === 'RegularExpression'
    ? { name, value: 'regex', regex: m.value }
    : { name, value: 'exact', exact: m.value };

function conditionOf(match: HTTPRouteMatch): RequestMatchMessage {
  const matches: RequestMatchMessage[] = [{ match: 'pathRegex', pathRegex: pathRegexOf(match.path) }];
  if (match.method) matches.push({ match: 'method', method: match.method });
  for (const h of match.headers)
    matches.push({ match: 'header', header: valueMatch(h, h.name.toLowerCase()) });
  for (const q of match.queryParams) matches.push({ match: 'query', query: valueMatch(q, q.name) });
  return matches.length === 1 ? (matches[0] as RequestMatchMessage) : { match: 'all', all: { matches } };
}

/**
 * How specific a match is, by the Gateway API's precedence: an exact path, then the
 * longest prefix, then a method, then the most headers, then the most query parameters.
 * Regular expressions, whose precedence the API leaves to implementations, come after
 * prefixes.
 */
function specificity(match: HTTPRouteMatch): number[] {
  const { type, value } = match.path;
  return [
    type === 'Exact' ? 2 : type === 'PathPrefix' ? 1 : 0,
    type === 'RegularExpression' ? 0 : value.length,
    match.method ? 1 : 0,
    match.headers.length,
    match.queryParams.length,
  ];
}

function compareSpecificity(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = (b[i] as number) - (a[i] as number);
    if (d !== 0) return d;
  }
  return 0;
}

/** The HTTPRoutes whose parent is this Service port (a parent without a port takes every port). */
export function routesFor(routes: readonly HTTPRoute[], ref: ServiceRef): HTTPRoute[] {
  return routes
    .filter(
      (r) =>
        r.metadata.namespace === ref.namespace &&
        r.spec.parentRefs.some(
          (p) => p.name === ref.service && (p.port === undefined || p.port === ref.port),
        ),
    )
    .sort(
      // Ties between routes: the oldest, then by name (the Gateway API's rule).
      (a, b) =>
        a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp) ||
        a.metadata.name.localeCompare(b.metadata.name),
    );
}

/**
 * HTTPRoutes as the proxy's profile: one route per match, most specific first (the
 * proxy takes the first that matches), named after its HTTPRoute; each carries its
 * rule's weighted backends and request timeout. A request no rule matches gets 404.
 */
export function httpRouteProfile(
  routes: readonly HTTPRoute[],
  ref: ServiceRef,
  clusterDomain: string,
): DestinationProfile {
  const candidates: Array<{ key: number[]; order: number; route: RouteMessage }> = [];
  for (const r of routes) {
    for (const rule of r.spec.rules) {
      const request = rule.timeouts?.request;
      const backends = rule.backendRefs.map((b) => ({
        authority: `${serviceFqdn({ namespace: ref.namespace, service: b.name }, clusterDomain)}:${b.port}`,
        weight: b.weight,
      }));
      for (const match of rule.matches) {
        candidates.push({
          key: specificity(match),
          order: candidates.length,
          route: {
            name: r.metadata.name,
            condition: conditionOf(match),
            responseClasses: [],
            isRetryable: false,
            timeoutMs: request === undefined ? 0 : (gatewayDurationMs(request) ?? 0),
            backends,
          },
        });
      }
    }
  }
  candidates.sort((a, b) => compareSpecificity(a.key, b.key) || a.order - b.order);
  return {
    fullyQualifiedName: serviceFqdn(ref, clusterDomain),
    opaqueProtocol: false,
    routes: candidates.map((c) => c.route),
    dstOverrides: [],
    source: `HTTPRoutes ${ref.namespace}/${routes.map((r) => r.metadata.name).join(',')}`,
    rejectUnmatched: true,
  };
}
