import type { IncomingMessage } from 'node:http';
import { ProxyError } from '../errors.js';
import type { FilteredHeaders } from './headers.js';

/**
 * What the proxy refuses in an HTTP/1 message before forwarding any of it: messages whose
 * framing or authority a peer could read another way than the proxy does (the ground of
 * request smuggling and response desync), and messages past its limits. Node's llhttp
 * already refuses most malformed framing (Content-Length with Transfer-Encoding, two
 * Content-Lengths, obs-fold, bare CR, NUL, bad chunk sizes); these are the rules it
 * leaves to the proxy.
 */

/** Header blocks larger than this are refused: 431 for a request, 502 for a response. */
export const MAX_HEADER_BYTES = 64 * 1024;
/**
 * Messages with more header fields than this are refused: 431 for a request, 502 for a
 * response. Envoy's default (max_headers_count) and hyper's (Linkerd's proxy) are 100 too.
 */
export const MAX_HEADER_COUNT = 100;
/**
 * Node's server keeps at most this many fields of a request and drops the rest without a
 * word (its maxHeadersCount): one more than the limit, so that going past it shows.
 */
export const SERVER_MAX_HEADERS_COUNT = MAX_HEADER_COUNT + 1;

/** Why a request received from a client is refused; undefined: it may go on. */
export function requestFault(req: IncomingMessage, request: FilteredHeaders): ProxyError | undefined {
  if (req.rawHeaders.length > 2 * MAX_HEADER_COUNT) {
    return new ProxyError(431, `more than ${MAX_HEADER_COUNT} request header fields`);
  }
  if (request.fault !== undefined) return new ProxyError(400, request.fault);
  if (request.extraHost) return new ProxyError(400, 'the request has more than one Host header');
  // RFC 9112 section 6.1: HTTP/1.0 has no Transfer-Encoding; its framing is faulty.
  if (req.httpVersionMinor === 0 && req.httpVersionMajor === 1 && hasTransferEncoding(req.rawHeaders)) {
    return new ProxyError(400, 'an HTTP/1.0 request has a Transfer-Encoding header');
  }
  return undefined;
}

/** Why a response received from an upstream is refused (the client gets 502); undefined: it may go on. */
export function responseFault(raw: readonly string[], response: FilteredHeaders): ProxyError | undefined {
  if (raw.length > 2 * MAX_HEADER_COUNT) {
    return new ProxyError(502, `the upstream response has more than ${MAX_HEADER_COUNT} header fields`);
  }
  if (response.fault !== undefined)
    return new ProxyError(502, `the upstream response is ambiguous: ${response.fault}`);
  return undefined;
}

function hasTransferEncoding(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return true;
  }
  return false;
}
