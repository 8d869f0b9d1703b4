import type { Labels } from '../../metrics/registry.js';

/**
 * What TLS says about the other side of a connection: the metric labels it gives the
 * connection's requests (`tls`, and `client_id`, `server_id` or `no_tls_reason`) and the
 * identity it proved, if any. Label lists are built once and shared, because the metrics
 * layer finds its series by the list's identity.
 */
export interface Peer {
  readonly labels: Labels;
  /** The identity the peer's certificate proved (inbound: the client's). */
  readonly id?: string;
}

const plaintext = (reason: string): Peer => ({
  labels: [
    ['tls', 'no_identity'],
    ['no_tls_reason', reason],
  ],
});

/** Connections between the proxy and its own application (outbound src, inbound dst). */
export const NO_TLS_LOOPBACK = plaintext('loopback');
/** Inbound connections that did not arrive as TLS for this proxy's identity. */
export const NO_TLS_FROM_REMOTE = plaintext('no_tls_from_remote');
/** Outbound to a name or endpoint discovery gave no identity for. */
export const NO_TLS_NOT_DISCOVERED = plaintext('not_provided_by_service_discovery');
/**
 * Outbound requests the proxy answered itself before sending them anywhere (no endpoint
 * became available, or the route's timeout passed while waiting for one).
 */
export const NO_TLS_NOT_SENT = plaintext('not_sent');
/** Outbound to a meshed endpoint from a proxy that has no identity of its own. */
export const NO_TLS_LOCAL_IDENTITY_DISABLED = plaintext('local_identity_disabled');
/** Inbound TLS terminated here, from a client that presented no certificate. */
export const TLS_ANONYMOUS_CLIENT: Peer = { labels: [['tls', 'true']] };

/** Identities are proven by certificates, so they are few; the bound is a safety net. */
const MAX_CACHED = 10_000;

/** Caches one Peer per identity, labelled `client_id` (inbound) or `server_id` (outbound). */
export class PeerCache {
  private readonly peers = new Map<string, Peer>();
  constructor(private readonly label: 'client_id' | 'server_id') {}

  get(id: string): Peer {
    let peer = this.peers.get(id);
    if (!peer) {
      if (this.peers.size >= MAX_CACHED) this.peers.clear();
      peer = {
        id,
        labels: [
          ['tls', 'true'],
          [this.label, id],
        ],
      };
      this.peers.set(id, peer);
    }
    return peer;
  }
}

const PEER = Symbol('weft.peer');
type Tagged = { [PEER]?: Peer };

/** Records on a connection what TLS proved about its peer, for the servers that read it. */
export function tagPeer(socket: object, peer: Peer): void {
  (socket as Tagged)[PEER] = peer;
}

/** The peer recorded on a connection; plaintext if nothing was recorded. */
export function peerOf(socket: object | null | undefined): Peer {
  return (socket as Tagged | null | undefined)?.[PEER] ?? NO_TLS_FROM_REMOTE;
}
