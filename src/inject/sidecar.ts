import type { ProxySettings } from './annotations.js';

// The containers and volume inject adds to a pod, as plain values (the editor renders them).
// Ports and defaults are the proxy's and proxy-init's (../shared/DESIGN.md).

export const INIT_CONTAINER = 'weft-init';
export const PROXY_CONTAINER = 'weft-proxy';
/** iptables takes its lock in /run, which must be writable under a read-only root filesystem. */
export const XTABLES_VOLUME = 'weft-init-xtables-lock';

const PORTS = { inbound: 4143, outbound: 4140, admin: 4191, tap: 4190 } as const;
const IGNORE_INBOUND = ['4190', '4191', '4567', '4568'];
const IGNORE_OUTBOUND = ['4567', '4568'];
const DESTINATION_ADDR = 'weft-destination.weft.svc.cluster.local.:8086';

export interface SidecarOptions {
  /** The image, tag included. */
  readonly image: string;
  /** The proxy as a native sidecar: an init container that keeps running (`restartPolicy: Always`). */
  readonly nativeSidecar: boolean;
}

/** `weft init`: the iptables rules that send the pod's TCP through the proxy. */
export function initContainer(settings: ProxySettings, opts: SidecarOptions): Record<string, unknown> {
  return {
    name: INIT_CONTAINER,
    image: opts.image,
    imagePullPolicy: 'IfNotPresent',
    args: [
      'init',
      '--incoming-proxy-port',
      String(PORTS.inbound),
      '--outgoing-proxy-port',
      String(PORTS.outbound),
      '--proxy-uid',
      String(settings.uid),
      '--inbound-ports-to-ignore',
      [...IGNORE_INBOUND, ...settings.skipInboundPorts].join(','),
      '--outbound-ports-to-ignore',
      [...IGNORE_OUTBOUND, ...settings.skipOutboundPorts].join(','),
    ],
    resources: {
      limits: { cpu: '100m', memory: '20Mi' },
      requests: { cpu: '10m', memory: '10Mi' },
    },
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: false,
      runAsUser: 0,
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
    volumeMounts: [{ mountPath: '/run', name: XTABLES_VOLUME }],
  };
}

const fieldRef = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
const httpGet = (path: string) => ({ httpGet: { path, port: PORTS.admin } });

/** Where Kubernetes mounts a pod's ServiceAccount token. */
const SERVICE_ACCOUNT_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** The proxy, configured through its WEFT_PROXY_* variables (src/proxy/config.ts). */
export function proxyContainer(
  settings: ProxySettings,
  workload: string,
  opts: SidecarOptions,
): Record<string, unknown> {
  const env: unknown[] = [
    { name: 'WEFT_PROXY_LOG', value: settings.logLevel },
    { name: 'WEFT_PROXY_INBOUND_ADDR', value: `0.0.0.0:${PORTS.inbound}` },
    { name: 'WEFT_PROXY_OUTBOUND_ADDR', value: `127.0.0.1:${PORTS.outbound}` },
    // Kubelet probes reach the admin listener from outside the pod.
    { name: 'WEFT_PROXY_ADMIN_ADDR', value: `0.0.0.0:${PORTS.admin}` },
    // weft-init redirects the pod's TCP to the proxy: route each connection by its original destination.
    { name: 'WEFT_PROXY_TRANSPARENT', value: 'true' },
    { name: 'WEFT_PROXY_DESTINATION_ADDR', value: DESTINATION_ADDR },
    { name: 'WEFT_PROXY_WORKLOAD', value: workload },
    // The pod's ServiceAccount token, which names the pod: the Registry's credential for it
    // (on Kubernetes the platform checks it with a TokenReview).
    { name: 'WEFT_PROXY_CONTROL_PLANE_TOKEN_FILE', value: SERVICE_ACCOUNT_TOKEN_FILE },
    fieldRef('WEFT_PROXY_NAMESPACE', 'metadata.namespace'),
    fieldRef('WEFT_PROXY_POD', 'metadata.name'),
    fieldRef('WEFT_PROXY_SERVICE_ACCOUNT', 'spec.serviceAccountName'),
  ];
  if (settings.opaquePorts)
    env.push({ name: 'WEFT_PROXY_OPAQUE_PORTS', value: settings.opaquePorts.join(',') });
  const container: Record<string, unknown> = {
    name: PROXY_CONTAINER,
    image: opts.image,
    imagePullPolicy: 'IfNotPresent',
    args: ['proxy'],
    env,
    ports: [
      { containerPort: PORTS.inbound, name: 'weft-proxy' },
      { containerPort: PORTS.admin, name: 'weft-admin' },
    ],
    readinessProbe: { ...httpGet('/ready'), initialDelaySeconds: 2 },
    livenessProbe: { ...httpGet('/live'), initialDelaySeconds: 10 },
  };
  if (opts.nativeSidecar) {
    // The kubelet starts the next init container (and then the application) only once this passes.
    container.startupProbe = { ...httpGet('/ready'), failureThreshold: 120, periodSeconds: 1 };
  }
  if (settings.resources) container.resources = settings.resources;
  container.securityContext = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: settings.uid,
  };
  container.terminationMessagePolicy = 'FallbackToLogsOnError';
  if (opts.nativeSidecar) container.restartPolicy = 'Always';
  return container;
}

export function xtablesVolume(): Record<string, unknown> {
  return { name: XTABLES_VOLUME, emptyDir: {} };
}
