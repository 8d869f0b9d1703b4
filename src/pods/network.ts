/**
 * The pods' network on this host: a Linux bridge with the gateway address, and one veth
 * pair per pod whose far end is the pod's eth0. Pods reach each other and the host (the
 * control plane listens on the gateway); there is no default route, and no NAT, so nothing
 * leaves the machine. Service addresses get a route through the gateway only so that a
 * connection to one can be made: proxy-init redirects it to the pod's proxy before it
 * leaves the pod.
 */
import { createHash } from 'node:crypto';
import { slash16 } from '../util/addr.js';
import { PodError, run } from './exec.js';

export interface PodNetworkOptions {
  /** The bridge's name (default weft0). */
  readonly bridge?: string;
  /** The pods' subnet, a /16 whose .0.1 is the gateway (default 10.42.0.0/16). */
  readonly podCidr?: string;
  /** Where Services get their addresses (default 10.43.0.0/16). */
  readonly serviceCidr?: string;
}

function prefix16(cidr: string, flag: string): [number, number] {
  const prefix = slash16(cidr);
  if (!prefix) throw new PodError(`${flag}: "${cidr}" is not an a.b.0.0/16 subnet`);
  return prefix;
}

export class PodNetwork {
  readonly bridge: string;
  readonly podCidr: string;
  readonly serviceCidr: string;
  readonly gateway: string;
  private readonly prefix: [number, number];
  private readonly used = new Set<number>();

  private constructor(opts: PodNetworkOptions) {
    this.bridge = opts.bridge ?? 'weft0';
    this.podCidr = opts.podCidr ?? '10.42.0.0/16';
    this.serviceCidr = opts.serviceCidr ?? '10.43.0.0/16';
    this.prefix = prefix16(this.podCidr, 'pod subnet');
    prefix16(this.serviceCidr, 'service subnet');
    this.gateway = `${this.prefix[0]}.${this.prefix[1]}.0.1`;
  }

  /** Checks the options (the subnets) without touching the host. */
  static check(opts: PodNetworkOptions = {}): void {
    new PodNetwork(opts);
  }

  /** Creates the bridge with the gateway address (replacing one left by a crash). */
  static async create(opts: PodNetworkOptions = {}): Promise<PodNetwork> {
    const net = new PodNetwork(opts);
    await run(['ip', 'link', 'del', net.bridge]).catch(() => undefined);
    await run(['ip', 'link', 'add', net.bridge, 'type', 'bridge']);
    await run(['ip', 'addr', 'add', `${net.gateway}/16`, 'dev', net.bridge]);
    await run(['ip', 'link', 'set', net.bridge, 'up']);
    return net;
  }

  /** The next free pod address. */
  allocate(): string {
    // .0.2 to .255.254: the gateway is .0.1.
    for (let n = 2; n < 65535; n++) {
      if (this.used.has(n)) continue;
      this.used.add(n);
      return `${this.prefix[0]}.${this.prefix[1]}.${n >> 8}.${n & 255}`;
    }
    throw new PodError(`no free address left in ${this.podCidr}`);
  }

  release(ip: string): void {
    const [, , c, d] = ip.split('.').map(Number);
    this.used.delete(((c ?? 0) << 8) + (d ?? 0));
  }

  /** The host end of the pod's veth pair. */
  static hostLink(netns: string): string {
    return `wv${createHash('sha256').update(netns).digest('hex').slice(0, 10)}`;
  }

  /** Puts the pod's namespace on the bridge: eth0 with `ip`, loopback up, the Service route. */
  async attach(netns: string, ip: string): Promise<void> {
    const host = PodNetwork.hostLink(netns);
    // One left by a pod that was never stopped (weft up killed) would be in the way.
    await this.detach(netns);
    await run(['ip', 'link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    await run(['ip', 'link', 'set', host, 'master', this.bridge, 'up']);
    const inNs = (args: string[]) => run(['ip', 'netns', 'exec', netns, 'ip', ...args]);
    await inNs(['addr', 'add', `${ip}/16`, 'dev', 'eth0']);
    await inNs(['link', 'set', 'eth0', 'up']);
    await inNs(['link', 'set', 'lo', 'up']);
    await inNs(['route', 'add', this.serviceCidr, 'via', this.gateway]);
  }

  /**
   * Deletes the pod's veth pair. Deleting its namespace would too, but only once the
   * kernel frees the namespace, which its sockets can delay for minutes.
   */
  async detach(netns: string): Promise<void> {
    await run(['ip', 'link', 'del', PodNetwork.hostLink(netns)]).catch(() => undefined);
  }

  /** Removes the bridge (each pod's veth pair went at its stop). */
  async destroy(): Promise<void> {
    await run(['ip', 'link', 'del', this.bridge]).catch(() => undefined);
  }
}
