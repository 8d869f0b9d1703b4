/**
 * `weft up`'s pods: runs workload instances as pods on this host (root on Linux), keeps
 * each applied Deployment's pods as its spec says, writes the Services' cluster IPs into
 * the pods' hosts files, and hands each pod's proxy its identity material. The network
 * is made when the first pod runs, with relays on the gateway to the control plane's gRPC
 * and Identity APIs, and taken away on close.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { LocalCallers } from '../catalog/local/callers.js';
import type { LocalCatalog } from '../catalog/local/local-catalog.js';
import type { Deployment } from '../catalog/resources.js';
import { formatHostPort, type HostPort } from '../util/addr.js';
import type { Logger } from '../util/log.js';
import { PodError } from './exec.js';
import { PodNetwork, type PodNetworkOptions } from './network.js';
import { Pod, type PodSpec, type RestartPolicy } from './pod.js';
import { missingPodTools, missingToolsProblem } from './prerequisites.js';
import { handFileToProxy, handToProxy } from './secrets.js';

export interface PodManagerOptions {
  readonly catalog: LocalCatalog;
  /** Issues each pod's control-plane credential, which its proxy registers with. */
  readonly callers: LocalCallers;
  readonly log: Logger;
  /** The control plane's gRPC and Identity APIs as bound (relayed onto the gateway), once listening. */
  readonly addresses: () => { grpc: HostPort; identity: HostPort };
  readonly trustAnchorsFile: string;
  readonly clusterDomain: string;
  readonly weftBin: string;
  readonly network?: PodNetworkOptions;
  /** Where pods' proxies find their identity material (default /run/weft-pods). */
  readonly secretsDir?: string;
  /**
   * netns: pods in network namespaces (root on Linux); loopback: the application on a
   * loopback port behind an explicit proxy, interception off; auto: netns when possible.
   */
  readonly mode?: PodMode;
}

export type PodMode = 'auto' | 'netns' | 'loopback';

export interface RunSpec {
  readonly namespace: string;
  readonly workload: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly restartPolicy: RestartPolicy;
  readonly replicas: number;
  /** Loopback mode: the application's port (default 8080). */
  readonly port?: number;
  readonly workingDir?: string;
  readonly namedPorts?: Readonly<Record<string, number>>;
  readonly gracePeriodMs?: number;
}

const serviceKey = (namespace: string, name: string): string => `${namespace}/${name}`;

/** The label that ties a Deployment's pods to the template they run, as on Kubernetes. */
export const TEMPLATE_HASH_LABEL = 'pod-template-hash';
const RETRY_MS = { first: 2000, max: 60_000 };

/** What a Deployment's pods run: its template, with the hash that names this version of it. */
export function deploymentRunSpec(d: {
  readonly metadata: Pick<Deployment['metadata'], 'namespace' | 'name'>;
  readonly spec: Deployment['spec'];
}): RunSpec & { hash: string } {
  const { template } = d.spec;
  const hash = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
  const [c] = template.spec.containers;
  if (!c) throw new PodError(`Deployment ${d.metadata.name} has no container`);
  const namedPorts: Record<string, number> = {};
  for (const p of c.ports) if (p.name !== undefined) namedPorts[p.name] = p.containerPort;
  return {
    hash,
    namespace: d.metadata.namespace,
    workload: d.metadata.name,
    serviceAccount: template.spec.serviceAccountName,
    labels: { ...template.metadata.labels, [TEMPLATE_HASH_LABEL]: hash },
    command: [...c.command, ...c.args],
    env: Object.fromEntries(c.env.map((e) => [e.name, e.value])),
    restartPolicy: 'Always',
    replicas: d.spec.replicas,
    ...(c.ports[0] ? { port: c.ports[0].containerPort } : {}),
    ...(c.workingDir !== undefined ? { workingDir: c.workingDir } : {}),
    namedPorts,
    gracePeriodMs: template.spec.terminationGracePeriodSeconds * 1000,
  };
}

