import type { Duplex } from 'node:stream';
import type { HostPort } from '../../util/addr.js';
import type { Logger } from '../../util/log.js';
import type { Endpoint, EndpointSpec } from '../balance/endpoint.js';
import type { DestinationClient } from '../discovery/destination.js';
import { ProxyError } from '../errors.js';
import { ALPN_TRANSPORT, type MeshConnector } from '../tls/client.js';
import { encodeTransportHeader } from '../tls/transport-header.js';
import type { UpstreamTls } from '../tls/upstream.js';
import { pickForConnection } from './balance.js';
import type { Connector } from './connect.js';
import { splice } from './splice.js';

/** How a direction reaches the upstream of an opaque connection (a relayed byte stream). */
export interface OpaqueDeps {
  readonly connector: Connector;
  /** Outbound: which endpoints are reached over mutual TLS. */
  readonly upstream?: UpstreamTls;
  /** Outbound with an identity: meshed endpoints are reached over mutual TLS. */
  readonly mesh?: MeshConnector;
  /** Outbound with a control plane: an authority the mesh knows goes to one of its endpoints. */
  readonly discovery?: DestinationClient;
}

/** What a caller does as one relay's upstream connection goes. */
export interface RelayEvents {
  /** The connect failed (refused, timed out, mutual TLS refused); the endpoint has been told. */
  failed(err: Error): void;
  /** Connected: the last moment to write to either side before the bytes flow. */
  established?(upstream: Duplex): void;
  /** The relay is over: both sides have closed. */
  ended?(): void;
}

export interface RelayCallbacks {
  /** No endpoint of the authority became available within the failfast timeout. */
  unavailable(error: ProxyError): void;
  /**
   * The upstream is chosen, about to be connected: one of the authority's endpoints, or
   * (no endpoint) the fallback target.
   */
  connecting(target: HostPort, endpoint: EndpointSpec | undefined): RelayEvents;
}

/**
 * Relays a client's bytes to an authority, as CONNECT tunnels and intercepted opaque TCP
 * do: with discovery, to the least-loaded endpoint of an authority the mesh knows, over
 * mutual TLS (ALPN transport, then the transport header naming the endpoint's port) when
 * discovery names its identity and this proxy has one, plain TCP otherwise; the endpoint
 * counts the connection and learns whether it connected. An authority the mesh does not
 * know, or any authority without discovery, goes to `fallback` over plain TCP.
 */
export function relayOpaque(
  deps: OpaqueDeps,
  client: Duplex,
  authority: string,
  fallback: HostPort,
  cb: RelayCallbacks,
): void {
  const direct = (): void =>
    connectAndRelay(deps, client, fallback, undefined, cb.connecting(fallback, undefined));
  if (!deps.discovery) {
    direct();
    return;
  }
  pickForConnection(deps.discovery, authority, (picked) => {
    if (picked === 'dns') direct();
    else if (picked instanceof ProxyError) cb.unavailable(picked);
    else {
      const target = picked.spec.addr;
      connectAndRelay(deps, client, target, picked, cb.connecting(target, picked.spec));
    }
  });
}

/** Where opaque TCP to a meshed endpoint is sent: its proxy's inbound port, if known. */
function transportAddr(target: HostPort, spec: EndpointSpec | undefined): HostPort {
  const port = spec?.opaqueTransportPort;
  return port === undefined || port === target.port ? target : { host: target.host, port };
}

function connectAndRelay(
  deps: OpaqueDeps,
  client: Duplex,
  target: HostPort,
  endpoint: Endpoint | undefined,
  events: RelayEvents,
): void {
  endpoint?.openConnection();
  if (client.destroyed) {
    // The client left while waiting for an endpoint: give back a probe it may have claimed.
    endpoint?.closeConnection();
    return;
  }
  const spec = endpoint?.spec;
  const serverId = spec && deps.mesh ? deps.upstream?.serverId(spec) : undefined;
  // Meshed: to the peer proxy's inbound port when discovery names it (opaque transport, as
  // Linkerd's), so the peer terminates the mutual TLS even when the target port is one it
  // relays without detection; the transport header names the target port.
  const upstream =
    serverId !== undefined && deps.mesh
      ? deps.mesh.connect(transportAddr(target, spec), serverId, ALPN_TRANSPORT, true)
      : deps.connector.connect(target, true);
  const onError = (err: Error): void => {
    endpoint?.closeConnection(true);
    events.failed(err);
  };
  upstream.once('error', onError);
  let established = false;
  client.once('close', () => {
    if (!established) upstream.destroy();
  });
  upstream.once(serverId !== undefined ? 'secureConnect' : 'connect', () => {
    established = true;
    upstream.off('error', onError);
    if (serverId !== undefined) upstream.write(encodeTransportHeader(target.port));
    endpoint?.connected();
    events.established?.(upstream);
    splice(client, upstream, () => {
      endpoint?.closeConnection();
      events.ended?.();
    });
    client.resume();
  });
}

/** Opaque TCP: relays a connection's bytes to the target as they are, over plain TCP. */
export function forwardOpaque(client: Duplex, target: HostPort, connector: Connector, log: Logger): void {
  connectAndRelay({ connector }, client, target, undefined, {
    failed: (err) => {
      log.debug({ err: err.message }, 'opaque connection to upstream failed');
      client.destroy();
    },
  });
}
