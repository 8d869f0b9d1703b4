import * as grpc from '@grpc/grpc-js';
import type { Catalog, Collection } from '../../catalog/catalog.js';
import type { FailureAccrual } from '../../catalog/failure-accrual.js';
import type { Service } from '../../catalog/resources.js';
import type {
  DestinationProfile,
  DestinationUpdate,
  FailureAccrualMessage,
  GetDestination,
  WeightedAddr,
} from '../../grpc/protos.js';
import type { Logger } from '../../util/log.js';
import type { EndpointChange, EndpointIndex, EndpointInfo } from './endpoints.js';
import { ipAuthority, resolveAuthority, type ServiceRef } from './names.js';
import { watchProfile } from './profiles.js';

export interface DestinationOptions {
  readonly clusterDomain: string;
  /**
   * Services (an authority whose IP is one's cluster IP names that Service) and the
   * profiles and routes GetProfile serves.
   */
  readonly catalog: Catalog;
  readonly log: Logger;
}

/** The namespace a proxy asks from, from its context token (JSON `{"ns": "..."}`). */
export function contextNamespace(token: string): string {
  if (token === '') return 'default';
  try {
    const ns = (JSON.parse(token) as { ns?: unknown }).ns;
    return typeof ns === 'string' && ns !== '' ? ns : 'default';
  } catch {
    return 'default';
  }
}

const weighted = (ep: EndpointInfo): WeightedAddr => ({
  addr: { ip: ep.address, port: ep.port },
  weight: ep.weight,
  metricLabels: { pod: ep.pod, deployment: ep.workload, serviceaccount: ep.serviceAccount },
  tlsIdentity: { dnsLikeIdentity: ep.identity },
  protocolHint: { h2: {}, ...(ep.inboundPort ? { opaqueTransport: { inboundPort: ep.inboundPort } } : {}) },
});

/** The updates that carry one change of an endpoint set to a proxy. */
export function updatesFor(ref: ServiceRef, change: EndpointChange, first: boolean): DestinationUpdate[] {
  if (change.size === 0) return [{ noEndpoints: { exists: change.exists } }];
  const updates: DestinationUpdate[] = [];
  if (!first && change.removed.length > 0) {
    updates.push({ remove: { addrs: change.removed.map((ep) => ({ ip: ep.address, port: ep.port })) } });
  }
  if (change.added.length > 0) {
    updates.push({
      add: {
        addrs: change.added.map(weighted),
        metricLabels: { namespace: ref.namespace, service: ref.service },
      },
    });
  }
  return updates;
}

/** The Destination API's form of a Service's failure accrual. */
export function failureAccrualMessage(accrual: FailureAccrual): FailureAccrualMessage {
  if (accrual.kind === 'none') return {};
  return {
    consecutiveFailures: {
      maxFailures: accrual.maxFailures,
      backoff: {
        minBackoffMs: accrual.minPenaltyMs,
        maxBackoffMs: accrual.maxPenaltyMs,
        jitterRatio: accrual.jitterRatio,
      },
    },
  };
}

/**
 * The Service port an IP authority names: the Service whose cluster IP it is, in any
 * namespace, and the authority's port. Undefined when the address is no Service's.
 */
export function serviceAtClusterIP(services: Collection<Service>, authority: string): ServiceRef | undefined {
  const addr = ipAuthority(authority);
  if (!addr) return undefined;
  const service = services.list().find((s) => s.spec.clusterIP === addr.ip);
  if (!service) return undefined;
  return { namespace: service.metadata.namespace, service: service.metadata.name, port: addr.port };
}

/** Ends a stream with a status, once, ignoring a client that has already gone. */
function fail(
  call: grpc.ServerWritableStream<GetDestination, unknown>,
  code: grpc.status,
  details: string,
): void {
  call.emit('error', { code, details });
}

/**
 * The Destination gRPC service: `Get` streams the endpoint set of the Service an
 * authority names; `GetProfile` streams its profile (see profiles.ts). An
 * authority is a name (resolved as Kubernetes DNS would) or a Service's cluster IP and a
 * port. Anything else fails with INVALID_ARGUMENT so the proxy falls back to DNS (or,
 * for an address, connects to it as it is).
 */
export function destinationService(
  index: EndpointIndex,
  opts: DestinationOptions,
): grpc.UntypedServiceImplementation {
  const resolve = (call: grpc.ServerWritableStream<GetDestination, unknown>): ServiceRef | undefined => {
    const { path, contextToken } = call.request;
    // A cluster IP is looked up once, as the stream opens: the stream then follows that
    // Service by name, even if it is deleted or its cluster IP changes later.
    const ref =
      resolveAuthority(path, contextNamespace(contextToken), opts.clusterDomain) ??
      serviceAtClusterIP(opts.catalog.services, path);
    if (!ref) {
      fail(
        call,
        grpc.status.INVALID_ARGUMENT,
        `"${path.slice(0, 300)}" is not a name or cluster IP in the mesh`,
      );
    }
    return ref;
  };
  const onEnd = (call: grpc.ServerWritableStream<GetDestination, unknown>, stop: () => void): void => {
    let stopped = false;
    const once = (): void => {
      if (stopped) return;
      stopped = true;
      stop();
    };
    call.on('cancelled', once);
    call.on('close', once);
    call.on('error', once);
  };
  return {
    get(call: grpc.ServerWritableStream<GetDestination, DestinationUpdate>) {
      const ref = resolve(call);
      if (!ref) return;
      opts.log.debug({ path: call.request.path, ref }, 'destination watch');
      let first = true;
      const unsubscribe = index.subscribe(
        ref,
        (change) => {
          for (const update of updatesFor(ref, change, first)) call.write(update);
          first = false;
        },
        ({ accrual, problems }) => {
          // Checked at apply; a Service stored before that check may still hold a bad value.
          if (problems.length > 0) {
            opts.log.warn(
              { service: `${ref.namespace}/${ref.service}`, problems },
              'invalid failure accrual annotations: no failure accrual',
            );
          }
          call.write({ failureAccrual: failureAccrualMessage(accrual) });
        },
      );
      onEnd(call, unsubscribe);
    },
    getProfile(call: grpc.ServerWritableStream<GetDestination, DestinationProfile>) {
      const ref = resolve(call);
      if (!ref) return;
      const ns = contextNamespace(call.request.contextToken);
      const stop = watchProfile(opts.catalog, ref, ns, opts.clusterDomain, (profile) => call.write(profile));
      onEnd(call, stop);
    },
  };
}