export class PodManager {
  private network: PodNetwork | undefined;
  private starting: Promise<PodNetwork> | undefined;
  private readonly pods = new Map<string, Pod>();
  private readonly relays: net.Server[] = [];
  private readonly secretsDir: string;
  private readonly unwatch: Array<() => void>;
  /** Each Deployment's reconciliation, one at a time, and its retry after a failure. */
  private readonly reconciling = new Map<string, Promise<void>>();
  private readonly retries = new Map<string, { timer?: NodeJS.Timeout; delayMs: number }>();
  private closed = false;

  constructor(private readonly opts: PodManagerOptions) {
    PodNetwork.check(opts.network);
    this.secretsDir = opts.secretsDir ?? '/run/weft-pods';
    this.unwatch = [
      // A Service applied later is in every pod's hosts file from then on.
      opts.catalog.services.watch(() => this.refreshHosts()),
      opts.catalog.deployments.watch((e) =>
        this.reconcileSoon(e.object.metadata.namespace, e.object.metadata.name),
      ),
    ];
  }

  /** Whether the workload's pods belong to an applied Deployment (changed only by apply). */
  managed(namespace: string, workload: string): boolean {
    return this.opts.catalog.deployments.get(namespace, workload) !== undefined;
  }

  /** Queues a reconciliation of the Deployment after any running one. */
  private reconcileSoon(namespace: string, name: string): void {
    const key = serviceKey(namespace, name);
    clearTimeout(this.retries.get(key)?.timer);
    const previous = this.reconciling.get(key) ?? Promise.resolve();
    const next = previous.then(() => this.reconcile(namespace, name));
    this.reconciling.set(key, next);
    void next.finally(() => {
      if (this.reconciling.get(key) === next) this.reconciling.delete(key);
    });
  }

  /**
   * Brings the Deployment's pods to its spec: as many as `replicas` running the current
   * template (new pods start before old ones stop), none once it is deleted. A failure is
   * logged and retried with backoff while the Deployment exists.
   */
  private async reconcile(namespace: string, name: string): Promise<void> {
    if (this.closed) return;
    const key = serviceKey(namespace, name);
    const d = this.opts.catalog.deployments.get(namespace, name);
    try {
      if (!d) {
        if (this.byWorkload(namespace, name).length > 0) {
          await this.delete(namespace, name);
          this.opts.log.info({ namespace, deployment: name }, 'deployment deleted: its pods are gone');
        }
        return;
      }
      const spec = deploymentRunSpec(d);
      const pods = this.byWorkload(namespace, name);
      const current = pods.filter((p) => p.spec.labels[TEMPLATE_HASH_LABEL] === spec.hash);
      const missing = spec.replicas - current.length;
      if (missing > 0) await this.run({ ...spec, replicas: missing });
      const stale = pods.filter((p) => p.spec.labels[TEMPLATE_HASH_LABEL] !== spec.hash);
      const extra = missing < 0 ? current.slice(missing) : [];
      await Promise.all([...stale, ...extra].map((p) => this.remove(p)));
      this.retries.delete(key);
    } catch (err) {
      if (this.closed) return;
      const retry = this.retries.get(key) ?? { delayMs: RETRY_MS.first };
      this.opts.log.warn(
        { namespace, deployment: name, err: (err as Error).message, retryInMs: retry.delayMs },
        "could not run the deployment's pods",
      );
      retry.timer = setTimeout(() => this.reconcileSoon(namespace, name), retry.delayMs);
      retry.timer.unref();
      retry.delayMs = Math.min(retry.delayMs * 2, RETRY_MS.max);
      this.retries.set(key, retry);
    }
  }

  /** Pods in `namespace` (every namespace when empty). */
  list(namespace = ''): Pod[] {
    return [...this.pods.values()].filter((p) => namespace === '' || p.spec.namespace === namespace);
  }

  byWorkload(namespace: string, workload: string): Pod[] {
    return this.list(namespace).filter((p) => p.spec.workload === workload);
  }

