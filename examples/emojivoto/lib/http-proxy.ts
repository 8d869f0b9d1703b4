/**
 * The standard proxy variables for plain HTTP, as Go's and curl's clients read them:
 * `http_proxy` (or `HTTP_PROXY`) names the proxy, `no_proxy` (or `NO_PROXY`) the hosts
 * reached directly. Through a proxy, requests go to it in absolute form
 * (`GET http://web-svc.emojivoto:80/api/list HTTP/1.1`).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError, type Env } from './env.js';

export interface HttpProxy {
  host: string;
  port: number;
  /** The proxy's URL without credentials, for logs. */
  url: string;
  /** `Proxy-Authorization` value when the URL carries user info. */
  authorization?: string;
}

function first(env: Env, ...names: string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return { name, value };
  }
  return undefined;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function inCidr(host: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (!net || !isIPv4(net) || !isIPv4(host) || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const size = 2 ** (32 - bits);
  return Math.floor(ipv4ToInt(host) / size) === Math.floor(ipv4ToInt(net) / size);
}

/**
 * Whether `no_proxy` exempts host:port. Entries are separated by commas (or spaces):
 * `*` matches everything; `name` matches it and its subdomains; `.name` (or `*.name`) only
 * its subdomains; an IP address itself; `a.b.c.d/n` an IPv4 range; any of these with
 * `:port` only that port.
 */
export function matchesNoProxy(host: string, port: number, noProxy: string | undefined): boolean {
  const h = host
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
  for (const raw of (noProxy ?? '').split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    const withPort = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
    if (withPort?.[1] && withPort[2]) {
      if (Number(withPort[2]) !== port) continue;
      entry = withPort[1];
    }
    entry = entry.replace(/^\[|\]$/g, '').replace(/\.$/, '');
    if (entry.includes('/')) {
      if (inCidr(h, entry)) return true;
      continue;
    }
    if (isIPv4(entry) || isIPv6(entry)) {
      if (h === entry) return true;
      continue;
    }
    if (entry.startsWith('*.')) entry = entry.slice(1);
    if (entry.startsWith('.')) {
      if (h.endsWith(entry)) return true;
      continue;
    }
    if (h === entry || h.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/**
 * The proxy for plain-HTTP requests to host:port, or undefined to connect directly.
 * A proxy URL that cannot be used is a ConfigError.
 */
export function httpProxyFor(host: string, port: number, env: Env): HttpProxy | undefined {
  const proxy = first(env, 'http_proxy', 'HTTP_PROXY');
  if (!proxy) return undefined;
  if (matchesNoProxy(host, port, first(env, 'no_proxy', 'NO_PROXY')?.value)) return undefined;
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(proxy.value) ? proxy.value : `http://${proxy.value}`);
  } catch {
    throw new ConfigError(
      `${proxy.name}=${JSON.stringify(proxy.value)} is not a proxy URL (expected http://host:port)`,
    );
  }
  if (url.protocol !== 'http:' || url.hostname === '') {
    throw new ConfigError(`${proxy.name}=${JSON.stringify(proxy.value)}: only http:// proxies are supported`);
  }
  const proxyHost = url.hostname.replace(/^\[|\]$/g, '');
  const proxyPort = url.port === '' ? 80 : Number(url.port);
  const out: HttpProxy = { host: proxyHost, port: proxyPort, url: `http://${url.host}` };
  if (url.username !== '') {
    const creds = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    out.authorization = `Basic ${Buffer.from(creds).toString('base64')}`;
  }
  return out;
}
