/** A TCP address as `host:port`, parsed and validated. IPv6 hosts are written `[::1]:80`. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export function parseHostPort(value: string, what: string, defaultPort?: number): HostPort {
  const text = value.trim();
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2];
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0 && text.indexOf(':') !== colon) {
      throw new Error(`${what}: "${value}" is an IPv6 address without brackets; write it as [addr]:port`);
    }
    host = colon >= 0 ? text.slice(0, colon) : text;
    portText = colon >= 0 ? text.slice(colon + 1) : undefined;
  }
  if (host === '' || !/^[A-Za-z0-9.\-_:]+$/.test(host)) {
    throw new Error(`${what}: "${value}" has no valid host (expected host:port)`);
  }
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) throw new Error(`${what}: "${value}" has no port (expected host:port)`);
    port = defaultPort;
  } else {
    port = parsePort(portText, what);
  }
  return { host, port };
}

export function parsePort(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text.trim())) throw new Error(`${what}: "${text}" is not a port number`);
  const port = Number(text);
  if (port > 65535) throw new Error(`${what}: port ${port} is out of range (0-65535)`);
  return port;
}

export function formatHostPort(addr: HostPort): string {
  return addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}

/** The first two octets of an `a.b.0.0/16` subnet, or undefined when `cidr` is not one. */
export function slash16(cidr: string): [number, number] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.0\.0\/16$/.exec(cidr);
  if (!m || Number(m[1]) > 255 || Number(m[2]) > 255) return undefined;
  return [Number(m[1]), Number(m[2])];
}