  /** Starts `replicas` pods of the workload; resolves once each is running. */
  async run(spec: RunSpec): Promise<Pod[]> {
    if (this.closed) throw new PodError('weft up is stopping');
    if (spec.command.length === 0) throw new PodError('a pod needs a command to run');
    const canNetns = process.platform === 'linux' && process.getuid?.() === 0;
    const mode = this.opts.mode ?? 'auto';
    if (mode === 'netns' && !canNetns) {
      throw new PodError(
        'pods in network namespaces need root on Linux: run weft up as root, or with --pod-mode loopback',
      );
    }
    const inNetns = mode !== 'loopback' && canNetns;
    const missing = inNetns ? missingPodTools() : [];
    if (missing.length > 0) {
      const them = missing.length === 1 ? 'it' : 'them';
      throw new PodError(
        `${missingToolsProblem(missing)}: install ${them}, or run weft up with --pod-mode loopback`,
      );
    }
    const network = inNetns ? await this.ensureNetwork() : undefined;
    if (!network) {
      this.opts.log.info(
        { namespace: spec.namespace, workload: spec.workload },
        'running on loopback: interception is off, the application calls out through its proxy (HTTP_PROXY, grpc_proxy)',
      );
    }
    const grpcPort = this.opts.addresses().grpc.port;
    const started: Pod[] = [];
    for (let i = 0; i < Math.max(1, spec.replicas); i++) {
      const name = `${spec.workload.slice(0, 50)}-${randomBytes(3).toString('hex').slice(0, 5)}`;
      const podSpec: PodSpec = {
        namespace: spec.namespace,
        name,
        workload: spec.workload,
        serviceAccount: spec.serviceAccount,
        labels: spec.labels,
        command: spec.command,
        env: spec.env,
        restartPolicy: spec.restartPolicy,
        ...(spec.port ? { port: spec.port } : {}),
        ...(spec.workingDir !== undefined ? { workingDir: spec.workingDir } : {}),
        ...(spec.namedPorts ? { namedPorts: spec.namedPorts } : {}),
        ...(spec.gracePeriodMs !== undefined ? { gracePeriodMs: spec.gracePeriodMs } : {}),
      };
      // Bound to this pod and its service account: its proxy registers nothing else.
      const credential = this.opts.callers.issuePod({
        namespace: spec.namespace,
        pod: name,
        serviceAccount: spec.serviceAccount,
      });
      const pod = new Pod(
        podSpec,
        network
          ? {
              network,
              controlPlane: `${network.gateway}:${grpcPort}`,
              controlPlaneTokenFile: handFileToProxy(
                join(this.secretsDir, `${spec.namespace}.${name}`),
                credential,
                'control-plane.token',
              ),
              weftBin: this.opts.weftBin,
              hosts: this.hostsFor(spec.namespace),
              identity: (s, ip) => this.identityFor(s, ip, network),
            }
          : {
              controlPlane: formatHostPort(this.opts.addresses().grpc),
              // On loopback the proxy runs as weft up's user, who reads the state directory.
              controlPlaneTokenFile: credential,
              weftBin: this.opts.weftBin,
              hosts: [],
            },
      );
      this.pods.set(serviceKey(spec.namespace, name), pod);
      pod.on('app-exit', (code) =>
        this.opts.log.info(
          { namespace: spec.namespace, pod: name, code, restarts: pod.restarts },
          'pod application exited',
        ),
      );
      pod.on('finished', (code) =>
        this.opts.log.info({ namespace: spec.namespace, pod: name, code }, 'pod finished'),
      );
      try {
        await pod.start();
      } catch (err) {
        this.pods.delete(serviceKey(spec.namespace, name));
        this.opts.callers.revokePod(spec.namespace, name);
        throw err;
      }
      this.opts.log.info(
        { namespace: spec.namespace, pod: name, ip: pod.ip, workload: spec.workload },
        'pod running',
      );
      started.push(pod);
    }
    return started;
  }

