import type { Peer } from '../tls/peer.js';

/**
 * Inbound authorization, as Linkerd's MeshTLSAuthentication with a list of identities:
 * with `identities`, only a client whose certificate proved one of them over mutual TLS
 * is served; without, every client is (plaintext included). Checked once per connection,
 * as soon as its TLS says who the client is.
 */
export class InboundAuthorization {
  constructor(private readonly identities: ReadonlySet<string> | undefined) {}

  allows(peer: Peer): boolean {
    return this.identities === undefined || (peer.id !== undefined && this.identities.has(peer.id));
  }
}
