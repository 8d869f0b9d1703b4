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
 * Streams one upstream session carries at once before the next request opens another
 * session to the same endpoint: nghttp2's and hyper's default before a peer's SETTINGS
 * arrive. A peer that advertises a lower SETTINGS_MAX_CONCURRENT_STREAMS is held to it.
 * A new session, until its peer's SETTINGS arrive, takes the limit its endpoint's other
 * sessions learned (the proxy's cap for the first).
 * Without a cap, one client's stuck streams (a window it never opens) fill the session
 * every client shares, until the app's own per-session memory limit resets it.
 */
export const H2_STREAMS_PER_SESSION = 100;
/**
 * Sessions per endpoint at most; past them, a stream goes to the least busy one (queued
 * there by nghttp2 if the peer's limit is reached). 16 x 100 streams before overflow.
 */
export const H2_SESSIONS_PER_ENDPOINT = 16;

/** Bounds on how the pool spreads streams over sessions. */
export interface H2PoolLimits {
  readonly streamsPerSession: number;
  readonly sessionsPerEndpoint: number;
}

export const DEFAULT_H2_POOL_LIMITS: H2PoolLimits = {
  streamsPerSession: H2_STREAMS_PER_SESSION,
  sessionsPerEndpoint: H2_SESSIONS_PER_ENDPOINT,
};

/** An endpoint's sessions, oldest first (the first with room takes a stream). */
interface Endpoint {
  readonly sessions: PooledSession[];
  /** The streams a session may carry, as the endpoint's last SETTINGS said. */
  limit: number;
}

interface PooledSession {
  readonly session: http2.ClientHttp2Session;
  readonly guard: H2SessionGuard;
  /** The proxy's cap, lowered to the peer's SETTINGS_MAX_CONCURRENT_STREAMS once known. */
  limit: number;
}

/**
 * The HTTP/2 endpoint pool: multiplexed sessions per target, each carrying at most
 * `streamsPerSession` streams (or the peer's SETTINGS_MAX_CONCURRENT_STREAMS, if lower), a
 * new one opened past that up to `sessionsPerEndpoint`, as Envoy's pool marks a connection
 * busy at its stream limit and opens another; so a client whose streams are stuck holds at
 * most its sessions, not the one every client shares. A session is replaced when the peer
 * sends GOAWAY or the connection fails. A target with a server identity is reached over
 * mutual TLS (another proxy), so requests to that endpoint, HTTP/1 ones included, share
 * its sessions and handshakes. The session's connect error, if any, is kept so the streams
 * it failed can say why. Each session is guarded (H2SessionGuard): idle ones close, and
 * one gone silent that does not acknowledge SETTINGS (an upstream that sent what nghttp2
 * refused, and kept the socket open) is destroyed, and not reused meanwhile.
 */
export class H2Pool {
  private readonly endpoints = new Map<string, Endpoint>();
  readonly connectErrors = new WeakMap<http2.ClientHttp2Session, Error>();

  constructor(
    private readonly connector: Connector,
    private readonly mesh: MeshConnector | undefined,
    private readonly timeouts: H2Timeouts,
    private readonly closed: (reason: H2CloseReason) => void,
    private readonly limits: H2PoolLimits = DEFAULT_H2_POOL_LIMITS,
  ) {}

  /** Opens a stream to `target` on one of its pooled sessions; throws as session.request does. */
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

  private keyOf(target: HostPort, serverId: string | undefined): string {
    const addr = formatHostPort(target);
    return serverId === undefined || !this.mesh ? addr : `${serverId}@${addr}`;
  }

  private get(target: HostPort, serverId: string | undefined): PooledSession {
    const key = this.keyOf(target, serverId);
    let endpoint = this.endpoints.get(key);
    if (endpoint === undefined) {
      endpoint = { sessions: [], limit: this.limits.streamsPerSession };
      this.endpoints.set(key, endpoint);
    }
    // Usually one session with room: the first looked at. At most sessionsPerEndpoint.
    let leastBusy: PooledSession | undefined;
    for (const entry of endpoint.sessions) {
      const { session, guard } = entry;
      if (session.closed || session.destroyed || guard.suspect) continue;
      if (guard.activeStreams < entry.limit) return entry;
      if (leastBusy === undefined || guard.activeStreams < leastBusy.guard.activeStreams) leastBusy = entry;
    }
    if (leastBusy !== undefined && endpoint.sessions.length >= this.limits.sessionsPerEndpoint)
      return leastBusy;
    return this.open(key, endpoint, target, serverId === undefined ? undefined : this.mesh, serverId);
  }

  private open(
    key: string,
    endpoint: Endpoint,
    target: HostPort,
    mesh: MeshConnector | undefined,
    serverId: string | undefined,
  ): PooledSession {
    const addr = formatHostPort(target);
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
    const entry: PooledSession = {
      session,
      guard: new H2SessionGuard(session, this.timeouts, this.closed, 'client'),
      limit: endpoint.limit,
    };
    const forget = (): void => {
      const i = endpoint.sessions.indexOf(entry);
      if (i < 0) return;
      endpoint.sessions.splice(i, 1);
      if (endpoint.sessions.length === 0 && this.endpoints.get(key) === endpoint) this.endpoints.delete(key);
    };
    session.on('error', (err) => {
      if (!this.connectErrors.has(session)) this.connectErrors.set(session, err);
      forget();
    });
    session.on('remoteSettings', (settings) => {
      const peer = settings.maxConcurrentStreams;
      entry.limit = Math.min(this.limits.streamsPerSession, peer ?? Number.POSITIVE_INFINITY);
      endpoint.limit = entry.limit;
    });
    session.once('goaway', forget);
    session.once('close', forget);
    endpoint.sessions.push(entry);
    return entry;
  }

  close(): void {
    for (const { sessions } of this.endpoints.values()) for (const { session } of sessions) session.close();
    this.endpoints.clear();
  }
}
