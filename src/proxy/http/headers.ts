/**
 * Between two proxies, an HTTP/1 request travels as HTTP/2 carrying this header; the far
 * side sends it to the application as HTTP/1 again.
 */
export const ORIG_PROTO_HEADER = 'weft-orig-proto';
/** The identity a meshed client proved, set by the inbound proxy; clients cannot send it. */
export const CLIENT_ID_HEADER = 'weft-client-id';

/**
 * Hop-by-hop header handling (RFC 9110 section 7.6.1). Headers travel as Node's flat
 * raw arrays ([name, value, name, value, ...]) so names keep their case and duplicates
 * their order, and nothing is rebuilt into objects on the hot path.
 */

/** Connection-specific fields a proxy never forwards, besides those named in Connection. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'transfer-encoding',
  'upgrade',
]);
/** Lengths of the names above: a cheap test before lower-casing a name. */
const HOP_LENGTHS = new Set([...HOP_BY_HOP].map((n) => n.length));

export interface FilteredHeaders {
  readonly headers: string[];
  /** The Host header's value, if there was one. */
  readonly host: string | undefined;
  /** Whether the message was sent chunked (Transfer-Encoding ending in chunked). */
  readonly chunked: boolean;
  /** The Upgrade header's value, if there was one. */
  readonly upgrade: string | undefined;
  /** Whether a Content-Length header announces a non-empty body. */
  readonly hasLength: boolean;
  /**
   * Set when the Connection header names Content-Length, Transfer-Encoding or Host: fields
   * a proxy must never drop (RFC 9110 section 7.6.1), since the message's framing or
   * authority would change. Such a message is refused (h1-rules.ts).
   */
  readonly fault: string | undefined;
  /** Whether there was more than one Host header. */
  readonly extraHost: boolean;
}

/** Fields Connection may not name: dropping them would change the message's framing or authority. */
const NEVER_HOP_BY_HOP = new Set(['content-length', 'transfer-encoding', 'host']);

function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      for (const t of (raw[i + 1] as string).split(',')) {
        const token = t.trim().toLowerCase();
        if (token !== '' && token !== 'close' && token !== 'keep-alive' && token !== 'upgrade') {
          tokens ??= new Set();
          tokens.add(token);
        }
      }
    }
  }
  return tokens;
}

/** Removes hop-by-hop headers from an HTTP/1 message's raw headers. */
export function stripHopByHop(raw: readonly string[]): FilteredHeaders {
  const named = connectionTokens(raw);
  const headers: string[] = [];
  let host: string | undefined;
  let chunked = false;
  let upgrade: string | undefined;
  let hasLength = false;
  let fault: string | undefined;
  let extraHost = false;
  if (named) {
    for (const token of named) {
      if (NEVER_HOP_BY_HOP.has(token))
        fault = `the Connection header names ${token}, which is never hop-by-hop`;
    }
  }
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (HOP_LENGTHS.has(name.length) || name.length === 4 || name.length === 14) {
      const lower = name.toLowerCase();
      if (lower === 'host') {
        if (host === undefined) host = value;
        else extraHost = true;
      } else if (lower === 'content-length') {
        hasLength = value !== '0';
      } else if (HOP_BY_HOP.has(lower)) {
        if (lower === 'transfer-encoding') chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
        else if (lower === 'upgrade') upgrade = value;
        continue;
      }
    }
    if (named?.has(name.toLowerCase())) continue;
    headers.push(name, value);
  }
  return { headers, host, chunked, upgrade, hasLength, fault, extraHost };
}

/** Replaces (or adds) the Host header in a raw header array, in place. */
export function setHost(headers: string[], host: string): void {
  for (let i = 0; i < headers.length; i += 2) {
    if ((headers[i] as string).length === 4 && (headers[i] as string).toLowerCase() === 'host') {
      headers[i + 1] = host;
      return;
    }
  }
  headers.unshift('host', host);
}

/** A header's value in a raw array (lower-case name; several values joined by ", "). */
export function headerValue(headers: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i] as string;
    if (n.length === name.length && n.toLowerCase() === name) {
      value = value === undefined ? (headers[i + 1] as string) : `${value}, ${headers[i + 1]}`;
    }
  }
  return value;
}

/** Replaces every value of a header (lower-case name) in a raw array with one, or removes it; in place. */
export function setHeader(headers: string[], name: string, value: string | undefined): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    const n = headers[i] as string;
    if (n.length === name.length && n.toLowerCase() === name) headers.splice(i, 2);
  }
  if (value !== undefined) headers.push(name, value);
}

/**
 * An HTTP/1 message's raw headers (hop-by-hop ones already removed) as an HTTP/2 header
 * block: names lower-cased, repeated fields as arrays, `host` left out (it becomes
 * :authority).
 */
export function rawToH2Headers(raw: readonly string[], into: Record<string, string | string[]>): void {
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (name === 'host' || name === 'http2-settings') continue;
    const value = raw[i + 1] as string;
    const prev = into[name];
    if (prev === undefined) into[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else into[name] = [prev, value];
  }
}

/**
 * An HTTP/2 header block as an HTTP/1 raw array: pseudo-headers and the names in `skip`
 * left out, `:authority` restored as `host` when asked, arrays as repeated fields.
 */
export function h2HeadersToRaw(
  headers: Record<string, string | string[] | number | undefined>,
  skip: ReadonlySet<string>,
  withHost: boolean,
): string[] {
  const raw: string[] = [];
  if (withHost && headers[':authority'] !== undefined) raw.push('host', String(headers[':authority']));
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */ || skip.has(name)) continue;
    if (withHost && name === 'host' && headers[':authority'] !== undefined) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) raw.push(name, v);
    else raw.push(name, String(value));
  }
  return raw;
}

/** Raw trailers ([name, value, ...]) as the object form Node's addTrailers and HTTP/2 take. */
export function trailersObject(raw: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    out[name] = out[name] === undefined ? (raw[i + 1] as string) : `${out[name]}, ${raw[i + 1]}`;
  }
  return out;
}

/** The fields HTTP/2 forbids (RFC 9113 section 8.2.2); `te` may only say "trailers". */
const H2_FORBIDDEN = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

/** Prepares a received HTTP/2 header block for forwarding, in place. */
export function stripH2ConnectionHeaders(headers: Record<string, unknown>): void {
  for (const name of H2_FORBIDDEN) delete headers[name];
  const te = headers.te;
  if (te !== undefined && te !== 'trailers') delete headers.te;
}

/** Reads a gRPC status from a header or trailer block, if it carries one. */
export function grpcStatusOf(headers: Record<string, unknown> | undefined): number | undefined {
  const value = headers?.['grpc-status'];
  if (value === undefined) return undefined;
  const n = Number(Array.isArray(value) ? value[0] : value);
  return Number.isInteger(n) && n >= 0 && n < 100 ? n : 2;
}
