import { isMap, isScalar } from 'yaml';
import { InjectError } from './errors.js';
import { type MapNode, mapAt, stringAt, valueAt } from './nodes.js';

// Which resources carry a pod template, and where it is.

/** Kinds whose pods can be meshed, and the path of their pod template (empty: the resource is the pod). */
const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
  Pod: [],
};

/** One resource: the root map of a document, or of an item of a `kind: List`. */
export interface Resource {
  readonly node: MapNode;
  readonly kind: string;
  /** Where it came from, for messages: `web.yaml, document 2`. */
  readonly source: string;
}

/** The pod of a workload: its template's metadata holder and spec. */
export interface PodTemplate {
  /** The map holding `metadata` and `spec`: the template, or the Pod itself. */
  readonly template: MapNode;
  readonly spec: MapNode;
  /** `spec.template.` and the like, to name fields in messages ('' for a Pod). */
  readonly prefix: string;
}

export function isWorkloadKind(kind: string): boolean {
  return Object.hasOwn(TEMPLATE_PATHS, kind);
}

/** `deployment "web"`, as reports name a resource. */
export function describe(res: Resource): string {
  const meta = mapAt(res.node, 'metadata');
  const name = meta && (stringAt(meta, 'name') ?? stringAt(meta, 'generateName'));
  return `${res.kind.toLowerCase()} "${name ?? '<unnamed>'}"`;
}

/** An error naming the resource: `web.yaml, document 2 (deployment "web"): ...`. */
export function resourceError(res: Resource, message: string): InjectError {
  return new InjectError(`${res.source} (${describe(res)}): ${message}`);
}

/** The pod template of a workload kind; a missing or malformed one is an error naming the field. */
export function podTemplate(res: Resource): PodTemplate {
  const path = TEMPLATE_PATHS[res.kind];
  if (!path) throw resourceError(res, `a ${res.kind} has no pod template`);
  let template = res.node;
  const walked: string[] = [];
  for (const key of path) {
    walked.push(key);
    const next = mapAt(template, key);
    if (!next) throw resourceError(res, `${walked.join('.')} is ${missingOrNotMap(template, key)}`);
    template = next;
  }
  const prefix = path.length > 0 ? `${path.join('.')}.` : '';
  const spec = mapAt(template, 'spec');
  if (!spec) throw resourceError(res, `${prefix}spec is ${missingOrNotMap(template, 'spec')}`);
  const meta = valueAt(template, 'metadata');
  if (meta !== undefined && !isMap(meta) && !isNull(meta)) {
    throw resourceError(res, `${prefix}metadata is not a mapping`);
  }
  return { template, spec, prefix };
}

/**
 * The name the proxy registers its workload under: the owner's name, or for a bare Pod its
 * name or generateName (without the trailing dash).
 */
export function workloadName(res: Resource): string {
  const meta = mapAt(res.node, 'metadata');
  const name = meta && stringAt(meta, 'name');
  if (name) return name;
  const generated = res.kind === 'Pod' && meta ? stringAt(meta, 'generateName') : undefined;
  if (generated && generated.replace(/-+$/, '') !== '') return generated.replace(/-+$/, '');
  throw resourceError(res, 'metadata.name is missing');
}

function isNull(node: unknown): boolean {
  return node === null || (isScalar(node) && node.value === null);
}

function missingOrNotMap(map: MapNode, key: string): string {
  const v = valueAt(map, key);
  return v === undefined || isNull(v) ? 'missing' : 'not a mapping';
}
