import { slash16 } from '../../util/addr.js';

/** The first addresses of the range are kept back, as Kubernetes keeps .1 for its own API. */
const FIRST = 10;

/**
 * Gives each Service an address from the service subnet (an a.b.0.0/16), as Kubernetes
 * allocates cluster IPs: a requested address must be in the subnet and free; otherwise
 * the lowest free one is taken. A Service keeps its address for its whole life.
 */
export class ClusterIps {
  private readonly prefix: [number, number];
  /** Address → the Service (namespace/name) holding it. */
  private readonly holders = new Map<string, string>();

  constructor(readonly cidr: string) {
    const prefix = slash16(cidr);
    if (!prefix) throw new Error(`service subnet "${cidr}" is not an a.b.0.0/16 subnet`);
    this.prefix = prefix;
  }

  /** A copy, to assign a batch's addresses in before the batch is accepted. */
  clone(): ClusterIps {
    const copy = new ClusterIps(this.cidr);
    for (const [ip, holder] of this.holders) copy.holders.set(ip, holder);
    return copy;
  }

  /** Records an address a Service already holds. */
  hold(ip: string, service: string): void {
    this.holders.set(ip, service);
  }

  release(ip: string | undefined): void {
    if (ip !== undefined) this.holders.delete(ip);
  }

  /**
   * The address for `service`: its current one, the requested one, or the lowest free.
   * Returns a problem (naming the field's trouble) when the request cannot be granted.
   */
  assign(
    service: string,
    requested: string | undefined,
    current: string | undefined,
  ): { ip: string } | { problem: string } {
    if (current !== undefined) {
      if (requested !== undefined && requested !== current)
        return { problem: `field is immutable (the Service holds ${current})` };
      return { ip: current };
    }
    if (requested !== undefined) {
      if (requested === 'None') return { problem: 'headless Services ("None") are not supported' };
      if (!this.inRange(requested))
        return {
          problem: `${requested} is not in the valid range: the range of valid IPs is ${this.cidr}, from .0.${FIRST}`,
        };
      const holder = this.holders.get(requested);
      if (holder !== undefined && holder !== service)
        return { problem: `${requested} is already allocated (to Service ${holder})` };
      this.holders.set(requested, service);
      return { ip: requested };
    }
    for (let n = FIRST; n < 65535; n++) {
      const ip = `${this.prefix[0]}.${this.prefix[1]}.${n >> 8}.${n & 255}`;
      if (this.holders.has(ip)) continue;
      this.holders.set(ip, service);
      return { ip };
    }
    return { problem: `no free address left in ${this.cidr}` };
  }

  private inRange(ip: string): boolean {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
    if (!m) return false;
    const [a, b, c, d] = m.slice(1).map(Number) as [number, number, number, number];
    if (a !== this.prefix[0] || b !== this.prefix[1] || c > 255 || d > 255) return false;
    const n = (c << 8) | d;
    return n >= FIRST && n < 65535;
  }
}
