import type { ServiceError } from '@grpc/grpc-js';
import { type Command, Option } from 'commander';
import type { Workload } from '../../catalog/catalog.js';
import { GET_TYPES, getKind, type Listed } from '../../catalog/kinds.js';
import type { Deployment, HTTPRoute, Service, ServiceProfile } from '../../catalog/resources.js';
import type { DocumentMessage, OutcomeMessage } from '../../grpc/protos.js';
import { type HostPort, parseHostPort } from '../../util/addr.js';
import { UsageError } from '../errors.js';
import { formatAge, table } from '../table.js';
import { DEFAULT_CONTROL_PLANE_ADDR } from './up.js';

// gRPC, YAML and the manifest reader load only when a command runs, so `weft proxy`
// (which shares this CLI) does not carry them.

const TIMEOUT_MS = 10_000;

/** A failure to report as is (exit 1): refused input, an unreachable control plane. */
export class CommandError extends Error {}

export function controlPlaneOption(): Option {
  return new Option('--control-plane <host:port>', 'the control plane started by weft up')
    .env('WEFT_CONTROL_PLANE_ADDR')
    .default(DEFAULT_CONTROL_PLANE_ADDR);
}

/** `--state-dir`: where the CLI finds the owner credential of `weft up`. */
export function stateDirOption(
  description = "weft up's state directory (its owner.token proves this is weft up's owner)",
): Option {
  return new Option('--state-dir <dir>', description).env('WEFT_STATE_DIR').default('.weft');
}

