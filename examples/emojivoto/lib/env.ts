/**
 * Environment variables, validated. Each parser throws a ConfigError naming the variable
 * and what it should look like; the entry files turn that into one line on stderr and
 * exit status 2. An unset or empty variable takes its default, as the original treats
 * an empty value as unset.
 */
import { isIPv4, isIPv6 } from 'node:net';

export class ConfigError extends Error {}

export type Env = Record<string, string | undefined>;

function raw(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** A TCP port to listen on: 0 (the system picks one; the start log says which) to 65535. */
export function envListenPort(env: Env, name: string, fallback: number): number {
  const v = raw(env, name);
  if (v === undefined) return fallback;
  const n = /^\d{1,5}$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= 0 && n <= 65535)) {
    throw new ConfigError(`${name}=${JSON.stringify(v)} is not a port: expected an integer from 0 to 65535`);
  }
  return n;
}

export interface HostPort {
  host: string;
  port: number;
  /** `host:port` with an IPv6 host in brackets: a gRPC target or an HTTP authority. */
  authority: string;
}

const LABEL = '[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const HOSTNAME = new RegExp(`^${LABEL}(\\.${LABEL})*\\.?$`);

/**
 * `host:port` to connect to: a DNS name, an IPv4 address or a bracketed IPv6 address,
 * and a port from 1 to 65535. With `defaultPort`, the port may be left out.
 */
export function envHostPort(env: Env, name: string, fallback: string, defaultPort?: number): HostPort {
  const v = raw(env, name) ?? fallback;
  const bad = (why: string) =>
    new ConfigError(
      `${name}=${JSON.stringify(v)} is not a valid address: ${why} (expected host:port, e.g. ${fallback})`,
    );
  let host: string;
  let portText: string | undefined;
  const m6 = /^\[([^\]]+)\](?::(.*))?$/.exec(v);
  if (m6) {
    host = m6[1] ?? '';
    portText = m6[2];
    if (!isIPv6(host)) throw bad(`[${host}] is not an IPv6 address`);
  } else {
    const i = v.lastIndexOf(':');
    host = i < 0 ? v : v.slice(0, i);
    portText = i < 0 ? undefined : v.slice(i + 1);
    if (host.includes(':')) throw bad('an IPv6 address must be in brackets');
    if (!(isIPv4(host) || HOSTNAME.test(host)))
      throw bad(`${JSON.stringify(host)} is not a host name or IP address`);
  }
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) throw bad('the port is missing');
    port = defaultPort;
  } else {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
    if (!(port >= 1 && port <= 65535)) throw bad(`${JSON.stringify(portText)} is not a port from 1 to 65535`);
  }
  return { host, port, authority: `${host.includes(':') ? `[${host}]` : host}:${port}` };
}

/** An integer from `min` to `max`. */
export function envInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const v = raw(env, name);
  if (v === undefined) return fallback;
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= min && n <= max)) {
    throw new ConfigError(
      `${name}=${JSON.stringify(v)} is not valid: expected an integer from ${min} to ${max}`,
    );
  }
  return n;
}

/** A probability from 0.0 to 1.0. */
export function envRate(env: Env, name: string, fallback: number): number {
  const v = raw(env, name);
  if (v === undefined) return fallback;
  const n = /^(\d+(\.\d*)?|\.\d+)$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= 0 && n <= 1)) {
    throw new ConfigError(`${name}=${JSON.stringify(v)} is not valid: expected a number from 0.0 to 1.0`);
  }
  return n;
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** A duration written as Go writes one (`250ms`, `1.5s`, `1m30s`, `0`), in milliseconds. */
export function envDurationMs(env: Env, name: string, fallbackMs: number): number {
  const v = raw(env, name);
  if (v === undefined) return fallbackMs;
  if (v === '0') return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let ms = 0;
  let pos = 0;
  while (pos < v.length) {
    part.lastIndex = pos;
    const m = part.exec(v);
    const unit = m?.[2] === undefined ? undefined : UNIT_MS[m[2]];
    if (!m || unit === undefined) {
      throw new ConfigError(
        `${name}=${JSON.stringify(v)} is not a duration: expected e.g. 250ms, 1.5s or 1m30s`,
      );
    }
    ms += Number(m[1]) * unit;
    pos = part.lastIndex;
  }
  if (ms > 3_600_000) throw new ConfigError(`${name}=${JSON.stringify(v)} is too long: at most 1h`);
  return ms;
}
