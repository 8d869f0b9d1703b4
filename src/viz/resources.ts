/**
 * The resources viz reports on, and how each maps onto the metrics' labels: the target
 * labels scraping adds to a proxy's own series (`namespace`, `deployment`, `pod`) and the
 * `dst_*` labels discovery puts on its outbound series.
 */

export type VizKind = 'deployment' | 'pod' | 'service' | 'namespace' | 'authority';

const KINDS: Record<string, VizKind> = {
  deploy: 'deployment',
  deployment: 'deployment',
  deployments: 'deployment',
  workload: 'deployment',
  workloads: 'deployment',
  po: 'pod',
  pod: 'pod',
  pods: 'pod',
  svc: 'service',
  service: 'service',
  services: 'service',
  ns: 'namespace',
  namespace: 'namespace',
  namespaces: 'namespace',
  au: 'authority',
  authority: 'authority',
  authorities: 'authority',
};

export const KIND_NAMES =
  'deployments (deploy, workloads), pods (po), services (svc), namespaces (ns), authorities (au)';

/** A resource, or every resource of a kind when `name` is unset. */
export interface VizTarget {
  readonly kind: VizKind;
  readonly name?: string;
}

export class VizUsageError extends Error {
  override readonly name = 'VizUsageError';
}

export function parseKind(text: string): VizKind {
  const kind = KINDS[text.toLowerCase()];
  if (!kind) throw new VizUsageError(`"${text}" is not a resource kind viz knows: ${KIND_NAMES}`);
  return kind;
}

/** `deploy/web`, `deploy web` (as two words), or a kind alone (`pods`). */
export function parseTarget(text: string, name?: string): VizTarget {
  const slash = text.indexOf('/');
  if (slash >= 0) {
    if (name !== undefined) throw new VizUsageError(`give "${text}" or a kind and a name, not both`);
    const n = text.slice(slash + 1);
    if (n === '' || n.includes('/')) throw new VizUsageError(`"${text}" is not <kind>/<name>`);
    return { kind: parseKind(text.slice(0, slash)), name: n };
  }
  return { kind: parseKind(text), ...(name !== undefined && name !== '' ? { name } : {}) };
}

export function formatTarget(t: VizTarget): string {
  return t.name === undefined ? t.kind : `${t.kind}/${t.name}`;
}

/** The label naming a resource of `kind` as a request's destination (outbound series). */
export function dstLabel(kind: VizKind): string {
  return kind === 'authority' ? 'authority' : `dst_${kind}`;
}
