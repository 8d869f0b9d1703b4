import type { z } from 'zod';
import { type HTTPRouteSpec, normalizeHTTPRouteSpec } from './httproutes.js';
import type { ServiceProfileSpec } from './profiles.js';
import {
  DEFAULT_NAMESPACE,
  type DeploymentDocument,
  type DeploymentSpec,
  isKind,
  KINDS,
  type Kind,
  type ServiceDocument,
} from './resources.js';

export { DEFAULT_NAMESPACE };

/** One document as the CLI read it, and where it came from ("svc.yaml, document 2"). */
export interface SourcedDocument {
  readonly source: string;
  readonly value: unknown;
}

/** What a document sets: its labels, annotations and spec, defaults filled in, server-set metadata dropped. */
export interface Content<S> {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly spec: S;
}

export type NormalizedService = Content<{
  type: 'ClusterIP';
  selector?: Record<string, string>;
  ports: Array<{ name?: string; port: number; targetPort: number | string; appProtocol?: string }>;
  clusterIP?: string;
}>;

export type NormalizedDeployment = Content<DeploymentSpec>;

export type NormalizedProfile = Content<ServiceProfileSpec>;

export type NormalizedHTTPRoute = Content<HTTPRouteSpec>;

interface Located {
  readonly source: string;
  readonly namespace: string;
  readonly name: string;
}

/** A validated document: its kind, namespace and name, and its defaulted content. */
export type ValidResource =
  | (Located & { readonly kind: 'Service'; readonly spec: NormalizedService })
  | (Located & { readonly kind: 'Deployment'; readonly spec: NormalizedDeployment })
  | (Located & { readonly kind: 'ServiceProfile'; readonly spec: NormalizedProfile })
  | (Located & { readonly kind: 'HTTPRoute'; readonly spec: NormalizedHTTPRoute });

