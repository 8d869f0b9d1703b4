import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, Option } from 'commander';
import type { LocalCatalog } from '../../catalog/local/local-catalog.js';
import type { ControlPlane } from '../../controlplane/server.js';
import type { PodMode } from '../../pods/manager.js';
import { formatHostPort, type HostPort, parseHostPort } from '../../util/addr.js';
import { parseDuration } from '../../util/duration.js';
import { createLogger, parseLogLevel } from '../../util/log.js';
import { UsageError, usage } from '../errors.js';
import { DEFAULT_VIZ_ADDR } from './viz.js';

export const DEFAULT_CONTROL_PLANE_ADDR = '127.0.0.1:8086';

interface UpFlags {
  stateDir: string;
  addr: string;
  adminAddr: string;
  leaseDuration: string;
  clusterDomain: string;
  identityAddr: string;
  identityTrustDomain: string;
  identityTrustAnchorsFile?: string;
  identityIssuerCertificateFile?: string;
  identityIssuerKeyFile?: string;
  identityIssuanceLifetime: string;
  identityClockSkewAllowance: string;
  podBridge: string;
  podMode: string;
  podCidr: string;
  serviceCidr: string;
  vizAddr: string;
  prometheusUrl?: string;
  metricsScrapeInterval: string;
  metricsRetention: string;
}

