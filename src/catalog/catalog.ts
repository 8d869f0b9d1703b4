import type { Deployment, HTTPRoute, Service, ServiceProfile } from './resources.js';

/**
 * The catalog: what the control plane knows of the platform, as lists and watches.
 * The control plane is written against this interface only; the local platform and
 * (later) Kubernetes are its backends.
 */
export interface Catalog {
  readonly services: Collection<Service>;
  readonly workloads: Collection<Workload>;
  /** The workloads' controllers: how many instances each should have (viz's MESHED column). */
  readonly deployments: Collection<Deployment>;
  /** Named by the fully qualified name of the Service they describe, in its namespace. */
  readonly serviceProfiles: Collection<ServiceProfile>;
  /** Gateway API HTTPRoutes whose parents are Services in their namespace, defaults filled in. */
  readonly httpRoutes: Collection<HTTPRoute>;
}

/** One running instance of a workload, as a Pod is on Kubernetes. */
export interface Workload {
  readonly namespace: string;
  /** The instance's name (dst_pod), unique in its namespace. */
  readonly pod: string;
  /** The workload it belongs to (dst_deployment). */
  readonly workload: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Where meshed peers reach this instance. */
  readonly address: string;
  /**
   * Non-zero: every Service port reaches this port (the instance shares the host's
   * address, and its proxy's inbound listener fronts the application). Zero: the
   * Service's targetPort on `address`, as for a pod with its own address.
   */
  readonly port: number;
  readonly namedPorts: Readonly<Record<string, number>>;
  /** The proxy's admin port on `address` (its /metrics, scraped by viz); unset: not reachable. */
  readonly adminPort?: number;
  /** The proxy's tap port on `address` (mutual TLS, for viz only); unset: no tap. */
  readonly tapPort?: number;
  /** The proxy's inbound port on `address`, where meshed peers send opaque TCP; unset: not known. */
  readonly inboundPort?: number;
  /**
   * Whether the instance takes traffic. A proxy registers as starting (not ready) until
   * it holds its certificate; only ready instances are endpoints of Services.
   */
  readonly ready: boolean;
}

export type WatchEvent<T> =
  | { readonly type: 'added'; readonly object: T }
  | { readonly type: 'modified'; readonly object: T; readonly old: T }
  | { readonly type: 'deleted'; readonly object: T };

export interface Collection<T> {
  list(namespace?: string): T[];
  get(namespace: string, name: string): T | undefined;
  /**
   * Calls `onEvent` with every current object as `added`, synchronously, then with
   * each change as it happens. Returns the function that stops the watch.
   */
  watch(onEvent: (event: WatchEvent<T>) => void): () => void;
}

export function workloadKey(namespace: string, pod: string): string {
  return `${namespace}/${pod}`;
}
