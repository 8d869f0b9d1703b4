// The meshed hop, `weft-mesh`: client -> Weft client-side proxy (outbound listener) -> mutual TLS ->
// Weft server-side proxy (inbound listener) -> upstream, with a real control plane (`weft up`) for
// discovery and identity. Both proxies are workloads, so both have a certificate; the row fails unless
// the client proxy's metrics show the request went out over TLS to the server's identity, and the
// server proxy's show it came in over TLS from the client's. The control plane is not measured.
// `weft-mesh-routes` is the same row with a ServiceProfile of ROUTES routes for the Service, where only
// the last one matches the load's `GET /`: every request is tested against all of them on both proxies.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ownerCredentialFile } from '../src/catalog/local/callers.js';
import { identityName } from '../src/identity/names.js';
import { controlPlaneArgs, parseControlPlaneReady } from './discovery.js';
import { repoRoot, weftBin } from './paths.js';
import { httpGet, probeUntilOk } from './probe.js';
import { type Managed, runToCompletion, startProcess, stopProcess } from './procs.js';
import { freePort, waitForLine } from './ready.js';
import type { StartedTarget, TargetContext } from './targets.js';
import { portOf, startWeft } from './weft.js';

export const MESH_NAMESPACE = 'default';
export const MESH_SERVER = 'bench-server';
export const MESH_CLIENT = 'bench-client';
/** What the load asks for: the Service's cluster name and port. */
export const MESH_AUTHORITY = `${MESH_SERVER}.${MESH_NAMESPACE}.svc.cluster.local:80`;

/** The proxies' identities: each workload's service account is its name. */
export const SERVER_ID = identityName(MESH_SERVER, MESH_NAMESPACE);
export const CLIENT_ID = identityName(MESH_CLIENT, MESH_NAMESPACE);

/** How long a proxy may take to get its certificate and register, and the endpoint to be discovered. */
const READY_TIMEOUT_MS = 15_000;
const DISCOVERY_TIMEOUT_MS = 15_000;

export function serviceYaml(targetPort: number): string {
  return [
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    `  name: ${MESH_SERVER}`,
    `  namespace: ${MESH_NAMESPACE}`,
    'spec:',
    '  selector:',
    `    app: ${MESH_SERVER}`,
    '  ports:',
    '    - port: 80',
    `      targetPort: ${targetPort}`,
    '',
  ].join('\n');
}

/** Routes in the weft-mesh-routes profile; only the last, ROOT_ROUTE, matches the load's `GET /`. */
export const ROUTES = 50;
export const ROOT_ROUTE = 'root';

/** Every route's response class: a 5xx answer is a failure. */
const FAILURE_CLASS = [
  '      responseClasses:',
  '        - condition: {status: {min: 500, max: 599}}',
  '          isFailure: true',
];

/**
 * The ServiceProfile of weft-mesh-routes: ROUTES - 1 GET routes on `/api/v1/route-NN/<id>`, which
 * the load's `GET /` does not match, then ROOT_ROUTE on `/`. Each has a response class.
 */
export function routesProfileYaml(): string {
  const route = (name: string, pathRegex: string) => [
    `    - name: ${name}`,
    `      condition: {method: GET, pathRegex: '${pathRegex}'}`,
    ...FAILURE_CLASS,
  ];
  const routes: string[] = [];
  for (let i = 0; i < ROUTES - 1; i++) {
    const name = `route-${String(i).padStart(2, '0')}`;
    routes.push(...route(name, `/api/v1/${name}/[^/]+`));
  }
  routes.push(...route(ROOT_ROUTE, '/'));
  return [
    'apiVersion: weft.io/v1alpha2',
    'kind: ServiceProfile',
    'metadata:',
    `  name: ${MESH_SERVER}.${MESH_NAMESPACE}.svc.cluster.local`,
    `  namespace: ${MESH_NAMESPACE}`,
    'spec:',
    '  routes:',
    ...routes,
    '',
  ].join('\n');
}

/** The labels and value of each `name{...} value` line of a Prometheus text exposition. */
export function seriesOf(
  text: string,
  name: string,
): Array<{ labels: Record<string, string>; value: number }> {
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labels: Record<string, string> = {};
    for (const m of line.slice(name.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[m[1] ?? ''] = m[2] ?? '';
    }
    out.push({ labels, value: Number(line.slice(close + 1).trim()) });
  }
  return out;
}

/** A metric family that a row requires a series of, and what its absence means. */
export interface SeriesCheck {
  family: string;
  problem: string;
}
export const MESHED: SeriesCheck = { family: 'request_total', problem: 'the hop is not meshed' };
export const ROUTED: SeriesCheck = {
  family: 'route_request_total',
  problem: 'the profile routes are not in effect',
};

/**
 * Throws unless `metrics` has a series of `check.family` (default `request_total`) with a positive
 * count and every label of `want` (e.g. direction outbound, tls "true", server_id the server's identity).
 */
export function requireSeries(
  metrics: string,
  want: Record<string, string>,
  whose: string,
  check: SeriesCheck = MESHED,
): void {
  const found = seriesOf(metrics, check.family).some(
    (s) => s.value > 0 && Object.entries(want).every(([k, v]) => s.labels[k] === v),
  );
  if (found) return;
  const wanted = Object.entries(want)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  const seen = metrics
    .split('\n')
    .filter((l) => l.startsWith(`${check.family}{`))
    .join('\n');
  throw new Error(
    `${check.problem}: ${whose} /metrics has no ${check.family}{${wanted}} > 0; it has:\n${seen || `(no ${check.family} series)`}`,
  );
}

