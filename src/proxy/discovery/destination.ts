import type * as grpc from '@grpc/grpc-js';
import { controlPlaneClient } from '../../grpc/client.js';
import type {
  DestinationProfile,
  DestinationUpdate,
  FailureAccrualMessage,
  WeightedAddr,
} from '../../grpc/protos.js';
import { GaugeFamily, type GaugeSeries, type Registry } from '../../metrics/registry.js';
import type { HostPort } from '../../util/addr.js';
import type { Logger } from '../../util/log.js';
import { Balancer, type BalancerOptions } from '../balance/balancer.js';
import type { BreakerSettings } from '../balance/breaker.js';
import type { EndpointSpec } from '../balance/endpoint.js';
import { ProfileWatch } from './profile-watch.js';
import { AuthorityStreams, AuthorityWatch } from './streams.js';

/**
 * What is known of an authority: `resolving` until the control plane first answers;
 * `mesh` once it has (requests are balanced over its endpoints, and wait for one when
 * there are none); `dns` for names the mesh does not know, or while the control plane
 * cannot be reached and nothing is known yet (requests go to the name as DNS resolves it).
 */
export type ResolutionStatus = 'resolving' | 'mesh' | 'dns';

/** One authority's discovery: its status and the balancer over its endpoints. */
export class Resolution extends AuthorityWatch<DestinationUpdate> {
  status: ResolutionStatus = 'resolving';
  balancer: Balancer;
  /** The stream (re)opened: its next endpoint set replaces the whole set. */
  replaceNext = false;
  private gauges: { ready: GaugeSeries; pending: GaugeSeries } | undefined;

  constructor(
    authority: string,
    private readonly balancerOptions: BalancerOptions,
    private readonly family: GaugeFamily,
  ) {
    super(authority);
    this.balancer = new Balancer(balancerOptions);
  }

  /** Sets outbound_http_balancer_endpoints for this authority, once it has been a mesh name. */
  reportEndpoints(): void {
    if (this.status !== 'mesh' && !this.gauges) return;
    this.gauges ??= {
      ready: this.family.get([
        ['authority', this.authority],
        ['endpoint_state', 'ready'],
      ]),
      pending: this.family.get([
        ['authority', this.authority],
        ['endpoint_state', 'pending'],
      ]),
    };
    const { ready, pending } = this.closed ? { ready: 0, pending: 0 } : this.balancer.counts();
    this.gauges.ready.set(ready);
    this.gauges.pending.set(pending);
  }

  /**
   * Leaves `mesh`/`resolving` for `dns`: requests waiting for an endpoint are released
   * (the layer sends them by DNS) and a fresh, empty balancer waits for the name to join.
   */
  fallBackToDns(): void {
    this.status = 'dns';
    const old = this.balancer;
    this.balancer = new Balancer({ ...this.balancerOptions, failureAccrual: old.failureAccrual });
    old.close();
  }
}

/** The balancer's settings for a Destination API FailureAccrual; undefined for none. */
export function breakerSettings(m: FailureAccrualMessage | null | undefined): BreakerSettings | undefined {
  const c = m?.kind === 'consecutiveFailures' ? m.consecutiveFailures : undefined;
  if (!c) return undefined;
  return {
    maxFailures: c.maxFailures,
    backoff: {
      minMs: c.backoff?.minBackoffMs ?? 0,
      maxMs: c.backoff?.maxBackoffMs ?? 0,
      jitterRatio: c.backoff?.jitterRatio ?? 0,
    },
  };
}

