// The meshed hop the faults, soak and files scenarios run against: a real control plane (`weft up`,
// loopback), a Service `web` with `replicas` endpoints (an app and its registered proxy each), and a
// client proxy that is a workload too, so client -> outbound proxy -> mTLS -> inbound proxy -> app, with
// the endpoints coming from discovery. Built from the end-to-end helpers the tests use.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ControlPlaneHandle,
  Load,
  type LoadSample,
  type Replica,
  serviceYaml,
  startControlPlane,
  startReplica,
  startWorkloadProxy,
  weftOk,
} from '../test/helpers/controlplane.js';
import { Cleanup, refusedPort, request, waitFor } from '../test/helpers/net.js';
import type { ProxyHandle } from '../test/helpers/proxy.js';

export const AUTHORITY = 'web.default.svc.cluster.local:80';

/** A ServiceProfile for `web` whose one route (every GET) is retryable. */
export function retryableProfileYaml(): string {
  return [
    'apiVersion: linkerd.io/v1alpha2',
    'kind: ServiceProfile',
    'metadata:',
    `  name: web.default.svc.cluster.local`,
    '  namespace: default',
    'spec:',
    '  routes:',
    '    - name: get',
    '      condition: {method: GET}',
    '      isRetryable: true',
    '  retryBudget: {retryRatio: 0.2, minRetriesPerSecond: 100, ttl: 10s}',
    '',
  ].join('\n');
}

export interface Mesh {
  cp: ControlPlaneHandle;
  replicas: Replica[];
  client: ProxyHandle;
  cleanup: Cleanup;
  /** Replaces the control plane (after a stop), on the same state directory and address. */
  restartControlPlane(): Promise<ControlPlaneHandle>;
}

export interface MeshOptions {
  dir: string;
  replicas: number;
  /** Extra manifests applied with the Service (e.g. retryableProfileYaml()). */
  manifest?: string;
  /** `weft up` flags. */
  controlPlaneArgs?: string[];
  /** Log level of the control plane and every proxy (default: the helpers' own). */
  logLevel?: string;
  /** More environment for every proxy (say NODE_OPTIONS). */
  proxyEnv?: Record<string, string>;
}

/** Resolves once `n` distinct replicas have answered through the client proxy. */
async function waitForReplicas(client: ProxyHandle, n: number): Promise<void> {
  const seen = new Set<string>();
  await waitFor(
    async () => {
      const r = await request({ ...client.outbound, path: '/', headers: { host: AUTHORITY } }).catch(
        () => undefined,
      );
      const replica = r?.headers['x-replica'];
      if (typeof replica === 'string') seen.add(replica);
      return seen.size >= n;
    },
    `${n} replicas answering through the client proxy`,
    20_000,
    20,
  );
}

export async function startMesh(opts: MeshOptions): Promise<Mesh> {
  const cleanup = new Cleanup();
  const stateDir = join(opts.dir, 'state');
  const cpEnv = opts.logLevel ? { env: { WEFT_LOG: opts.logLevel } } : {};
  const proxyEnv =
    opts.logLevel || opts.proxyEnv
      ? { ...(opts.logLevel ? { WEFT_PROXY_LOG: opts.logLevel } : {}), ...opts.proxyEnv }
      : undefined;
  try {
    let cp = await startControlPlane({
      stateDir,
      leaseDuration: '30s',
      extraArgs: opts.controlPlaneArgs ?? [],
      cleanup,
      ...cpEnv,
    });
    const manifest = join(opts.dir, 'web.yaml');
    writeFileSync(manifest, [serviceYaml('web'), ...(opts.manifest ? [opts.manifest] : [])].join('---\n'));
    await weftOk(cp, ['apply', '-f', manifest]);
    const replicas: Replica[] = [];
    for (let i = 0; i < opts.replicas; i++)
      replicas.push(
        await startReplica(cp, { name: `web-${i}`, ...(proxyEnv ? { env: proxyEnv } : {}) }, cleanup),
      );
    // A workload with nothing behind it, so it holds an identity (as startClientProxy's), with proxyEnv.
    const { proxy: client } = await startWorkloadProxy(
      cp,
      await refusedPort(),
      { workload: 'client', pod: 'client-1', namespace: 'default', serviceAccount: 'client' },
      cleanup,
      [],
      proxyEnv,
    );
    await waitForReplicas(client, opts.replicas);
    return {
      get cp() {
        return cp;
      },
      replicas,
      client,
      cleanup,
      async restartControlPlane() {
        cp = await startControlPlane({
          stateDir,
          addr: cp.grpcAddr,
          leaseDuration: '30s',
          extraArgs: opts.controlPlaneArgs ?? [],
          cleanup,
          ...cpEnv,
        });
        return cp;
      },
    };
  } catch (err) {
    await cleanup.run();
    throw err;
  }
}

/** The load's rate and how long a fault scenario's load lasts, by form. */
export function faultLoad(short: boolean): { rate: number; seconds: number } {
  return short ? { rate: 200, seconds: 4 } : { rate: 1000, seconds: 20 };
}

/** Failed requests of a load and the span from the first failure's send to the last one's end. */
export function failureFigures(samples: readonly LoadSample[]): {
  requests: number;
  failed: number;
  errorWindowMs: number;
  kinds: string;
} {
  const failed = samples.filter((s) => s.status !== 200);
  const first = Math.min(...failed.map((s) => s.start));
  const last = Math.max(...failed.map((s) => s.end));
  const kinds = new Map<string, number>();
  for (const s of failed) {
    const k = `${s.status}${s.error ? ` ${s.error.slice(0, 60)}` : ''}`;
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  return {
    requests: samples.length,
    failed: failed.length,
    errorWindowMs: failed.length === 0 ? 0 : last - first,
    kinds: [...kinds].map(([k, n]) => `${n}x ${k}`).join(', '),
  };
}

/** Paced load through the client proxy at `rate` for `seconds`; `during` runs after a quarter of it. */
export async function loadWith(
  mesh: Mesh,
  rate: number,
  seconds: number,
  during: () => Promise<void>,
): Promise<LoadSample[]> {
  const load = new Load(mesh.client.outbound, {
    authority: AUTHORITY,
    rate,
    total: rate * seconds,
    concurrency: Math.max(32, Math.ceil(rate / 20)),
  });
  await load.waitMore(Math.ceil((rate * seconds) / 4), seconds * 1000 + 20_000);
  await during();
  await load.done;
  return load.samples;
}
