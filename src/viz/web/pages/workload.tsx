import { DEFAULT_WINDOW, encodeEdges, encodeSeries, encodeStat } from '../../api.js';
import type { EdgeRow } from '../../edges.js';
import { DASH, formatLatency, formatMeshed } from '../../format.js';
import type { StatRow, StatSeries } from '../../stat.js';
import { Breadcrumb } from '../components/breadcrumb.js';
import { TimeChart } from '../components/chart.js';
import { DependencyGraph } from '../components/graph.js';
import { ErrorNote, LiveSection } from '../components/status.js';
import { EdgesTable, GOLDEN_METRICS } from '../components/tables.js';
import { SEED_RANGE, SEED_STEP } from '../history.js';
import { useWatch } from '../live.js';
import { paths } from '../router.js';

const percent = (v: number): string => `${Math.round(v * 1000) / 10}%`;
const rps = (v: number): string => (v < 10 ? v.toFixed(1) : String(Math.round(v)));

type Item = [key: string, name: string, text: string, value: number | null | undefined];

function Golden({ row }: { row: StatRow }) {
  const g = row.requests;
  const items: Item[] = [
    ...GOLDEN_METRICS.map((m): Item => [m.key, m.label, m.format(m.value(g)), m.value(g)]),
    ['meshed', 'Meshed', formatMeshed(row.meshed), row.meshed?.meshed],
    ['tcp', 'TCP connections', row.tcp ? String(row.tcp.openConnections) : DASH, row.tcp?.openConnections],
  ];
  return (
    <dl class="golden">
      {items.map(([key, name, text, value]) => (
        <div key={key}>
          <dt>{name}</dt>
          <dd data-metric={key} data-value={value ?? ''}>
            {text}
          </dd>
        </div>
      ))}
    </dl>
  );
}

/**
 * A deployment: its golden metrics now and over the last ten minutes, the calls it
 * receives and makes with their mutual TLS status and identities, and the namespace's
 * dependency graph around it. Three streams.
 */
export function WorkloadPage({ namespace, name }: { namespace: string; name: string }) {
  const target = { kind: 'deployment' as const, name };
  const stat = useWatch<{ rows: StatRow[] }>(encodeStat({ target, namespace, window: DEFAULT_WINDOW }));
  const series = useWatch<{ stepMs: number; rows: StatSeries[] }>(
    encodeSeries({ target, namespace, window: DEFAULT_WINDOW, range: SEED_RANGE, step: SEED_STEP }),
    '10s',
  );
  const edgesLive = useWatch<{ rows: EdgeRow[] }>(
    encodeEdges({ kind: 'deployment', namespace, window: DEFAULT_WINDOW }),
    '5s',
  );
  const row = stat.data?.rows.find((r) => r.name === name && r.namespace === namespace);
  const s = series.data?.rows.find((r) => r.name === name && r.namespace === namespace)?.series;
  const times = s?.times ?? [];
  const edges = edgesLive.data?.rows ?? [];
  const inbound = edges.filter((e) => e.dst === name && e.dstNamespace === namespace);
  const outbound = edges.filter((e) => e.src === name && e.srcNamespace === namespace);
  return (
    <>
      <Breadcrumb namespace={namespace} deployment={name} />
      <div class="title-row">
        <h1>
          Deployment <span class="name">{name}</span>
        </h1>
        <a class="tap-link" href={paths.tap({ resource: `deploy/${name}`, namespace })}>
          Tap its requests
        </a>
      </div>
      <LiveSection id="golden" title="Now (last minute)" live={stat}>
        {row ? (
          <Golden row={row} />
        ) : (
          <ErrorNote error={`no deployment ${name} in namespace ${namespace}, and no traffic to one`} />
        )}
      </LiveSection>
      <LiveSection id="charts" title="Last 10 minutes" live={series}>
        {times.length === 0 ? <p>No responses in the last 10 minutes.</p> : null}
        <div class="charts">
          <TimeChart
            id="chart-success"
            title="Success rate"
            times={times}
            lines={[{ label: 'success', values: s?.successRate ?? [], color: '#16a34a' }]}
            format={percent}
            range={[0, 1]}
          />
          <TimeChart
            id="chart-rps"
            title="Requests per second"
            times={times}
            lines={[{ label: 'rps', values: s?.rps ?? [], color: '#2563eb' }]}
            format={rps}
          />
          <TimeChart
            id="chart-latency"
            title="Latency"
            times={times}
            lines={[
              { label: 'p50', values: s?.p50 ?? [], color: '#0891b2' },
              { label: 'p95', values: s?.p95 ?? [], color: '#d97706' },
              { label: 'p99', values: s?.p99 ?? [], color: '#dc2626' },
            ]}
            format={formatLatency}
          />
        </div>
      </LiveSection>
      <LiveSection id="edges" title="Edges" live={edgesLive}>
        <h3>Inbound</h3>
        <EdgesTable
          caption={`Calls to ${name}`}
          rows={inbound}
          empty="No calls to it from other workloads in the window."
        />
        <h3>Outbound</h3>
        <EdgesTable
          caption={`Calls from ${name}`}
          rows={outbound}
          empty="It called no other workload in the window."
        />
        <h3>Dependencies in {namespace}</h3>
        <DependencyGraph edges={edges} namespace={namespace} focus={name} />
      </LiveSection>
    </>
  );
}
