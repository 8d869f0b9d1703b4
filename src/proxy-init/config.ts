/**
 * What `weft init` is asked to do, checked: the proxy's ports and user, the ports and
 * subnets that bypass it, and where (which iptables, which network namespace).
 */

export type IptablesMode = 'legacy' | 'nft';

/** A destination port, or an inclusive range of them, as the user wrote it. */
export interface PortSpec {
  readonly first: number;
  readonly last: number;
  /** As written: `4567` or `4567-4568`. */
  readonly text: string;
}

export interface InitConfig {
  readonly incomingProxyPort: number;
  readonly outgoingProxyPort: number;
  readonly proxyUid: number;
  readonly proxyGid: number | undefined;
  /** Inbound ports to send to the proxy; empty: all of them. */
  readonly portsToRedirect: readonly PortSpec[];
  readonly inboundPortsToIgnore: readonly PortSpec[];
  readonly outboundPortsToIgnore: readonly PortSpec[];
  /** Sources whose inbound connections bypass the proxy (CIDR). */
  readonly subnetsToIgnore: readonly string[];
  readonly mode: IptablesMode;
  /** A network namespace file (e.g. /run/netns/NAME, /proc/PID/ns/net); unset: this one. */
  readonly netns: string | undefined;
}

export class InitConfigError extends Error {
  override name = 'InitConfigError';
}

export const DEFAULTS = {
  incomingProxyPort: 4143,
  outgoingProxyPort: 4140,
  proxyUid: 2102,
  inboundPortsToIgnore: '4190,4191,4567,4568',
  outboundPortsToIgnore: '4567,4568',
  mode: 'legacy' as IptablesMode,
};

function port(text: string, flag: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new InitConfigError(`${flag}: "${text}" is not a port number`);
  const n = Number(text);
  if (n < 1 || n > 65535) throw new InitConfigError(`${flag}: ${n} is not a port (1-65535)`);
  return n;
}

export function parsePort(text: string, flag: string): number {
  return port(text.trim(), flag);
}

/** A comma-separated list of ports and ranges (`80,8080-8090`); empty text: none. */
export function parsePortList(text: string, flag: string): PortSpec[] {
  const out: PortSpec[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const dash = item.indexOf('-');
    if (dash < 0) {
      const p = port(item, flag);
      out.push({ first: p, last: p, text: String(p) });
      continue;
    }
    const first = port(item.slice(0, dash), flag);
    const last = port(item.slice(dash + 1), flag);
    if (last < first) throw new InitConfigError(`${flag}: the range "${item}" ends before it starts`);
    out.push({ first, last, text: first === last ? String(first) : `${first}-${last}` });
  }
  return out;
}

/** An IPv4 CIDR (`10.0.0.0/8`) or address (taken as /32), written back in canonical form. */
export function parseSubnet(text: string, flag: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(text.trim());
  const bad = (): InitConfigError =>
    new InitConfigError(`${flag}: "${text}" is not an IPv4 subnet (e.g. 10.0.0.0/8)`);
  if (!m) throw bad();
  const octets = m.slice(1, 5).map(Number);
  const prefix = m[5] === undefined ? 32 : Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) throw bad();
  return `${octets.join('.')}/${prefix}`;
}

export function parseSubnetList(text: string, flag: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => parseSubnet(s, flag));
}

/** A user or group id: a non-negative integer. */
export function parseId(text: string, flag: string): number {
  if (!/^\d{1,10}$/.test(text.trim())) throw new InitConfigError(`${flag}: "${text}" is not a numeric id`);
  const n = Number(text);
  if (n > 2 ** 32 - 2) throw new InitConfigError(`${flag}: ${n} is too large`);
  return n;
}

export function parseMode(text: string): IptablesMode {
  if (text === 'legacy' || text === 'nft') return text;
  throw new InitConfigError(`--iptables-mode: "${text}" is neither legacy nor nft`);
}
