import * as grpc from '@grpc/grpc-js';
import { AdminServer } from '../admin/server.js';
import type { Catalog } from '../catalog/catalog.js';
import { serviceConstructor } from '../grpc/protos.js';
import { DEFAULT_DOMAIN, identityName, type TrustDomain } from '../identity/names.js';
import { registerProcessMetrics } from '../metrics/process.js';
import { GaugeFamily, Registry } from '../metrics/registry.js';
import { formatHostPort, type HostPort } from '../util/addr.js';
import type { Logger } from '../util/log.js';
import { EndpointIndex } from './destination/endpoints.js';
import { destinationService } from './destination/service.js';
import type { CertificateAuthority } from './identity/ca.js';
import {
  IDENTITY_MAX_MESSAGE_BYTES,
  identityServerCredentials,
  identityService,
} from './identity/service.js';
import type { TokenValidator } from './identity/tokens.js';

export interface ControlPlaneOptions {
  readonly grpcAddr: HostPort;
  readonly adminAddr: HostPort;
  readonly clusterDomain: string;
  /** The trust domain of identity names (default cluster.local). */
  readonly domain?: TrustDomain;
  /** Serves the Identity API on its own TLS listener. */
  readonly identity?: IdentityOptions;
  readonly log: Logger;
}

export interface IdentityOptions {
  readonly ca: CertificateAuthority;
  readonly tokens: TokenValidator;
  readonly addr: HostPort;
}

/** A platform's own gRPC services, served beside the control plane's (the local registry, say). */
export interface ExtraService {
  readonly name: Parameters<typeof serviceConstructor>[0];
  readonly implementation: grpc.UntypedServiceImplementation;
}

const bind = (
  server: grpc.Server,
  addr: HostPort,
  credentials = grpc.ServerCredentials.createInsecure(),
): Promise<number> =>
  new Promise((resolve, reject) => {
    server.bindAsync(formatHostPort(addr), credentials, (err, port) => (err ? reject(err) : resolve(port)));
  });

/**
 * The control plane: the Destination API for proxies, written against the catalog
 * interface, the Identity API (its own TLS listener), and an admin endpoint (/live,
 * /ready, /metrics).
 */
export class ControlPlane {
  readonly registry = new Registry();
  private readonly server: grpc.Server;
  private readonly identityServer: grpc.Server | undefined;
  private readonly admin: AdminServer;
  private readonly index: EndpointIndex;
  private ready = false;

  constructor(
    catalog: Catalog,
    extra: readonly ExtraService[],
    private readonly opts: ControlPlaneOptions,
  ) {
    const domain = opts.domain ?? DEFAULT_DOMAIN;
    this.index = new EndpointIndex(catalog, (w) => identityName(w.serviceAccount, w.namespace, domain));
    this.server = new grpc.Server({
      // Find proxies that vanished without closing their streams.
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.max_receive_message_length': 8 * 1024 * 1024,
    });
    this.server.addService(
      serviceConstructor('destination').service,
      destinationService(this.index, {
        clusterDomain: opts.clusterDomain,
        catalog,
        log: opts.log,
      }),
    );
    for (const s of extra) this.server.addService(serviceConstructor(s.name).service, s.implementation);
    if (opts.identity) {
      this.identityServer = new grpc.Server({
        'grpc.max_receive_message_length': IDENTITY_MAX_MESSAGE_BYTES,
      });
      this.identityServer.addService(
        serviceConstructor('identity').service,
        identityService(opts.identity.ca, opts.identity.tokens, {
          domain,
          log: opts.log,
          metrics: this.registry,
        }),
      );
    }

    registerProcessMetrics(this.registry);
    const gauge = (name: string, help: string, value: () => number): void => {
      const series = this.registry.register(new GaugeFamily(name, help)).get([]);
      this.registry.onRender(() => series.set(value()));
    };
    gauge('destination_watchers', 'Open Destination.Get streams.', () => this.index.watchers);
    gauge('catalog_services', 'Services in the catalog.', () => catalog.services.list().length);
    gauge('catalog_workloads', 'Workload instances in the catalog.', () => catalog.workloads.list().length);
    this.admin = new AdminServer({ isReady: () => this.ready, metrics: () => this.registry.render() });
  }

  /** Listens: admin first, then the gRPC API, then the Identity API (when configured). */
  async start(): Promise<{ grpc: HostPort; admin: HostPort; identity?: HostPort }> {
    const { grpcAddr, adminAddr } = this.opts;
    let admin: HostPort;
    try {
      admin = await this.admin.listen(adminAddr);
    } catch (err) {
      throw new Error(
        `cannot listen on admin address ${formatHostPort(adminAddr)}: ${(err as Error).message}`,
      );
    }
    let port: number;
    try {
      port = await bind(this.server, grpcAddr);
    } catch (err) {
      this.admin.close();
      throw new Error(`cannot listen on gRPC address ${formatHostPort(grpcAddr)}: ${(err as Error).message}`);
    }
    const grpcBound = { host: grpcAddr.host, port };
    const identity = this.opts.identity;
    if (!identity || !this.identityServer) {
      this.ready = true;
      return { grpc: grpcBound, admin };
    }
    let identityPort: number;
    try {
      const tls = await identityServerCredentials(identity.ca, this.opts.domain ?? DEFAULT_DOMAIN);
      identityPort = await bind(this.identityServer, identity.addr, tls.credentials);
    } catch (err) {
      this.server.forceShutdown();
      this.admin.close();
      throw new Error(
        `cannot listen on identity address ${formatHostPort(identity.addr)}: ${(err as Error).message}`,
      );
    }
    this.ready = true;
    return { grpc: grpcBound, admin, identity: { host: identity.addr.host, port: identityPort } };
  }

  /** Stops serving: open watches are cancelled (proxies keep what they know and reconnect). */
  async stop(): Promise<void> {
    this.ready = false;
    this.index.close();
    // Watch streams never end on their own: cancel them all.
    this.server.forceShutdown();
    this.identityServer?.forceShutdown();
    this.admin.close();
  }
}
