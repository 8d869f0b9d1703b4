import type { Socket } from 'node:net';
import { AdminServer } from '../admin/server.js';
import { tapIdentityName } from '../identity/names.js';
import { HttpMetrics } from '../metrics/http.js';
import { registerProcessMetrics } from '../metrics/process.js';
import { Registry } from '../metrics/registry.js';
import { RouteMetrics } from '../metrics/route.js';
import { TcpMetrics } from '../metrics/tcp.js';
import { formatHostPort, type HostPort } from '../util/addr.js';
import type { Logger } from '../util/log.js';
import type { ProxyConfig } from './config.js';
import { DirectionStack } from './direction.js';
import type { DestinationClient } from './discovery/destination.js';
import type { Registration } from './discovery/registration.js';
import type { IdentityClient } from './identity/client.js';
import type { LocalIdentity } from './identity/local.js';
import { identitySettings } from './identity/settings.js';
import { authorityRouter, fixedRouter, loopbackRouter, originalDstRouter } from './layers/route.js';
import { TapRegistry } from './tap/registry.js';
import type { TapServer } from './tap/server.js';
import { TlsMetrics } from './tls/metrics.js';

export interface BoundAddresses {
  readonly inbound: HostPort;
  readonly outbound: HostPort;
  readonly admin: HostPort;
  /** The tap server, when the proxy has an identity. */
  readonly tap?: HostPort;
}

/** What a proxy may be given beside its configuration. */
export interface ProxyOptions {
  /**
   * Transparent mode's original-destination lookup, instead of SO_ORIGINAL_DST: for tests,
   * which cannot set up interception everywhere. Used only with `transparent` set.
   */
  readonly originalDst?: (socket: Socket) => HostPort | undefined;
}

/** How often shutdown looks for connections that have gone idle. */
const DRAIN_POLL_MS = 50;

/** Thrown inside `start` when a shutdown began before the proxy was ready. */
class ShutDownWhileStarting extends Error {}

/**
 * The sidecar proxy: its inbound and outbound stacks, admin server, metrics and lifecycle.
 * A proxy that registers a workload first gets its identity (a certificate from the
 * control plane's Identity API), and only then opens its proxy listeners, becomes an
 * endpoint and reports ready.
 */
export class SidecarProxy {
  readonly registry = new Registry();
  private inbound: DirectionStack | undefined;
  private outbound: DirectionStack | undefined;
  private readonly admin: AdminServer;
  private readonly discovery: DestinationClient | undefined;
  private readonly registration: Registration | undefined;
  private identityClient: IdentityClient | undefined;
  /** With an identity: the open taps, which the tap layers read and the tap server fills. */
  private taps: TapRegistry | undefined;
  private tapServer: TapServer | undefined;
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
  static async create(config: ProxyConfig, log: Logger, options: ProxyOptions = {}): Promise<SidecarProxy> {
    if (!config.destination) return new SidecarProxy(config, log, options);
    const [{ DestinationClient }, { Registration }] = await Promise.all([
      import('./discovery/destination.js'),
      import('./discovery/registration.js'),
    ]);
    return new SidecarProxy(config, log, options, { DestinationClient, Registration });
  }

