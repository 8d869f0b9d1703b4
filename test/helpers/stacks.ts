/**
 * A proxy's outbound and inbound stacks in this process, for tests that want to choose
 * what discovery answers and which certificate each side holds: endpoint sets are handed
 * to the outbound balancer directly (discovery itself is tested end to end in
 * test/controlplane).
 */
import { HttpMetrics } from '../../src/metrics/http.js';
import { GaugeFamily, Registry } from '../../src/metrics/registry.js';
import { RouteMetrics } from '../../src/metrics/route.js';
import { TcpMetrics } from '../../src/metrics/tcp.js';
import type { BalancerOptions } from '../../src/proxy/balance/balancer.js';
import type { EndpointSpec } from '../../src/proxy/balance/endpoint.js';
import { DirectionStack } from '../../src/proxy/direction.js';
import { type DestinationClient, Resolution } from '../../src/proxy/discovery/destination.js';
import { ProfileWatch } from '../../src/proxy/discovery/profile-watch.js';
import type { H2Timeouts } from '../../src/proxy/http/h2-liveness.js';
import type { LocalIdentity } from '../../src/proxy/identity/local.js';
import { authorityRouter, fixedRouter } from '../../src/proxy/layers/route.js';
import { TlsMetrics } from '../../src/proxy/tls/metrics.js';
import type { HostPort } from '../../src/util/addr.js';
import { captureLogger } from './identity.js';
import { LOOPBACK } from './net.js';
import { TestPki } from './pki.js';
import { parseProm } from './prom.js';

/** A CA, and an endpoint's identity (`web`) and its client's (`vote-bot`) from it. */
export async function meshIdentities(): Promise<{ pki: TestPki; web: LocalIdentity; client: LocalIdentity }> {
  const pki = await TestPki.create();
  return { pki, web: await pki.identity('web'), client: await pki.identity('vote-bot') };
}

/** The authority discovery knows, with its one endpoint. */
export const AUTHORITY = 'web.default.svc.cluster.local:80';

export interface Side {
  readonly stack: DirectionStack;
  readonly registry: Registry;
  readonly addr: HostPort;
  /** What the side logged at warn and above. */
  readonly logs: Array<Record<string, unknown>>;
}

export async function side(
  direction: 'inbound' | 'outbound',
  identity: LocalIdentity | undefined,
  target: HostPort,
  discovery?: DestinationClient,
  idleTimeouts?: H2Timeouts,
): Promise<Side> {
  const registry = new Registry();
  const { log, records } = captureLogger('warn');
  const deps = {
    http: new HttpMetrics(registry),
    routes: new RouteMetrics(registry),
    tcp: new TcpMetrics(registry),
    tls: new TlsMetrics(registry),
    log,
    isDraining: () => false,
  };
  const stack = new DirectionStack(
    {
      direction,
      router: direction === 'inbound' ? fixedRouter(target) : authorityRouter(),
      connectTimeoutMs: 1000,
      detectTimeoutMs: 2000,
      serveConnect: direction === 'outbound',
      ...(direction === 'inbound' ? { opaqueTarget: target, opaquePorts: new Set<number>() } : {}),
      ...(discovery ? { discovery, profiles: (authority: string) => discovery.profile(authority) } : {}),
      ...(identity ? { identity } : {}),
      ...(idleTimeouts ? { idleTimeouts } : {}),
    },
    deps,
  );
  const addr = await stack.listener.listen({ host: LOOPBACK, port: 0 });
  return { stack, registry, addr, logs: records };
}

/**
 * Discovery that knows one authority with one endpoint, whose identity (and any other
 * field of its spec) the test chooses, balanced with `balancer` (say, a Service's failure
 * accrual).
 */
export function oneEndpoint(
  addr: HostPort,
  identity: string | undefined,
  spec: Partial<EndpointSpec> = {},
  balancer: BalancerOptions = {},
): DestinationClient {
  const resolution = new Resolution(AUTHORITY, balancer, new GaugeFamily('test_endpoints', 'test'));
  resolution.status = 'mesh';
  resolution.balancer.replace([
    {
      key: `${addr.host}:${addr.port}`,
      addr,
      weight: 10_000,
      labels: [['dst_pod', 'web-1']],
      ...(identity ? { identity } : {}),
      ...spec,
    },
  ]);
  // No profile: the authority's requests have no routes.
  const profile = new ProfileWatch(AUTHORITY, captureLogger('warn').log);
  profile.none();
  return { resolve: () => resolution, profile: () => profile } as unknown as DestinationClient;
}

export function closeSide(s: Side): void {
  s.stack.listener.stopAccepting();
  s.stack.close();
}

export interface ProxyPair {
  client: Side;
  server: Side;
  close(): void;
}

/**
 * An outbound stack whose discovery names one endpoint, an inbound stack in front of `app`:
 * with identities, a meshed pair (the endpoint's identity is `expected`); without, plaintext.
 */
export async function proxyPair(
  clientId: LocalIdentity | undefined,
  serverId: LocalIdentity | undefined,
  app: HostPort,
  expected: string | undefined = serverId?.name,
  balancer: BalancerOptions = {},
): Promise<ProxyPair> {
  const server = await side('inbound', serverId, app);
  const client = await side(
    'outbound',
    clientId,
    { host: LOOPBACK, port: 0 },
    oneEndpoint(server.addr, expected, {}, balancer),
  );
  return {
    client,
    server,
    close() {
      closeSide(client);
      closeSide(server);
    },
  };
}

/** The side's metrics, parsed. */
export const metrics = (s: Side) => parseProm(s.registry.render());