export function address(text: string): HostPort {
  try {
    return parseHostPort(text, '--control-plane');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The control plane to call, and the state directory whose owner credential the call carries. */
export interface ControlPlaneTarget {
  readonly addr: HostPort;
  readonly stateDir: string;
}

export function target(flags: { controlPlane: string; stateDir: string }): ControlPlaneTarget {
  return { addr: address(flags.controlPlane), stateDir: flags.stateDir };
}

/** The owner credential of `stateDir` (0600: only `weft up`'s user can read it). */
async function ownerCredential(stateDir: string): Promise<string> {
  const [{ readFileSync }, { ownerCredentialFile }] = await Promise.all([
    import('node:fs'),
    import('../../catalog/local/callers.js'),
  ]);
  const file = ownerCredentialFile(stateDir);
  try {
    return readFileSync(file, 'latin1').trim();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CommandError(
      `cannot read the owner credential ${file} (${e.code ?? e.message}): only the user who runs \`weft up\` may call it; pass its --state-dir (or set WEFT_STATE_DIR)`,
    );
  }
}

export async function call<Res>(
  cp: ControlPlaneTarget,
  method: string,
  req: unknown,
  timeoutMs = TIMEOUT_MS,
  service: 'resources' | 'pods' = 'resources',
): Promise<Res> {
  const { addr } = cp;
  const [{ status }, { controlPlaneClient, unary }, credential] = await Promise.all([
    import('@grpc/grpc-js'),
    import('../../grpc/client.js'),
    ownerCredential(cp.stateDir),
  ]);
  const client = controlPlaneClient(service, addr, credential);
  try {
    return await unary<unknown, Res>(client, method, req, timeoutMs);
  } catch (err) {
    const e = err as ServiceError;
    if (e.code === status.UNAVAILABLE || e.code === status.DEADLINE_EXCEEDED) {
      throw new CommandError(
        // grpc-js ends its details with an empty "Resolution note: " for IP addresses.
        `cannot reach the control plane at ${addr.host}:${addr.port} (is \`weft up\` running?): ${e.details.replace(/\s*Resolution note:\s*$/, '')}`,
      );
    }
    if (e.code === status.RESOURCE_EXHAUSTED) {
      throw new CommandError(
        `the request is larger than the control plane takes in one call (8 MiB): split the manifests (${e.details})`,
      );
    }
    throw new CommandError(e.details || e.message);
  } finally {
    client.close();
  }
}

async function documents(files: string[], recursive: boolean): Promise<DocumentMessage[]> {
  const { ManifestError, readManifests } = await import('../manifests.js');
  try {
    return readManifests(files, recursive).map((d) => ({ source: d.source, json: JSON.stringify(d.value) }));
  } catch (err) {
    if (err instanceof ManifestError) throw new CommandError(`${err.message}\nnothing was sent`);
    throw err;
  }
}

const outcomeLine = (o: OutcomeMessage): string =>
  o.action === 'deleted' || o.action === 'not found'
    ? `${o.kind.toLowerCase()} "${o.name}" ${o.action}${o.namespace !== 'default' ? ` (namespace ${o.namespace})` : ''}`
    : `${o.kind.toLowerCase()}/${o.name} ${o.action}${o.namespace !== 'default' ? ` (namespace ${o.namespace})` : ''}`;

interface FileFlags {
  filename: string[];
  recursive?: boolean;
  controlPlane: string;
  stateDir: string;
}

export function applyCommand(program: Command): void {
  program
    .command('apply')
    .description('create or update resources from YAML: all of them, or none if any is invalid')
    .requiredOption(
      '-f, --filename <path...>',
      'a file, a directory of .yaml/.yml/.json files, or - for stdin',
    )
    .option('-R, --recursive', 'also read the directories inside a directory')
    .option('--dry-run', 'validate and report what would change, without changing anything')
    .addOption(controlPlaneOption())
    .addOption(stateDirOption())
    .action(async (flags: FileFlags & { dryRun?: boolean }) => {
      const cp = target(flags);
      const docs = await documents(flags.filename, flags.recursive ?? false);
      const res = await call<{ outcomes: OutcomeMessage[] }>(cp, 'apply', {
        documents: docs,
        dryRun: flags.dryRun ?? false,
      }).catch((err: unknown) => {
        throw err instanceof CommandError ? new CommandError(`${err.message}\nnothing was applied`) : err;
      });
      const suffix = flags.dryRun ? ' (dry run)' : '';
      for (const o of res.outcomes) process.stdout.write(`${outcomeLine(o)}${suffix}\n`);
    });
}

export function deleteCommand(program: Command): void {
  program
    .command('delete')
    .description('delete the resources named in YAML files')
    .requiredOption(
      '-f, --filename <path...>',
      'a file, a directory of .yaml/.yml/.json files, or - for stdin',
    )
    .option('-R, --recursive', 'also read the directories inside a directory')
    .option('--ignore-not-found', 'succeed for resources that are already gone')
    .addOption(controlPlaneOption())
    .addOption(stateDirOption())
    .action(async (flags: FileFlags & { ignoreNotFound?: boolean }) => {
      const cp = target(flags);
      const docs = await documents(flags.filename, flags.recursive ?? false);
      const res = await call<{ outcomes: OutcomeMessage[] }>(cp, 'delete', {
        documents: docs,
        ignoreNotFound: flags.ignoreNotFound ?? false,
      });
      for (const o of res.outcomes) process.stdout.write(`${outcomeLine(o)}\n`);
    });
}

type Row = string[];

function serviceRows(items: Service[], wide: boolean): Row[] {
  return items.map((s) => [
    ...(wide ? [s.metadata.namespace] : []),
    s.metadata.name,
    s.spec.clusterIP ?? '<none>',
    s.spec.ports.map((p) => `${p.port}${p.targetPort !== p.port ? `→${p.targetPort}` : ''}/TCP`).join(','),
    s.spec.selector
      ? Object.entries(s.spec.selector)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')
      : '<none>',
    formatAge(s.metadata.creationTimestamp),
  ]);
}

type ListedDeployment = Deployment & { status: { replicas: number; readyReplicas: number } };

function deploymentRows(items: ListedDeployment[], wide: boolean): Row[] {
  return items.map((d) => [
    ...(wide ? [d.metadata.namespace] : []),
    d.metadata.name,
    `${d.status.readyReplicas}/${d.spec.replicas}`,
    String(d.status.replicas),
    formatAge(d.metadata.creationTimestamp),
  ]);
}

function profileRows(items: ServiceProfile[], wide: boolean): Row[] {
  return items.map((p) => [
    ...(wide ? [p.metadata.namespace] : []),
    p.metadata.name,
    String(p.spec.routes?.length ?? 0),
    p.spec.retryBudget ? `${p.spec.retryBudget.retryRatio * 100}%` : 'default',
    String(p.spec.dstOverrides?.length ?? 0),
    formatAge(p.metadata.creationTimestamp),
  ]);
}

function httpRouteRows(items: HTTPRoute[], wide: boolean): Row[] {
  return items.map((r) => [
    ...(wide ? [r.metadata.namespace] : []),
    r.metadata.name,
    r.spec.parentRefs.map((p) => (p.port === undefined ? p.name : `${p.name}:${p.port}`)).join(','),
    r.spec.hostnames.join(',') || '<none>',
    formatAge(r.metadata.creationTimestamp),
  ]);
}

function workloadRows(items: Workload[], wide: boolean): Row[] {
  return items.map((w) => [
    ...(wide ? [w.namespace] : []),
    w.pod,
    // A starting instance (its proxy has no certificate yet) is no endpoint.
    w.ready === false ? 'false' : 'true',
    w.workload,
    w.port === 0 ? w.address : `${w.address}:${w.port}`,
    w.serviceAccount,
    Object.entries(w.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '<none>',
  ]);
}

interface EndpointsView {
  namespace: string;
  name: string;
  ports: Array<{ port: number; addresses: Array<{ address: string }> }>;
}

function endpointRows(items: EndpointsView[], wide: boolean): Row[] {
  return items.map((e) => {
    const addrs = [...new Set(e.ports.flatMap((p) => p.addresses.map((a) => a.address)))];
    const shown = addrs.slice(0, 3).join(',') + (addrs.length > 3 ? ` + ${addrs.length - 3} more...` : '');
    return [...(wide ? [e.namespace] : []), e.name, shown || '<none>'];
  });
}

const HEADERS: Record<Listed, string[]> = {
  Service: ['NAME', 'CLUSTER-IP', 'PORTS', 'SELECTOR', 'AGE'],
  Deployment: ['NAME', 'READY', 'PODS', 'AGE'],
  ServiceProfile: ['NAME', 'ROUTES', 'RETRY BUDGET', 'DST OVERRIDES', 'AGE'],
  HTTPRoute: ['NAME', 'PARENTS', 'HOSTNAMES', 'AGE'],
  Workload: ['NAME', 'READY', 'WORKLOAD', 'ADDRESS', 'SERVICE ACCOUNT', 'LABELS'],
  Endpoints: ['NAME', 'ENDPOINTS'],
};

// The control plane answers with objects of the kind asked for.
const ROWS: Record<Listed, (objects: unknown[], wide: boolean) => Row[]> = {
  Service: (o, wide) => serviceRows(o as Service[], wide),
  Deployment: (o, wide) => deploymentRows(o as ListedDeployment[], wide),
  ServiceProfile: (o, wide) => profileRows(o as ServiceProfile[], wide),
  HTTPRoute: (o, wide) => httpRouteRows(o as HTTPRoute[], wide),
  Workload: (o, wide) => workloadRows(o as Workload[], wide),
  Endpoints: (o, wide) => endpointRows(o as EndpointsView[], wide),
};

export function getCommand(program: Command): void {
  program
    .command('get')
    .description(
      'list resources: services (svc), deployments (deploy), serviceprofiles (sp), httproutes, workloads (wl), endpoints (ep)',
    )
    .argument('<kind>', GET_TYPES)
    .argument('[name]', 'one object by name')
    .option('-n, --namespace <ns>', 'the namespace', 'default')
    .option('-A, --all-namespaces', 'list across all namespaces')
    .addOption(
      new Option('-o, --output <format>', 'output format')
        .choices(['table', 'yaml', 'json'])
        .default('table'),
    )
    .addOption(controlPlaneOption())
    .addOption(stateDirOption())
    .action(
      async (
        kind: string,
        name: string | undefined,
        flags: {
          namespace: string;
          allNamespaces?: boolean;
          output: string;
          controlPlane: string;
          stateDir: string;
        },
      ) => {
        const resolved = getKind(kind);
        if (!resolved) throw new UsageError(`unknown resource type "${kind}" (one of: ${GET_TYPES})`);
        const res = await call<{ objects: string[] }>(target(flags), 'list', {
          kind,
          namespace: flags.namespace,
          allNamespaces: flags.allNamespaces ?? false,
          name: name ?? '',
        });
        const objects = res.objects.map((o) => JSON.parse(o) as unknown);
        if (flags.output !== 'table') {
          const out: unknown =
            name !== undefined && objects.length === 1
              ? objects[0]
              : { apiVersion: 'v1', kind: 'List', items: objects };
          const text =
            flags.output === 'json'
              ? `${JSON.stringify(out, null, 2)}\n`
              : (await import('yaml')).stringify(out);
          process.stdout.write(text);
          return;
        }
        if (objects.length === 0) {
          const where = flags.allNamespaces ? 'any namespace' : `namespace ${flags.namespace}`;
          process.stderr.write(`No resources found in ${where}.\n`);
          return;
        }
        const wide = flags.allNamespaces ?? false;
        const rows = ROWS[resolved](objects, wide);
        const header = [...(wide ? ['NAMESPACE'] : []), ...HEADERS[resolved]];
        process.stdout.write(table([header, ...rows]));
      },
    );
}
