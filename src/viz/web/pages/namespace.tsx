import { useRef } from 'preact/hooks';
import { DEFAULT_WINDOW, encodeEdges, encodeRoutes, encodeSeries, encodeStat } from '../../api.js';
import type { EdgeRow } from '../../edges.js';
import type { RouteRow } from '../../routes.js';
import type { StatRow } from '../../stat.js';
import { Breadcrumb } from '../components/breadcrumb.js';
import { DependencyGraph } from '../components/graph.js';
import { LiveSection } from '../components/status.js';
import { EdgesTable, RoutesTable, routeKey, StatTable } from '../components/tables.js';
import { History, rowKey, SEED_RANGE, SEED_STEP, useHistory } from '../history.js';
import { useWatch } from '../live.js';
import { paths } from '../router.js';

const keyOf = (r: StatRow): string => rowKey(r.namespace, r.name);

const seed = (kind: 'deployment' | 'service', namespace: string): string =>
  encodeSeries({ target: { kind }, namespace, window: DEFAULT_WINDOW, range: SEED_RANGE, step: SEED_STEP });

/**
 * A namespace: its deployments, services and their routes with live golden metrics, and
 * the calls between its workloads with their mutual TLS status. Four streams.
 */
export function NamespacePage({ namespace }: { namespace: string }) {
  const window = DEFAULT_WINDOW;
  const deploys = useHistory(seed('deployment', namespace));
  const services = useHistory(seed('service', namespace));
  const routeHistory = useRef<{ ns: string; h: History } | undefined>(undefined);
  if (routeHistory.current?.ns !== namespace) routeHistory.current = { ns: namespace, h: new History() };
  const routesHistory = routeHistory.current.h;

  const append = (h: History) => (d: { rows: StatRow[] }) => {
    const now = Date.now();
    for (const r of d.rows) h.append(keyOf(r), r.requests, now);
  };
  const deployLive = useWatch<{ rows: StatRow[] }>(
    encodeStat({ target: { kind: 'deployment' }, namespace, window }),
    '2s',
    append(deploys.history),
  );
  const svcLive = useWatch<{ rows: StatRow[] }>(
    encodeStat({ target: { kind: 'service' }, namespace, window }),
    '2s',
    append(services.history),
  );
  // The routes of every service in front of the namespace's deployments.
  const routesLive = useWatch<{ rows: RouteRow[] }>(
    encodeRoutes({ target: { kind: 'deployment', namespace }, window }),
    '2s',
    (d) => {
      const now = Date.now();
      for (const r of d.rows) routesHistory.append(routeKey(r), r.requests, now);
    },
  );
  const edgesLive = useWatch<{ rows: EdgeRow[] }>(
    encodeEdges({ kind: 'deployment', namespace, window }),
    '5s',
  );
  const edges = edgesLive.data?.rows ?? [];
  return (
    <>
      <Breadcrumb namespace={namespace} />
      <h1>
        Namespace <span class="name">{namespace}</span>
      </h1>
      <LiveSection id="deployments" title="Deployments" live={deployLive} extraError={deploys.seedError}>
        <StatTable
          caption={`Golden metrics per deployment in ${namespace}`}
          rows={deployLive.data?.rows ?? []}
          history={deploys.history}
          keyOf={keyOf}
          link={(r) => paths.workload(r.namespace, r.name)}
          tcp
        />
      </LiveSection>
      <LiveSection id="services" title="Services" live={svcLive} extraError={services.seedError}>
        <StatTable
          caption={`Golden metrics per service in ${namespace}, as their clients see them`}
          rows={svcLive.data?.rows ?? []}
          history={services.history}
          keyOf={keyOf}
        />
      </LiveSection>
      <LiveSection id="routes" title="Routes" live={routesLive}>
        <RoutesTable rows={routesLive.data?.rows ?? []} history={routesHistory} />
      </LiveSection>
      <LiveSection id="edges" title="Edges" live={edgesLive}>
        <EdgesTable
          caption={`Calls to and from ${namespace}'s deployments`}
          rows={edges}
          link={paths.workload}
        />
        <DependencyGraph edges={edges} namespace={namespace} link={paths.workload} />
      </LiveSection>
    </>
  );
}
