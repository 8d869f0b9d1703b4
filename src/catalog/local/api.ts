import * as grpc from '@grpc/grpc-js';
import {
  authenticateCall,
  type Caller,
  type CallerAuthenticator,
  describeCaller,
  ownerOnly,
  refuseCall,
} from '../../controlplane/callers.js';
import type { DocumentMessage, LeaseMessage, OutcomeMessage, WorkloadMessage } from '../../grpc/protos.js';
import { identityName, identityServiceName, type TrustDomain } from '../../identity/names.js';
import type { Logger } from '../../util/log.js';
import type { Workload } from '../catalog.js';
import { GET_TYPES, getKind } from '../kinds.js';
import { dns1123LabelError, labelKeyError, labelValueError, portNameError } from '../names.js';
import { serviceEndpoints } from '../selection.js';
import { documentRefs, type SourcedDocument, ValidationError, validateDocuments } from '../validate.js';
import { CatalogError, type LocalCatalog, type Outcome } from './local-catalog.js';

type Callback<T> = grpc.sendUnaryData<T>;

const invalid = (details: string): Partial<grpc.StatusObject> => ({
  code: grpc.status.INVALID_ARGUMENT,
  details,
});

/** Checks a registration from a proxy; returns every problem, each naming its field. */
export function workloadProblems(w: WorkloadMessage): string[] {
  const problems: string[] = [];
  const name = (field: string, value: string): void => {
    if (value === '') problems.push(`${field} is required`);
    else {
      const p = dns1123LabelError(value);
      if (p) problems.push(`${field} "${value.slice(0, 80)}" ${p}`);
    }
  };
  name('namespace', w.namespace);
  name('name', w.name);
  name('pod', w.pod);
  name('service_account', w.serviceAccount);
  if (w.address === '' || w.address.length > 253 || !/^[A-Za-z0-9.:\-_]+$/.test(w.address)) {
    problems.push(`address "${w.address.slice(0, 80)}" is not an IP address or host name`);
  }
  for (const [field, port] of [
    ['port', w.port],
    ['admin_port', w.adminPort ?? 0],
    ['tap_port', w.tapPort ?? 0],
    ['inbound_port', w.inboundPort ?? 0],
  ] as const) {
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      problems.push(`${field} ${port} is out of range`);
  }
  const labels = Object.entries(w.labels);
  if (labels.length > 64) problems.push('at most 64 labels');
  for (const [k, v] of labels) {
    const p = labelKeyError(k) ?? labelValueError(v);
    if (p) problems.push(p);
  }
  for (const [k, v] of Object.entries(w.namedPorts)) {
    const p = portNameError(k);
    if (p) problems.push(`named port "${k}" ${p}`);
    if (!Number.isInteger(v) || v < 1 || v > 65535) problems.push(`named port "${k}": ${v} is out of range`);
  }
  return problems;
}

/** What a Lease tells a proxy about getting its certificate. */
export interface LeaseIdentitySettings {
  readonly domain: TrustDomain;
  /** Absolute path of the trust anchors bundle. */
  readonly trustAnchorsFile: string;
  /** host:port of the Identity API, as bound. */
  addr(): string;
}

/**
 * Why `caller` may not register or deregister instance `namespace`/`pod` with
 * `serviceAccount` (unset: deregistering); undefined when it may. A workload's credential
 * names one instance and its service account; the owner may name any.
 */
function registrationDenied(
  caller: Caller,
  namespace: string,
  pod: string,
  serviceAccount?: string,
): string | undefined {
  if (caller.kind === 'owner') return undefined;
  if (caller.namespace !== namespace || caller.pod !== pod) {
    return `this credential is ${describeCaller(caller)}'s, not pod ${namespace.slice(0, 80)}/${pod.slice(0, 80)}'s`;
  }
  if (serviceAccount !== undefined && caller.serviceAccount !== serviceAccount) {
    return `this credential is ${describeCaller(caller)}'s, not service account ${serviceAccount.slice(0, 80)}'s`;
  }
  return undefined;
}

