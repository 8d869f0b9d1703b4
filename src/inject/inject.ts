import { isAlias, isMap, isScalar, isSeq } from 'yaml';
import {
  ADDED,
  AnnotationError,
  CREATED_BY,
  DEFAULT_CONTAINER,
  effectiveAnnotations,
  INJECT,
  PROXY_VERSION,
  proxySettings,
  unknownConfigKeys,
} from './annotations.js';
import { linkerdReports, unsupportedLinkerdKeys, weftView } from './linkerd.js';
import { annotationsOf, containerNames, type MapNode, mapAt, seqAt, valueAt } from './nodes.js';
import { INIT_CONTAINER, initContainer, PROXY_CONTAINER, proxyContainer, xtablesVolume } from './sidecar.js';
import { type StreamResult, transformStream } from './stream.js';
import {
  describe,
  isWorkloadKind,
  type PodTemplate,
  podTemplate,
  type Resource,
  resourceError,
  workloadName,
} from './workloads.js';
import type { DocEditor } from './yaml-edit.js';

// `weft inject`: adds the proxy to every workload of a YAML stream, as the injector webhook
// would, editing the YAML in place.

export interface InjectOptions {
  /** The proxy image without its tag. */
  readonly proxyImage: string;
  /** The image tag, also recorded as weft.io/proxy-version. */
  readonly proxyVersion: string;
  /** This CLI's version, recorded as weft.io/created-by. */
  readonly cliVersion: string;
  readonly nativeSidecar: boolean;
}

export function injectText(text: string, name: string, opts: InjectOptions): StreamResult {
  return transformStream(text, name, (res, editor) => injectResource(res, editor, opts));
}

function injectResource(res: Resource, editor: DocEditor, opts: InjectOptions): string[] {
  if (res.kind === 'Namespace') return annotateNamespace(res, editor);
  if (!isWorkloadKind(res.kind)) return [`${describe(res)} skipped (not a workload)`];
  const pod = podTemplate(res);
  const skip = skipReason(pod);
  if (skip) return [`${describe(res)} skipped (${skip})`];
  // Linkerd's names read as weft's, then the template's win over the workload's.
  const views = [weftView(annotationsOf(res.node)), weftView(annotationsOf(pod.template))] as const;
  const read = effectiveAnnotations(views[0].annotations, views[1].annotations);
  const linkerd = linkerdReports(describe(res), views, read.values());
  const inject = read.get(INJECT);
  if (inject?.value === 'disabled') return [`${describe(res)} skipped (${inject.key}: disabled)`, ...linkerd];
  const annotations = new Map([...read].map(([key, a]) => [key, a.value]));
  let settings: ReturnType<typeof proxySettings>;
  try {
    settings = proxySettings(annotations, (key) => read.get(key)?.key ?? key);
  } catch (err) {
    if (err instanceof AnnotationError) throw resourceError(res, err.message);
    throw err;
  }
  const containers = checkedList(res, pod, 'containers');
  if (!containers || containers.items.length === 0) {
    throw resourceError(res, `${pod.prefix}spec.containers is ${containers ? 'empty' : 'missing'}`);
  }
  checkedList(res, pod, 'initContainers');
  checkedList(res, pod, 'volumes');

  const sidecar = { image: `${opts.proxyImage}:${opts.proxyVersion}`, nativeSidecar: opts.nativeSidecar };
  const init = initContainer(settings, sidecar);
  const proxy = proxyContainer(settings, workloadName(res), sidecar);
  addAnnotations(pod, editor, opts, containerNames(containers)[0]);
  if (opts.nativeSidecar) {
    // proxy-init first, then the proxy: later init containers already go through the mesh.
    editor.insertItems(pod.spec, 'initContainers', 'start', [init, proxy]);
  } else {
    // proxy-init last, so earlier init containers keep their network; the proxy first, so it starts first.
    editor.insertItems(pod.spec, 'initContainers', 'end', [init]);
    editor.insertItems(pod.spec, 'containers', 'start', [proxy]);
  }
  editor.insertItems(pod.spec, 'volumes', 'end', [xtablesVolume()]);

  const reports = [`${describe(res)} injected`, ...linkerd];
  for (const key of unknownConfigKeys(annotations)) {
    reports.push(`warning: ${describe(res)}: unknown annotation ${key} ignored`);
  }
  for (const key of unsupportedLinkerdKeys(annotations)) {
    reports.push(`warning: ${describe(res)}: Linkerd's ${key} ignored: Weft does not support it`);
  }
  if (!opts.nativeSidecar && (res.kind === 'Job' || res.kind === 'CronJob')) {
    reports.push(
      `warning: ${describe(res)}: the proxy keeps its pods running after the job's containers finish; inject with --native-sidecar`,
    );
  }
  return reports;
}

