/**
 * The meshed demo: `weft up` (a child process, in a fresh state directory), emojivoto's
 * Services, and its four workloads run as pods (root on Linux): every hop between them
 * is mutual TLS, and the vote bot keeps traffic (and the doughnut's failures) flowing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlPlaneClient, unary } from '../grpc/client.js';
import type { PodStatusMessage } from '../grpc/protos.js';
import { type HostPort, parseHostPort } from '../util/addr.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WEFT_BIN = join(ROOT, 'bin', 'weft.js');
const EXAMPLES = join(ROOT, 'dist', 'examples', 'emojivoto');
export const NAMESPACE = 'emojivoto';

export interface DemoOptions {
  readonly podBridge: string;
  readonly podCidr: string;
  readonly serviceCidr: string;
  /** Without root: each application on a loopback port, behind its proxy in explicit mode. */
  readonly loopback: boolean;
}

/** A free port on 127.0.0.1 (for a loopback application). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

interface Workload {
  readonly workload: string;
  readonly serviceAccount: string;
  readonly app: string;
  readonly program: string;
  readonly env: Record<string, string>;
}

/** emojivoto's Services and workloads, as its Kubernetes manifest has them. */
const SERVICES = [
  { name: 'emoji-svc', port: 8080, app: 'emoji-svc' },
  { name: 'voting-svc', port: 8080, app: 'voting-svc' },
  { name: 'web-svc', port: 80, app: 'web-svc' },
];
const WORKLOADS: readonly Workload[] = [
  {
    workload: 'emoji',
    serviceAccount: 'emoji',
    app: 'emoji-svc',
    program: 'emoji.js',
    env: { GRPC_PORT: '8080' },
  },
  {
    workload: 'voting',
    serviceAccount: 'voting',
    app: 'voting-svc',
    program: 'voting.js',
    env: { GRPC_PORT: '8080' },
  },
  {
    workload: 'web',
    serviceAccount: 'web',
    app: 'web-svc',
    program: 'web.js',
    env: {
      WEB_PORT: '8080',
      EMOJISVC_HOST: 'emoji-svc.emojivoto:8080',
      VOTINGSVC_HOST: 'voting-svc.emojivoto:8080',
    },
  },
  {
    workload: 'vote-bot',
    serviceAccount: 'default',
    app: 'vote-bot',
    program: 'vote-bot.js',
    env: { WEB_HOST: 'web-svc.emojivoto:80' },
  },
];

export interface RunningDemo {
  readonly controlPlane: HostPort;
  readonly stateDir: string;
  readonly pods: readonly PodStatusMessage[];
  /** Where the voting page is, from this host. */
  readonly webUrl: string;
  /** Stops weft up (which takes the pods away) and removes the state directory. */
  stop(): Promise<void>;
  /** Resolves when weft up has exited (by itself or through stop). */
  readonly exited: Promise<number | null>;
}

/** Starts `weft up` and waits for its ready line; rejects with its output if it exits first. */
function startControlPlane(
  stateDir: string,
  opts: DemoOptions,
): Promise<{ child: ChildProcess; grpc: HostPort }> {
  const child = spawn(
    WEFT_BIN,
    [
      'up',
      '--state-dir',
      stateDir,
      '--addr',
      '127.0.0.1:0',
      '--admin-addr',
      '127.0.0.1:0',
      '--identity-addr',
      '127.0.0.1:0',
      '--pod-bridge',
      opts.podBridge,
      '--pod-cidr',
      opts.podCidr,
      '--service-cidr',
      opts.serviceCidr,
      '--pod-mode',
      opts.loopback ? 'loopback' : 'netns',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WEFT_LOG: process.env.WEFT_LOG ?? 'info' },
      // Its own process group: the terminal's Ctrl-C reaches the demo, which stops it once.
      detached: true,
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('"control plane ready"'));
      if (!line) return;
      const ready = JSON.parse(line) as { grpc: string };
      resolve({ child, grpc: parseHostPort(ready.grpc, 'weft up') });
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('exit', (code) =>
      reject(new Error(`weft up exited (${code}) before it was ready:\n${out.trim()}`)),
    );
  });
}

export async function startDemo(opts: DemoOptions, progress: (line: string) => void): Promise<RunningDemo> {
  const stateDir = mkdtempSync(join(tmpdir(), 'weft-demo-'));
  progress('starting the control plane (weft up)');
  const { child, grpc } = await startControlPlane(stateDir, opts).catch((err: Error) => {
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    await exited;
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    const resources = controlPlaneClient('resources', grpc);
    const podsApi = controlPlaneClient('pods', grpc);
    try {
      await unary(
        resources,
        'apply',
        {
          documents: SERVICES.map((s) => ({
            source: `emojivoto ${s.name}`,
            json: JSON.stringify({
              apiVersion: 'v1',
              kind: 'Service',
              metadata: { name: s.name, namespace: NAMESPACE },
              spec: { selector: { app: s.app }, ports: [{ port: s.port, targetPort: 8080 }] },
            }),
          })),
          dryRun: false,
        },
        10_000,
      );
      const pods: PodStatusMessage[] = [];
      let webPort = 8080;
      for (const w of WORKLOADS) {
        progress(`starting pod ${w.workload}`);
        // On loopback every application needs a port of its own.
        const port = opts.loopback && w.workload !== 'vote-bot' ? await freePort() : 8080;
        if (w.workload === 'web') webPort = port;
        const env = { ...w.env };
        if (env.GRPC_PORT) env.GRPC_PORT = String(port);
        if (env.WEB_PORT) env.WEB_PORT = String(port);
        const res = await unary<unknown, { pods: PodStatusMessage[] }>(
          podsApi,
          'run',
          {
            namespace: NAMESPACE,
            workload: w.workload,
            serviceAccount: w.serviceAccount,
            labels: { app: w.app },
            command: [process.execPath, join(EXAMPLES, w.program)],
            env,
            restartPolicy: 'Always',
            replicas: 1,
            port,
          },
          60_000,
        );
        pods.push(...res.pods);
      }
      const web = pods.find((p) => p.workload === 'web');
      return { controlPlane: grpc, stateDir, pods, webUrl: `http://${web?.ip}:${webPort}/`, stop, exited };
    } finally {
      resources.close();
      podsApi.close();
    }
  } catch (err) {
    await stop();
    throw err;
  }
}
