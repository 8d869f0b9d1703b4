import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Direction, HttpMetrics } from '../metrics/http.js';
import type { CounterSeries } from '../metrics/registry.js';
import type { RouteMetrics } from '../metrics/route.js';
import type { TcpMetrics } from '../metrics/tcp.js';
import { formatHostPort, type HostPort } from '../util/addr.js';
import type { Logger } from '../util/log.js';
import type { DestinationClient } from './discovery/destination.js';
import { ProxyError } from './errors.js';
import type { Exchange, HttpLayer, HttpService } from './http/exchange.js';
import { H1Client } from './http/h1-client.js';
import type { H1Exchange } from './http/h1-exchange.js';
import { H1Server } from './http/h1-server.js';
import type { H2Exchange } from './http/h2-exchange.js';
import { DEFAULT_H2_TIMEOUTS, type H2CloseReason, type H2Timeouts } from './http/h2-liveness.js';
import { H2Pool } from './http/h2-pool.js';
import { H2Server } from './http/h2-server.js';
import { refuseRaw } from './http/raw.js';
import type { UpgradeExchange } from './http/upgrade-exchange.js';
import type { LocalIdentity } from './identity/local.js';
import { Listener } from './layers/accept.js';
import { InboundAuthorization } from './layers/authorize.js';
import { balanceLayer } from './layers/balance.js';
import { clientIdLayer } from './layers/client-id.js';
import { type Connector, tcpConnector } from './layers/connect.js';
import { detectProtocol, type Protocol } from './layers/detect.js';
import { forwardH1 } from './layers/forward-h1.js';
import { forwardH2 } from './layers/forward-h2.js';
import { meshH1Layer } from './layers/forward-mesh-h1.js';
import { forwardUpgrade } from './layers/forward-upgrade.js';
import { metricsLayer } from './layers/metrics.js';
import { forwardOpaque } from './layers/opaque.js';
import { type OpaqueService, opaqueOutbound } from './layers/opaque-outbound.js';
import { origProtoLayer } from './layers/orig-proto.js';
import { type ProfileSource, profileLayer } from './layers/profile.js';
import { retryLayer } from './layers/retry.js';
import { type Router, routeLayer } from './layers/route.js';
import { splitLayer } from './layers/split.js';
import { timeoutLayer } from './layers/timeout.js';
import { connectHandler, refuseConnect } from './layers/tunnel.js';
import { tapLayer } from './tap/layer.js';
import type { TapRegistry } from './tap/registry.js';
import { ALPN_H2, ALPN_HTTP1, ALPN_TRANSPORT, MeshConnector } from './tls/client.js';
import { peekServerName } from './tls/client-hello.js';
import type { TlsMetrics } from './tls/metrics.js';
import {
  NO_TLS_FROM_REMOTE,
  NO_TLS_LOOPBACK,
  NO_TLS_NOT_DISCOVERED,
  type Peer,
  tagPeer,
} from './tls/peer.js';
import { MeshTlsServer } from './tls/server.js';
import { readTransportHeader } from './tls/transport-header.js';
import { UpstreamTls } from './tls/upstream.js';
import { originalDstOf, tagOriginalDst } from './transparent/tag.js';

