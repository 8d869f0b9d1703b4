import type { HostPort } from '../util/addr.js';
import { formatHostPort } from '../util/addr.js';
import { classifyTlsError, MeshTlsError, verifyReason } from './tls/errors.js';

/**
 * A failure the proxy answers itself, with an HTTP status and a reason that goes to the
 * client in the `weft-proxy-error` header. Reasons name what failed, never secrets.
 */
export class ProxyError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
    this.name = 'ProxyError';
  }
}

/** The body and raw headers of the response the proxy sends for an error. */
export function errorResponse(error: ProxyError, close: boolean): { body: string; headers: string[] } {
  const body = `${error.reason}\n`;
  const headers = [
    'content-type',
    'text/plain; charset=utf-8',
    'content-length',
    String(Buffer.byteLength(body)),
    'weft-proxy-error',
    error.reason,
  ];
  if (close) headers.push('connection', 'close');
  return { body, headers };
}

/** Raised by connectTcp when a TCP handshake does not finish within the connect timeout. */
export class ConnectTimeoutError extends Error {
  readonly code = 'ECONNTIMEOUT';
  constructor(
    readonly target: HostPort,
    readonly timeoutMs: number,
  ) {
    super(`connect to ${formatHostPort(target)} timed out after ${timeoutMs}ms`);
    this.name = 'ConnectTimeoutError';
  }
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Maps an upstream failure to the status and reason the client sees. */
export function upstreamError(err: unknown, target: HostPort): ProxyError {
  if (err instanceof ProxyError) return err;
  // HTTP/2 stream errors wrap the session's connect error as their cause.
  const cause = (err as { cause?: unknown } | null)?.cause;
  const root = err instanceof ConnectTimeoutError || codeOf(err) || !cause ? err : cause;
  const where = formatHostPort(target);
  if (root instanceof ConnectTimeoutError) return new ProxyError(504, root.message, { cause: root });
  const code = codeOf(root);
  if (root instanceof MeshTlsError || verifyReason(code) || code?.startsWith('ERR_SSL_')) {
    const failure = classifyTlsError(root, where);
    return new ProxyError(502, failure.message, { cause: failure });
  }
  switch (code) {
    case 'ECONNREFUSED':
      return new ProxyError(502, `connection refused by ${where}`, { cause: root });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new ProxyError(502, `could not resolve ${target.host}`, { cause: root });
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ERR_HTTP2_STREAM_ERROR':
    case 'ERR_HTTP2_SESSION_ERROR':
    case 'ERR_HTTP2_GOAWAY_SESSION':
    case 'ERR_HTTP2_STREAM_CANCEL':
      return new ProxyError(502, `connection to ${where} was reset`, { cause: root });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new ProxyError(502, `${where} is unreachable`, { cause: root });
    default:
      if (code?.startsWith('HPE_')) {
        return new ProxyError(502, `${where} sent an invalid HTTP response (${code})`, { cause: root });
      }
      return new ProxyError(
        502,
        `upstream ${where} failed: ${code ?? (root as Error)?.message ?? 'unknown error'}`,
        {
          cause: root,
        },
      );
  }
}
