import type { SecureContext } from 'node:tls';

/**
 * This proxy's own identity, as the data plane uses it: the name on its certificate, and
 * the TLS settings for new connections both ways (its certificate chain and private key,
 * and the trust anchors peers' certificates are verified against). The context changes
 * when the certificate is renewed; connections already open keep the one they began with.
 */
export interface LocalIdentity {
  readonly name: string;
  readonly secureContext: SecureContext;
}