/**
 * The Registry service: proxies register the workload they front, and renew its lease.
 * Each call carries a credential (`callers`): a proxy's names the one instance it was
 * started for; the owner's may register any. With `identity`, each Lease says how to get
 * the instance's certificate (its identity, its token file, the trust anchors and the
 * Identity API).
 */
export function registryService(
  catalog: LocalCatalog,
  callers: CallerAuthenticator,
  log: Logger,
  identity?: LeaseIdentitySettings,
): grpc.UntypedServiceImplementation {
  return {
    register(call: grpc.ServerUnaryCall<WorkloadMessage, unknown>, cb: Callback<LeaseMessage>) {
      const caller = authenticateCall(call, cb, callers, log);
      if (!caller) return;
      const w = call.request;
      const denied = registrationDenied(caller, w.namespace, w.pod, w.serviceAccount);
      if (denied) {
        refuseCall(call, cb, log, grpc.status.PERMISSION_DENIED, `registration refused: ${denied}`);
        return;
      }
      const problems = workloadProblems(w);
      if (problems.length > 0) {
        cb(invalid(`invalid registration: ${problems.join('; ')}`));
        return;
      }
      const workload: Workload = {
        namespace: w.namespace,
        pod: w.pod,
        workload: w.name,
        serviceAccount: w.serviceAccount,
        labels: w.labels,
        address: w.address,
        port: w.port,
        namedPorts: w.namedPorts,
        ...(w.adminPort ? { adminPort: w.adminPort } : {}),
        ...(w.tapPort ? { tapPort: w.tapPort } : {}),
        ...(w.inboundPort ? { inboundPort: w.inboundPort } : {}),
        ready: !w.starting,
      };
      const old = catalog.workloads.get(w.namespace, w.pod);
      let lease: { ttlMs: number; tokenFile: string };
      try {
        lease = catalog.register(workload);
      } catch (err) {
        log.error({ namespace: w.namespace, pod: w.pod, err: (err as Error).message }, 'registration failed');
        cb({ code: grpc.status.INTERNAL, details: `the control plane failed: ${(err as Error).message}` });
        return;
      }
      if (old === undefined) {
        log.info(
          { namespace: w.namespace, pod: w.pod, address: w.address, port: w.port, ready: workload.ready },
          'workload registered',
        );
      } else if (old.ready !== workload.ready) {
        log.info({ namespace: w.namespace, pod: w.pod, ready: workload.ready }, 'workload readiness changed');
      }
      cb(null, {
        ttlMs: lease.ttlMs,
        identity: identity
          ? {
              name: identityName(w.serviceAccount, w.namespace, identity.domain),
              tokenFile: lease.tokenFile,
              trustAnchorsFile: identity.trustAnchorsFile,
              addr: identity.addr(),
              serverName: identityServiceName(identity.domain),
            }
          : null,
      });
    },
    deregister(
      call: grpc.ServerUnaryCall<{ namespace: string; pod: string }, unknown>,
      cb: Callback<{ existed: boolean }>,
    ) {
      const caller = authenticateCall(call, cb, callers, log);
      if (!caller) return;
      const { namespace, pod } = call.request;
      const denied = registrationDenied(caller, namespace, pod);
      if (denied) {
        refuseCall(call, cb, log, grpc.status.PERMISSION_DENIED, `deregistration refused: ${denied}`);
        return;
      }
      const existed = catalog.deregister(namespace, pod);
      if (existed) log.info({ namespace, pod }, 'workload deregistered');
      cb(null, { existed });
    },
  };
}

function parseDocuments(docs: readonly DocumentMessage[]): SourcedDocument[] {
  return docs.map((d) => {
    try {
      return { source: d.source, value: JSON.parse(d.json) as unknown };
    } catch {
      throw new ValidationError([`${d.source}: not valid JSON`]);
    }
  });
}

const toMessages = (outcomes: Outcome[]): OutcomeMessage[] => outcomes.map((o) => ({ ...o }));

function refuse(err: unknown, cb: Callback<never>): void {
  if (err instanceof ValidationError || err instanceof CatalogError) cb(invalid(err.message));
  else cb({ code: grpc.status.INTERNAL, details: `the control plane failed: ${(err as Error).message}` });
}

