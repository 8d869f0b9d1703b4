import type { Socket } from 'node:net';
import tls from 'node:tls';
import { certificateIdentity, dnsNames } from '../../identity/x509.js';
import { formatHostPort, type HostPort } from '../../util/addr.js';
import type { Logger } from '../../util/log.js';
import type { LocalIdentity } from '../identity/local.js';
import type { Connector } from '../layers/connect.js';
import { classifyTlsError, MeshTlsError } from './errors.js';
import type { TlsMetrics } from './metrics.js';

/**
 * ALPN between proxies: HTTP/2 for requests, HTTP/1.1 for upgrades (WebSocket), and opaque
 * TCP behind a transport header.
 */
export const ALPN_H2 = 'h2';
export const ALPN_HTTP1 = 'http/1.1';
export const ALPN_TRANSPORT = 'transport.weft.io/v1';

/**
 * How long an inbound handshake may take once TCP is connected, and an outbound one unless
 * the connector is given its own (`--outbound-tls-handshake-timeout`, 3 s by default).
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Opens mutual TLS 1.3 to a meshed endpoint: presents this proxy's certificate, verifies
 * the server's chain against the trust anchors, and accepts it only if it proves exactly
 * the identity discovery named. A failure is a MeshTlsError on the socket ('error'),
 * counted and logged once; there is no plaintext fallback.
 */
export class MeshConnector {
  constructor(
    private readonly identity: LocalIdentity,
    /** The TCP connector for a server identity's connections (their tcp_* labels). */
    private readonly tcp: (serverId: string) => Connector,
    private readonly metrics: TlsMetrics,
    private readonly log: Logger,
    private readonly handshakeTimeoutMs = HANDSHAKE_TIMEOUT_MS,
  ) {}

  connect(target: HostPort, serverId: string, alpn: string, halfOpen = false): tls.TLSSocket {
    const where = formatHostPort(target);
    const raw: Socket = this.tcp(serverId).connect(target, halfOpen);
    const socket = tls.connect({
      socket: raw,
      servername: serverId,
      secureContext: this.identity.secureContext,
      ALPNProtocols: [alpn],
      // tls.connect passes allowHalfOpen on to the TLSSocket; @types/node leaves it out.
      ...({ allowHalfOpen: halfOpen } as object),
      rejectUnauthorized: true,
      checkServerIdentity: (_host, cert) => {
        if (certificateIdentity(cert.subjectaltname) === serverId) return undefined;
        const names = dnsNames(cert.subjectaltname);
        return new MeshTlsError(
          names.length === 0 ? 'no_identity' : 'identity_mismatch',
          `TLS with ${where} refused: it proved ${names.length === 0 ? 'no identity' : names.join(', ')}, expected ${serverId}`,
        );
      },
    });
    let tcpConnected = false;
    let secured = false;
    const ms = this.handshakeTimeoutMs;
    const timer = setTimeout(() => {
      socket.destroy(
        new MeshTlsError('timeout', `TLS with ${where} refused: the handshake timed out after ${ms}ms`),
      );
    }, ms);
    raw.once('connect', () => {
      tcpConnected = true;
      timer.refresh();
    });
    socket.once('secureConnect', () => {
      secured = true;
      clearTimeout(timer);
    });
    socket.once('close', () => clearTimeout(timer));
    // TCP failures (refused, timed out) are the connector's to report; only handshakes count here.
    socket.once('error', (err) => {
      if (secured || !tcpConnected) return;
      const failure = classifyTlsError(err, where);
      this.metrics.failed('outbound', failure.reason);
      this.log.warn(
        { endpoint: where, expected: serverId, reason: failure.reason, err: failure.message },
        'mTLS handshake failed',
      );
    });
    return socket;
  }
}