  private constructor(
    private readonly config: ProxyConfig,
    private readonly log: Logger,
    private readonly options: ProxyOptions,
    discovery?: { DestinationClient: typeof DestinationClient; Registration: typeof Registration },
  ) {
    registerProcessMetrics(this.registry);
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
        this.registration = new Registration(
          config.destination,
          config.identity,
          config.controlPlaneTokenFile ?? '',
          log,
        );
      }
    }
    this.admin = new AdminServer({
      isReady: () => this.ready,
      metrics: () => this.registry.render(),
      ...(config.enableShutdownEndpoint ? { shutdown: () => void this.shutdown('admin /shutdown') } : {}),
    });
  }

  /** This proxy's identity, once it has its first certificate; undefined without one (plaintext). */
  get identity(): LocalIdentity | undefined {
    return this.identityClient?.certificate ? this.identityClient : undefined;
  }

  /** The inbound and outbound stacks, once built. */
  private sides(): DirectionStack[] {
    return [this.inbound, this.outbound].filter((s): s is DirectionStack => s !== undefined);
  }

  private buildStacks(
    identity: LocalIdentity | undefined,
    originalDst: ((socket: Socket) => HostPort | undefined) | undefined,
  ): void {
    const { config, log } = this;
    const transparent = originalDst ? { originalDst } : {};
    const discovery = this.discovery;
    const profiles = discovery ? { profiles: (authority: string) => discovery.profile(authority) } : {};
    // Only a proxy with an identity serves tap (mutual TLS is how it knows its client).
    if (identity) this.taps = new TapRegistry(config.identity);
    const deps = {
      http: new HttpMetrics(this.registry),
      routes: new RouteMetrics(this.registry),
      tcp: new TcpMetrics(this.registry),
      tls: new TlsMetrics(this.registry),
      log,
      isDraining: () => this.draining,
      ...(this.taps ? { taps: this.taps } : {}),
    };
    this.inbound = new DirectionStack(
      {
        direction: 'inbound',
        router: originalDst ? loopbackRouter(config.inboundForward) : fixedRouter(config.inboundForward),
        connectTimeoutMs: config.inboundConnectTimeoutMs,
        detectTimeoutMs: config.detectTimeoutMs,
        idleTimeouts: config.idleTimeouts,
        opaqueTarget: config.inboundForward,
        opaquePorts: config.opaquePorts,
        serveConnect: false,
        tlsServerHandshakeTimeoutMs: config.inboundTlsHandshakeTimeoutMs,
        ...(config.inboundAuthorizedIdentities
          ? { authorizedIdentities: config.inboundAuthorizedIdentities }
          : {}),
        ...profiles,
        ...(identity ? { identity } : {}),
        ...transparent,
      },
      deps,
    );
    this.outbound = new DirectionStack(
      {
        direction: 'outbound',
        ...(discovery ? { discovery } : {}),
        ...profiles,
        router: originalDst ? originalDstRouter() : authorityRouter(),
        connectTimeoutMs: config.outboundConnectTimeoutMs,
        tlsHandshakeTimeoutMs: config.outboundTlsHandshakeTimeoutMs,
        responseHeadersTimeoutMs: config.responseHeadersTimeoutMs,
        detectTimeoutMs: config.detectTimeoutMs,
        idleTimeouts: config.idleTimeouts,
        opaquePorts: config.opaquePorts,
        serveConnect: true,
        ...(identity ? { identity } : {}),
        ...transparent,
      },
      deps,
    );
  }

  /**
   * Transparent mode's original-destination reader: the SO_ORIGINAL_DST addon, loaded
   * now so that a proxy that cannot intercept says so at start instead of misrouting.
   */
  private async loadOriginalDst(): Promise<(socket: Socket) => HostPort | undefined> {
    const { loadOriginalDst, originalDst } = await import('./transparent/original-dst.js');
    loadOriginalDst();
    this.log.info('transparent mode: connections go where they were going (SO_ORIGINAL_DST)');
    return (socket) => {
      const dst = originalDst(socket);
      return dst ? { host: dst.address, port: dst.port } : undefined;
    };
  }

  /**
   * Opens the admin listener; with a workload, registers it as starting and gets the
   * proxy's first certificate; then opens the proxy listeners and (with a workload)
   * registers as ready. Resolves once ready, or with undefined if a shutdown began first.
   */
  async start(): Promise<BoundAddresses | undefined> {
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
    /** Waits for `step`, unless a shutdown begins first. */
    const unlessShutDown = async <T>(step: Promise<T>): Promise<T> => {
      const value = await Promise.race([step, this.done.then(() => undefined)]);
      if (this.draining) throw new ShutDownWhileStarting();
      return value as T;
    };
    const { config } = this;
    try {
      const admin = await unlessShutDown(
        listen('admin', config.adminAddr, () => this.admin.listen(config.adminAddr)),
      );
      let identity: IdentityClient | undefined;
      if (this.registration) {
        this.log.info({ admin: formatHostPort(admin) }, 'proxy starting');
        const lease = await unlessShutDown(this.registration.start());
        identity = await unlessShutDown(this.startIdentity(lease.identity));
      }
      this.buildStacks(
        identity,
        config.transparent ? (this.options.originalDst ?? (await this.loadOriginalDst())) : undefined,
      );
      const inbound = await unlessShutDown(
        listen('inbound', config.inboundAddr, () =>
          (this.inbound as DirectionStack).listener.listen(config.inboundAddr),
        ),
      );
      const outbound = await unlessShutDown(
        listen('outbound', config.outboundAddr, () =>
          (this.outbound as DirectionStack).listener.listen(config.outboundAddr),
        ),
      );
      const tap =
        identity && this.taps
          ? await unlessShutDown(listen('tap', config.tapAddr, () => this.startTap(identity)))
          : undefined;
      // An endpoint from now on: peers may send before "proxy ready" is logged.
      if (this.registration) {
        await unlessShutDown(
          this.registration.serve(inbound.port, config.transparent, {
            ...(servesOn(inbound, this.registration.address) ? { inbound: inbound.port } : {}),
            ...(servesOn(admin, this.registration.address) ? { admin: admin.port } : {}),
            ...(tap && servesOn(tap, this.registration.address) ? { tap: tap.port } : {}),
          }),
        );
      }
      this.ready = true;
      return { inbound, outbound, admin, ...(tap ? { tap } : {}) };
    } catch (err) {
      if (this.draining) {
        // The shutdown has closed what existed when it began; close what came after.
        this.closeNow();
        await this.done;
        return undefined;
      }
      await this.registration?.stop();
      this.closeNow();
      throw err;
    }
  }

  /**
   * The identity client, once it has its first certificate (retrying, not ready, until
   * then); undefined when neither the Lease nor the flags give identity settings.
   */
  private async startIdentity(
    fromLease: Parameters<typeof identitySettings>[0],
  ): Promise<IdentityClient | undefined> {
    const settings = identitySettings(fromLease, this.config.identityOverrides);
    if (!settings) {
      this.log.warn(
        'the control plane gives no identity settings (is it older than this proxy?): running without an identity, in plaintext',
      );
      return undefined;
    }
    // node:crypto and gRPC only: no X.509 library is loaded into the proxy.
    const { IdentityClient } = await import('./identity/client.js');
    const client = new IdentityClient({ ...settings, registry: this.registry, log: this.log });
    this.identityClient = client;
    this.log.info(
      { identity: settings.name, identityAddr: formatHostPort(settings.addr) },
      'waiting for the first certificate',
    );
    await client.start();
    return client;
  }

  /**
   * The tap server on `--tap-addr`: mutual TLS with this proxy's certificate (renewals
   * included), for the `--tap-svc-name` identity only (default: viz's tap identity in this
   * proxy's trust domain). gRPC is loaded already: a proxy with an identity has a control plane.
   */
  private async startTap(identity: IdentityClient): Promise<HostPort> {
    const { TapServer, domainForTap } = await import('./tap/server.js');
    const clientIdentity = this.config.tapSvcName ?? tapIdentityName(domainForTap(identity.name));
    const server = new TapServer({
      identity,
      clientIdentity,
      taps: this.taps as TapRegistry,
      registry: this.registry,
      log: this.log,
    });
    this.tapServer = server;
    const bound = await server.listen(this.config.tapAddr);
    this.log.info({ tap: formatHostPort(bound), client: clientIdentity }, 'tap server listening');
    return bound;
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
    const sides = this.sides();
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
    for (const s of this.sides()) {
      s.listener.stopAccepting();
      s.close();
    }
    this.admin.close();
    this.tapServer?.close();
    this.discovery?.close();
    this.identityClient?.close();
  }
}

/** Whether a listener bound at `bound` answers on `address` (it is that host, or every address). */
function servesOn(bound: HostPort, address: string): boolean {
  return bound.host === address || bound.host === '0.0.0.0' || bound.host === '::';
}