const DNS_DOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkDomain(value: string, flag: string): void {
  if (!DNS_DOMAIN.test(value) || value.length > 253 || value.split('.').some((l) => l.length > 63)) {
    throw new UsageError(`${flag}: "${value}" is not a DNS domain`);
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
    .option('--pod-bridge <name>', 'the bridge pods are attached to (root on Linux)', 'weft0')
    .addOption(
      new Option('--pod-mode <mode>', 'netns (root on Linux), loopback (interception off), auto')
        .choices(['auto', 'netns', 'loopback'])
        .default('auto'),
    )
    .option(
      '--pod-cidr <a.b.0.0/16>',
      "the pods' addresses; .0.1 is the gateway, where they reach weft up",
      '10.42.0.0/16',
    )
    .option(
      '--service-cidr <a.b.0.0/16>',
      "where Services get their cluster IPs (in the pods' hosts files)",
      '10.43.0.0/16',
    )
    .option(
      '--identity-addr <host:port>',
      'the Identity API (gRPC over TLS), where proxies get certificates',
      '127.0.0.1:8087',
    )
    .option('--identity-trust-domain <domain>', 'the trust domain of identity names', 'cluster.local')
    .option('--identity-trust-anchors-file <file>', 'PEM bundle of trust anchors (with the two issuer flags)')
    .option(
      '--identity-issuer-certificate-file <file>',
      'PEM issuer certificate, signed by an anchor (with its key)',
    )
    .option('--identity-issuer-key-file <file>', "the issuer's unencrypted EC P-256 private key (PEM)")
    .option('--identity-issuance-lifetime <duration>', "how long proxies' certificates are valid", '24h')
    .option(
      '--identity-clock-skew-allowance <duration>',
      "how far back certificates' notBefore is set",
      '20s',
    )
    .option('--viz-addr <host:port>', "viz's HTTP API and dashboard ('off': none)", DEFAULT_VIZ_ADDR)
    .option(
      '--prometheus-url <url>',
      'viz reads metrics from this Prometheus (scraping /api/prometheus/targets) instead of scraping the proxies itself',
    )
    .option('--metrics-scrape-interval <duration>', "how often viz scrapes every proxy's /metrics", '10s')
    .option(
      '--metrics-retention <duration>',
      'how much of the metrics viz keeps in memory (the longest window)',
      '15m',
    )
    .action(async (flags: UpFlags) => {
      const grpcAddr = usage(() => parseHostPort(flags.addr, '--addr'));
      const adminAddr = usage(() => parseHostPort(flags.adminAddr, '--admin-addr'));
      const leaseMs = usage(() => parseDuration(flags.leaseDuration, '--lease-duration'));
      if (leaseMs < 100) throw new UsageError('--lease-duration: must be at least 100ms');
      checkDomain(flags.clusterDomain, '--cluster-domain');
      checkDomain(flags.identityTrustDomain, '--identity-trust-domain');
      const identityAddr = usage(() => parseHostPort(flags.identityAddr, '--identity-addr'));
      const issuanceLifetimeMs = usage(() =>
        parseDuration(flags.identityIssuanceLifetime, '--identity-issuance-lifetime'),
      );
      if (issuanceLifetimeMs < 1000)
        throw new UsageError('--identity-issuance-lifetime: must be at least 1s');
      const clockSkewMs = usage(() =>
        parseDuration(flags.identityClockSkewAllowance, '--identity-clock-skew-allowance'),
      );
      const viz = await vizSettings(flags).catch((err: Error) => {
        throw new UsageError(err.message);
      });
      const files = {
        trustAnchorsFile: flags.identityTrustAnchorsFile,
        issuerCertificateFile: flags.identityIssuerCertificateFile,
        issuerKeyFile: flags.identityIssuerKeyFile,
      };
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
        { LocalCallers },
        credentials,
        { CONTROL_PLANE_NAMESPACE },
        { PodManager },
        { podsService },
      ] = await Promise.all([
        import('../../catalog/local/api.js'),
        import('../../catalog/local/local-catalog.js'),
        import('../../catalog/local/lock.js'),
        import('../../catalog/local/store.js'),
        import('../../controlplane/server.js'),
        import('../../catalog/local/callers.js'),
        import('../../controlplane/identity/credentials.js'),
        import('../../identity/names.js'),
        import('../../pods/manager.js'),
        import('../../pods/service.js'),
      ]);
      const missing = credentials.missingIdentityFlags(files);
      if (missing.length > 0) {
        throw new UsageError(
          `${missing.join(' and ')} missing: your own issuer needs --identity-trust-anchors-file, --identity-issuer-certificate-file and --identity-issuer-key-file together`,
        );
      }
      const domain = {
        trustDomain: flags.identityTrustDomain,
        controlPlaneNamespace: CONTROL_PLANE_NAMESPACE,
      };
      const caSettings = { trustDomain: flags.identityTrustDomain, issuanceLifetimeMs, clockSkewMs };
      // The user's files are checked before anything is written.
      const userCa =
        files.trustAnchorsFile && files.issuerCertificateFile && files.issuerKeyFile
          ? await credentials.loadUserCredentials(
              {
                trustAnchorsFile: resolve(files.trustAnchorsFile),
                issuerCertificateFile: resolve(files.issuerCertificateFile),
                issuerKeyFile: resolve(files.issuerKeyFile),
              },
              caSettings,
            )
          : undefined;

      const store = new SnapshotStore(stateDir);
      const lock = StateDirLock.acquire(stateDir, formatHostPort(grpcAddr));
      let catalog: LocalCatalog | undefined;
      let plane: ControlPlane | undefined;
      let pods: import('../../pods/manager.js').PodManager | undefined;
      let vizRunning: import('../../viz/component.js').RunningViz | undefined;
      try {
        const loaded = userCa
          ? { ca: userCa, paths: credentials.persistUserCredentials(stateDir, userCa), generated: false }
          : await credentials.loadOrCreateStateCredentials(stateDir, caSettings);
        const { ca, paths } = loaded;
        if (loaded.generated)
          log.info({ trustAnchors: paths.trustAnchors }, 'generated a new trust anchor and issuer');
        if (ca.issuerNotAfter.getTime() - Date.now() < 30 * 86_400_000) {
          log.warn(
            { issuerExpires: ca.issuerNotAfter.toISOString(), issuerCertificate: paths.issuerCertificate },
            'the identity issuer expires within 30 days: no certificate outlives it',
          );
        }
        catalog = new LocalCatalog(store, { leaseMs, serviceCidr: flags.serviceCidr });
        const callers = new LocalCallers(stateDir);
        const identityBound = { addr: formatHostPort(identityAddr) };
        const apiBound = { grpc: grpcAddr, identity: identityAddr };
        pods = new PodManager({
          catalog,
          callers,
          log,
          addresses: () => apiBound,
          trustAnchorsFile: paths.trustAnchors,
          clusterDomain: flags.clusterDomain,
          weftBin: fileURLToPath(new URL('../../../../bin/weft.js', import.meta.url)),
          network: { bridge: flags.podBridge, podCidr: flags.podCidr, serviceCidr: flags.serviceCidr },
          mode: flags.podMode as PodMode,
        });
        plane = new ControlPlane(
          catalog,
          [
            {
              name: 'registry',
              implementation: registryService(catalog, callers, log, {
                domain,
                trustAnchorsFile: paths.trustAnchors,
                addr: () => identityBound.addr,
              }),
            },
            { name: 'resources', implementation: resourcesService(catalog, callers, log, domain) },
            { name: 'pods', implementation: podsService(pods, callers, log) },
          ],
          {
            grpcAddr,
            adminAddr,
            clusterDomain: flags.clusterDomain,
            domain,
            identity: { ca, tokens: catalog.tokens, addr: identityAddr },
            log,
          },
        );
        const bound = await plane.start();
        if (bound.identity) identityBound.addr = formatHostPort(bound.identity);
        apiBound.grpc = bound.grpc;
        if (bound.identity) apiBound.identity = bound.identity;
        lock.setAddress(formatHostPort(bound.grpc), {
          ...(bound.identity ? { identityAddress: identityBound.addr } : {}),
          trustDomain: domain.trustDomain,
        });
        if (viz.addr) {
          const { startViz } = await import('../../viz/component.js');
          vizRunning = await startViz({
            catalog,
            addr: viz.addr,
            clusterDomain: flags.clusterDomain,
            domain,
            ...(viz.prometheusUrl ? { prometheusUrl: viz.prometheusUrl } : {}),
            scrapeIntervalMs: viz.scrapeIntervalMs,
            retentionMs: viz.retentionMs,
            ca,
            log,
          }).catch((err: Error) => {
            throw new Error(`cannot start viz on ${formatHostPort(viz.addr as HostPort)}: ${err.message}`);
          });
        }
        log.info(
          {
            grpc: formatHostPort(bound.grpc),
            admin: formatHostPort(bound.admin),
            ...(vizRunning ? { viz: formatHostPort(vizRunning.addr), metrics: vizRunning.source.name } : {}),
            identity: identityBound.addr,
            trustDomain: domain.trustDomain,
            ownerCredential: callers.ownerFile,
            issuerExpires: ca.issuerNotAfter.toISOString(),
            stateDir,
            services: catalog.services.size,
            workloads: catalog.workloads.size,
          },
          'control plane ready',
        );
      } catch (err) {
        vizRunning?.close();
        await pods?.close();
        await plane?.stop();
        catalog?.close();
        lock.release();
        throw err;
      }
      const running = { catalog, plane, pods };
      await new Promise<void>((done) => {
        let stopping = false;
        const stop = (signal: string): void => {
          // A second Ctrl-C (or the terminal's and a parent's at once) must not cut the
          // teardown short: pods and their network are being taken away.
          if (stopping) {
            log.info({ signal }, 'already stopping');
            return;
          }
          stopping = true;
          log.info({ signal }, 'stopping');
          vizRunning?.close();
          void running.pods
            .close()
            .then(() => running.plane.stop())
            .then(() => {
              running.catalog.close();
              lock.release();
              log.info('stopped');
              done();
            });
        };
        process.on('SIGINT', () => stop('SIGINT'));
        process.on('SIGTERM', () => stop('SIGTERM'));
      });
    });
}

