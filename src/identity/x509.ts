/**
 * Certificate checks with node:crypto only, shared by the proxy, the CLI and the control
 * plane: none of them needs an X.509 library for these.
 */
import { X509Certificate } from 'node:crypto';
import { pemBlocks } from './pem.js';

/** The certificates of a PEM text; throws naming `source` and the problem. */
export function parseCertificates(text: string, source: string): X509Certificate[] {
  const blocks = pemBlocks(text).filter((b) => b.label === 'CERTIFICATE');
  if (blocks.length === 0) throw new Error(`${source} holds no PEM certificate`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b.der);
    } catch (err) {
      throw new Error(`${source}: certificate ${i + 1} does not parse: ${(err as Error).message}`);
    }
  });
}

/** Whether `child` names `parent` as its issuer and carries its signature. */
export function signedBy(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.checkIssued(parent) && child.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/** The DNS names in a subjectAltName as node:crypto and node:tls format it ("DNS:a, DNS:b"). */
export function dnsNames(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const names: string[] = [];
  for (const part of subjectAltName.split(', ')) if (part.startsWith('DNS:')) names.push(part.slice(4));
  return names;
}

/** The identity a certificate proves: its one DNS name; undefined if it has none or several. */
export function certificateIdentity(subjectAltName: string | undefined): string | undefined {
  const names = dnsNames(subjectAltName);
  return names.length === 1 ? names[0] : undefined;
}