/** Why a workload is left as it is whatever its annotations say, or undefined. */
function skipReason(pod: PodTemplate): string | undefined {
  const hostNetwork = valueAt(pod.spec, 'hostNetwork');
  if (isScalar(hostNetwork) && hostNetwork.value === true) return 'hostNetwork: true';
  const names = [
    ...containerNames(seqAt(pod.spec, 'containers')),
    ...containerNames(seqAt(pod.spec, 'initContainers')),
  ];
  if (names.includes(PROXY_CONTAINER) || names.includes(INIT_CONTAINER)) return 'already injected';
  return undefined;
}

/** Pod template annotations: enabled (unless already set), the version, who made it, and what to undo. */
function addAnnotations(
  pod: PodTemplate,
  editor: DocEditor,
  opts: InjectOptions,
  app: string | undefined,
): void {
  const existing = annotationsOf(pod.template);
  const entries: Array<[string, string]> = [];
  const added: string[] = [];
  if (!existing.has(INJECT)) {
    entries.push([INJECT, 'enabled']);
    added.push(INJECT);
  }
  entries.push([PROXY_VERSION, opts.proxyVersion], [CREATED_BY, `weft/cli ${opts.cliVersion}`]);
  // The proxy is the first container: kubectl logs and exec should still default to the application.
  if (!opts.nativeSidecar && app !== undefined && !existing.has(DEFAULT_CONTAINER)) {
    entries.push([DEFAULT_CONTAINER, app]);
    added.push(DEFAULT_CONTAINER);
  }
  if (added.length > 0) entries.push([ADDED, added.join(',')]);
  setAnnotations(pod.template, editor, entries);
}

/** Sets annotations on the metadata of `holder` (a template or a resource), creating what is missing. */
function setAnnotations(holder: MapNode, editor: DocEditor, entries: Array<[string, string]>): void {
  const meta = mapAt(holder, 'metadata');
  if (!meta || meta.items.length === 0) {
    // metadata reads best before spec
    editor.setPairs(holder, [['metadata', { annotations: Object.fromEntries(entries) }]], 'start');
    return;
  }
  const annotations = mapAt(meta, 'annotations');
  if (!annotations || annotations.items.length === 0) {
    editor.setPairs(meta, [['annotations', Object.fromEntries(entries)]]);
    return;
  }
  editor.setPairs(annotations, entries);
}

/** A Namespace: annotated weft.io/inject: enabled, unless it (or Linkerd's linkerd.io/inject) says already. */
function annotateNamespace(res: Resource, editor: DocEditor): string[] {
  const view = weftView(annotationsOf(res.node));
  const inject = view.annotations.get(INJECT);
  // Only the inject annotation of a Namespace is read; its others are not weft's concern here.
  const conflicts = view.conflicts.filter(([own]) => own.key === INJECT);
  const linkerd = linkerdReports(describe(res), [{ ...view, conflicts }], inject ? [inject] : []);
  if (inject?.value === 'disabled') return [`${describe(res)} skipped (${inject.key}: disabled)`, ...linkerd];
  if (inject?.value === 'enabled') {
    const which = inject.key === INJECT ? '' : `, ${inject.key}: enabled`;
    return [`${describe(res)} skipped (already annotated${which})`, ...linkerd];
  }
  setAnnotations(res.node, editor, [[INJECT, 'enabled']]);
  return [`${describe(res)} annotated (${INJECT}: enabled)`, ...linkerd];
}

/** The list at `spec.<key>`: absent, null and `[]` are fine, anything else but a list of mappings is an error. */
function checkedList(res: Resource, pod: PodTemplate, key: string) {
  const v = valueAt(pod.spec, key);
  if (v === undefined || (isScalar(v) && v.value === null)) return undefined;
  if (isAlias(v)) {
    throw resourceError(
      res,
      `${pod.prefix}spec.${key} is a YAML alias (*${v.source}): write the list out to inject it`,
    );
  }
  if (!isSeq(v)) throw resourceError(res, `${pod.prefix}spec.${key} is not a list`);
  v.items.forEach((item, i) => {
    if (!isMap(item)) throw resourceError(res, `${pod.prefix}spec.${key}[${i}] is not a mapping`);
  });
  return v;
}
