/**
 * The names `weft get` accepts for what it lists. Kept apart from the schemas so the CLI
 * can check its argument without loading them: each maps to the kind or view it lists.
 */
export type Listed = 'Service' | 'Deployment' | 'ServiceProfile' | 'HTTPRoute' | 'Workload' | 'Endpoints';

export const GET_ALIASES: Readonly<Record<string, Listed>> = {
  service: 'Service',
  services: 'Service',
  svc: 'Service',
  deployment: 'Deployment',
  deployments: 'Deployment',
  deploy: 'Deployment',
  serviceprofile: 'ServiceProfile',
  serviceprofiles: 'ServiceProfile',
  sp: 'ServiceProfile',
  // The Gateway API names no short name; the qualified name is kubectl's way to say which HTTPRoute.
  httproute: 'HTTPRoute',
  httproutes: 'HTTPRoute',
  'httproutes.gateway.networking.k8s.io': 'HTTPRoute',
  workload: 'Workload',
  workloads: 'Workload',
  wl: 'Workload',
  endpoints: 'Endpoints',
  endpoint: 'Endpoints',
  ep: 'Endpoints',
};

/** What `weft get` says it lists, for its help and its errors. */
export const GET_TYPES = 'services, deployments, serviceprofiles, httproutes, workloads, endpoints';

export function getKind(alias: string): Listed | undefined {
  const key = alias.toLowerCase();
  return Object.hasOwn(GET_ALIASES, key) ? GET_ALIASES[key] : undefined;
}
