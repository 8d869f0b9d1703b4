/**
 * A layered ("Sugiyama") layout for small directed graphs, such as a namespace's
 * workloads and the calls between them: cycles broken by reversing back edges, layers by
 * longest path (callers left of what they call), order within layers by a few sweeps of
 * the barycenter heuristic to cut crossings, then coordinates. A namespace rarely holds
 * more than a few dozen workloads, and this is about a tenth of a general layout library's
 * weight (dagre: 17 KB gzip).
 */

export interface LayoutNode {
  readonly id: string;
  readonly width: number;
  readonly height: number;
}

export interface LayoutEdge {
  readonly from: string;
  readonly to: string;
}

export interface Placed {
  readonly id: string;
  /** Top-left corner. */
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly layer: number;
}

export interface Layout {
  readonly nodes: Map<string, Placed>;
  readonly width: number;
  readonly height: number;
}

export const GAP_X = 140;
export const GAP_Y = 36;
const SWEEPS = 6;

/** The edges that close a cycle in a depth-first walk (in node order), to be reversed for layering. */
function backEdges(ids: readonly string[], out: Map<string, string[]>): Set<string> {
  const state = new Map<string, 1 | 2>();
  const back = new Set<string>();
  const visit = (v: string): void => {
    state.set(v, 1);
    for (const w of out.get(v) ?? []) {
      const s = state.get(w);
      if (s === 1) back.add(`${v}\u0000${w}`);
      else if (s === undefined) visit(w);
    }
    state.set(v, 2);
  };
  for (const v of ids) if (!state.has(v)) visit(v);
  return back;
}

export function layout(nodes: readonly LayoutNode[], edges: readonly LayoutEdge[]): Layout {
  const ids = nodes.map((n) => n.id);
  const known = new Set(ids);
  const es = edges.filter((e) => e.from !== e.to && known.has(e.from) && known.has(e.to));
  const out = new Map<string, string[]>();
  for (const e of es) out.set(e.from, [...(out.get(e.from) ?? []), e.to]);
  const back = backEdges(ids, out);
  // The acyclic graph: back edges reversed.
  const dag = es.map((e) => (back.has(`${e.from}\u0000${e.to}`) ? { from: e.to, to: e.from } : e));

  // Layers by longest path from the sources (Kahn's order).
  const indegree = new Map(ids.map((id) => [id, 0]));
  const succ = new Map<string, string[]>();
  for (const e of dag) {
    indegree.set(e.to, (indegree.get(e.to) ?? 0) + 1);
    succ.set(e.from, [...(succ.get(e.from) ?? []), e.to]);
  }
  const layerOf = new Map(ids.map((id) => [id, 0]));
  const queue = ids.filter((id) => indegree.get(id) === 0);
  while (queue.length > 0) {
    const v = queue.shift() as string;
    for (const w of succ.get(v) ?? []) {
      layerOf.set(w, Math.max(layerOf.get(w) ?? 0, (layerOf.get(v) ?? 0) + 1));
      const d = (indegree.get(w) ?? 1) - 1;
      indegree.set(w, d);
      if (d === 0) queue.push(w);
    }
  }
  const layerCount = Math.max(0, ...layerOf.values()) + 1;
  const layers: string[][] = Array.from({ length: layerCount }, () => []);
  for (const id of ids) layers[layerOf.get(id) ?? 0]?.push(id);

  // Order within layers: barycenters of the neighbours' positions, sweeping down then up.
  const neighbours = new Map<string, string[]>();
  for (const e of dag) {
    neighbours.set(e.to, [...(neighbours.get(e.to) ?? []), e.from]);
    neighbours.set(e.from, [...(neighbours.get(e.from) ?? []), e.to]);
  }
  const position = new Map<string, number>();
  const index = (): void => {
    for (const layer of layers) {
      for (const [i, id] of layer.entries()) position.set(id, i / Math.max(1, layer.length - 1));
    }
  };
  index();
  for (let s = 0; s < SWEEPS; s++) {
    const order = s % 2 === 0 ? layers : [...layers].reverse();
    for (const layer of order) {
      const bary = new Map<string, number>();
      for (const id of layer) {
        const ns = (neighbours.get(id) ?? []).map((n) => position.get(n) ?? 0);
        bary.set(id, ns.length > 0 ? ns.reduce((a, b) => a + b, 0) / ns.length : (position.get(id) ?? 0));
      }
      layer.sort((a, b) => (bary.get(a) ?? 0) - (bary.get(b) ?? 0));
      index();
    }
  }

  // Coordinates: layers left to right, each centred vertically.
  const size = new Map(nodes.map((n) => [n.id, n]));
  const colWidth = layers.map((l) => Math.max(0, ...l.map((id) => size.get(id)?.width ?? 0)));
  const colHeight = layers.map(
    (l) => l.reduce((h, id) => h + (size.get(id)?.height ?? 0), 0) + GAP_Y * (l.length - 1),
  );
  const height = Math.max(0, ...colHeight);
  const placed = new Map<string, Placed>();
  let x = 0;
  layers.forEach((layer, li) => {
    let y = (height - (colHeight[li] ?? 0)) / 2;
    for (const id of layer) {
      const n = size.get(id) as LayoutNode;
      placed.set(id, {
        id,
        x: x + ((colWidth[li] ?? 0) - n.width) / 2,
        y,
        width: n.width,
        height: n.height,
        layer: li,
      });
      y += n.height + GAP_Y;
    }
    x += (colWidth[li] ?? 0) + GAP_X;
  });
  return { nodes: placed, width: Math.max(0, x - GAP_X), height };
}
