import * as grpc from '@grpc/grpc-js';
import { AdminServer } from '../admin/server.js';
import type { Catalog, Workload } from '../catalog/catalog.js';
import { serviceConstructor } from '../grpc/protos.js';
import { registerProcessMetrics } from '../metrics/process.js';
import { GaugeFamily, Registry } from '../metrics/registry.js';
import { formatHostPort, type HostPort } from '../util/addr.js';
import type { Logger } from '../util/log.js';
import { EndpointIndex } from './destination/endpoints.js';
import { destinationService } from './destination/service.js';

export interface ControlPlaneOptions {
  readonly grpcAddr: HostPort;
  readonly adminAddr: HostPort;
  readonly clusterDomain: string;
  readonly log: Logger;
}

/** A platform's own gRPC services, served beside the control plane's (the local registry, say). */
export interface ExtraService {
  readonly name: Parameters<typeof serviceConstructor>[0];
  readonly implementation: grpc.UntypedServiceImplementation;
}

/** The TLS identity a workload's proxy holds. */
export function identityName(
  w: Pick<Workload, 'serviceAccount' | 'namespace'>,
  clusterDomain: string,
): string {
  return `${w.serviceAccount}.${w.namespace}.serviceaccount.identity.weft.${clusterDomain}`;
}

const bind = (server: grpc.Server, addr: HostPort): Promise<number> =>
  new Promise((resolve, reject) => {
    server.bindAsync(formatHostPort(addr), grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    );
  });

/**
 * The control plane: the Destination API for proxies, written against the catalog
 * interface, and an admin endpoint (/live, /ready, /metrics).
 */
export class ControlPlane {
  readonly registry = new Registry();
  private readonly server: grpc.Server;
  private readonly admin: AdminServer;
  private readonly index: EndpointIndex;
  private ready = false;

  constructor(
    catalog: Catalog,
    extra: readonly ExtraService[],
    private readonly opts: ControlPlaneOptions,
  ) {
    this.index = new EndpointIndex(catalog, (w) => identityName(w, opts.clusterDomain));
    this.server = new grpc.Server({
      // Find proxies that vanished without closing their streams.
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.max_receive_message_length': 8 * 1024 * 1024,
    });
    this.server.addService(
      serviceConstructor('destination').service,
      destinationService(this.index, { clusterDomain: opts.clusterDomain, log: opts.log }),
    );
    for (const s of extra) this.server.addService(serviceConstructor(s.name).service, s.implementation);

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

  async start(): Promise<{ grpc: HostPort; admin: HostPort }> {
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
    this.ready = true;
    return { grpc: { host: grpcAddr.host, port }, admin };
  }

  /** Stops serving: open watches are cancelled (proxies keep what they know and reconnect). */
  async stop(): Promise<void> {
    this.ready = false;
    this.index.close();
    // Watch streams never end on their own: cancel them all.
    this.server.forceShutdown();
    this.admin.close();
  }
}
