import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Catalog } from '../catalog/catalog.js';
import type { CertificateAuthority } from '../controlplane/identity/ca.js';
import type { TrustDomain } from '../identity/names.js';
import type { HostPort } from '../util/addr.js';
import type { Logger } from '../util/log.js';
import type { MetricsSource } from './metrics/source.js';
import { type TapHandler, VizServer } from './server.js';
import type { TapIdentity } from './tap/identity.js';
import { scrapeTargets } from './targets.js';

export interface VizOptions {
  readonly catalog: Catalog;
  readonly addr: HostPort;
  readonly clusterDomain: string;
  readonly domain: TrustDomain;
  /** Query this Prometheus instead of scraping the proxies here. */
  readonly prometheusUrl?: string;
  readonly scrapeIntervalMs: number;
  readonly retentionMs: number;
  /** The mesh's CA: viz gets its tap identity from it (no CA: no tap). */
  readonly ca?: CertificateAuthority;
  readonly log: Logger;
}

export interface RunningViz {
  readonly addr: HostPort;
  readonly source: MetricsSource;
  close(): void;
}

/** The dashboard's built files, next to the compiled code (dist/web). */
export const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

/**
 * viz as `weft up` runs it: a metrics source (the embedded scraper of every registered
 * proxy, or Prometheus) and the HTTP API and dashboard on `addr`.
 */
export async function startViz(opts: VizOptions): Promise<RunningViz> {
  let source: MetricsSource;
  if (opts.prometheusUrl) {
    const { PrometheusSource } = await import('./metrics/prometheus.js');
    source = new PrometheusSource(opts.prometheusUrl);
  } else {
    const { EmbeddedSource } = await import('./metrics/embedded.js');
    source = new EmbeddedSource({
      targets: () => scrapeTargets(opts.catalog),
      intervalMs: opts.scrapeIntervalMs,
      retentionMs: opts.retentionMs,
    }).start();
  }
  let identity: TapIdentity | undefined;
  let tap: TapHandler | undefined;
  if (opts.ca) {
    const [{ TapIdentity }, { tapBroker }] = await Promise.all([
      import('./tap/identity.js'),
      import('./tap-broker.js'),
    ]);
    const id = await TapIdentity.start(opts.ca, { log: opts.log });
    identity = id;
    tap = tapBroker({
      catalog: opts.catalog,
      credentials: () => id.current,
      domain: opts.domain,
      log: opts.log,
    });
  }
  const server = new VizServer({
    catalog: opts.catalog,
    source,
    clusterDomain: opts.clusterDomain,
    domain: opts.domain,
    // Prometheus keeps what it keeps: the longest window Linkerd's viz offers.
    maxWindowMs: opts.prometheusUrl ? 3_600_000 : opts.retentionMs,
    ...(existsSync(WEB_ROOT) ? { webRoot: WEB_ROOT } : {}),
    ...(tap ? { tap } : {}),
    log: opts.log,
  });
  let addr: HostPort;
  try {
    addr = await server.listen(opts.addr);
  } catch (err) {
    source.close();
    identity?.close();
    throw err;
  }
  return {
    addr,
    source,
    close: () => {
      server.close();
      source.close();
      identity?.close();
    },
  };
}
