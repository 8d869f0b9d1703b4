/**
 * A pod on this host: its own network namespace on the pods' bridge, a hosts file naming
 * the Services, proxy-init's rules, the proxy as its own user (2102), then the application
 * as another. The proxy is ready before the application starts; when the application
 * exits for good the proxy drains and exits, so a one-off job finishes. An application that
 * crashes is restarted with backoff (restartPolicy Always, or OnFailure on a failure).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type IptablesMode, parsePortList } from '../proxy-init/config.js';
import { applyInput, iptables, parseNat } from '../proxy-init/iptables.js';
import { buildRules } from '../proxy-init/rules.js';
import { PodError, run } from './exec.js';
import type { PodNetwork } from './network.js';

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export interface PodSpec {
  readonly namespace: string;
  /** The pod's name (dst_pod), unique in its namespace. */
  readonly name: string;
  /** The workload (deployment) it belongs to. */
  readonly workload: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The application's command line. */
  readonly command: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly restartPolicy?: RestartPolicy;
  /** The application's user (default 1000). */
  readonly appUid?: number;
  /** Loopback pods: the port the application listens on, which its proxy forwards to (default 8080). */
  readonly port?: number;
  /** The application's working directory (default: weft up's). */
  readonly workingDir?: string;
  /** The application's named ports, which Services' targetPorts may name. */
  readonly namedPorts?: Readonly<Record<string, number>>;
  /** How long the application, then the proxy, have to exit on SIGTERM (default 5 s). */
  readonly gracePeriodMs?: number;
}

export interface PodRuntime {
  /**
   * The pods' network. Without one, a pod runs on loopback (no root needed): its proxy in
   * explicit mode in front of the application's port, and the application calling out
   * through it by HTTP_PROXY and grpc_proxy. Interception is off.
   */
  readonly network?: PodNetwork;
  /** `weft up`'s gRPC address as the pods reach it (on the gateway). */
  readonly controlPlane: string;
  /** The credential the control plane issued for this pod, as a file its proxy's user reads. */
  readonly controlPlaneTokenFile: string;
  /** The `weft` executable (bin/weft.js, whose first line gives Node its flags). */
  readonly weftBin: string;
  /** Service names and their addresses, for the hosts file: [address, names]. */
  readonly hosts: ReadonlyArray<readonly [string, readonly string[]]>;
  /**
   * The pod's identity material as the platform hands it to the proxy (Kubernetes mounts
   * a service account token): files the proxy's user can read. Without it the proxy takes
   * the paths its Lease names, which only root can read on the local platform.
   */
  readonly identity?: (
    spec: PodSpec,
    ip: string,
  ) => Promise<{ tokenFile: string; trustAnchorsFile: string; identityAddr?: string }>;
}

export const PROXY_UID = 2102;
/** The iptables a pod's interception rules are written with. */
export const POD_IPTABLES_MODE: IptablesMode = 'legacy';
const LOG_LINES = 1000;
const BACKOFF_MS = { first: 1000, max: 30_000, resetAfter: 10_000 };

/** The last lines a container printed (stdout and stderr, each split into whole lines). */
export class LogBuffer {
  readonly lines: string[] = [];
  private readonly partial = { out: '', err: '' };

  /** Takes a chunk of one stream; returns the whole lines it completed. */
  push(chunk: string, stream: 'out' | 'err'): string[] {
    const parts = (this.partial[stream] + chunk).split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const line of parts) {
      this.lines.push(line);
      if (this.lines.length > LOG_LINES) this.lines.shift();
    }
    return parts;
  }

  /** Collects a process's output. */
  follow(child: ChildProcess): void {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => this.push(d, 'out'));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => this.push(d, 'err'));
  }
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Terminated';

export class Pod extends EventEmitter {
  readonly netns: string;
  readonly ip: string;
  phase: PodPhase = 'Pending';
  restarts = 0;
  readonly logs = { app: new LogBuffer(), proxy: new LogBuffer() };
  private proxy: ChildProcess | undefined;
  private app: ChildProcess | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private backoffMs = BACKOFF_MS.first;
  private readonly hostsDir: string;
  private hosts: ReadonlyArray<readonly [string, readonly string[]]>;

  constructor(
    readonly spec: PodSpec,
    private readonly runtime: PodRuntime,
  ) {
    super();
    this.netns = `weft-${createHash('sha256').update(`${spec.namespace}/${spec.name}`).digest('hex').slice(0, 10)}`;
    this.ip = runtime.network ? runtime.network.allocate() : '127.0.0.1';
    this.hostsDir = `/etc/netns/${this.netns}`;
    this.hosts = runtime.hosts;
  }