export interface DirectionOptions {
  readonly direction: Direction;
  readonly router: Router;
  readonly connectTimeoutMs: number;
  readonly detectTimeoutMs: number;
  /** Outbound, with an identity: the mTLS handshake timeout (default HANDSHAKE_TIMEOUT_MS). */
  readonly tlsHandshakeTimeoutMs?: number;
  /** Outbound: the response-headers timeout of requests whose route sets none (0 or unset: none). */
  readonly responseHeadersTimeoutMs?: number;
  /** Idle connections and HTTP/2 liveness (DEFAULT_H2_TIMEOUTS when absent). */
  readonly idleTimeouts?: H2Timeouts;
  /** Inbound: where opaque connections go when interception does not say. */
  readonly opaqueTarget?: HostPort;
  /**
   * Ports whose connections skip detection, as opaque TCP: inbound, the port the client
   * dialled (or `opaqueTarget`'s); outbound, where an intercepted connection was going or a
   * CONNECT tunnel's port.
   */
  readonly opaquePorts?: ReadonlySet<number>;
  /** Outbound serves CONNECT tunnels; inbound refuses them. */
  readonly serveConnect: boolean;
  /** Outbound with a control plane: service discovery and balancing. */
  readonly discovery?: DestinationClient;
  /**
   * With a control plane: authorities' profiles. Both sides count route metrics;
   * outbound also applies the routes' timeouts, retries and traffic splits.
   */
  readonly profiles?: ProfileSource;
  /**
   * This proxy's identity. Outbound: meshed endpoints are reached over mutual TLS.
   * Inbound: TLS for this identity is terminated here.
   */
  readonly identity?: LocalIdentity;
  /** Inbound: the mutual TLS handshake timeout once the ClientHello is in (default 10 s). */
  readonly tlsServerHandshakeTimeoutMs?: number;
  /** Inbound: the only client identities served (see InboundAuthorization); unset: all. */
  readonly authorizedIdentities?: ReadonlySet<string>;
  /**
   * Transparent mode: where an intercepted connection was going (SO_ORIGINAL_DST);
   * undefined for one that came straight to the listener.
   */
  readonly originalDst?: (socket: Socket) => HostPort | undefined;
}

export interface DirectionDeps {
  readonly http: HttpMetrics;
  readonly routes: RouteMetrics;
  readonly tcp: TcpMetrics;
  readonly tls: TlsMetrics;
  readonly log: Logger;
  readonly isDraining: () => boolean;
  /** A proxy with an identity: the taps its tap server has open (the tap layer reads them). */
  readonly taps?: TapRegistry;
}

/** Applies layers outermost first: stack([a, b], leaf) is a(b(leaf)). */
function stack<E extends Exchange>(layers: HttpLayer<E>[], leaf: HttpService<E>): HttpService<E> {
  return layers.reduceRight((next, layer) => layer(next), leaf);
}

/**
 * One side of the proxy (inbound or outbound), composed from the layers:
 * accept → detect → [TLS] → HTTP/1 | HTTP/2 | opaque → route → profile → [timeout → retry →
 * split] → balance → metrics → [tap] → forward → pool → connect.
 */
export class DirectionStack {
  readonly listener: Listener;
  private readonly h1: H1Server;
  private readonly h2: H2Server;
  private readonly h1Client: H1Client;
  private readonly h2Pool: H2Pool;
  private readonly connector: Connector;
  private readonly tlsServer: MeshTlsServer | undefined;
  /** Serves an opaque connection, given its target (see opaqueTargetOf). */
  private readonly opaque: OpaqueService;
  private readonly detectTimeouts: CounterSeries;
  private readonly refusedMalformed: CounterSeries;
  private readonly refusedDirect: CounterSeries;
  private readonly refusedUnauthorized: CounterSeries;
  private readonly authorization: InboundAuthorization;

