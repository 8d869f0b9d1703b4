import type { Socket } from 'node:net';
import type { Direction, HttpMetrics } from '../metrics/http.js';
import type { TcpMetrics } from '../metrics/tcp.js';
import type { HostPort } from '../util/addr.js';
import type { Logger } from '../util/log.js';
import type { DestinationClient } from './discovery/destination.js';
import type { Exchange, HttpLayer, HttpService } from './http/exchange.js';
import { H1Client } from './http/h1-client.js';
import type { H1Exchange } from './http/h1-exchange.js';
import { H1Server } from './http/h1-server.js';
import type { H2Exchange } from './http/h2-exchange.js';
import { H2Pool } from './http/h2-pool.js';
import { H2Server } from './http/h2-server.js';
import { Listener } from './layers/accept.js';
import { balanceLayer } from './layers/balance.js';
import { tcpConnector } from './layers/connect.js';
import { detectProtocol } from './layers/detect.js';
import { forwardH1 } from './layers/forward-h1.js';
import { forwardH2 } from './layers/forward-h2.js';
import { metricsLayer } from './layers/metrics.js';
import { forwardOpaque } from './layers/opaque.js';
import { type Router, routeLayer } from './layers/route.js';
import { connectHandler, refuseConnect, upgradeHandler } from './layers/upgrade.js';

/** Until identity exists, every connection is plaintext. */
export const NO_IDENTITY = 'no_identity';

export interface DirectionOptions {
  readonly direction: Direction;
  readonly router: Router;
  readonly connectTimeoutMs: number;
  readonly detectTimeoutMs: number;
  /** Inbound: where opaque connections go, and the port that decides whether to skip detection. */
  readonly opaqueTarget?: HostPort;
  readonly opaquePorts?: ReadonlySet<number>;
  /** Outbound serves CONNECT tunnels; inbound refuses them. */
  readonly serveConnect: boolean;
  /** Outbound with a control plane: service discovery and balancing. */
  readonly discovery?: DestinationClient;
}

export interface DirectionDeps {
  readonly http: HttpMetrics;
  readonly tcp: TcpMetrics;
  readonly log: Logger;
  readonly isDraining: () => boolean;
}

/** Applies layers outermost first: stack([a, b], leaf) is a(b(leaf)). */
function stack<E extends Exchange>(layers: HttpLayer<E>[], leaf: HttpService<E>): HttpService<E> {
  return layers.reduceRight((next, layer) => layer(next), leaf);
}

/**
 * One side of the proxy (inbound or outbound), composed from the layers:
 * accept → detect → HTTP/1 | HTTP/2 | opaque → route → balance → metrics → forward → pool → connect.
 */
export class DirectionStack {
  readonly listener: Listener;
  private readonly h1: H1Server;
  private readonly h2: H2Server;
  private readonly h1Client: H1Client;
  private readonly h2Pool: H2Pool;

  constructor(
    private readonly opts: DirectionOptions,
    private readonly deps: DirectionDeps,
  ) {
    const { direction, router } = opts;
    const connector = tcpConnector(opts.connectTimeoutMs, deps.tcp.stats(direction, 'dst', NO_IDENTITY));
    this.h1Client = new H1Client(connector);
    this.h2Pool = new H2Pool(connector);
    const stats = (authority: string) => deps.http.stats(direction, NO_IDENTITY, authority);
    const tunnels = { router, connector, stats, ...(opts.discovery ? { discovery: opts.discovery } : {}) };
    // The request layers both HTTP versions share, outermost first.
    const httpLayers = <E extends Exchange>(): HttpLayer<E>[] => [
      routeLayer(router),
      balanceLayer(opts.discovery),
      metricsLayer(deps.http, direction, NO_IDENTITY),
    ];

    this.h1 = new H1Server({
      service: stack(httpLayers<H1Exchange>(), forwardH1(this.h1Client)),
      upgrade: upgradeHandler(tunnels),
      connect: opts.serveConnect ? connectHandler(tunnels) : refuseConnect,
      isDraining: deps.isDraining,
      log: deps.log,
    });
    this.h2 = new H2Server(stack(httpLayers<H2Exchange>(), forwardH2(this.h2Pool)));
    this.listener = new Listener(deps.tcp.stats(direction, 'src', NO_IDENTITY), (socket) =>
      this.accept(socket, connector),
    );
  }

  private accept(socket: Socket, connector: ReturnType<typeof tcpConnector>): void {
    const { opaqueTarget, opaquePorts } = this.opts;
    if (opaqueTarget && opaquePorts?.has(opaqueTarget.port)) {
      forwardOpaque(socket, opaqueTarget, connector, this.deps.log);
      return;
    }
    detectProtocol(socket, this.opts.detectTimeoutMs, (protocol) => {
      switch (protocol) {
        case 'http1':
          this.h1.accept(socket);
          break;
        case 'h2':
          this.h2.accept(socket);
          break;
        case 'opaque':
          if (opaqueTarget) forwardOpaque(socket, opaqueTarget, connector, this.deps.log);
          else {
            this.deps.log.debug(
              'dropped a non-HTTP connection: explicit outbound mode has no destination for it',
            );
            socket.destroy();
          }
          break;
        default:
          this.deps.log.debug('dropped a connection that sent nothing before the detect timeout');
          socket.destroy();
      }
    });
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