  /** The proxy's outbound listener, in loopback mode (the application's HTTP_PROXY). */
  private outbound: string | undefined;

  private get gracePeriodMs(): number {
    return this.spec.gracePeriodMs ?? 5000;
  }

  /** The processes the pod runs now (its proxy and application). */
  get pids(): number[] {
    return [this.proxy?.pid, this.app?.pid].filter((p): p is number => p !== undefined);
  }

  /** Rewrites the hosts file in place (the same file, so running processes see it). */
  updateHosts(hosts: ReadonlyArray<readonly [string, readonly string[]]>): void {
    this.hosts = hosts;
    if (this.phase === 'Running' && this.runtime.network)
      writeFileSync(`${this.hostsDir}/hosts`, this.hostsFile());
  }

  /** Namespace, network, hosts file, interception, then the proxy (until ready), then the app. */
  async start(): Promise<void> {
    const dir = this.spec.workingDir;
    if (dir !== undefined && !statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
      throw new PodError(`${this.spec.namespace}/${this.spec.name}: working directory ${dir} does not exist`);
    }
    try {
      const network = this.runtime.network;
      if (network) {
        // A namespace of the same pod left by a weft up that was killed is replaced.
        await run(['ip', 'netns', 'del', this.netns]).catch(() => undefined);
        await run(['ip', 'netns', 'add', this.netns]);
        // `ip netns exec` bind-mounts /etc/netns/<name>/hosts over /etc/hosts for what it runs.
        mkdirSync(this.hostsDir, { recursive: true });
        writeFileSync(`${this.hostsDir}/hosts`, this.hostsFile());
        await network.attach(this.netns, this.ip);
        await this.intercept();
      }
      await this.startProxy();
      this.startApp();
      this.phase = 'Running';
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private hostsFile(): string {
    const lines = ['127.0.0.1 localhost', `${this.ip} ${this.spec.name}`];
    for (const [addr, names] of this.hosts) lines.push(`${addr} ${names.join(' ')}`);
    return `${lines.join('\n')}\n`;
  }

  private async intercept(): Promise<void> {
    const table = iptables(POD_IPTABLES_MODE, `/run/netns/${this.netns}`);
    const rules = buildRules({
      incomingProxyPort: 4143,
      outgoingProxyPort: 4140,
      proxyUid: PROXY_UID,
      proxyGid: undefined,
      portsToRedirect: [],
      inboundPortsToIgnore: parsePortList('4190,4191,4567,4568', 'inbound ports to ignore'),
      outboundPortsToIgnore: parsePortList('4567,4568', 'outbound ports to ignore'),
      subnetsToIgnore: [],
      mode: POD_IPTABLES_MODE,
      netns: undefined,
    });
    await table.restore(applyInput(parseNat(await table.save()), rules));
  }

  /** Runs `argv` in the pod's namespace as `uid` (on loopback: as it is). */
  private spawnAs(
    uid: number,
    argv: readonly string[],
    env: Record<string, string>,
    cwd?: string,
  ): ChildProcess {
    const options = {
      stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
      ...(cwd ? { cwd } : {}),
    };
    if (!this.runtime.network) {
      return spawn(argv[0] as string, argv.slice(1), { ...options, env: { ...process.env, ...env } });
    }
    return spawn(
      'ip',
      ['netns', 'exec', this.netns, 'setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', ...argv],
      { ...options, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } },
    );
  }

  private async startProxy(): Promise<void> {
    const s = this.spec;
    const identity = this.runtime.identity ? await this.runtime.identity(s, this.ip) : undefined;
    const listeners = this.runtime.network
      ? [
          '--transparent',
          '--inbound-addr',
          '0.0.0.0:4143',
          '--outbound-addr',
          '127.0.0.1:4140',
          '--admin-addr',
          '0.0.0.0:4191',
          '--tap-addr',
          '0.0.0.0:4190',
          '--advertise-addr',
          this.ip,
        ]
      : [
          '--inbound-addr',
          '127.0.0.1:0',
          '--outbound-addr',
          '127.0.0.1:0',
          '--admin-addr',
          '127.0.0.1:0',
          '--tap-addr',
          '127.0.0.1:0',
          '--inbound-forward',
          `127.0.0.1:${s.port ?? 8080}`,
        ];
    const proxy = this.spawnAs(
      PROXY_UID,
      [
        this.runtime.weftBin,
        'proxy',
        ...listeners,
        '--destination',
        this.runtime.controlPlane,
        '--control-plane-token-file',
        this.runtime.controlPlaneTokenFile,
        '--workload',
        s.workload,
        '--pod',
        s.name,
        '--namespace',
        s.namespace,
        '--service-account',
        s.serviceAccount,
        ...Object.entries(s.labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
        ...Object.entries(s.namedPorts ?? {}).flatMap(([k, v]) => ['--named-port', `${k}=${v}`]),
        ...(identity
          ? [
              '--identity-token-file',
              identity.tokenFile,
              '--identity-trust-anchors-file',
              identity.trustAnchorsFile,
              ...(identity.identityAddr ? ['--identity-addr', identity.identityAddr] : []),
            ]
          : []),
      ],
      { WEFT_PROXY_LOG: 'info' },
    );
    this.proxy = proxy;
    proxy.stderr?.setEncoding('utf8').on('data', (d: string) => this.logs.proxy.push(d, 'err'));
    let onExit: (code: number | null, signal: string | null) => void = () => {};
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new PodError(
                `${s.namespace}/${s.name}: the proxy was not ready within 30 s: ${this.logs.proxy.lines.slice(-3).join(' | ')}`,
              ),
            ),
          30_000,
        );
        proxy.stdout?.setEncoding('utf8').on('data', (d: string) => {
          const ready = this.logs.proxy.push(d, 'out').find((l) => l.includes('"proxy ready"'));
          if (ready) {
            this.outbound = (JSON.parse(ready) as { outbound?: string }).outbound;
            clearTimeout(timer);
            resolve();
          }
        });
        onExit = (code, signal) => {
          clearTimeout(timer);
          reject(
            new PodError(
              `${s.namespace}/${s.name}: the proxy exited (${signal ?? code}) before it was ready: ${this.logs.proxy.lines.slice(-3).join(' | ')}`,
            ),
          );
        };
        proxy.once('exit', onExit);
      });
    } finally {
      proxy.off('exit', onExit);
    }
    proxy.once('exit', () => {
      if (!this.stopping) this.emit('proxy-exit');
    });
  }

  private startApp(): void {
    // On loopback the application calls out through its proxy explicitly.
    const proxyUrl = `http://${this.outbound}`;
    const explicit: Record<string, string> = this.runtime.network
      ? {}
      : { HTTP_PROXY: proxyUrl, http_proxy: proxyUrl, grpc_proxy: proxyUrl, NO_PROXY: '', no_proxy: '' };
    const app = this.spawnAs(
      this.spec.appUid ?? 1000,
      this.spec.command,
      { ...this.spec.env, ...explicit },
      this.spec.workingDir,
    );
    this.app = app;
    const startedAt = Date.now();
    this.logs.app.follow(app);
    app.once('exit', (code, signal) => {
      this.app = undefined;
      if (this.stopping) return;
      const failed = code !== 0;
      const policy = this.spec.restartPolicy ?? 'Always';
      this.emit('app-exit', code ?? signal);
      if (policy === 'Always' || (policy === 'OnFailure' && failed)) {
        if (Date.now() - startedAt > BACKOFF_MS.resetAfter) this.backoffMs = BACKOFF_MS.first;
        const delay = this.backoffMs;
        this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MS.max);
        this.restartTimer = setTimeout(() => {
          this.restarts++;
          this.startApp();
        }, delay);
        return;
      }
      // Done for good: the proxy drains and exits, and the pod has finished.
      void this.drainProxy().then(() => {
        this.phase = failed ? 'Failed' : 'Succeeded';
        this.emit('finished', code);
      });
    });
  }

  private async drainProxy(): Promise<void> {
    const proxy = this.proxy;
    if (!proxy || proxy.exitCode !== null || proxy.signalCode !== null) return;
    await terminate(proxy, this.gracePeriodMs);
  }

  /** Stops the application, then the proxy, and removes the namespace: nothing is left. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    if (this.app) await terminate(this.app, this.gracePeriodMs);
    if (this.proxy) await terminate(this.proxy, this.gracePeriodMs);
    if (this.runtime.network) {
      await this.runtime.network.detach(this.netns);
      await run(['ip', 'netns', 'del', this.netns]).catch(() => undefined);
      rmSync(this.hostsDir, { recursive: true, force: true });
      this.runtime.network.release(this.ip);
    }
    if (this.phase === 'Running' || this.phase === 'Pending') this.phase = 'Terminated';
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
