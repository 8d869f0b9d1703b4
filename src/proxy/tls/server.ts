import type { Socket } from 'node:net';
import tls from 'node:tls';
import { certificateIdentity } from '../../identity/x509.js';
import type { Logger } from '../../util/log.js';
import type { LocalIdentity } from '../identity/local.js';
import { ALPN_H2, ALPN_HTTP1, ALPN_TRANSPORT, HANDSHAKE_TIMEOUT_MS } from './client.js';
import { classifyTlsError, type verifyReason } from './errors.js';
import type { TlsMetrics } from './metrics.js';
import { type Peer, PeerCache, TLS_ANONYMOUS_CLIENT } from './peer.js';

/**
 * Terminates inbound TLS meant for this proxy's identity (the caller has checked the
 * SNI). It presents the current certificate, asks for the client's and verifies it
 * against the trust anchors: a client that presents a certificate that does not verify,
 * or that names no identity, is refused, counted and logged; one that presents none is
 * served as an anonymous TLS peer. `onSecure` gets each accepted connection and its peer.
 */
export class MeshTlsServer {
  private readonly server: tls.Server;
  private readonly clients = new PeerCache('client_id');

  constructor(
    identity: LocalIdentity,
    metrics: TlsMetrics,
    log: Logger,
    onSecure: (socket: tls.TLSSocket, peer: Peer) => void,
    handshakeTimeoutMs = HANDSHAKE_TIMEOUT_MS,
  ) {
    this.server = tls.createServer({
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: [ALPN_H2, ALPN_TRANSPORT, ALPN_HTTP1],
      handshakeTimeout: handshakeTimeoutMs,
      allowHalfOpen: true,
      // Looked up per connection, so a renewed certificate serves the next handshake.
      SNICallback: (_name, cb) => cb(null, identity.secureContext),
    });
    const refuse = (socket: tls.TLSSocket, reason: ReturnType<typeof verifyReason>, why: string): void => {
      metrics.failed('inbound', reason ?? 'untrusted');
      log.warn({ client: socket.remoteAddress, reason, err: why }, 'refused an mTLS client');
      socket.destroy();
    };
    this.server.on('secureConnection', (socket: tls.TLSSocket) => {
      socket.on('error', () => {});
      const cert = socket.getPeerCertificate();
      if (!cert || Object.keys(cert).length === 0) {
        onSecure(socket, TLS_ANONYMOUS_CLIENT);
        return;
      }
      if (!socket.authorized) {
        const code = String(socket.authorizationError ?? 'CERT_REJECTED');
        const failure = classifyTlsError({ code }, socket.remoteAddress ?? 'client');
        refuse(socket, failure.reason, `${failure.message} (${code})`);
        return;
      }
      const id = certificateIdentity(cert.subjectaltname);
      if (id === undefined) {
        refuse(
          socket,
          'no_identity',
          `client certificate names no single identity (${cert.subjectaltname ?? 'no SAN'})`,
        );
        return;
      }
      onSecure(socket, this.clients.get(id));
    });
    this.server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
      // Node destroys the TLS socket but not the accepted connection it wraps (given by
      // accept(), after detection): without this, each failed handshake kept a descriptor.
      socket.destroy();
      (socket as unknown as { _parent?: Socket })._parent?.destroy();
      // Node's handshake timeout is ERR_TLS_HANDSHAKE_TIMEOUT ("TLS handshake timeout").
      const timedOut =
        (err as NodeJS.ErrnoException).code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ||
        /timed? ?out/i.test(err.message);
      const failure = classifyTlsError(
        timedOut ? { code: 'ETIMEDOUT', message: 'handshake timed out' } : err,
        socket.remoteAddress ?? 'client',
      );
      const reason = timedOut ? 'timeout' : failure.reason;
      metrics.failed('inbound', reason);
      log.warn(
        { client: socket.remoteAddress, reason, err: failure.message },
        'inbound mTLS handshake failed',
      );
    });
  }

  /** Starts the handshake on a connection whose first bytes (the ClientHello) were put back. */
  accept(socket: Socket): void {
    this.server.emit('connection', socket);
  }
}
