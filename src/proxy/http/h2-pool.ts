import http2 from 'node:http2';
import { formatHostPort, type HostPort } from '../../util/addr.js';
import type { Connector } from '../layers/connect.js';
import { ALPN_H2, type MeshConnector } from '../tls/client.js';
import { type H2CloseReason, H2SessionGuard, type H2Timeouts } from './h2-liveness.js';

/** Bounds on what an upstream HTTP/2 peer may make the proxy hold. */
export const H2_CLIENT_SETTINGS: http2.Settings = {
  maxHeaderListSize: 64 * 1024,
  enablePush: false,
};

/**
 * The HTTP/2 endpoint pool: one multiplexed session per target, replaced when the peer
 * sends GOAWAY or the connection fails. A target with a server identity is reached over
 * mutual TLS (another proxy), so every request to that endpoint, HTTP/1 ones included,
 * shares one connection and one handshake. The session's connect error, if any, is kept
 * so the streams it failed can say why. Each session is guarded (H2SessionGuard): idle ones
 * close, and one gone silent that does not acknowledge SETTINGS (an upstream that sent
 * what nghttp2 refused, and kept the socket open) is destroyed, and not reused meanwhile.
 */
export class H2Pool {
  private readonly sessions = new Map<string, { session: http2.ClientHttp2Session; guard: H2SessionGuard }>();
  readonly connectErrors = new WeakMap<http2.ClientHttp2Session, Error>();

  constructor(
    private readonly connector: Connector,
    private readonly mesh: MeshConnector | undefined,
    private readonly timeouts: H2Timeouts,
    private readonly closed: (reason: H2CloseReason) => void,
  ) {}

  /** Opens a stream to `target` on its pooled session; throws as session.request does. */
  request(
    target: HostPort,
    serverId: string | undefined,
    headers: http2.OutgoingHttpHeaders,
    options: http2.ClientSessionRequestOptions,
  ): { session: http2.ClientHttp2Session; stream: http2.ClientHttp2Stream } {
    const { session, guard } = this.get(target, serverId);
    const stream = session.request(headers, options);
    guard.streamOpened(stream);
    return { session, stream };
  }

  private get(
    target: HostPort,
    serverId: string | undefined,
  ): { session: http2.ClientHttp2Session; guard: H2SessionGuard } {
    const addr = formatHostPort(target);
    const mesh = serverId === undefined ? undefined : this.mesh;
    const key = mesh ? `${serverId}@${addr}` : addr;
    const existing = this.sessions.get(key);
    if (existing && !existing.session.closed && !existing.session.destroyed && !existing.guard.suspect) {
      return existing;
    }
    // The socket's own error (refused, timed out, TLS refused) comes before the session's,
    // and is the one that says what went wrong; streams failed by it look it up here.
    const session: http2.ClientHttp2Session = http2.connect(`${mesh ? 'https' : 'http'}://${addr}`, {
      settings: H2_CLIENT_SETTINGS,
      maxSessionMemory: 10,
      createConnection: () => {
        const socket = mesh
          ? mesh.connect(target, serverId as string, ALPN_H2)
          : this.connector.connect(target);
        socket.once('error', (err) => this.connectErrors.set(session, err));
        return socket;
      },
    });
    const forget = (): void => {
      if (this.sessions.get(key)?.session === session) this.sessions.delete(key);
    };
    session.on('error', (err) => {
      if (!this.connectErrors.has(session)) this.connectErrors.set(session, err);
      forget();
    });
    session.once('goaway', forget);
    session.once('close', forget);
    const entry = { session, guard: new H2SessionGuard(session, this.timeouts, this.closed, 'client') };
    this.sessions.set(key, entry);
    return entry;
  }

  close(): void {
    for (const { session } of this.sessions.values()) session.close();
    this.sessions.clear();
  }
}
