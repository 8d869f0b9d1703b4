import * as grpc from '@grpc/grpc-js';
import type {
  DestinationProfile,
  DestinationUpdate,
  GetDestination,
  WeightedAddr,
} from '../../grpc/protos.js';
import type { Logger } from '../../util/log.js';
import type { EndpointChange, EndpointIndex, EndpointInfo } from './endpoints.js';
import { resolveAuthority, type ServiceRef, serviceFqdn } from './names.js';

export interface DestinationOptions {
  readonly clusterDomain: string;
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
  protocolHint: { h2: {} },
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
 * authority names; `GetProfile` streams its (for now empty) service profile. Names that
 * cannot be mesh names fail with INVALID_ARGUMENT so the proxy falls back to DNS.
 */
export function destinationService(
  index: EndpointIndex,
  opts: DestinationOptions,
): grpc.UntypedServiceImplementation {
  const resolve = (call: grpc.ServerWritableStream<GetDestination, unknown>): ServiceRef | undefined => {
    const { path, contextToken } = call.request;
    const ref = resolveAuthority(path, contextNamespace(contextToken), opts.clusterDomain);
    if (!ref) fail(call, grpc.status.INVALID_ARGUMENT, `"${path.slice(0, 300)}" is not a name in the mesh`);
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
      const unsubscribe = index.subscribe(ref, (change) => {
        for (const update of updatesFor(ref, change, first)) call.write(update);
        first = false;
      });
      onEnd(call, unsubscribe);
    },
    getProfile(call: grpc.ServerWritableStream<GetDestination, DestinationProfile>) {
      const ref = resolve(call);
      if (!ref) return;
      call.write({ fullyQualifiedName: serviceFqdn(ref, opts.clusterDomain), opaqueProtocol: false });
      onEnd(call, () => {});
    },
  };
}
