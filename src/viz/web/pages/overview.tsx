import { LiveSection } from '../components/status.js';
import { StatTable } from '../components/tables.js';
import { useLiveStat } from '../history.js';
import { paths } from '../router.js';

/** Every namespace and every deployment with their golden metrics, live. Two streams. */
export function Overview() {
  const { live, history, seedError } = useLiveStat({ kind: 'namespace' });
  // Every namespace's deployments (no namespace: all of them).
  const deploys = useLiveStat({ kind: 'deployment' });
  return (
    <>
      <h1>Overview</h1>
      <p class="lead">
        Golden metrics of the last minute per namespace: the share of requests that succeeded, requests per
        second, and response latency percentiles, as <code>weft viz stat ns</code> shows them.
      </p>
      <LiveSection id="namespaces" title="Namespaces" live={live} extraError={seedError}>
        <StatTable
          caption="Golden metrics per namespace"
          rows={live.data?.rows ?? []}
          history={history}
          link={(r) => paths.namespace(r.name)}
          tcp
        />
      </LiveSection>
      <LiveSection
        id="all-deployments"
        title="Deployments"
        live={deploys.live}
        extraError={deploys.seedError}
      >
        <StatTable
          caption="Golden metrics per deployment, in every namespace"
          rows={deploys.live.data?.rows ?? []}
          history={deploys.history}
          link={(r) => paths.workload(r.namespace, r.name)}
          namespaces
        />
      </LiveSection>
    </>
  );
}