/**
 * The Resources service behind `weft apply`, `weft delete`, `weft get` and `weft identity`,
 * for the owner only (`callers`): what is applied there, `weft up` runs.
 * With `domain`, listed workloads carry their `identity` name too.
 */
export function resourcesService(
  catalog: LocalCatalog,
  callers: CallerAuthenticator,
  log: Logger,
  domain?: TrustDomain,
): grpc.UntypedServiceImplementation {
  return ownerOnly(callers, log, {
    apply(
      call: grpc.ServerUnaryCall<{ documents: DocumentMessage[]; dryRun: boolean }, unknown>,
      cb: Callback<unknown>,
    ) {
      try {
        const resources = validateDocuments(parseDocuments(call.request.documents));
        const outcomes = catalog.apply(resources, call.request.dryRun);
        for (const o of outcomes)
          if (o.action !== 'unchanged' && !call.request.dryRun) log.info(o, 'applied');
        cb(null, { outcomes: toMessages(outcomes) });
      } catch (err) {
        refuse(err, cb);
      }
    },
    delete(
      call: grpc.ServerUnaryCall<{ documents: DocumentMessage[]; ignoreNotFound: boolean }, unknown>,
      cb: Callback<unknown>,
    ) {
      try {
        const outcomes = catalog.delete(
          documentRefs(parseDocuments(call.request.documents)),
          call.request.ignoreNotFound,
        );
        for (const o of outcomes) if (o.action === 'deleted') log.info(o, 'deleted');
        cb(null, { outcomes: toMessages(outcomes) });
      } catch (err) {
        refuse(err, cb);
      }
    },
    list(
      call: grpc.ServerUnaryCall<
        { kind: string; namespace: string; allNamespaces: boolean; name: string },
        unknown
      >,
      cb: Callback<unknown>,
    ) {
      const { kind, allNamespaces, name } = call.request;
      const resolved = getKind(kind);
      if (!resolved) {
        cb(invalid(`unknown resource type "${kind}" (one of: ${GET_TYPES})`));
        return;
      }
      const ns = allNamespaces ? undefined : call.request.namespace || 'default';
      const byName = <T>(items: T[], nameOf: (t: T) => string): T[] =>
        name === '' ? items : items.filter((t) => nameOf(t) === name);
      let objects: unknown[];
      switch (resolved) {
        case 'Service':
          objects = byName(catalog.services.list(ns), (s) => s.metadata.name);
          break;
        case 'Deployment': {
          const workloads = catalog.workloads.list(ns);
          objects = byName(catalog.deployments.list(ns), (d) => d.metadata.name).map((d) => {
            const mine = workloads.filter(
              (w) => w.namespace === d.metadata.namespace && w.workload === d.metadata.name,
            );
            return {
              ...d,
              status: { replicas: mine.length, readyReplicas: mine.filter((w) => w.ready).length },
            };
          });
          break;
        }
        case 'ServiceProfile':
          objects = byName(catalog.serviceProfiles.list(ns), (p) => p.metadata.name);
          break;
        case 'HTTPRoute':
          objects = byName(catalog.httpRoutes.list(ns), (r) => r.metadata.name);
          break;
        case 'Workload':
          objects = byName(catalog.workloads.list(ns), (w) => w.pod).map((w) =>
            domain ? { ...w, identity: identityName(w.serviceAccount, w.namespace, domain) } : w,
          );
          break;
        default: {
          const workloads = catalog.workloads.list();
          objects = byName(catalog.services.list(ns), (s) => s.metadata.name).map((s) => ({
            namespace: s.metadata.namespace,
            name: s.metadata.name,
            ports: serviceEndpoints(s, workloads),
          }));
        }
      }
      if (name !== '' && objects.length === 0) {
        cb({
          code: grpc.status.NOT_FOUND,
          details: `${kind} "${name}" not found in namespace ${ns ?? '(all)'}`,
        });
        return;
      }
      cb(null, { objects: objects.map((o) => JSON.stringify(o)) });
    },
  });
}