async function metricsOf(adminAddr: string): Promise<string> {
  const { status, body } = await httpGet({ port: portOf(adminAddr) }, '/metrics');
  if (status !== 200) throw new Error(`GET ${adminAddr}/metrics answered ${status}`);
  return body;
}

function proxyArgs(workload: string, pod: string, destination: string, stateDir: string): string[] {
  return [
    '--destination',
    destination,
    '--control-plane-token-file',
    ownerCredentialFile(stateDir),
    '--workload',
    workload,
    '--pod',
    pod,
    '--namespace',
    MESH_NAMESPACE,
    '--service-account',
    workload,
    '--label',
    `app=${workload}`,
  ];
}

/** What a meshed Weft row adds to the plain weft-mesh one. */
export interface MeshOptions {
  /** The row's name, for its temp dir (default weft-mesh). */
  name?: string;
  /** More manifests, applied with the Service before the proxies start. */
  manifest?: string;
  /** A profile route the first requests must have been counted on, by both proxies. */
  route?: string;
}

/** weft-mesh-routes: weft-mesh with the ServiceProfile of routesProfileYaml. */
export const ROUTES_MESH: MeshOptions = {
  name: 'weft-mesh-routes',
  manifest: routesProfileYaml(),
  route: ROOT_ROUTE,
};

export async function startWeftMesh(ctx: TargetContext, options: MeshOptions = {}): Promise<StartedTarget> {
  const dir = join(ctx.tempDir, `${options.name ?? 'weft-mesh'}-${ctx.protocol}`);
  mkdirSync(dir, { recursive: true });
  const started: Managed[] = [];
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    // The control plane, as users run it (the executable; state in the row's temp dir).
    const cp = startProcess(
      'weft control plane',
      weftBin,
      [...controlPlaneArgs(join(dir, 'cp')), '--lease-duration', '30s'],
      { cwd: repoRoot, env: { ...process.env, WEFT_LOG: 'info' } },
    );
    started.push(cp);
    const addr = await waitForLine(cp, parseControlPlaneReady, 15_000, 'a "control plane ready" line');
    const grpc = `${addr.host}:${addr.port}`;

    const manifest = join(dir, 'service.yaml');
    const extra = options.manifest === undefined ? [] : [options.manifest];
    writeFileSync(manifest, [serviceYaml(ctx.upstreamPort), ...extra].join('---\n'));
    await runToCompletion(
      'weft apply',
      weftBin,
      ['apply', '-f', manifest, '--control-plane', grpc, '--state-dir', join(dir, 'cp')],
      20_000,
      {
        cwd: repoRoot,
      },
    );

    // The server-side proxy registers its configured inbound address, so that must be a real port.
    const inboundPort = await freePort();
    const server = await startWeft(ctx.upstreamPort, {
      name: 'weft server proxy',
      inboundAddr: `127.0.0.1:${inboundPort}`,
      extraArgs: proxyArgs(MESH_SERVER, `${MESH_SERVER}-0`, grpc, join(dir, 'cp')),
      readyTimeoutMs: READY_TIMEOUT_MS,
    });
    started.push(server.proc);
    // The client-side proxy is a workload too (else it has no identity and speaks plaintext); nothing
    // is sent to its inbound listener, which forwards to a port where nothing listens.
    const client = await startWeft(await freePort(), {
      name: 'weft client proxy',
      extraArgs: proxyArgs(MESH_CLIENT, `${MESH_CLIENT}-0`, grpc, join(dir, 'cp')),
      readyTimeoutMs: READY_TIMEOUT_MS,
    });
    started.push(client.proc);

    const target = { port: portOf(client.addresses.outbound), authority: MESH_AUTHORITY };
    // Until the client proxy has discovered the server's endpoint it answers 503: retry until a request
    // of the row's protocol goes through, then check that it went through the mesh.
    await probeUntilOk(() => ctx.probe(target), DISCOVERY_TIMEOUT_MS, `request to ${MESH_AUTHORITY}`);
    const clientMetrics = await metricsOf(client.addresses.admin);
    const serverMetrics = await metricsOf(server.addresses.admin);
    requireSeries(
      clientMetrics,
      { direction: 'outbound', tls: 'true', server_id: SERVER_ID },
      'the client proxy',
    );
    requireSeries(
      serverMetrics,
      { direction: 'inbound', tls: 'true', client_id: CLIENT_ID },
      'the server proxy',
    );
    // The first request to an authority waits for its profile, so the probe's was routed already.
    if (options.route !== undefined) {
      const route = { rt_route: options.route };
      requireSeries(clientMetrics, { direction: 'outbound', ...route }, 'the client proxy', ROUTED);
      requireSeries(serverMetrics, { direction: 'inbound', ...route }, 'the server proxy', ROUTED);
    }
    return {
      ...target,
      // Stopped in this order: the client first (it holds the TLS session to the server), the control
      // plane last (the proxies deregister on the way out).
      procs: [client.proc, server.proc],
      helpers: [cp],
      cleanup,
      route: `weft outbound 127.0.0.1:${target.port} -> mTLS -> weft inbound 127.0.0.1:${inboundPort} -> ${ctx.upstreamName} 127.0.0.1:${ctx.upstreamPort}`,
    };
  } catch (err) {
    for (const m of started.reverse()) await stopProcess(m);
    cleanup();
    throw err;
  }
}
