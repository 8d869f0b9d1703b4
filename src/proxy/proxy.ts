import { AdminServer } from '../admin/server.js';
import { HttpMetrics } from '../metrics/http.js';
import { registerProcessMetrics } from '../metrics/process.js';
import { Registry } from '../metrics/registry.js';
import { TcpMetrics } from '../metrics/tcp.js';
import { formatHostPort, type HostPort } from '../util/addr.js';
import type { Logger } from '../util/log.js';
import type { ProxyConfig } from './config.js';
import { DirectionStack } from './direction.js';
import type { DestinationClient } from './discovery/destination.js';
import type { Registration } from './discovery/registration.js';
import { authorityRouter, fixedRouter } from './layers/route.js';

export interface BoundAddresses {
  readonly inbound: HostPort;
  readonly outbound: HostPort;
  readonly admin: HostPort;
}

/** How often shutdown looks for connections that have gone idle. */
const DRAIN_POLL_MS = 50;

/** The sidecar proxy: its inbound and outbound stacks, admin server, metrics and lifecycle. */
export class SidecarProxy {
  readonly registry = new Registry();
  private readonly inbound: DirectionStack;
  private readonly outbound: DirectionStack;
  private readonly admin: AdminServer;
  private readonly discovery: DestinationClient | undefined;
  private readonly registration: Registration | undefined;
  private ready = false;
  private draining = false;
  private shutdownPromise: Promise<void> | undefined;
  private resolveDone: () => void = () => {};
  /** Settles once a shutdown, from a signal or from /shutdown, has finished. */
  readonly done = new Promise<void>((resolve) => {
    this.resolveDone = resolve;
  });

  /**
   * Builds a proxy. gRPC (about 19 MB resident) is loaded only when the proxy talks to a
   * control plane.
   */
  static async create(config: ProxyConfig, log: Logger): Promise<SidecarProxy> {
    if (!config.destination) return new SidecarProxy(config, log);
    const [{ DestinationClient }, { Registration }] = await Promise.all([
      import('./discovery/destination.js'),
      import('./discovery/registration.js'),
    ]);
    return new SidecarProxy(config, log, { DestinationClient, Registration });
  }

  private constructor(
    private readonly config: ProxyConfig,
    private readonly log: Logger,
    discovery?: { DestinationClient: typeof DestinationClient; Registration: typeof Registration },
  ) {
    registerProcessMetrics(this.registry);
    const deps = {
      http: new HttpMetrics(this.registry),
      tcp: new TcpMetrics(this.registry),
      log,
      isDraining: () => this.draining,
    };
    this.inbound = new DirectionStack(
      {
        direction: 'inbound',
        router: fixedRouter(config.inboundForward),
        connectTimeoutMs: config.inboundConnectTimeoutMs,
        detectTimeoutMs: config.detectTimeoutMs,
        opaqueTarget: config.inboundForward,
        opaquePorts: config.opaquePorts,
        serveConnect: false,
      },
      deps,
    );
    if (config.destination && discovery) {
      const { DestinationClient, Registration } = discovery;
      this.discovery = new DestinationClient({
        addr: config.destination,
        namespace: config.identity.namespace,
        pod: config.identity.pod,
        balancer: {},
        registry: this.registry,
        log,
      });
      if (config.identity.workload !== '') {
        this.registration = new Registration(config.destination, config.identity, log);
      }
    }
    this.outbound = new DirectionStack(
      {
        direction: 'outbound',
        ...(this.discovery ? { discovery: this.discovery } : {}),
        router: authorityRouter(),
        connectTimeoutMs: config.outboundConnectTimeoutMs,
        detectTimeoutMs: config.detectTimeoutMs,
        serveConnect: true,
      },
      deps,
    );
    this.admin = new AdminServer({
      isReady: () => this.ready,
      metrics: () => this.registry.render(),
      ...(config.enableShutdownEndpoint ? { shutdown: () => void this.shutdown('admin /shutdown') } : {}),
    });
  }

  /** Opens the admin listener, then the proxy listeners; ready once all are up. */
  async start(): Promise<BoundAddresses> {
    const listen = async <T>(name: string, addr: HostPort, open: () => Promise<T>): Promise<T> => {
      try {
        return await open();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why =
          code === 'EADDRINUSE'
            ? 'address already in use'
            : code === 'EACCES'
              ? 'permission denied'
              : String(err);
        throw new Error(`cannot listen on ${name} address ${formatHostPort(addr)}: ${why}`);
      }
    };
    const { config } = this;
    try {
      const admin = await listen('admin', config.adminAddr, () => this.admin.listen(config.adminAddr));
      const inbound = await listen('inbound', config.inboundAddr, () =>
        this.inbound.listener.listen(config.inboundAddr),
      );
      const outbound = await listen('outbound', config.outboundAddr, () =>
        this.outbound.listener.listen(config.outboundAddr),
      );
      this.ready = true;
      this.registration?.start(inbound.port);
      return { inbound, outbound, admin };
    } catch (err) {
      this.closeNow();
      throw err;
    }
  }

  /**
   * Graceful shutdown: stop accepting, let in-flight requests and streams finish (HTTP/1
   * responses close their connections, HTTP/2 gets GOAWAY), and after the grace period
   * close whatever is left.
   */
  shutdown(reason: string): Promise<void> {
    this.shutdownPromise ??= this.drainAndClose(reason);
    return this.shutdownPromise;
  }

  private async drainAndClose(reason: string): Promise<void> {
    this.log.info({ reason, gracePeriodMs: this.config.shutdownGracePeriodMs }, 'shutting down');
    this.draining = true;
    this.ready = false;
    // Leave every endpoint set first, so peers stop sending new requests here.
    await this.registration?.stop();
    const sides = [this.inbound, this.outbound];
    for (const s of sides) s.listener.stopAccepting();
    const deadline = Date.now() + this.config.shutdownGracePeriodMs;
    const open = (): number => sides.reduce((n, s) => n + s.listener.connections.size, 0);
    while (open() > 0 && Date.now() < deadline) {
      for (const s of sides) s.drain();
      await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    }
    const left = open();
    if (left > 0) this.log.warn({ connections: left }, 'grace period over: closing connections still open');
    this.closeNow();
    this.log.info('shutdown complete');
    this.resolveDone();
  }

  private closeNow(): void {
    this.ready = false;
    for (const s of [this.inbound, this.outbound]) {
      s.listener.stopAccepting();
      s.close();
    }
    this.admin.close();
    this.discovery?.close();
  }
}
