import * as grpc from '@grpc/grpc-js';
import { controlPlaneClient } from '../../grpc/client.js';
import type { DestinationUpdate, WeightedAddr } from '../../grpc/protos.js';
import { GaugeFamily, type GaugeSeries, type Registry } from '../../metrics/registry.js';
import type { HostPort } from '../../util/addr.js';
import type { Logger } from '../../util/log.js';
import { Balancer, type BalancerOptions } from '../balance/balancer.js';
import type { EndpointSpec } from '../balance/endpoint.js';
import { Backoff } from './backoff.js';

/**
 * What is known of an authority: `resolving` until the control plane first answers;
 * `mesh` once it has (requests are balanced over its endpoints, and wait for one when
 * there are none); `dns` for names the mesh does not know, or while the control plane
 * cannot be reached and nothing is known yet (requests go to the name as DNS resolves it).
 */
export type ResolutionStatus = 'resolving' | 'mesh' | 'dns';

/** At most this many authorities are watched; the least recently used beyond are dropped. */
const MAX_WATCHES = 1000;

/** One authority's discovery: its status and the balancer over its endpoints. */
export class Resolution {
  status: ResolutionStatus = 'resolving';
  balancer: Balancer;
  lastUsed = 0;
  call: grpc.ClientReadableStream<DestinationUpdate> | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  readonly backoff = new Backoff();
  closed = false;
  private gauges: { ready: GaugeSeries; pending: GaugeSeries } | undefined;

  constructor(
    readonly authority: string,
    private readonly balancerOptions: BalancerOptions,
    private readonly family: GaugeFamily,
  ) {
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
    this.balancer = new Balancer(this.balancerOptions);
    old.close();
  }
}

/** A TCP address from the Destination API as a balancer key and HostPort. */
function endpointSpec(a: WeightedAddr, setLabels: Record<string, string>): EndpointSpec {
  const addr: HostPort = { host: a.addr.ip, port: a.addr.port };
  const labels: Array<readonly [string, string]> = [];
  for (const [k, v] of Object.entries({ ...setLabels, ...a.metricLabels })) labels.push([`dst_${k}`, v]);
  const identity = a.tlsIdentity?.dnsLikeIdentity;
  const hint = a.protocolHint?.protocol;
  return {
    key: addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`,
    addr,
    weight: a.weight > 0 ? a.weight : 1,
    labels,
    ...(identity ? { identity } : {}),
    ...(hint ? { protocolHint: hint } : {}),
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
 * Watches authorities through the control plane's Destination API. Each authority has
 * one stream; a broken stream is reopened with backoff while the endpoints last known
 * keep serving, and the first answer on a reopened stream replaces the whole set.
 */
export class DestinationClient {
  private readonly client: grpc.Client;
  private readonly watches = new Map<string, Resolution>();
  private readonly contextToken: string;
  private readonly gaugeFamily: GaugeFamily;
  private closed = false;

  constructor(private readonly opts: DestinationClientOptions) {
    this.client = controlPlaneClient('destination', opts.addr);
    this.contextToken = JSON.stringify({ ns: opts.namespace, pod: opts.pod });
    this.gaugeFamily = opts.registry.register(
      new GaugeFamily(
        'outbound_http_balancer_endpoints',
        'Endpoints of each balancer, by state (ready or pending).',
      ),
    );
    opts.registry.onRender(() => {
      for (const r of this.watches.values()) r.reportEndpoints();
    });
  }

  /** The resolution of an authority, watching it from the first call on. */
  resolve(authority: string): Resolution {
    let r = this.watches.get(authority);
    if (r === undefined) {
      if (this.watches.size >= MAX_WATCHES) this.evictOldest();
      r = new Resolution(authority, this.opts.balancer, this.gaugeFamily);
      this.watches.set(authority, r);
      this.open(r);
    }
    r.lastUsed = performance.now();
    return r;
  }

  private evictOldest(): void {
    let oldest: Resolution | undefined;
    for (const r of this.watches.values()) if (!oldest || r.lastUsed < oldest.lastUsed) oldest = r;
    if (oldest) this.stop(oldest);
  }

  private stop(r: Resolution): void {
    r.closed = true;
    clearTimeout(r.retryTimer);
    r.call?.cancel();
    r.balancer.close();
    this.watches.delete(r.authority);
    r.reportEndpoints();
  }

  private open(r: Resolution): void {
    const call = (
      this.client as unknown as Record<string, (req: unknown) => grpc.ClientReadableStream<DestinationUpdate>>
    ).get?.call(this.client, {
      path: r.authority,
      contextToken: this.contextToken,
    }) as grpc.ClientReadableStream<DestinationUpdate>;
    r.call = call;
    let first = true;
    call.on('data', (u: DestinationUpdate) => {
      r.backoff.reset();
      this.apply(r, u, first);
      first = false;
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (r.closed || this.closed) return;
      if (err.code === grpc.status.INVALID_ARGUMENT) {
        // Not a mesh name: DNS, for good.
        this.opts.log.debug({ authority: r.authority }, 'not a mesh name: resolving by DNS');
        r.call = undefined;
        if (r.status !== 'dns') r.fallBackToDns();
        return;
      }
      if (r.status === 'resolving') r.fallBackToDns();
      this.retry(r, err.details || err.message);
    });
    call.on('end', () => {
      if (r.closed || this.closed || r.call !== call) return;
      this.retry(r, 'stream ended');
    });
  }

  private retry(r: Resolution, why: string): void {
    if (r.retryTimer) return;
    r.call = undefined;
    const delay = r.backoff.next();
    this.opts.log.debug(
      { authority: r.authority, why, delayMs: Math.round(delay) },
      'destination stream lost',
    );
    r.retryTimer = setTimeout(() => {
      r.retryTimer = undefined;
      if (!r.closed && !this.closed) this.open(r);
    }, delay);
    r.retryTimer.unref();
  }

  private apply(r: Resolution, u: DestinationUpdate, first: boolean): void {
    switch (u.update) {
      case 'add': {
        const add = u.add;
        if (!add) return;
        const specs = add.addrs.map((a) => endpointSpec(a, add.metricLabels));
        if (first) r.balancer.replace(specs);
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
    }
  }

  close(): void {
    this.closed = true;
    for (const r of [...this.watches.values()]) this.stop(r);
    this.client.close();
  }
}