  constructor(
    private readonly opts: DirectionOptions,
    private readonly deps: DirectionDeps,
  ) {
    const { direction, router, identity } = opts;
    const inbound = direction === 'inbound';
    const upstream = new UpstreamTls(identity !== undefined);
    this.connector = tcpConnector(
      opts.connectTimeoutMs,
      deps.tcp.stats(direction, 'dst', (inbound ? NO_TLS_LOOPBACK : NO_TLS_NOT_DISCOVERED).labels),
    );
    let mesh: MeshConnector | undefined;
    if (identity && !inbound) {
      const byServer = new Map<string, Connector>();
      const meshTcp = (serverId: string): Connector => {
        let c = byServer.get(serverId);
        if (!c) {
          c = tcpConnector(
            opts.connectTimeoutMs,
            deps.tcp.stats(direction, 'dst', upstream.serverLabels(serverId)),
          );
          byServer.set(serverId, c);
        }
        return c;
      };
      mesh = new MeshConnector(identity, meshTcp, deps.tls, deps.log, opts.tlsHandshakeTimeoutMs);
    }
    this.h1Client = new H1Client(this.connector);
    const idle = opts.idleTimeouts ?? DEFAULT_H2_TIMEOUTS;
    this.h2Pool = new H2Pool(this.connector, mesh, idle, (reason) => this.h2Closed('dst', reason));
    this.detectTimeouts = deps.tcp.detectTimeouts(direction);
    this.refusedMalformed = deps.tcp.refused(direction, 'malformed_http');
    this.refusedDirect = deps.tcp.refused(direction, 'direct_not_mtls');
    this.refusedUnauthorized = deps.tcp.refused(direction, 'unauthorized');
    this.authorization = new InboundAuthorization(inbound ? opts.authorizedIdentities : undefined);
    const relays = {
      connector: this.connector,
      upstream,
      ...(opts.discovery ? { discovery: opts.discovery } : {}),
      ...(mesh ? { mesh } : {}),
    };
    // The request layers both HTTP versions share, outermost first.
    const httpLayers = <E extends Exchange>(): HttpLayer<E>[] => [
      ...(inbound ? [clientIdLayer<E>()] : []),
      routeLayer(router),
      profileLayer(opts.profiles, deps.routes, direction),
      ...(inbound ? [] : [timeoutLayer<E>(opts.responseHeadersTimeoutMs ?? 0)]),
      ...(inbound || !opts.profiles ? [] : [retryLayer<E>(), splitLayer<E>()]),
      balanceLayer(opts.discovery, upstream),
      metricsLayer(deps.http, direction),
      ...(deps.taps ? [tapLayer<E>(deps.taps, direction)] : []),
    ];
    const h1Layers = httpLayers<H1Exchange>();
    if (mesh) h1Layers.push(meshH1Layer(this.h2Pool));
    const h2Layers = httpLayers<H2Exchange>();
    if (inbound) h2Layers.push(origProtoLayer(this.h1Client));

    // Outbound, the target is where an intercepted connection was going: discovery may
    // know it as a Service's address. Inbound, the application.
    this.opaque = inbound
      ? (socket, target) => forwardOpaque(socket, target, this.connector, deps.log)
      : opaqueOutbound(relays, deps.log);
    // Upgrades (WebSocket) take the same layers, and their own leaf.
    const upgrade = stack(httpLayers<UpgradeExchange>(), forwardUpgrade(this.connector, mesh));

    this.h1 = new H1Server({
      service: stack(h1Layers, forwardH1(this.h1Client)),
      upgrade,
      connect: opts.serveConnect
        ? connectHandler({
            ...relays,
            router,
            stats: (authority: string) => deps.http.stats(direction, authority),
            whenOpaque: (authority, port, cb) => this.whenOpaque(authority, port, cb),
            detect: (socket, done) => this.detectThen(socket, done),
            serveHttp: (socket, protocol) =>
              protocol === 'h2' ? this.h2.accept(socket) : this.h1.accept(socket),
          })
        : refuseConnect,
      isDraining: deps.isDraining,
      keepAliveTimeoutMs: idle.idleTimeoutMs,
      log: deps.log,
    });
    this.h2 = new H2Server(stack(h2Layers, forwardH2(this.h2Pool)), idle, (reason) =>
      this.h2Closed('src', reason),
    );
    this.tlsServer =
      identity && inbound
        ? new MeshTlsServer(
            identity,
            deps.tls,
            deps.log,
            (socket, peer) => this.acceptSecure(socket, peer),
            opts.tlsServerHandshakeTimeoutMs,
          )
        : undefined;
    // Inbound connections are counted once their TLS says who the peer is.
    this.listener = new Listener(
      inbound ? undefined : deps.tcp.stats(direction, 'src', NO_TLS_LOOPBACK.labels),
      (socket) => this.accept(socket),
    );
  }

  /** Counts and logs an HTTP/2 connection the proxy closed itself (src: a client's, dst: an upstream's). */
  private h2Closed(peer: 'src' | 'dst', reason: H2CloseReason): void {
    this.deps.tcp.h2Closes(this.opts.direction, peer, reason).inc();
    if (reason !== 'idle') {
      this.deps.log.debug(
        { direction: this.opts.direction, peer, reason },
        'closed an HTTP/2 connection that stopped answering or failed',
      );
    }
  }

  private countSrc(socket: Socket, peer: Peer): void {
    if (this.opts.direction === 'inbound') this.deps.tcp.stats('inbound', 'src', peer.labels).track(socket);
  }

