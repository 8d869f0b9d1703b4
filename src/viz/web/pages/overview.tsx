import { DEFAULT_WINDOW, encodeSeries, encodeStat } from '../../api.js';
import type { StatRow } from '../../stat.js';
import { LiveSection } from '../components/status.js';
import { StatTable } from '../components/tables.js';
import { rowKey, SEED_RANGE, SEED_STEP, useHistory } from '../history.js';
import { useWatch } from '../live.js';
import { paths } from '../router.js';

const keyOf = (r: StatRow): string => rowKey(r.namespace, r.name);

/** Every namespace and every deployment with their golden metrics, live. Two streams. */
export function Overview() {
  const target = { kind: 'namespace' as const };
  const { history, seedError } = useHistory(
    encodeSeries({ target, window: DEFAULT_WINDOW, range: SEED_RANGE, step: SEED_STEP }),
  );
  const live = useWatch<{ rows: StatRow[] }>(encodeStat({ target, window: DEFAULT_WINDOW }), '2s', (d) => {
    const now = Date.now();
    for (const r of d.rows) history.append(keyOf(r), r.requests, now);
  });
  // Every namespace's deployments (no namespace: all of them).
  const deployTarget = { kind: 'deployment' as const };
  const deploys = useHistory(
    encodeSeries({ target: deployTarget, window: DEFAULT_WINDOW, range: SEED_RANGE, step: SEED_STEP }),
  );
  const deployLive = useWatch<{ rows: StatRow[] }>(
    encodeStat({ target: deployTarget, window: DEFAULT_WINDOW }),
    '2s',
    (d) => {
      const now = Date.now();
      for (const r of d.rows) deploys.history.append(keyOf(r), r.requests, now);
    },
  );
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
          keyOf={keyOf}
          link={(r) => paths.namespace(r.name)}
          tcp
        />
      </LiveSection>
      <LiveSection id="all-deployments" title="Deployments" live={deployLive} extraError={deploys.seedError}>
        <StatTable
          caption="Golden metrics per deployment, in every namespace"
          rows={deployLive.data?.rows ?? []}
          history={deploys.history}
          keyOf={keyOf}
          link={(r) => paths.workload(r.namespace, r.name)}
          namespaces
        />
      </LiveSection>
    </>
  );
}
