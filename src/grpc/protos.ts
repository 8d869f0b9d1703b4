import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The repository's proto directory (dist/src/grpc → proto/). */
const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

type ServiceName = 'destination' | 'registry' | 'resources' | 'identity' | 'pods' | 'tap';
const PACKAGES: Record<ServiceName, [file: string, pkg: string, service: string]> = {
  destination: ['weft/destination.proto', 'weft.destination.v1', 'Destination'],
  registry: ['weft/registry.proto', 'weft.registry.v1', 'Registry'],
  resources: ['weft/resources.proto', 'weft.resources.v1', 'Resources'],
  identity: ['weft/identity.proto', 'weft.identity.v1', 'Identity'],
  pods: ['weft/pods.proto', 'weft.pods.v1', 'Pods'],
  tap: ['weft/tap.proto', 'weft.tap.v1', 'Tap'],
};

const cache = new Map<ServiceName, grpc.ServiceClientConstructor>();

/** The gRPC service constructor for one of Weft's control plane APIs, loaded from its .proto. */
export function serviceConstructor(name: ServiceName): grpc.ServiceClientConstructor {
  let ctor = cache.get(name);
  if (!ctor) {
    const [file, pkg, service] = PACKAGES[name];
    const definition = protoLoader.loadSync(file, LOADER_OPTIONS);
    let node: unknown = grpc.loadPackageDefinition(definition);
    for (const part of [...pkg.split('.'), service]) node = (node as Record<string, unknown>)[part];
    ctor = node as grpc.ServiceClientConstructor;
    cache.set(name, ctor);
  }
  return ctor;
}

// The messages as proto-loader presents them (camelCase fields, defaults filled in).

export interface TcpAddress {
  ip: string;
  port: number;
}
export interface WeightedAddr {
  addr: TcpAddress;
  weight: number;
  metricLabels: Record<string, string>;
  tlsIdentity?: { dnsLikeIdentity: string } | null;
  protocolHint?: {
    protocol?: 'h2' | 'opaque';
    h2?: object | null;
    opaque?: object | null;
    opaqueTransport?: { inboundPort: number } | null;
  } | null;
}
export interface ExponentialBackoffMessage {
  minBackoffMs: number;
  maxBackoffMs: number;
  jitterRatio: number;
}
export interface FailureAccrualMessage {
  kind?: 'consecutiveFailures';
  consecutiveFailures?: { maxFailures: number; backoff: ExponentialBackoffMessage | null } | null;
}
export interface DestinationUpdate {
  update?: 'add' | 'remove' | 'noEndpoints' | 'failureAccrual';
  add?: { addrs: WeightedAddr[]; metricLabels: Record<string, string> } | null;
  remove?: { addrs: TcpAddress[] } | null;
  noEndpoints?: { exists: boolean } | null;
  failureAccrual?: FailureAccrualMessage | null;
}
export interface GetDestination {
  path: string;
  contextToken: string;
}
export interface DestinationProfile {
  fullyQualifiedName: string;
  opaqueProtocol: boolean;
  routes: RouteMessage[];
  retryBudget?: RetryBudgetMessage | null;
  dstOverrides: WeightedDstMessage[];
  source: string;
  rejectUnmatched: boolean;
}
export interface RouteMessage {
  name: string;
  condition: RequestMatchMessage | null;
  responseClasses: ResponseClassMessage[];
  isRetryable: boolean;
  timeoutMs: number;
  backends: WeightedDstMessage[];
}
export interface StringMatchMessage {
  name: string;
  value?: 'exact' | 'regex';
  exact?: string;
  regex?: string;
}
export interface RequestMatchMessage {
  match?: 'all' | 'any' | 'not' | 'pathRegex' | 'method' | 'header' | 'query';
  all?: { matches: RequestMatchMessage[] } | null;
  any?: { matches: RequestMatchMessage[] } | null;
  not?: RequestMatchMessage | null;
  pathRegex?: string;
  method?: string;
  header?: StringMatchMessage | null;
  query?: StringMatchMessage | null;
}
export interface ResponseMatchMessage {
  match?: 'all' | 'any' | 'not' | 'status';
  all?: { matches: ResponseMatchMessage[] } | null;
  any?: { matches: ResponseMatchMessage[] } | null;
  not?: ResponseMatchMessage | null;
  status?: { min: number; max: number } | null;
}
export interface ResponseClassMessage {
  condition: ResponseMatchMessage | null;
  isFailure: boolean;
}
export interface RetryBudgetMessage {
  retryRatio: number;
  minRetriesPerSecond: number;
  ttlMs: number;
}
export interface WeightedDstMessage {
  authority: string;
  weight: number;
}
export interface WorkloadMessage {
  namespace: string;
  name: string;
  pod: string;
  serviceAccount: string;
  labels: Record<string, string>;
  address: string;
  port: number;
  namedPorts: Record<string, number>;
  starting?: boolean;
  adminPort?: number;
  tapPort?: number;
  inboundPort?: number;
}
export interface IdentityConfigMessage {
  name: string;
  tokenFile: string;
  trustAnchorsFile: string;
  addr: string;
  serverName: string;
}
export interface LeaseMessage {
  ttlMs: number;
  identity?: IdentityConfigMessage | null;
}
export interface CertifyRequestMessage {
  identity: string;
  token: Buffer;
  certificateSigningRequest: Buffer;
}
export interface CertifyResponseMessage {
  leafCertificate: Buffer;
  intermediateCertificates: Buffer[];
  validUntilUnixMs: number;
}
export interface DocumentMessage {
  source: string;
  json: string;
}
export interface OutcomeMessage {
  kind: string;
  namespace: string;
  name: string;
  action: string;
}

