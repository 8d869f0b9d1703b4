import { isMap } from 'yaml';
import { ADDED, CREATED_BY, INJECT, PROXY_VERSION, REMOVABLE } from './annotations.js';
import { annotationsOf, type MapNode, mapAt, stringAt } from './nodes.js';
import { INIT_CONTAINER, PROXY_CONTAINER, XTABLES_VOLUME } from './sidecar.js';
import { type StreamResult, transformStream } from './stream.js';
import { describe, isWorkloadKind, podTemplate, type Resource } from './workloads.js';
import type { DocEditor } from './yaml-edit.js';

// `weft uninject`: takes out what `weft inject` put in, and nothing else.

export function uninjectText(text: string, name: string): StreamResult {
  return transformStream(text, name, (res, editor) => [uninjectResource(res, editor)]);
}

function uninjectResource(res: Resource, editor: DocEditor): string {
  if (res.kind === 'Namespace') {
    if (annotationsOf(res.node).get(INJECT) !== 'enabled') return `${describe(res)} skipped (not annotated)`;
    removeAnnotations(res.node, editor, [INJECT]);
    return `${describe(res)} uninjected`;
  }
  if (!isWorkloadKind(res.kind)) return `${describe(res)} skipped (not a workload)`;
  const pod = podTemplate(res);
  const named =
    (...names: string[]) =>
    (item: unknown): boolean => {
      const name = isMap(item) ? stringAt(item as MapNode, 'name') : undefined;
      return name !== undefined && names.includes(name);
    };
  let removed = 0;
  removed += editor.removeItems(pod.spec, 'initContainers', named(INIT_CONTAINER, PROXY_CONTAINER));
  removed += editor.removeItems(pod.spec, 'containers', named(PROXY_CONTAINER));
  removed += editor.removeItems(pod.spec, 'volumes', named(XTABLES_VOLUME));
  const annotations = annotationsOf(pod.template);
  const listed = (annotations.get(ADDED) ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => REMOVABLE.has(k));
  const keys = [PROXY_VERSION, CREATED_BY, ADDED, ...listed].filter((k) => annotations.has(k));
  removed += keys.length;
  removeAnnotations(pod.template, editor, keys);
  return removed > 0 ? `${describe(res)} uninjected` : `${describe(res)} skipped (not injected)`;
}

/** Removes annotations; an `annotations` left empty goes too, and a `metadata` left empty with it. */
function removeAnnotations(holder: MapNode, editor: DocEditor, keys: readonly string[]): void {
  const meta = mapAt(holder, 'metadata');
  const annotations = meta && mapAt(meta, 'annotations');
  if (!meta || !annotations || keys.length === 0) return;
  const remaining = annotations.items.filter((p) => {
    const key = (p.key as { value?: unknown } | null)?.value;
    return typeof key !== 'string' || !keys.includes(key);
  });
  if (remaining.length > 0) editor.removePairs(annotations, keys);
  else if (meta.items.length > 1) editor.removePairs(meta, ['annotations']);
  else editor.removePairs(holder, ['metadata']);
}