/** A TCP address from the Destination API as a balancer key and HostPort. */
function endpointSpec(a: WeightedAddr, setLabels: Record<string, string>): EndpointSpec {
  const addr: HostPort = { host: a.addr.ip, port: a.addr.port };
  const labels: Array<readonly [string, string]> = [];
  for (const [k, v] of Object.entries({ ...setLabels, ...a.metricLabels })) labels.push([`dst_${k}`, v]);
  const identity = a.tlsIdentity?.dnsLikeIdentity;
  const hint = a.protocolHint?.protocol;
  const transportPort = a.protocolHint?.opaqueTransport?.inboundPort;
  return {
    key: addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`,
    addr,
    weight: a.weight > 0 ? a.weight : 1,
    labels,
    ...(identity ? { identity } : {}),
    ...(hint ? { protocolHint: hint } : {}),
    ...(transportPort ? { opaqueTransportPort: transportPort } : {}),
  };
}

export interface DestinationClientOptions {
  readonly addr: HostPort;
  /** The asking proxy's namespace: short names resolve in it. */
  readonly namespace: string;
  readonly pod: string;
  readonly balancer: BalancerOptions;
  readonly registry: Registry;
  readonly log: Logger;
}

/**
 * Watches authorities through the control plane's Destination API: their endpoints
 * (`resolve`) and their profiles (`profile`). Each authority has one stream per kind; a
 * broken stream is reopened with backoff while what was last known keeps serving, and
 * the first answer on a reopened stream replaces the whole set.
 */
export class DestinationClient {
  private readonly client: grpc.Client;
  private readonly resolutions: AuthorityStreams<Resolution, DestinationUpdate>;
  private readonly profiles: AuthorityStreams<ProfileWatch, DestinationProfile>;

  constructor(opts: DestinationClientOptions) {
    this.client = controlPlaneClient('destination', opts.addr);
    const contextToken = JSON.stringify({ ns: opts.namespace, pod: opts.pod });
    const gaugeFamily = opts.registry.register(
      new GaugeFamily(
        'outbound_http_balancer_endpoints',
        'Endpoints of each balancer, by state (ready or pending).',
      ),
    );
    opts.registry.onRender(() => {
      for (const r of this.resolutions.values()) r.reportEndpoints();
    });
    this.resolutions = new AuthorityStreams(
      this.client,
      'get',
      contextToken,
      opts.log,
      (authority) => new Resolution(authority, opts.balancer, gaugeFamily),
      {
        data: (r, u, first) => this.apply(r, u, first),
        notInMesh: (r) => {
          if (r.status !== 'dns') r.fallBackToDns();
        },
        lost: (r) => {
          if (r.status === 'resolving') r.fallBackToDns();
        },
        stopped: (r) => {
          r.balancer.close();
          r.reportEndpoints();
        },
      },
    );
    this.profiles = new AuthorityStreams(
      this.client,
      'getProfile',
      contextToken,
      opts.log,
      (authority) => new ProfileWatch(authority, opts.log),
      {
        data: (w, p) => w.update(p),
        notInMesh: (w) => {
          w.profile = undefined;
          w.none();
        },
        // The last profile keeps serving until the stream is back.
        lost: (w) => w.none(),
        stopped: (w) => w.none(),
      },
    );
  }

  /** The resolution of an authority, watching it from the first call on. */
  resolve(authority: string): Resolution {
    return this.resolutions.get(authority);
  }

  /** The profile of an authority, watching it from the first call on. */
  profile(authority: string): ProfileWatch {
    return this.profiles.get(authority);
  }

  private apply(r: Resolution, u: DestinationUpdate, first: boolean): void {
    // The first answer may begin with the failure accrual: the endpoint set after it is
    // the one that replaces what is known.
    if (first) r.replaceNext = true;
    switch (u.update) {
      case 'failureAccrual':
        r.balancer.setFailureAccrual(breakerSettings(u.failureAccrual));
        return;
      case 'add': {
        const add = u.add;
        if (!add) return;
        const specs = add.addrs.map((a) => endpointSpec(a, add.metricLabels));
        if (r.replaceNext) r.balancer.replace(specs);
        else r.balancer.add(specs);
        r.status = 'mesh';
        break;
      }
      case 'remove': {
        const keys = (u.remove?.addrs ?? []).map((a) =>
          a.ip.includes(':') ? `[${a.ip}]:${a.port}` : `${a.ip}:${a.port}`,
        );
        r.balancer.remove(keys);
        break;
      }
      case 'noEndpoints':
        if (u.noEndpoints?.exists) {
          r.balancer.clear();
          r.status = 'mesh';
        } else if (r.status !== 'dns') {
          r.fallBackToDns();
        }
        break;
      default:
        return;
    }
    r.replaceNext = false;
  }

  close(): void {
    this.resolutions.close();
    this.profiles.close();
    this.client.close();
  }
}