export interface RunPodRequest {
  namespace: string;
  workload: string;
  serviceAccount: string;
  labels: Record<string, string>;
  command: string[];
  env: Record<string, string>;
  restartPolicy: string;
  replicas: number;
  port: number;
  workingDir: string;
}
export interface PodStatusMessage {
  namespace: string;
  name: string;
  workload: string;
  ip: string;
  phase: string;
  restarts: number;
}
export interface PodLogsMessage {
  name: string;
  app: string[];
  proxy: string[];
}

// Tap (weft/tap.proto): proxies serve it, viz calls it.

export interface TapLabelMessage {
  key: string;
  value: string;
}
export interface TapMatchMessage {
  match?: 'all' | 'any' | 'not' | 'sourceLabel' | 'destinationLabel' | 'routeLabel' | 'http';
  all?: { matches: TapMatchMessage[] } | null;
  any?: { matches: TapMatchMessage[] } | null;
  not?: TapMatchMessage | null;
  sourceLabel?: TapLabelMessage | null;
  destinationLabel?: TapLabelMessage | null;
  routeLabel?: TapLabelMessage | null;
  http?: {
    match?: 'method' | 'authority' | 'pathPrefix' | 'scheme';
    method?: string;
    authority?: string;
    pathPrefix?: string;
    scheme?: string;
  } | null;
}
export interface ObserveRequestMessage {
  match?: TapMatchMessage | null;
  maxRps: number;
}
export interface DurationMessage {
  seconds: number;
  nanos: number;
}
export interface TapEventMessage {
  id: { base: number; stream: number } | null;
  proxyDirection: 'UNKNOWN' | 'INBOUND' | 'OUTBOUND';
  source: TcpAddress | null;
  destination: TcpAddress | null;
  sourceMeta: Record<string, string>;
  destinationMeta: Record<string, string>;
  routeMeta: Record<string, string>;
  tls: boolean;
  event?: 'requestInit' | 'responseInit' | 'responseEnd';
  requestInit?: { method: string; scheme: string; authority: string; path: string } | null;
  responseInit?: { sinceRequestInit: DurationMessage | null; httpStatus: number } | null;
  responseEnd?: {
    sinceRequestInit: DurationMessage | null;
    sinceResponseInit: DurationMessage | null;
    responseBytes: number;
    end?: 'grpcStatus' | 'resetError';
    grpcStatus?: number;
    resetError?: number;
  } | null;
}
