import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { LocalCatalog } from '../../catalog/local/local-catalog.js';
import type { ControlPlane } from '../../controlplane/server.js';
import { formatHostPort, parseHostPort } from '../../util/addr.js';
import { parseDuration } from '../../util/duration.js';
import { createLogger, parseLogLevel } from '../../util/log.js';
import { UsageError } from '../errors.js';

export const DEFAULT_CONTROL_PLANE_ADDR = '127.0.0.1:8086';

interface UpFlags {
  stateDir: string;
  addr: string;
  adminAddr: string;
  leaseDuration: string;
  clusterDomain: string;
}

function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function upCommand(program: Command): void {
  program
    .command('up')
    .description('run the control plane on this host, in the foreground (log level: WEFT_LOG)')
    .option('--state-dir <dir>', 'where the local platform keeps its state', '.weft')
    .option('--addr <host:port>', 'the gRPC API for proxies and the CLI', DEFAULT_CONTROL_PLANE_ADDR)
    .option('--admin-addr <host:port>', 'health and metrics (/live, /ready, /metrics)', '127.0.0.1:9996')
    .option('--lease-duration <duration>', 'how long a workload stays registered without renewal', '10s')
    .option('--cluster-domain <domain>', 'the domain of Service names', 'cluster.local')
    .action(async (flags: UpFlags) => {
      const grpcAddr = usage(() => parseHostPort(flags.addr, '--addr'));
      const adminAddr = usage(() => parseHostPort(flags.adminAddr, '--admin-addr'));
      const leaseMs = usage(() => parseDuration(flags.leaseDuration, '--lease-duration'));
      if (leaseMs < 100) throw new UsageError('--lease-duration: must be at least 100ms');
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(flags.clusterDomain)) {
        throw new UsageError(`--cluster-domain: "${flags.clusterDomain}" is not a DNS domain`);
      }
      const level = usage(() => parseLogLevel(process.env.WEFT_LOG, 'WEFT_LOG'));
      const log = createLogger(level, 'weft-control-plane');
      const stateDir = resolve(flags.stateDir);
      // Loaded here, not at the top, so other commands (the proxy above all) do not carry them.
      const [
        { registryService, resourcesService },
        { LocalCatalog },
        { StateDirLock },
        { SnapshotStore },
        { ControlPlane },
      ] = await Promise.all([
        import('../../catalog/local/api.js'),
        import('../../catalog/local/local-catalog.js'),
        import('../../catalog/local/lock.js'),
        import('../../catalog/local/store.js'),
        import('../../controlplane/server.js'),
      ]);

      const store = new SnapshotStore(stateDir);
      const lock = StateDirLock.acquire(stateDir, formatHostPort(grpcAddr));
      let catalog: LocalCatalog | undefined;
      let plane: ControlPlane | undefined;
      try {
        catalog = new LocalCatalog(store, { leaseMs });
        plane = new ControlPlane(
          catalog,
          [
            { name: 'registry', implementation: registryService(catalog, log) },
            { name: 'resources', implementation: resourcesService(catalog, log) },
          ],
          { grpcAddr, adminAddr, clusterDomain: flags.clusterDomain, log },
        );
        const bound = await plane.start();
        lock.setAddress(formatHostPort(bound.grpc));
        log.info(
          {
            grpc: formatHostPort(bound.grpc),
            admin: formatHostPort(bound.admin),
            stateDir,
            services: catalog.services.size,
            workloads: catalog.workloads.size,
          },
          'control plane ready',
        );
      } catch (err) {
        catalog?.close();
        lock.release();
        throw err;
      }
      const running = { catalog, plane };
      await new Promise<void>((done) => {
        const stop = (signal: string): void => {
          log.info({ signal }, 'stopping');
          void running.plane.stop().then(() => {
            running.catalog.close();
            lock.release();
            log.info('stopped');
            done();
          });
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
