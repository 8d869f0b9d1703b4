import type { EdgeRow } from '../../edges.js';
import { DASH, formatLatency, formatMeshed, formatRps, formatSuccess } from '../../format.js';
import type { GoldenMetrics } from '../../golden.js';
import type { RouteRow } from '../../routes.js';
import type { StatRow } from '../../stat.js';
import { type History, statKey } from '../history.js';
import { paths } from '../router.js';
import { Sparkline } from './sparkline.js';

/** A number's cell: the text as the CLI prints it, the raw value in `data-value` (for tests and tools). */
function Metric({ name, value, text }: { name: string; value: number | null | undefined; text: string }) {
  return (
    <td class="num" data-metric={name} data-value={value ?? ''}>
      {text}
    </td>
  );
}

/** The golden metrics, in the order the tables and the workload page show them. */
export const GOLDEN_METRICS: ReadonlyArray<{
  /** Its `data-metric`. */
  readonly key: string;
  /** Its table column's head. */
  readonly head: string;
  /** Its name on its own. */
  readonly label: string;
  readonly value: (g: GoldenMetrics | null) => number | null | undefined;
  readonly format: (v: number | null | undefined) => string;
}> = [
  {
    key: 'success',
    head: 'Success',
    label: 'Success rate',
    value: (g) => g?.successRate,
    format: formatSuccess,
  },
  { key: 'rps', head: 'RPS', label: 'Requests', value: (g) => g?.rps, format: formatRps },
  { key: 'p50', head: 'P50', label: 'P50 latency', value: (g) => g?.latencyMs.p50, format: formatLatency },
  { key: 'p95', head: 'P95', label: 'P95 latency', value: (g) => g?.latencyMs.p95, format: formatLatency },
  { key: 'p99', head: 'P99', label: 'P99 latency', value: (g) => g?.latencyMs.p99, format: formatLatency },
];

function GoldenHeads() {
  return (
    <>
      {GOLDEN_METRICS.map((m) => (
        <th scope="col" class="num" key={m.key}>
          {m.head}
        </th>
      ))}
    </>
  );
}

function GoldenCells({ g }: { g: GoldenMetrics | null }) {
  return (
    <>
      {GOLDEN_METRICS.map((m) => (
        <Metric key={m.key} name={m.key} value={m.value(g)} text={m.format(m.value(g))} />
      ))}
    </>
  );
}

function successClass(g: GoldenMetrics | null): string {
  const sr = g?.successRate;
  if (sr === null || sr === undefined) return '';
  return sr < 0.9 ? 'bad' : sr < 0.99 ? 'warn' : 'good';
}

/** `weft viz stat`'s table, with a link per row and a sparkline of its request rate. */
export function StatTable(props: {
  caption: string;
  rows: readonly StatRow[];
  history: History;
  link?: (r: StatRow) => string | undefined;
  tcp?: boolean;
  /** A namespace column (rows from every namespace). */
  namespaces?: boolean;
}) {
  const { caption, rows, history, link, tcp, namespaces } = props;
  if (rows.length === 0) return <p>No resources found.</p>;
  return (
    <div class="overflow-auto">
      <table class="striped stat">
        <caption class="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {namespaces ? <th scope="col">Namespace</th> : null}
            <th scope="col">Name</th>
            <th scope="col">Meshed</th>
            <GoldenHeads />
            {tcp ? (
              <th scope="col" class="num">
                TCP
              </th>
            ) : null}
            <th scope="col">Last 10 minutes</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => {
            const href = link?.(r);
            return (
              <tr
                key={statKey(r)}
                data-name={r.name}
                data-namespace={r.namespace}
                class={successClass(r.requests)}
              >
                {namespaces ? <td>{r.namespace}</td> : null}
                <th scope="row">{href ? <a href={href}>{r.name}</a> : r.name}</th>
                <td>{formatMeshed(r.meshed)}</td>
                <GoldenCells g={r.requests} />
                {tcp ? (
                  <Metric
                    name="tcp"
                    value={r.tcp?.openConnections}
                    text={r.tcp ? String(r.tcp.openConnections) : DASH}
                  />
                ) : null}
                <td>
                  <Sparkline points={history.get(statKey(r))} label={`${r.name} requests per second`} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export const routeKey = (r: RouteRow): string => `${r.authority} ${r.route}`;

/** `weft viz routes`: each route of each service, default routes last. */
export function RoutesTable({ rows, history }: { rows: readonly RouteRow[]; history: History }) {
  if (rows.length === 0) return <p>No routes: these services have no ServiceProfile or HTTPRoute.</p>;
  return (
    <div class="overflow-auto">
      <table class="striped routes">
        <caption class="visually-hidden">Routes of the namespace's services</caption>
        <thead>
          <tr>
            <th scope="col">Service</th>
            <th scope="col">Route</th>
            <GoldenHeads />
            <th scope="col">Since opened</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr
              key={routeKey(r)}
              data-service={r.service}
              data-route={r.route}
              class={successClass(r.requests)}
            >
              <td>{r.service}</td>
              <th scope="row">
                <code>{r.route}</code>
              </th>
              <GoldenCells g={r.requests} />
              <td>
                <Sparkline points={history.get(routeKey(r))} label={`route ${r.route} requests per second`} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** An edge's mutual TLS status, in words. */
export function MtlsStatus({ edge }: { edge: EdgeRow }) {
  if (edge.secured) {
    return (
      <span class="badge ok" data-mtls="secured" title="every request of the window went over mutual TLS">
        mTLS
      </span>
    );
  }
  return (
    <span class="badge bad" data-mtls="plaintext" title={edge.noTlsReason}>
      no mTLS{edge.noTlsReason ? `: ${edge.noTlsReason}` : ''}
    </span>
  );
}

export const OUTSIDE = '(outside the mesh)';

function End({ ns, name }: { ns: string; name: string }) {
  if (name === '') return <em>{OUTSIDE}</em>;
  return <a href={paths.workload(ns, name)}>{name}</a>;
}

/** `weft viz edges`: who talks to whom, and whether mutual TLS secured it. */
export function EdgesTable(props: { caption: string; rows: readonly EdgeRow[]; empty?: string }) {
  const { caption, rows, empty } = props;
  if (rows.length === 0) return <p>{empty ?? 'No traffic between workloads in the window.'}</p>;
  return (
    <div class="overflow-auto">
      <table class="striped edges">
        <caption class="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">From</th>
            <th scope="col">To</th>
            <th scope="col">mTLS</th>
            <th scope="col">Client identity</th>
            <th scope="col">Server identity</th>
            <th scope="col" class="num">
              RPS
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((e) => (
            <tr
              key={`${e.srcNamespace}/${e.src}>${e.dstNamespace}/${e.dst}`}
              data-src={e.src}
              data-dst={e.dst}
              data-secured={String(e.secured)}
            >
              <td>
                <End ns={e.srcNamespace} name={e.src} />
              </td>
              <td>
                <End ns={e.dstNamespace} name={e.dst} />
              </td>
              <td>
                <MtlsStatus edge={e} />
              </td>
              <td class="identity">{e.clientId || DASH}</td>
              <td class="identity">{e.serverId || DASH}</td>
              <Metric name="rps" value={e.rps} text={formatRps(e.rps)} />
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
