/**
 * The meshed demo: `weft up` (a child process, in a fresh state directory) and emojivoto
 * as examples/emojivoto/local.yml has it, its Deployments run as pods (root on Linux):
 * every hop between them is mutual TLS, and the vote bot keeps traffic (and the
 * doughnut's failures) flowing. Without pods (no root, or a command they need is missing),
 * weft up runs the same Deployments as loopback pods, each on a free port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ownerCredentialFile } from '../catalog/local/callers.js';
import { type SourcedDocument, validateDocuments } from '../catalog/validate.js';
import { readManifests } from '../cli/manifests.js';
import { controlPlaneClient, unary } from '../grpc/client.js';
import type { PodStatusMessage } from '../grpc/protos.js';
import { type HostPort, parseHostPort } from '../util/addr.js';
import { UpLog } from './up-log.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WEFT_BIN = join(ROOT, 'bin', 'weft.js');
export const MANIFEST = join(ROOT, 'examples', 'emojivoto', 'local.yml');
/** The voting service's API, from which `weft profile --proto` makes its routes. */
export const VOTING_PROTO = join(ROOT, 'examples', 'emojivoto', 'proto', 'Voting.proto');
export const NAMESPACE = 'emojivoto';
/** The variables that tell emojivoto's servers their port, set to a free port on loopback. */
const PORT_VARIABLES = new Set(['GRPC_PORT', 'WEB_PORT']);

export interface DemoOptions {
  readonly podBridge: string;
  readonly podCidr: string;
  readonly serviceCidr: string;
  /** Without root: each application on a loopback port, behind its proxy in explicit mode. */
  readonly loopback: boolean;
  /** viz's API and dashboard (weft up --viz-addr). */
  readonly vizAddr: string;
  /** How often viz scrapes the proxies (weft up --metrics-scrape-interval). */
  readonly metricsScrapeInterval: string;
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

/** The parts of a Deployment's document that the loopback demo rewrites (validated before). */
interface DeploymentDocument {
  spec: {
    template: {
      spec: {
        containers: Array<{
          env?: Array<{ name: string; value?: string }>;
          ports?: Array<{ containerPort: number }>;
        }>;
      };
    };
  };
}

/**
 * A Deployment's document for loopback, where every pod shares 127.0.0.1: each container
 * with a port gets a free one, as its first containerPort (which its proxy forwards to)
 * and in the variables that tell emojivoto's servers their port.
 */
async function onFreePorts(doc: SourcedDocument, taken: Set<number>): Promise<SourcedDocument> {
  const value = structuredClone(doc.value) as DeploymentDocument;
  for (const c of value.spec.template.spec.containers) {
    const first = c.ports?.[0];
    if (!first) continue;
    let port = await freePort();
    // Each port is free when asked for, but one closed may be handed out again.
    while (taken.has(port)) port = await freePort();
    taken.add(port);
    first.containerPort = port;
    for (const e of c.env ?? []) if (PORT_VARIABLES.has(e.name)) e.value = String(port);
  }
  return { source: doc.source, value };
}

/** The port of a Deployment's document's first container port (the web page's, for web). */
function firstPort(doc: SourcedDocument | undefined): number | undefined {
  return (doc?.value as DeploymentDocument | undefined)?.spec.template.spec.containers[0]?.ports?.[0]
    ?.containerPort;
}

export interface RunningDemo {
  readonly controlPlane: HostPort;
  /** viz's API and dashboard, as bound. */
  readonly viz: HostPort;
  readonly stateDir: string;
  readonly pods: readonly PodStatusMessage[];
  /** Where the voting page is, from this host. */
  readonly webUrl: string;
  /** Stops weft up (which takes the pods away) and removes the state directory. */
  stop(): Promise<void>;
  /** Resolves when weft up has exited (by itself or through stop) and its output is read. */
  readonly exited: Promise<number | null>;
  /** weft up's last lines, for when it exits by itself. */
  lastLines(): string;
}

/** How many of weft up's last lines the demo shows when weft up exits by itself. */
const TAIL_LINES = 20;

interface ControlPlane {
  readonly child: ChildProcess;
  readonly grpc: HostPort;
  readonly viz: HostPort;
  /** weft up's output: its recent lines, and the pods' problems it logged. */
  readonly log: UpLog;
  /** Resolves with its exit code once it has exited and its output is read. */
  readonly exited: Promise<number | null>;
}

const lastLines = (log: UpLog): string => log.tail(TAIL_LINES).join('\n');

const exitedError = (log: UpLog, when: string): Error =>
  new Error(`weft up exited ${when}; its last lines:\n${lastLines(log)}`);

/** Whether `exited` resolves within `ms` (a failed call to weft up may come just before its exit). */
function exitsWithin(exited: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    exited.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Starts `weft up` and waits for its ready line; rejects with its last lines if it exits first. */
function startControlPlane(
  stateDir: string,
  opts: DemoOptions,
  signal: AbortSignal | undefined,
): Promise<ControlPlane> {
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
      '--viz-addr',
      opts.vizAddr,
      '--metrics-scrape-interval',
      opts.metricsScrapeInterval,
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
  // Stopping (Ctrl-C) stops weft up, which runs in its own process group; it then exits.
  signal?.addEventListener('abort', () => child.kill('SIGINT'), { once: true });
  const log = new UpLog(NAMESPACE);
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      const line = log.push(d, 'out').find((l) => l.includes('"control plane ready"'));
      if (!line) return;
      const ready = JSON.parse(line) as { grpc: string; viz: string };
      resolve({
        child,
        grpc: parseHostPort(ready.grpc, 'weft up'),
        viz: parseHostPort(ready.viz, 'weft up'),
        log,
        exited,
      });
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => log.push(d, 'err'));
    void exited.then((code) =>
      reject(new Error(`weft up exited (${code}) before it was ready:\n${lastLines(log)}`)),
    );
  });
}