export class ValidationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ValidationError';
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const at = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const where = at === '' ? '' : `${at}: `;
    return `${where}unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  return at === '' ? issue.message : `${at}: ${issue.message}`;
}

function normalizeService(doc: ServiceDocument): NormalizedService {
  return {
    labels: doc.metadata.labels ?? {},
    annotations: doc.metadata.annotations ?? {},
    spec: {
      type: 'ClusterIP',
      ...(doc.spec.selector && Object.keys(doc.spec.selector).length > 0
        ? { selector: doc.spec.selector }
        : {}),
      ports: doc.spec.ports.map((p) => ({
        ...(p.name !== undefined ? { name: p.name } : {}),
        port: p.port,
        targetPort: p.targetPort ?? p.port,
        ...(p.appProtocol !== undefined ? { appProtocol: p.appProtocol } : {}),
      })),
      ...(doc.spec.clusterIP !== undefined ? { clusterIP: doc.spec.clusterIP } : {}),
    },
  };
}

function normalizeDeployment(doc: DeploymentDocument): NormalizedDeployment {
  const { template } = doc.spec;
  return {
    labels: doc.metadata.labels ?? {},
    annotations: doc.metadata.annotations ?? {},
    spec: {
      replicas: doc.spec.replicas ?? 1,
      selector: { matchLabels: doc.spec.selector.matchLabels },
      template: {
        metadata: { labels: template.metadata.labels, annotations: template.metadata.annotations ?? {} },
        spec: {
          containers: template.spec.containers.map((c) => ({
            name: c.name,
            ...(c.image !== undefined ? { image: c.image } : {}),
            command: c.command ?? [],
            args: c.args ?? [],
            ...(c.workingDir !== undefined ? { workingDir: c.workingDir } : {}),
            env: (c.env ?? []).map((e) => ({ name: e.name, value: e.value ?? '' })),
            ports: (c.ports ?? []).map((p) => ({
              containerPort: p.containerPort,
              ...(p.name !== undefined ? { name: p.name } : {}),
            })),
          })),
          serviceAccountName: template.spec.serviceAccountName ?? 'default',
          terminationGracePeriodSeconds: template.spec.terminationGracePeriodSeconds ?? 30,
        },
      },
    },
  };
}

const describeValue = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value;

/** A resource's labels and annotations (defaults filled) beside its spec, as the catalog stores them. */
function withMetadata<S>(
  doc: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } },
  spec: S,
): { labels: Record<string, string>; annotations: Record<string, string>; spec: S } {
  return { labels: doc.metadata.labels ?? {}, annotations: doc.metadata.annotations ?? {}, spec };
}

/**
 * Validates a batch of documents as one unit: every problem in every document is
 * reported, each naming its source, kind, name and field, and a batch with any problem
 * (or two documents for the same object) is refused whole.
 */
export function validateDocuments(docs: readonly SourcedDocument[]): ValidResource[] {
  const problems: string[] = [];
  const valid: ValidResource[] = [];
  const seen = new Map<string, string>();
  for (const { source, value } of docs) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(
        `${source}: expected a resource (a mapping with apiVersion, kind, metadata), got ${describeValue(value)}`,
      );
      continue;
    }
    const kind = (value as { kind?: unknown }).kind;
    if (kind === undefined) {
      problems.push(`${source}: missing field "kind"`);
      continue;
    }
    if (!isKind(kind)) {
      problems.push(
        `${source}: unknown kind "${String(kind)}" (weft apply accepts: ${Object.keys(KINDS).join(', ')})`,
      );
      continue;
    }
    const rawName = (value as { metadata?: { name?: unknown } }).metadata?.name;
    const label = `${source} (${kind}${typeof rawName === 'string' ? ` ${rawName}` : ''})`;
    const parsed = KINDS[kind].safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${label}: ${describeIssue(issue)}`);
      continue;
    }
    const doc = parsed.data;
    const namespace = doc.metadata.namespace ?? DEFAULT_NAMESPACE;
    const key = `${kind}/${namespace}/${doc.metadata.name}`;
    const earlier = seen.get(key);
    if (earlier) {
      problems.push(
        `${label}: duplicate: ${kind} ${namespace}/${doc.metadata.name} is also defined in ${earlier}`,
      );
      continue;
    }
    seen.set(key, source);
    const at = { source, namespace, name: doc.metadata.name };
    switch (doc.kind) {
      case 'Service':
        valid.push({ ...at, kind: doc.kind, spec: normalizeService(doc) });
        break;
      case 'Deployment':
        valid.push({ ...at, kind: doc.kind, spec: normalizeDeployment(doc) });
        break;
      case 'HTTPRoute':
        valid.push({ ...at, kind: doc.kind, spec: withMetadata(doc, normalizeHTTPRouteSpec(doc.spec)) });
        break;
      default:
        valid.push({ ...at, kind: doc.kind, spec: withMetadata(doc, doc.spec) });
    }
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return valid;
}

/** What `weft delete -f` needs from a document: kind, namespace and name. */
export function documentRefs(
  docs: readonly SourcedDocument[],
): Array<{ kind: Kind; namespace: string; name: string }> {
  const problems: string[] = [];
  const refs: Array<{ kind: Kind; namespace: string; name: string }> = [];
  for (const { source, value } of docs) {
    const v = value as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
    if (typeof v !== 'object' || v === null) {
      problems.push(`${source}: expected a resource, got ${describeValue(value)}`);
    } else if (v.kind === undefined) {
      problems.push(`${source}: missing field "kind"`);
    } else if (!isKind(v.kind)) {
      problems.push(`${source}: unknown kind "${String(v.kind)}" (known: ${Object.keys(KINDS).join(', ')})`);
    } else if (typeof v.metadata?.name !== 'string' || v.metadata.name === '') {
      problems.push(`${source} (${v.kind}): metadata.name is required`);
    } else {
      const ns = v.metadata.namespace;
      refs.push({
        kind: v.kind,
        namespace: typeof ns === 'string' && ns !== '' ? ns : DEFAULT_NAMESPACE,
        name: v.metadata.name,
      });
    }
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return refs;
}