  /** Stops and removes every pod of the workload; returns their names. */
  async delete(namespace: string, workload: string): Promise<string[]> {
    const doomed = this.byWorkload(namespace, workload);
    await Promise.all(doomed.map((p) => this.remove(p)));
    return doomed.map((p) => p.spec.name);
  }

  private async remove(pod: Pod): Promise<void> {
    const { namespace, name } = pod.spec;
    await pod.stop();
    this.pods.delete(serviceKey(namespace, name));
    this.opts.callers.revokePod(namespace, name);
    this.opts.catalog.deregister(namespace, name);
    rmSync(join(this.secretsDir, `${namespace}.${name}`), { recursive: true, force: true });
  }

  /** Stops every pod, the relays and the network: nothing is left behind. */
  async close(): Promise<void> {
    this.closed = true;
    for (const stop of this.unwatch) stop();
    for (const r of this.retries.values()) clearTimeout(r.timer);
    // A pod being started finishes starting (run stops nothing midway), then goes below.
    await Promise.allSettled([...this.reconciling.values()]);
    await Promise.all([...this.pods.values()].map((pod) => pod.stop()));
    this.pods.clear();
    for (const r of this.relays) r.close();
    if (!this.network) return;
    await this.network.destroy();
    rmSync(this.secretsDir, { recursive: true, force: true });
  }

  private ensureNetwork(): Promise<PodNetwork> {
    this.starting ??= (async () => {
      const network = await PodNetwork.create(this.opts.network);
      // The pods reach the control plane on the gateway.
      const { grpc, identity } = this.opts.addresses();
      for (const target of [grpc, identity]) {
        if (target.host === '0.0.0.0' || target.host === network.gateway) continue;
        this.relays.push(await relay({ host: network.gateway, port: target.port }, target));
      }
      mkdirSync(this.secretsDir, { recursive: true, mode: 0o711 });
      chmodSync(this.secretsDir, 0o711);
      this.network = network;
      this.opts.log.info(
        { bridge: network.bridge, gateway: network.gateway, pods: network.podCidr },
        'pod network up',
      );
      return network;
    })();
    return this.starting;
  }

  /** Each Service's cluster IP and names, as the pod's namespace sees them (Kubernetes DNS). */
  private hostsFor(namespace: string): Array<[string, string[]]> {
    return this.opts.catalog.services.list().flatMap((s): Array<[string, string[]]> => {
      const { namespace: ns, name } = s.metadata;
      if (s.spec.clusterIP === undefined) return [];
      const names = [`${name}.${ns}.svc.${this.opts.clusterDomain}`, `${name}.${ns}.svc`, `${name}.${ns}`];
      if (ns === namespace) names.push(name);
      return [[s.spec.clusterIP, names]];
    });
  }

  private refreshHosts(): void {
    for (const pod of this.pods.values()) pod.updateHosts(this.hostsFor(pod.spec.namespace));
  }

  /**
   * Registers the pod as starting (so that it holds a token) and gives its proxy's user
   * copies of the token and the trust anchors, as Kubernetes mounts a service account
   * token. Every proxy runs as the same user: on this platform the host is the boundary.
   */
  private async identityFor(spec: PodSpec, ip: string, network: PodNetwork) {
    const { tokenFile } = this.opts.catalog.register({
      namespace: spec.namespace,
      pod: spec.name,
      workload: spec.workload,
      serviceAccount: spec.serviceAccount,
      labels: spec.labels,
      address: ip,
      port: 0,
      namedPorts: spec.namedPorts ?? {},
      ready: false,
    });
    const out = handToProxy(join(this.secretsDir, `${spec.namespace}.${spec.name}`), {
      tokenFile,
      trustAnchorsFile: this.opts.trustAnchorsFile,
    });
    return { ...out, identityAddr: `${network.gateway}:${this.opts.addresses().identity.port}` };
  }
}

/** A TCP relay from `listen` to `target`. */
function relay(listen: HostPort, target: HostPort): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve(server));
  });
}
