import { DEFAULT_WINDOW, encodeEdges, encodeRoutes } from '../../api.js';
import type { EdgeRow } from '../../edges.js';
import type { RouteRow } from '../../routes.js';
import { Breadcrumb } from '../components/breadcrumb.js';
import { DependencyGraph } from '../components/graph.js';
import { LiveSection } from '../components/status.js';
import { EdgesTable, RoutesTable, routeKey, StatTable } from '../components/tables.js';
import { useLiveHistory, useLiveStat } from '../history.js';
import { useWatch } from '../live.js';
import { paths } from '../router.js';

/**
 * A namespace: its deployments, services and their routes with live golden metrics, and
 * the calls between its workloads with their mutual TLS status. Four streams.
 */
export function NamespacePage({ namespace }: { namespace: string }) {
  const window = DEFAULT_WINDOW;
  const deploys = useLiveStat({ kind: 'deployment' }, namespace);
  const services = useLiveStat({ kind: 'service' }, namespace);
  // The routes of every service in front of the namespace's deployments (no series to seed them).
  const routes = useLiveHistory<RouteRow>(
    encodeRoutes({ target: { kind: 'deployment', namespace }, window }),
    routeKey,
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
      <LiveSection id="deployments" title="Deployments" live={deploys.live} extraError={deploys.seedError}>
        <StatTable
          caption={`Golden metrics per deployment in ${namespace}`}
          rows={deploys.live.data?.rows ?? []}
          history={deploys.history}
          link={(r) => paths.workload(r.namespace, r.name)}
          tcp
        />
      </LiveSection>
      <LiveSection id="services" title="Services" live={services.live} extraError={services.seedError}>
        <StatTable
          caption={`Golden metrics per service in ${namespace}, as their clients see them`}
          rows={services.live.data?.rows ?? []}
          history={services.history}
        />
      </LiveSection>
      <LiveSection id="routes" title="Routes" live={routes.live}>
        <RoutesTable rows={routes.live.data?.rows ?? []} history={routes.history} />
      </LiveSection>
      <LiveSection id="edges" title="Edges" live={edgesLive}>
        <EdgesTable caption={`Calls to and from ${namespace}'s deployments`} rows={edges} />
        <DependencyGraph edges={edges} namespace={namespace} />
      </LiveSection>
    </>
  );
}
