import type { Catalog, Workload } from '../catalog/catalog.js';
import { formatHostPort } from '../util/addr.js';
import type { ScrapeTarget } from './metrics/scraper.js';

/** The labels viz's queries group by, as Linkerd's Prometheus configuration relabels pods. */
export function targetLabels(w: Workload): Record<string, string> {
  return { namespace: w.namespace, deployment: w.workload, pod: w.pod, serviceaccount: w.serviceAccount };
}

/** Every registered proxy that serves its admin endpoint on its address: host:port and labels. */
function admins(catalog: Catalog): Array<{ addr: string; labels: Record<string, string> }> {
  return catalog.workloads
    .list()
    .filter((w) => w.adminPort !== undefined && w.adminPort > 0)
    .map((w) => ({
      addr: formatHostPort({ host: w.address, port: w.adminPort as number }),
      labels: targetLabels(w),
    }));
}

/** What the embedded scraper reads: each registered proxy's /metrics. */
export function scrapeTargets(catalog: Catalog): ScrapeTarget[] {
  return admins(catalog).map((a) => ({ url: `http://${a.addr}/metrics`, labels: a.labels }));
}

/**
 * The same targets in Prometheus's HTTP service discovery format (`http_sd_configs`),
 * so a Prometheus server scrapes exactly what the embedded scraper would.
 */
export function prometheusHttpSd(
  catalog: Catalog,
): Array<{ targets: string[]; labels: Record<string, string> }> {
  return admins(catalog).map((a) => ({ targets: [a.addr], labels: a.labels }));
}