interface VizSettings {
  /** Unset: viz is off. */
  readonly addr: HostPort | undefined;
  readonly prometheusUrl: string | undefined;
  readonly scrapeIntervalMs: number;
  readonly retentionMs: number;
}

async function vizSettings(flags: UpFlags): Promise<VizSettings> {
  const addr = flags.vizAddr === 'off' ? undefined : parseHostPort(flags.vizAddr, '--viz-addr');
  let prometheusUrl: string | undefined;
  if (flags.prometheusUrl !== undefined) {
    // Loaded only with the flag, so other commands (the proxy above all) do not carry it.
    const { parsePrometheusUrl } = await import('../../viz/metrics/prometheus.js');
    const url = parsePrometheusUrl(flags.prometheusUrl, '--prometheus-url');
    if (!addr) throw new Error('--prometheus-url: viz is off (--viz-addr off)');
    prometheusUrl = url.toString().replace(/\/$/, '');
  }
  const scrapeIntervalMs = parseDuration(flags.metricsScrapeInterval, '--metrics-scrape-interval');
  if (scrapeIntervalMs < 1000) throw new Error('--metrics-scrape-interval: at least 1s');
  const retentionMs = parseDuration(flags.metricsRetention, '--metrics-retention');
  if (retentionMs < 2 * scrapeIntervalMs || retentionMs > 3_600_000) {
    throw new Error('--metrics-retention: from two scrape intervals to 1h');
  }
  return { addr, prometheusUrl, scrapeIntervalMs, retentionMs };
}