  /**
   * Where an opaque connection goes: inbound, the application (in transparent mode on the
   * port the client dialled); outbound, where an intercepted connection was going (or,
   * with discovery, an endpoint of the Service at that address).
   */
  private opaqueTargetOf(socket: Socket): HostPort | undefined {
    const dst = originalDstOf(socket);
    if (!dst) return this.opts.opaqueTarget;
    return this.opts.direction === 'inbound' ? { host: '127.0.0.1', port: dst.port } : dst;
  }

  /**
   * Whether connections to a port skip detection: it is in `--opaque-ports`, or (outbound,
   * with a control plane) discovery says the Service port there is opaque.
   */
  private whenOpaque(authority: string | undefined, port: number, cb: (opaque: boolean) => void): void {
    const profiles = this.opts.profiles;
    const listed = this.opts.opaquePorts?.has(port) === true;
    if (listed || authority === undefined || !profiles) {
      cb(listed);
      return;
    }
    const watch = profiles(authority);
    const decide = (): void => cb(watch.profile?.opaqueProtocol === true);
    if (watch.answered) decide();
    else watch.whenAnswered(decide);
  }

  /**
   * Transparent inbound: a connection that came straight to the proxy's port (not
   * redirected). Meshed peers come so only over mutual TLS (opaque transport); anything
   * else is refused, as Linkerd refuses plaintext direct connections to its inbound port.
   */
  private isDirect(socket: Socket): boolean {
    return this.opts.direction === 'inbound' && this.opts.originalDst !== undefined && !originalDstOf(socket);
  }

  private accept(socket: Socket): void {
    const dst = this.opts.originalDst?.(socket);
    if (dst) tagOriginalDst(socket, dst);
    const opaqueTarget = this.opaqueTargetOf(socket);
    // A direct connection is detected whatever the port: it must turn out to be mutual TLS.
    if (!opaqueTarget || this.isDirect(socket)) {
      this.detect(socket);
      return;
    }
    // Outbound, discovery knows the Service at the address the connection was going to.
    const authority = this.opts.direction === 'outbound' ? formatHostPort(opaqueTarget) : undefined;
    this.whenOpaque(authority, opaqueTarget.port, (opaque) => {
      if (!opaque) this.detect(socket);
      else if (!socket.destroyed && this.admitPlaintext(socket, 'opaque')) {
        this.countSrc(socket, NO_TLS_FROM_REMOTE);
        this.opaque(socket, opaqueTarget);
      }
    });
  }

  private detect(socket: Socket): void {
    this.detectThen(socket, (protocol) => {
      const tlsServer = this.tlsServer;
      if (protocol !== 'tls' || !tlsServer) {
        if (protocol !== undefined && !this.admitPlaintext(socket, protocol)) return;
        this.countSrc(socket, NO_TLS_FROM_REMOTE);
        this.serve(socket, protocol);
        return;
      }
      // TLS for this proxy's identity is the mesh's; any other TLS is the application's own.
      peekServerName(socket, this.opts.detectTimeoutMs, (name) => {
        if (name !== null && name === this.opts.identity?.name) {
          tlsServer.accept(socket);
          return;
        }
        if (!this.admitPlaintext(socket, 'opaque')) return;
        this.countSrc(socket, NO_TLS_FROM_REMOTE);
        this.serve(socket, 'opaque');
      });
    });
  }

  /**
   * Detects a connection's protocol. When detection gives up (the timeout), the connection
   * goes on as opaque TCP, and the proxy counts and logs it.
   */
  private detectThen(socket: Duplex, done: (protocol: Protocol | undefined) => void): void {
    detectProtocol(socket, this.opts.detectTimeoutMs, (protocol, timedOut) => {
      if (timedOut) {
        this.detectTimeouts.inc();
        this.deps.log.debug(
          { direction: this.opts.direction, timeoutMs: this.opts.detectTimeoutMs },
          'protocol detection timed out',
        );
      }
      done(protocol);
    });
  }

