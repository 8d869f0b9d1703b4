/**
 * PEM text and DER, with no dependencies: shared by the control plane's CA and the CLI,
 * which must not load an X.509 library for this.
 */

export interface PemBlock {
  readonly label: string;
  readonly headers: string;
  readonly der: Buffer;
  /** The block as text, for node:crypto. */
  readonly pem: string;
}

/** The PEM blocks of a text; whatever lies between blocks (comments, bag attributes) is ignored. */
export function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const label = m[1] as string;
    const body = m[2] as string;
    const blank = body.search(/\r?\n\r?\n/);
    const headers = body.includes(':') && blank >= 0 ? body.slice(0, blank) : '';
    const base64 = (headers ? body.slice(blank) : body).replace(/\s+/g, '');
    out.push({ label, headers, der: Buffer.from(base64, 'base64'), pem: m[0] });
  }
  return out;
}

export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
