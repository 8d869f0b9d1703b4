import { parseLogLevel } from '../util/log.js';
import { PortSpecError, parsePortSpecs } from '../util/port-specs.js';

// The annotations that steer injection, read from the workload's metadata and its pod
// template's (the template's win), and checked: a bad value is an error naming it.

export const INJECT = 'weft.io/inject';
export const PROXY_VERSION = 'weft.io/proxy-version';
export const CREATED_BY = 'weft.io/created-by';
/** The annotations inject added that were not there before, comma-separated, so uninject removes only those. */
export const ADDED = 'weft.io/added-annotations';
/** Which container `kubectl logs` and `kubectl exec` pick by default: the application's, not the proxy. */
export const DEFAULT_CONTAINER = 'kubectl.kubernetes.io/default-container';
/** What ADDED may list: uninject removes nothing else through it. */
export const REMOVABLE = new Set([INJECT, DEFAULT_CONTAINER]);

export const CONFIG = {
  skipInboundPorts: 'config.weft.io/skip-inbound-ports',
  skipOutboundPorts: 'config.weft.io/skip-outbound-ports',
  opaquePorts: 'config.weft.io/opaque-ports',
  cpuRequest: 'config.weft.io/proxy-cpu-request',
  cpuLimit: 'config.weft.io/proxy-cpu-limit',
  memoryRequest: 'config.weft.io/proxy-memory-request',
  memoryLimit: 'config.weft.io/proxy-memory-limit',
  logLevel: 'config.weft.io/proxy-log-level',
  uid: 'config.weft.io/proxy-uid',
} as const;

const KNOWN_CONFIG: ReadonlySet<string> = new Set(Object.values(CONFIG));

const DEFAULT_PROXY_UID = 2102;
const DEFAULT_LOG_LEVEL = 'info';

export interface ProxyResources {
  readonly requests?: { readonly cpu?: string; readonly memory?: string };
  readonly limits?: { readonly cpu?: string; readonly memory?: string };
}

/** The proxy settings the annotations ask for. */
export interface ProxySettings {
  /** Ports and ranges (`8080`, `9000-9100`), as given, that skip the proxy. */
  readonly skipInboundPorts: readonly string[];
  readonly skipOutboundPorts: readonly string[];
  /** Inbound ports proxied as opaque TCP; absent: the proxy's default list. */
  readonly opaquePorts?: readonly string[];
  /** Absent: no resources on the proxy container. */
  readonly resources?: ProxyResources;
  readonly logLevel: string;
  readonly uid: number;
}

/** A bad annotation value; the caller adds which resource it is on. */
export class AnnotationError extends Error {}

/** Merges the workload's and the pod template's annotations: the template's win. */
export function effectiveAnnotations<V>(
  workload: ReadonlyMap<string, V>,
  template: ReadonlyMap<string, V>,
): Map<string, V> {
  return new Map([...workload, ...template]);
}

/** The `config.weft.io/*` keys that mean nothing to weft (likely typos), to warn about. */
export function unknownConfigKeys(annotations: ReadonlyMap<string, unknown>): string[] {
  return [...annotations.keys()].filter((k) => k.startsWith('config.weft.io/') && !KNOWN_CONFIG.has(k));
}

/**
 * Reads and checks the `config.weft.io/*` annotations. `named` gives the name an annotation
 * was written under (Linkerd's, say), for messages.
 */
export function proxySettings(
  annotations: ReadonlyMap<string, string>,
  named: (key: string) => string = (key) => key,
): ProxySettings {
  const get = (key: string): string | undefined => {
    const v = annotations.get(key)?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const ports = (key: string): string[] | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    try {
      return parsePortSpecs(v, named(key));
    } catch (err) {
      if (err instanceof PortSpecError) throw new AnnotationError(err.message);
      throw err;
    }
  };
  const resources = proxyResources(get, named);
  const opaquePorts = ports(CONFIG.opaquePorts);
  return {
    skipInboundPorts: ports(CONFIG.skipInboundPorts) ?? [],
    skipOutboundPorts: ports(CONFIG.skipOutboundPorts) ?? [],
    ...(opaquePorts ? { opaquePorts } : {}),
    ...(resources ? { resources } : {}),
    logLevel: logLevel(get(CONFIG.logLevel), named(CONFIG.logLevel)),
    uid: uid(get(CONFIG.uid), named(CONFIG.uid)),
  };
}

/** A Kubernetes resource quantity: `100m`, `0.5`, `64Mi`, `1G`, `1e3`. */
const QUANTITY = /^([+]?(?:\d+(?:\.\d*)?|\.\d+))((?:[KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$/;
const SUFFIX: Readonly<Record<string, number>> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A quantity's value, to compare a request with its limit. */
export function parseQuantity(text: string, what: string): number {
  const m = QUANTITY.exec(text);
  if (!m) {
    throw new AnnotationError(
      `${what}: "${text}" is not a Kubernetes quantity (like 100m or 0.5 for CPU, 64Mi or 1Gi for memory)`,
    );
  }
  const number = Number(m[1]);
  const suffix = m[2] ?? '';
  const scale = /^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : (SUFFIX[suffix] ?? 1);
  return number * scale;
}

function proxyResources(
  get: (key: string) => string | undefined,
  named: (key: string) => string,
): ProxyResources | undefined {
  const pick = (key: string): string | undefined => {
    const v = get(key);
    if (v !== undefined) parseQuantity(v, named(key));
    return v;
  };
  const cpu = { request: pick(CONFIG.cpuRequest), limit: pick(CONFIG.cpuLimit) };
  const memory = { request: pick(CONFIG.memoryRequest), limit: pick(CONFIG.memoryLimit) };
  for (const [r, l, reqKey, limKey] of [
    [cpu.request, cpu.limit, CONFIG.cpuRequest, CONFIG.cpuLimit],
    [memory.request, memory.limit, CONFIG.memoryRequest, CONFIG.memoryLimit],
  ] as const) {
    if (r !== undefined && l !== undefined && parseQuantity(r, reqKey) > parseQuantity(l, limKey)) {
      throw new AnnotationError(`${named(reqKey)}: "${r}" is more than ${named(limKey)} ("${l}")`);
    }
  }
  const pair = (c: string | undefined, m: string | undefined) =>
    c || m ? { ...(c ? { cpu: c } : {}), ...(m ? { memory: m } : {}) } : undefined;
  const requests = pair(cpu.request, memory.request);
  const limits = pair(cpu.limit, memory.limit);
  if (!requests && !limits) return undefined;
  return { ...(limits ? { limits } : {}), ...(requests ? { requests } : {}) };
}

function logLevel(value: string | undefined, name: string): string {
  if (value === undefined) return DEFAULT_LOG_LEVEL;
  try {
    parseLogLevel(value, name);
  } catch (err) {
    throw new AnnotationError((err as Error).message);
  }
  return value.toLowerCase();
}

function uid(value: string | undefined, name: string): number {
  if (value === undefined) return DEFAULT_PROXY_UID;
  const n = /^\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 1 && n <= 2147483647)) {
    throw new AnnotationError(
      `${name}: "${value}" is not a user ID for the proxy (1-2147483647; not 0: the proxy runs as non-root)`,
    );
  }
  return n;
}
