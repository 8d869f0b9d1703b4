import type { Labels } from '../../metrics/registry.js';
import type { EndpointSpec } from '../balance/endpoint.js';
import { NO_TLS_LOCAL_IDENTITY_DISABLED, NO_TLS_NOT_DISCOVERED, PeerCache } from './peer.js';

/**
 * How outbound traffic reaches an endpoint: over mutual TLS when discovery names the
 * endpoint's identity and this proxy has one of its own, plaintext otherwise. Also the
 * endpoint's metric labels (`tls`, `server_id` or `no_tls_reason`, then `dst_*`), built
 * once per endpoint.
 */
export class UpstreamTls {
  private readonly servers = new PeerCache('server_id');
  private readonly labels = new WeakMap<EndpointSpec, Labels>();

  constructor(private readonly hasIdentity: boolean) {}

  /** The identity the endpoint must prove, or undefined for plaintext. */
  serverId(spec: EndpointSpec): string | undefined {
    return this.hasIdentity ? spec.identity : undefined;
  }

  labelsFor(spec: EndpointSpec): Labels {
    let labels = this.labels.get(spec);
    if (!labels) {
      const peer =
        spec.identity === undefined
          ? NO_TLS_NOT_DISCOVERED
          : this.hasIdentity
            ? this.servers.get(spec.identity)
            : NO_TLS_LOCAL_IDENTITY_DISABLED;
      labels = [...peer.labels, ...spec.labels];
      this.labels.set(spec, labels);
    }
    return labels;
  }

  /** The TLS labels of connections to a server identity (tcp_* metrics). */
  serverLabels(serverId: string): Labels {
    return this.servers.get(serverId).labels;
  }
}
