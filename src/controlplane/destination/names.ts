import { isIP } from 'node:net';

/** A Service port an authority names. */
export interface ServiceRef {
  readonly namespace: string;
  readonly service: string;
  readonly port: number;
}

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Resolves an authority as Kubernetes DNS would from inside `contextNamespace`:
 * `svc.ns.svc.<cluster domain>`, `svc.ns.svc`, `svc.ns` and `svc` (in the context's
 * namespace), with port 80 when none is given. Returns undefined for what cannot be a
 * mesh name (an IP address, a name outside the cluster domain, a malformed authority),
 * which proxies resolve by DNS instead.
 */
export function resolveAuthority(
  authority: string,
  contextNamespace: string,
  clusterDomain: string,
): ServiceRef | undefined {
  let host = authority;
  let port = 80;
  const colon = authority.lastIndexOf(':');
  if (colon >= 0) {
    if (authority.startsWith('[') || authority.indexOf(':') !== colon) return undefined;
    const portText = authority.slice(colon + 1);
    if (!/^\d{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
    host = authority.slice(0, colon);
  }
  host = host.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '' || isIP(host) !== 0) return undefined;
  const labels = host.split('.');
  if (!labels.every((l) => LABEL.test(l) && l.length <= 63)) return undefined;
  const domain = clusterDomain.toLowerCase().split('.');
  let service: string | undefined;
  let namespace: string | undefined;
  if (labels.length === 1) {
    [service] = labels;
    namespace = contextNamespace;
  } else if (labels.length === 2 || (labels.length === 3 && labels[2] === 'svc')) {
    [service, namespace] = labels;
  } else if (
    labels.length === 3 + domain.length &&
    labels[2] === 'svc' &&
    labels.slice(3).every((l, i) => l === domain[i])
  ) {
    [service, namespace] = labels;
  }
  if (service === undefined || namespace === undefined) return undefined;
  return { namespace, service, port };
}

/**
 * The address of an IP authority (`10.43.0.12:7000`, `[fd00::c]:7000`; port 80 when none
 * is given), which names a Service when it is the Service's cluster IP. Undefined for
 * anything that is not an IP literal with a valid port.
 */
export function ipAuthority(authority: string): { ip: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(authority);
  const ip = (m?.[1] ?? m?.[2])?.toLowerCase();
  if (!m || ip === undefined) return undefined;
  // Brackets for IPv6, and only for IPv6.
  if (isIP(ip) !== (m[1] !== undefined ? 6 : 4)) return undefined;
  const port = m[3] === undefined ? 80 : Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { ip, port };
}

/** The fully qualified name of a Service, as profiles and identities name it. */
export function serviceFqdn(ref: { namespace: string; service: string }, clusterDomain: string): string {
  return `${ref.service}.${ref.namespace}.svc.${clusterDomain}`;
}
