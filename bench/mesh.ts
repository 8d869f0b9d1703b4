// The meshed hop, `weft-mesh`: client -> Weft client-side proxy (outbound listener) -> mutual TLS ->
// Weft server-side proxy (inbound listener) -> upstream, with a real control plane (`weft up`) for
// discovery and identity. Both proxies are workloads, so both have a certificate; the row fails unless
// the client proxy's metrics show the request went out over TLS to the server's identity, and the
// server proxy's show it came in over TLS from the client's. The control plane is not measured.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { identityName } from '../src/identity/names.js';
import { parseControlPlaneReady } from './discovery.js';
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

/**
 * Throws unless `metrics` has a `request_total` series with a positive count and every label of
 * `want` (e.g. direction outbound, tls "true", server_id the server's identity).
 */
export function requireSeries(metrics: string, want: Record<string, string>, whose: string): void {
  const found = seriesOf(metrics, 'request_total').some(
    (s) => s.value > 0 && Object.entries(want).every(([k, v]) => s.labels[k] === v),
  );
  if (found) return;
  const wanted = Object.entries(want)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  const seen = metrics
    .split('\n')
    .filter((l) => l.startsWith('request_total{'))
    .join('\n');
  throw new Error(
    `the hop is not meshed: ${whose} /metrics has no request_total{${wanted}} > 0; it has:\n${seen || '(no request_total series)'}`,
  );
}

async function metricsOf(adminAddr: string): Promise<string> {
  const { status, body } = await httpGet({ port: portOf(adminAddr) }, '/metrics');
  if (status !== 200) throw new Error(`GET ${adminAddr}/metrics answered ${status}`);
  return body;
}

function proxyArgs(workload: string, pod: string, destination: string): string[] {
  return [
    '--destination',
    destination,
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

export async function startWeftMesh(ctx: TargetContext): Promise<StartedTarget> {
  const dir = join(ctx.tempDir, `weft-mesh-${ctx.protocol}`);
  mkdirSync(dir, { recursive: true });
  const started: Managed[] = [];
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    // The control plane, as users run it (the executable; state in the row's temp dir).
    const cp = startProcess(
      'weft control plane',
      weftBin,
      [
        'up',
        '--state-dir',
        join(dir, 'cp'),
        '--addr',
        '127.0.0.1:0',
        '--admin-addr',
        '127.0.0.1:0',
        '--identity-addr',
        '127.0.0.1:0',
        '--lease-duration',
        '30s',
      ],
      { cwd: repoRoot, env: { ...process.env, WEFT_LOG: 'info' } },
    );
    started.push(cp);
    const addr = await waitForLine(cp, parseControlPlaneReady, 15_000, 'a "control plane ready" line');
    const grpc = `${addr.host}:${addr.port}`;

    const manifest = join(dir, 'service.yaml');
    writeFileSync(manifest, serviceYaml(ctx.upstreamPort));
    await runToCompletion('weft apply', weftBin, ['apply', '-f', manifest, '--control-plane', grpc], 20_000, {
      cwd: repoRoot,
    });

    // The server-side proxy registers its configured inbound address, so that must be a real port.
    const inboundPort = await freePort();
    const server = await startWeft(ctx.upstreamPort, {
      name: 'weft server proxy',
      inboundAddr: `127.0.0.1:${inboundPort}`,
      extraArgs: proxyArgs(MESH_SERVER, `${MESH_SERVER}-0`, grpc),
      readyTimeoutMs: READY_TIMEOUT_MS,
    });
    started.push(server.proc);
    // The client-side proxy is a workload too (else it has no identity and speaks plaintext); nothing
    // is sent to its inbound listener, which forwards to a port where nothing listens.
    const client = await startWeft(await freePort(), {
      name: 'weft client proxy',
      extraArgs: proxyArgs(MESH_CLIENT, `${MESH_CLIENT}-0`, grpc),
      readyTimeoutMs: READY_TIMEOUT_MS,
    });
    started.push(client.proc);

    const target = { port: portOf(client.addresses.outbound), authority: MESH_AUTHORITY };
    // Until the client proxy has discovered the server's endpoint it answers 503: retry until a request
    // of the row's protocol goes through, then check that it went through the mesh.
    await probeUntilOk(() => ctx.probe(target), DISCOVERY_TIMEOUT_MS, `request to ${MESH_AUTHORITY}`);
    requireSeries(
      await metricsOf(client.addresses.admin),
      { direction: 'outbound', tls: 'true', server_id: SERVER_ID },
      'the client proxy',
    );
    requireSeries(
      await metricsOf(server.addresses.admin),
      { direction: 'inbound', tls: 'true', client_id: CLIENT_ID },
      'the server proxy',
    );
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
