import { isMap, isScalar, isSeq, type Node, type Pair, type YAMLMap, type YAMLSeq } from 'yaml';

// Reading a parsed Kubernetes resource through the yaml Document's nodes, so that the
// same nodes can then be edited in place (yaml-edit.ts).

export type MapNode = YAMLMap<unknown, unknown>;
export type SeqNode = YAMLSeq<unknown>;
export type PairNode = Pair<unknown, unknown>;

/** The pair whose key is the scalar `key`. */
export function pairOf(map: MapNode, key: string): PairNode | undefined {
  return map.items.find((p) => (isScalar(p.key) ? p.key.value === key : p.key === key));
}

/** The value node at `key`, or undefined. */
export function valueAt(map: MapNode, key: string): unknown {
  return pairOf(map, key)?.value ?? undefined;
}

export function mapAt(map: MapNode, key: string): MapNode | undefined {
  const v = valueAt(map, key);
  return isMap(v) ? (v as MapNode) : undefined;
}

export function seqAt(map: MapNode, key: string): SeqNode | undefined {
  const v = valueAt(map, key);
  return isSeq(v) ? (v as SeqNode) : undefined;
}

/** A scalar's value as a string (numbers and booleans too); undefined for null, collections or absent keys. */
export function scalarText(node: unknown): string | undefined {
  if (!isScalar(node)) return undefined;
  const v = node.value;
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint'
    ? String(v)
    : undefined;
}

export function stringAt(map: MapNode, key: string): string | undefined {
  return scalarText(valueAt(map, key));
}

/** A map of scalars as strings (annotations, labels); entries that are not scalars are left out. */
export function stringMap(node: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!isMap(node)) return out;
  for (const p of node.items) {
    const key = scalarText(p.key);
    const value = scalarText(p.value);
    if (key !== undefined && value !== undefined) out.set(key, value);
  }
  return out;
}

/** The annotations of a resource or pod template (its `metadata.annotations`), as strings. */
export function annotationsOf(holder: MapNode): Map<string, string> {
  const meta = mapAt(holder, 'metadata');
  return stringMap(meta ? valueAt(meta, 'annotations') : undefined);
}

/** The names of the containers in a `containers`-like list. */
export function containerNames(seq: SeqNode | undefined): string[] {
  if (!seq) return [];
  return seq.items.flatMap((item) => {
    const name = isMap(item) ? stringAt(item as MapNode, 'name') : undefined;
    return name === undefined ? [] : [name];
  });
}

export function hasRange(node: unknown): node is Node & { range: [number, number, number] } {
  return typeof node === 'object' && node !== null && Array.isArray((node as Node).range);
}
