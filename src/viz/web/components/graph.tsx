import { useMemo } from 'preact/hooks';
import type { EdgeRow } from '../../edges.js';
import { formatRps } from '../../format.js';
import { paths } from '../router.js';
import { layout, type Placed } from './layout.js';
import { OUTSIDE } from './tables.js';

const NODE_H = 30;
const CHAR_W = 7.2;
const PAD = 28;

const nodeId = (ns: string, name: string): string => (name === '' ? '' : `${ns}/${name}`);

/**
 * The calls between workloads (from `/api/edges`) as a left-to-right graph: callers left
 * of what they call; green solid edges are secured by mutual TLS, red dashed ones are not.
 */
export function DependencyGraph(props: {
  edges: readonly EdgeRow[];
  namespace: string;
  /** The workload this page is about (drawn highlighted, and present even without traffic). */
  focus?: string;
}) {
  const { edges, namespace, focus } = props;
  // The page re-renders with each update of its other sections; lay out only when these change.
  const { names, label, ids, g } = useMemo(() => {
    const names = new Map<string, { ns: string; name: string }>();
    if (focus !== undefined) names.set(nodeId(namespace, focus), { ns: namespace, name: focus });
    for (const e of edges) {
      names.set(nodeId(e.srcNamespace, e.src), { ns: e.srcNamespace, name: e.src });
      names.set(nodeId(e.dstNamespace, e.dst), { ns: e.dstNamespace, name: e.dst });
    }
    const label = (id: string): string => {
      const n = names.get(id);
      if (!n || n.name === '') return OUTSIDE;
      return n.ns === namespace ? n.name : `${n.name}.${n.ns}`;
    };
    const ids = [...names.keys()].sort();
    const g =
      ids.length === 0
        ? undefined
        : layout(
            ids.map((id) => ({ id, width: Math.max(60, label(id).length * CHAR_W + 20), height: NODE_H })),
            edges.map((e) => ({ from: nodeId(e.srcNamespace, e.src), to: nodeId(e.dstNamespace, e.dst) })),
          );
    return { names, label, ids, g };
  }, [edges, namespace, focus]);
  if (g === undefined) return <p>No traffic between workloads in the window.</p>;
  const width = g.width + PAD * 2;
  const height = g.height + PAD * 2 + 30;
  const secured = edges.filter((e) => e.secured).length;
  return (
    <figure class="graph">
      <svg
        viewBox={`${-PAD} ${-PAD} ${width} ${height}`}
        width={width}
        height={height}
        role="img"
        aria-labelledby="graph-title"
        data-nodes={ids.length}
        data-edges={edges.length}
      >
        <title id="graph-title">
          {`Dependency graph: ${ids.length} workloads, ${edges.length} edges, ${secured} secured by mutual TLS`}
        </title>
        <defs>
          <ArrowHead id="arrow-ok" kind="ok" />
          <ArrowHead id="arrow-bad" kind="bad" />
        </defs>
        {edges.map((e) => {
          const a = g.nodes.get(nodeId(e.srcNamespace, e.src));
          const b = g.nodes.get(nodeId(e.dstNamespace, e.dst));
          if (!a || !b || a === b) return null;
          const { d, mx, my } = edgePath(a, b);
          const cls = e.secured ? 'ok' : 'bad';
          return (
            <g class={`edge ${cls}`} key={`${a.id}>${b.id}`} data-secured={String(e.secured)}>
              <title>{`${label(a.id)} → ${label(b.id)}: ${formatRps(e.rps)}, ${e.secured ? 'mTLS' : `no mTLS (${e.noTlsReason})`}`}</title>
              <path d={d} marker-end={`url(#arrow-${cls})`} />
              <text x={mx} y={my - 5} text-anchor="middle">
                {`${formatRps(e.rps)} · ${e.secured ? 'mTLS' : 'no mTLS'}`}
              </text>
            </g>
          );
        })}
        {[...g.nodes.values()].map((n) => {
          const info = names.get(n.id);
          const text = label(n.id);
          const box = (
            <>
              <rect x={n.x} y={n.y} width={n.width} height={n.height} rx={6} />
              <text x={n.x + n.width / 2} y={n.y + n.height / 2 + 4} text-anchor="middle">
                {text}
              </text>
            </>
          );
          const focused = info?.ns === namespace && info.name === focus;
          return (
            <g
              class={`node${focused ? ' focus' : ''}${n.id === '' ? ' outside' : ''}`}
              key={n.id}
              data-node={text}
            >
              {info && info.name !== '' && !focused ? (
                <a href={paths.workload(info.ns, info.name)}>{box}</a>
              ) : (
                box
              )}
            </g>
          );
        })}
      </svg>
      <figcaption>
        Calls between workloads in the last minute: <span class="legend ok">mutual TLS</span>{' '}
        <span class="legend bad">not secured</span>
      </figcaption>
    </figure>
  );
}

/** A forward edge leaves a node's right side for the next one's left; others loop below. */
function edgePath(a: Placed, b: Placed): { d: string; mx: number; my: number } {
  if (b.layer > a.layer) {
    const x1 = a.x + a.width;
    const y1 = a.y + a.height / 2;
    const x2 = b.x;
    const y2 = b.y + b.height / 2;
    const c = (x2 - x1) / 2;
    return {
      d: `M${x1},${y1}C${x1 + c},${y1} ${x2 - c},${y2} ${x2},${y2}`,
      mx: (x1 + x2) / 2,
      my: (y1 + y2) / 2,
    };
  }
  const x1 = a.x + a.width / 2;
  const y1 = a.y + a.height;
  const x2 = b.x + b.width / 2;
  const y2 = b.y + b.height;
  const drop = Math.max(y1, y2) + 40;
  return { d: `M${x1},${y1}C${x1},${drop} ${x2},${drop} ${x2},${y2}`, mx: (x1 + x2) / 2, my: drop - 6 };
}

/** The head of an edge's arrow, coloured by whether the edge is secured. */
function ArrowHead({ id, kind }: { id: string; kind: 'ok' | 'bad' }) {
  return (
    <marker id={id} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
      <path d="M0,0L10,5L0,10z" class={`arrow ${kind}`} />
    </marker>
  );
}
