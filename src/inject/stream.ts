import { isMap, isScalar, isSeq, parseAllDocuments } from 'yaml';
import { InjectError } from './errors.js';
import { type MapNode, stringAt, valueAt } from './nodes.js';
import type { Resource } from './workloads.js';
import { DocEditor } from './yaml-edit.js';

// A YAML stream in, the same stream out with each resource transformed: documents (and
// items of a `kind: List`) are handed to a transform one by one; those it leaves alone are
// copied byte for byte.

/** Changes one resource through the editor, and says what it did (lines for stderr). */
export type Transform = (res: Resource, editor: DocEditor) => string[];

export interface StreamResult {
  readonly output: string;
  /** What happened to each resource, in order. */
  readonly reports: string[];
}

export function transformStream(text: string, name: string, transform: Transform): StreamResult {
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs) || docs.length === 0) return { output: text, reports: [] };
  const reports: string[] = [];
  const editors: DocEditor[] = [];
  docs.forEach((doc, i) => {
    const source = docs.length > 1 ? `${name}, document ${i + 1}` : name;
    const error = doc.errors[0];
    if (error) {
      const line = error.linePos?.[0];
      const where = line ? ` line ${line.line}, column ${line.col}` : '';
      const message = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      throw new InjectError(`${source}:${where}: not valid YAML: ${message}`);
    }
    const editor = new DocEditor(text, doc);
    editors.push(editor);
    const root = doc.contents;
    if (root === null || (isScalar(root) && root.value === null)) return; // empty, or only comments
    reports.push(...visitResource(root, source, editor, transform));
  });
  let output = '';
  docs.forEach((doc, i) => {
    const start = i === 0 ? 0 : (docs[i - 1] as (typeof docs)[number]).range[2];
    const end = i === docs.length - 1 ? text.length : doc.range[2];
    output += (editors[i] as DocEditor).text(start, end);
  });
  return { output, reports };
}

function visitResource(node: unknown, source: string, editor: DocEditor, transform: Transform): string[] {
  if (!isMap(node)) {
    const what = isSeq(node) ? 'a list' : isScalar(node) ? 'a scalar' : 'an alias';
    throw new InjectError(`${source}: not a Kubernetes resource: the document is ${what}, not a mapping`);
  }
  const map = node as MapNode;
  const kind = stringAt(map, 'kind');
  if (kind === undefined || kind === '') {
    throw new InjectError(`${source}: not a Kubernetes resource: it has no kind`);
  }
  if (kind === 'List') {
    const items = valueAt(map, 'items');
    if (items === undefined || (isScalar(items) && items.value === null)) return [];
    if (!isSeq(items)) throw new InjectError(`${source}: the List's items are not a list`);
    return items.items.flatMap((item, j) =>
      visitResource(item, `${source}, item ${j + 1}`, editor, transform),
    );
  }
  return transform({ node: map, kind, source }, editor);
}
