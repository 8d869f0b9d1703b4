import type { Workload } from './catalog.js';
import type { Service } from './resources.js';

/** Whether a Service's selector picks a workload, as on Kubernetes: every selector label matches. */
export function selects(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (!selector) return false;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/**
 * The port a workload serves a Service's targetPort on, or undefined when it has none or is
 * not ready (a starting instance is no endpoint of any Service).
 */
export function endpointPort(w: Workload, targetPort: number | string): number | undefined {
  if (!w.ready) return undefined;
  if (w.port !== 0) return w.port;
  const port = typeof targetPort === 'number' ? targetPort : w.namedPorts[targetPort];
  return port === undefined || port === 0 ? undefined : port;
}

/** Every Service port's endpoints as `address:port`, for `weft get endpoints`. */
export function serviceEndpoints(
  service: Service,
  workloads: readonly Workload[],
): Array<{ port: number; name?: string; addresses: Array<{ address: string; pod: string }> }> {
  const selected = workloads.filter(
    (w) => w.namespace === service.metadata.namespace && selects(service.spec.selector, w.labels),
  );
  return service.spec.ports.map((p) => ({
    port: p.port,
    ...(p.name !== undefined ? { name: p.name } : {}),
    addresses: selected.flatMap((w) => {
      const port = endpointPort(w, p.targetPort);
      return port === undefined ? [] : [{ address: `${w.address}:${port}`, pod: w.pod }];
    }),
  }));
}
