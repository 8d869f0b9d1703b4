/**
 * The names `weft get` accepts for what it lists. Kept apart from the schemas so the CLI
 * can check its argument without loading them: each maps to the kind or view it lists.
 */
export const GET_ALIASES: Readonly<Record<string, 'Service' | 'Workload' | 'Endpoints'>> = {
  service: 'Service',
  services: 'Service',
  svc: 'Service',
  workload: 'Workload',
  workloads: 'Workload',
  wl: 'Workload',
  endpoints: 'Endpoints',
  endpoint: 'Endpoints',
  ep: 'Endpoints',
};

export function getKind(alias: string): 'Service' | 'Workload' | 'Endpoints' | undefined {
  const key = alias.toLowerCase();
  return Object.hasOwn(GET_ALIASES, key) ? GET_ALIASES[key] : undefined;
}