/** Resolves once the page answers 200 (its pod runs before its server listens); rejects if weft up exits first. */
async function pageUp(url: string, cp: ControlPlane): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = '';
  let gone = false;
  void cp.exited.then(() => {
    gone = true;
  });
  while (Date.now() < deadline) {
    if (gone) throw exitedError(cp.log, 'before the voting page answered');
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the voting page at ${url} did not answer within 30 s (${last})`);
}

/**
 * Polls `weft up` until each of the Deployments has a running pod; resolves with the pods.
 * Gives up when one has failed to start twice (weft up retries after 2 s, and a second
 * failure is seldom chance), after 90 s, or when weft up exits: saying, for each that is
 * not running, the last error weft up logged for it.
 */
async function runningPods(
  podsApi: ReturnType<typeof controlPlaneClient>,
  deployments: readonly string[],
  cp: ControlPlane,
  loopback: boolean,
): Promise<PodStatusMessage[]> {
  let gone = false;
  void cp.exited.then(() => (gone = true));
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (gone) throw exitedError(cp.log, 'while the pods were starting');
    let pods: PodStatusMessage[];
    try {
      ({ pods } = await unary<unknown, { pods: PodStatusMessage[] }>(
        podsApi,
        'list',
        { namespace: NAMESPACE },
        10_000,
      ));
    } catch (err) {
      if (await exitsWithin(cp.exited, 2000)) throw exitedError(cp.log, 'while the pods were starting');
      throw err;
    }
    const running = pods.filter((p) => p.phase === 'Running');
    const waiting = deployments.filter((d) => !running.some((p) => p.workload === d));
    if (waiting.length === 0) return running;
    const failedTwice = waiting.some((d) => (cp.log.problem(d)?.count ?? 0) >= 2);
    if (failedTwice || Date.now() > deadline) {
      const n = deployments.length;
      throw new Error(
        [
          failedTwice
            ? `${waiting.length} of ${n} pods did not start:`
            : `only ${n - waiting.length} of ${n} pods are running after 90 s:`,
          ...waiting.map((d) => `  ${d}: ${cp.log.problem(d)?.error ?? 'weft up logged no error for it'}`),
          ...(loopback ? [] : ['weft demo --loopback runs the demo without pods.']),
        ].join('\n'),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Starts the demo; `signal` aborting (Ctrl-C) before it is up stops weft up, its pods and
 * network, removes the state directory, and rejects.
 */
export async function startDemo(
  opts: DemoOptions,
  progress: (line: string) => void,
  signal?: AbortSignal,
): Promise<RunningDemo> {
  const docs = readManifests([MANIFEST], false);
  const resources = validateDocuments(docs);
  const isDeployment = (i: number): boolean => resources[i]?.kind === 'Deployment';
  const deployments = resources.flatMap((r) => (r.kind === 'Deployment' ? [r.name] : []));
  // weft up's Deployment controller runs the pods, in network namespaces or on loopback.
  const applied: SourcedDocument[] = [];
  const taken = new Set<number>();
  for (const [i, d] of docs.entries())
    applied.push(opts.loopback && isDeployment(i) ? await onFreePorts(d, taken) : d);
  const webPort = firstPort(applied.find((_, i) => isDeployment(i) && resources[i]?.name === 'web')) ?? 8080;
  const stateDir = mkdtempSync(join(tmpdir(), 'weft-demo-'));
  progress('starting the control plane (weft up)');
  const cp = await startControlPlane(stateDir, opts, signal).catch((err: Error) => {
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  });
  const stop = async (): Promise<void> => {
    if (cp.child.exitCode === null && cp.child.signalCode === null) cp.child.kill('SIGINT');
    await cp.exited;
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    // The demo started weft up, so it is its owner: it presents the owner credential.
    const owner = readFileSync(ownerCredentialFile(stateDir), 'latin1');
    const resourcesApi = controlPlaneClient('resources', cp.grpc, owner);
    const podsApi = controlPlaneClient('pods', cp.grpc, owner);
    try {
      progress(`applying ${MANIFEST}${opts.loopback ? ' (each Deployment on a free loopback port)' : ''}`);
      await unary(
        resourcesApi,
        'apply',
        {
          documents: applied.map((d) => ({ source: d.source, json: JSON.stringify(d.value) })),
          dryRun: false,
        },
        10_000,
      );
      progress('waiting for the pods');
      const pods = await runningPods(podsApi, deployments, cp, opts.loopback);
      const web = pods.find((p) => p.workload === 'web');
      const webUrl = `http://${web?.ip}:${webPort}/`;
      progress('waiting for the voting page');
      await pageUp(webUrl, cp);
      return {
        controlPlane: cp.grpc,
        viz: cp.viz,
        stateDir,
        pods,
        webUrl,
        stop,
        exited: cp.exited,
        lastLines: () => lastLines(cp.log),
      };
    } finally {
      resourcesApi.close();
      podsApi.close();
    }
  } catch (err) {
    await stop();
    throw err;
  }
}
