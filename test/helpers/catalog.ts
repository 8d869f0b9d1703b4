import type { Workload } from '../../src/catalog/catalog.js';

/**
 * A workload instance for catalog tests: pod-style (its own address, port 0) in namespace
 * default, labelled app=web; `extra` overrides any field.
 */
export function workload(pod: string, extra: Partial<Workload> = {}): Workload {
  return {
    namespace: 'default',
    pod,
    workload: 'web',
    serviceAccount: 'default',
    labels: { app: 'web' },
    address: '10.0.0.1',
    port: 0,
    namedPorts: {},
    ready: true,
    ...extra,
  };
}
