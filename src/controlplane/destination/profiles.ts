import type { Catalog } from '../../catalog/catalog.js';
import { serviceOpaquePorts } from '../../catalog/opaque-ports.js';
import {
  parseWeight,
  profileOpaquePorts,
  type RequestMatch,
  type ResponseMatch,
} from '../../catalog/profiles.js';
import type { ServiceProfile } from '../../catalog/resources.js';
import type {
  DestinationProfile,
  RequestMatchMessage,
  ResponseMatchMessage,
  RouteMessage,
  WeightedDstMessage,
} from '../../grpc/protos.js';
import { parseDuration } from '../../util/duration.js';
import { coversPort } from '../../util/port-specs.js';
import { httpRouteProfile, routesFor } from './httproutes.js';
import { type ServiceRef, serviceFqdn } from './names.js';

/** A ServiceProfile route without its own timeout gets this one (Linkerd's default). */
export const DEFAULT_ROUTE_TIMEOUT_MS = 10_000;

/** A condition with several fields holds when all of them do (Linkerd's takes one field each). */
function allOf<M extends { match?: string }>(parts: M[], all: (matches: M[]) => M): M {
  return parts.length === 1 ? (parts[0] as M) : all(parts);
}

export function requestMatchMessage(m: RequestMatch): RequestMatchMessage {
  const parts: RequestMatchMessage[] = [];
  if (m.method !== undefined) parts.push({ match: 'method', method: m.method });
  if (m.pathRegex !== undefined) parts.push({ match: 'pathRegex', pathRegex: m.pathRegex });
  if (m.all) parts.push({ match: 'all', all: { matches: m.all.map(requestMatchMessage) } });
  if (m.any) parts.push({ match: 'any', any: { matches: m.any.map(requestMatchMessage) } });
  if (m.not) parts.push({ match: 'not', not: requestMatchMessage(m.not) });
  return allOf(parts, (matches) => ({ match: 'all', all: { matches } }));
}

export function responseMatchMessage(m: ResponseMatch): ResponseMatchMessage {
  const parts: ResponseMatchMessage[] = [];
  if (m.status)
    parts.push({ match: 'status', status: { min: m.status.min ?? 100, max: m.status.max ?? 599 } });
  if (m.all) parts.push({ match: 'all', all: { matches: m.all.map(responseMatchMessage) } });
  if (m.any) parts.push({ match: 'any', any: { matches: m.any.map(responseMatchMessage) } });
  if (m.not) parts.push({ match: 'not', not: responseMatchMessage(m.not) });
  return allOf(parts, (matches) => ({ match: 'all', all: { matches } }));
}

/** An override's authority with the requested port when it names none. */
function withPort(authority: string, port: number): string {
  return /:\d+$/.test(authority) ? authority : `${authority}:${port}`;
}

/** A ServiceProfile as the proxy receives it (opaque when its `opaquePorts` lists the port). */
export function serviceProfileMessage(
  profile: ServiceProfile,
  ref: ServiceRef,
  fullyQualifiedName: string,
): DestinationProfile {
  const { spec, metadata } = profile;
  const routes: RouteMessage[] = (spec.routes ?? []).map((r) => ({
    name: r.name,
    condition: requestMatchMessage(r.condition),
    responseClasses: (r.responseClasses ?? []).map((c) => ({
      condition: responseMatchMessage(c.condition),
      isFailure: c.isFailure ?? false,
    })),
    isRetryable: r.isRetryable ?? false,
    timeoutMs: r.timeout === undefined ? DEFAULT_ROUTE_TIMEOUT_MS : parseDuration(r.timeout, 'timeout'),
    backends: [],
  }));
  const budget = spec.retryBudget;
  const dstOverrides: WeightedDstMessage[] = (spec.dstOverrides ?? []).map((o) => ({
    authority: withPort(o.authority, ref.port),
    weight: parseWeight(o.weight) ?? 0,
  }));
  return {
    fullyQualifiedName,
    opaqueProtocol: coversPort(profileOpaquePorts(spec), ref.port),
    routes,
    retryBudget: budget
      ? {
          retryRatio: budget.retryRatio,
          minRetriesPerSecond: budget.minRetriesPerSecond,
          ttlMs: parseDuration(budget.ttl, 'ttl'),
        }
      : null,
    dstOverrides,
    source: `ServiceProfile ${metadata.namespace}/${metadata.name}`,
    rejectUnmatched: false,
  };
}

/**
 * The profile for a Service port, as a proxy in `contextNamespace` sees it: a
 * ServiceProfile named the Service's fully qualified name, from the proxy's own
 * namespace first (Linkerd's rule: the client's profile wins), then the Service's;
 * without one, the HTTPRoutes whose parent is the Service port (a ServiceProfile takes
 * precedence over them, as in Linkerd); without those, an empty profile. Whichever it is,
 * it is opaque when the port is one of the Service's opaque ports (../../catalog/opaque-ports.ts)
 * or of the ServiceProfile's `opaquePorts`.
 */
export function profileFor(
  catalog: Catalog,
  ref: ServiceRef,
  contextNamespace: string,
  clusterDomain: string,
): DestinationProfile {
  const fqdn = serviceFqdn(ref, clusterDomain);
  const sp =
    catalog.serviceProfiles.get(contextNamespace, fqdn) ?? catalog.serviceProfiles.get(ref.namespace, fqdn);
  const routes = sp ? [] : routesFor(catalog.httpRoutes.list(ref.namespace), ref);
  const profile: DestinationProfile = sp
    ? serviceProfileMessage(sp, ref, fqdn)
    : routes.length > 0
      ? httpRouteProfile(routes, ref, clusterDomain)
      : {
          fullyQualifiedName: fqdn,
          opaqueProtocol: false,
          routes: [],
          dstOverrides: [],
          source: '',
          rejectUnmatched: false,
        };
  const service = catalog.services.get(ref.namespace, ref.service);
  const servicePorts = service && { annotations: service.metadata.annotations, ports: service.spec.ports };
  const opaque = coversPort(serviceOpaquePorts(servicePorts), ref.port);
  return opaque ? { ...profile, opaqueProtocol: true } : profile;
}

/**
 * Follows the profile of a Service port: calls `onProfile` with it now, and again
 * whenever a change to the catalog's ServiceProfiles, HTTPRoutes or Services (their
 * opaque-ports annotations) changes it. Returns the function that stops.
 */
export function watchProfile(
  catalog: Catalog,
  ref: ServiceRef,
  contextNamespace: string,
  clusterDomain: string,
  onProfile: (profile: DestinationProfile) => void,
): () => void {
  let last = '';
  let watching = false;
  const update = (): void => {
    const profile = profileFor(catalog, ref, contextNamespace, clusterDomain);
    const text = JSON.stringify(profile);
    if (text === last) return;
    last = text;
    onProfile(profile);
  };
  // The watches replay what exists synchronously; one answer covers all of it.
  const changed = (): void => {
    if (watching) update();
  };
  const stops = [
    catalog.serviceProfiles.watch(changed),
    catalog.httpRoutes.watch(changed),
    catalog.services.watch(changed),
  ];
  watching = true;
  update();
  return () => {
    for (const stop of stops) stop();
  };
}