  /**
   * Whether a connection that is not the mesh's TLS may go on: inbound, not when it came
   * straight to the transparent proxy's port, nor when authorization allows only
   * identities. A refused connection is counted and closed (answered 403 if HTTP/1).
   */
  private admitPlaintext(socket: Socket, protocol: Protocol): boolean {
    if (this.isDirect(socket)) {
      this.refusedDirect.inc();
      this.deps.log.debug(
        { client: socket.remoteAddress },
        'refused a direct connection to the inbound port that is not mutual TLS',
      );
      socket.destroy();
      return false;
    }
    return this.authorize(socket, NO_TLS_FROM_REMOTE, protocol);
  }

  /** Inbound authorization of a connection's client; refused: counted, logged and closed. */
  private authorize(socket: Socket, peer: Peer, protocol: Protocol | 'h2-tls'): boolean {
    if (this.authorization.allows(peer)) return true;
    this.refusedUnauthorized.inc();
    this.deps.log.info(
      { client: socket.remoteAddress, clientId: peer.id ?? null },
      'refused an inbound connection: its client is not an authorized identity',
    );
    if (protocol === 'http1') {
      const who = peer.id ?? 'a client without a mutual TLS identity';
      refuseRaw(socket, new ProxyError(403, `unauthorized: ${who} may not reach this workload`));
    } else socket.destroy();
    return false;
  }

  /** A connection whose mTLS handshake succeeded: ALPN says what it carries. */
  private acceptSecure(socket: TLSSocket, peer: Peer): void {
    if (!this.authorize(socket, peer, socket.alpnProtocol === ALPN_HTTP1 ? 'http1' : 'h2-tls')) return;
    tagPeer(socket, peer);
    // The TLS socket wraps the accepted one (Node keeps it as `_parent`), which carries
    // the original destination in transparent mode.
    const dst = originalDstOf((socket as unknown as { _parent?: object })._parent);
    if (dst) tagOriginalDst(socket, dst);
    this.countSrc(socket, peer);
    switch (socket.alpnProtocol) {
      case ALPN_H2:
        this.h2.accept(socket);
        break;
      case ALPN_TRANSPORT:
        readTransportHeader(socket, this.opts.detectTimeoutMs, (port) => {
          if (port instanceof Error) {
            this.deps.log.debug({ err: port.message }, 'dropped a meshed opaque connection');
            socket.destroy();
            return;
          }
          // Transparent mode: the port the client's proxy was asked for, on this pod's
          // loopback. Explicit mode: the application is the one inbound target.
          if (this.opts.originalDst) tagOriginalDst(socket, { host: '127.0.0.1', port });
          this.serve(socket, 'opaque');
        });
        break;
      default:
        this.detectThen(socket, (p) => this.serve(socket, p));
    }
  }

  private serve(socket: Socket, protocol: Protocol | undefined): void {
    const opaqueTarget = this.opaqueTargetOf(socket);
    switch (protocol) {
      case 'http1':
        this.h1.accept(socket);
        break;
      case 'h2':
        this.h2.accept(socket);
        break;
      case 'http-malformed':
        // Inbound, never relayed: the application could parse it as a request the proxy
        // did not see (a forged weft-client-id). Outbound, the application's own bytes.
        if (this.opts.direction === 'inbound') {
          this.refusedMalformed.inc();
          this.deps.log.debug('refused a connection that began like an HTTP/1 request but is not valid HTTP');
          refuseRaw(socket, new ProxyError(400, 'the request line is not valid HTTP/1'));
          break;
        }
        if (opaqueTarget) this.opaque(socket, opaqueTarget);
        else socket.destroy();
        break;
      case 'tls':
      case 'opaque':
        if (opaqueTarget) this.opaque(socket, opaqueTarget);
        else {
          this.deps.log.debug(
            'dropped a non-HTTP connection: explicit outbound mode has no destination for it',
          );
          socket.destroy();
        }
        break;
      default:
        // It closed, or half-closed, having sent nothing.
        socket.destroy();
    }
  }

  /** Starts a graceful drain: GOAWAY on HTTP/2, idle HTTP/1 connections closed. */
  drain(): void {
    this.h2.drain();
    this.h1.closeIdle();
  }

  /** Closes whatever is left once the grace period is over, and the upstream pools. */
  close(): void {
    this.listener.destroyAll();
    this.h1Client.destroy();
    this.h2Pool.close();
  }
}
