/**
 * Certificates for `weft identity` and `weft check`, with node:crypto and node:tls only:
 * the CLI loads no X.509 library.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { toPem } from '../identity/pem.js';
import { parseCertificates, signedBy } from '../identity/x509.js';
import type { HostPort } from '../util/addr.js';

/** The certificates of a PEM file; throws with a message naming the file and the problem. */
export function readCertificates(file: string): X509Certificate[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  return parseCertificates(text, file);
}

export const notBefore = (c: X509Certificate): Date => new Date(c.validFrom);
export const notAfter = (c: X509Certificate): Date => new Date(c.validTo);

/** A distinguished name on one line: "CN=identity.weft.cluster.local". */
export const dn = (text: string): string => text.split('\n').filter(Boolean).join(', ');

export const certPem = (c: X509Certificate): string => toPem('CERTIFICATE', c.raw);

/** What is wrong with `c` as a certificate authority at `now`, or undefined. */
export function caProblem(c: X509Certificate, now = Date.now()): string | undefined {
  if (now < notBefore(c).getTime()) return `is not valid before ${notBefore(c).toISOString()}`;
  if (now > notAfter(c).getTime()) return `expired on ${notAfter(c).toISOString()}`;
  if (!c.ca) return 'is not a CA (basicConstraints CA:FALSE or missing)';
  return undefined;
}

const selfSigned = (c: X509Certificate): boolean => c.checkIssued(c) !== undefined && c.verify(c.publicKey);

/**
 * Whether `chain` (a certificate, then the intermediates above it) leads to one of
 * `anchors` by signatures: the anchor that signed its top, or undefined.
 */
export function anchorOf(
  chain: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
): X509Certificate | undefined {
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!signedBy(chain[i] as X509Certificate, chain[i + 1] as X509Certificate)) return undefined;
  }
  const top = chain[chain.length - 1];
  if (!top) return undefined;
  return anchors.find((a) => a.raw.equals(top.raw) || signedBy(top, a));
}

/** "23h59m", "29d23h", "45s": how long `ms` is, to the minute past an hour. */
export function formatDuration(ms: number): string {
  const s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${s % 60}s`;
  return `${s}s`;
}

/** "in 23h59m" or "3h2m ago". */
export function fromNow(date: Date, now = Date.now()): string {
  const ms = date.getTime() - now;
  return ms >= 0 ? `in ${formatDuration(ms)}` : `${formatDuration(ms)} ago`;
}

export interface TlsProbe {
  /** What the server sent: its certificate first, then the intermediates (no self-signed root). */
  chain: X509Certificate[];
  /** Whether OpenSSL verified the chain against `ca` (false without one). */
  verified: boolean;
  /** Why not, as OpenSSL says it (CERT_HAS_EXPIRED, ...). */
  verifyError?: string;
  alpn: string | false;
}

/**
 * Opens a TLS connection to `addr` with `servername` as SNI, no client certificate and
 * ALPN h2, reads the server's certificate chain, and closes. With `ca`, says whether the
 * chain verifies against it (the handshake never fails for that).
 */
export function probeTls(
  addr: HostPort,
  opts: { servername: string; ca?: string; timeoutMs: number },
): Promise<TlsProbe> {
  return new Promise<TlsProbe>((resolve, reject) => {
    const socket = tls.connect({
      host: addr.host,
      port: addr.port,
      servername: opts.servername,
      ALPNProtocols: ['h2'],
      rejectUnauthorized: false,
      ...(opts.ca ? { ca: opts.ca } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(
        new Error(
          err.code === 'ECONNREFUSED'
            ? 'connection refused'
            : err.code === 'ECONNRESET'
              ? 'the connection was reset during the TLS handshake (no TLS for that name there?)'
              : `TLS handshake failed: ${err.message}`,
        ),
      );
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const chain: X509Certificate[] = [];
      const seen = new Set<string>();
      let c: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
      while (c?.raw && !seen.has(c.fingerprint256)) {
        seen.add(c.fingerprint256);
        const x = new X509Certificate(c.raw);
        if (!(chain.length > 0 && selfSigned(x))) chain.push(x);
        c = c.issuerCertificate;
      }
      const authError = socket.authorizationError as unknown;
      const probe: TlsProbe = {
        chain,
        verified: opts.ca !== undefined && socket.authorized,
        ...(opts.ca !== undefined && !socket.authorized
          ? { verifyError: authError instanceof Error ? authError.message : String(authError) }
          : {}),
        alpn: socket.alpnProtocol ?? false,
      };
      socket.destroy();
      if (chain.length === 0) reject(new Error('the server sent no certificate'));
      else resolve(probe);
    });
  });
}
