/**
 * Certificates, keys and CSRs made by the real `openssl` command, for the identity tests:
 * CAs shaped like `step certificate create`'s root-ca and intermediate-ca profiles, and
 * CSRs of every kind the Identity API must refuse.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function openssl(args: string[], cwd: string, input?: Buffer | string): Buffer {
  return execFileSync('openssl', args, {
    cwd,
    input: input ?? '',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** The extensions of step's profiles (and a leaf-like non-CA one). */
const EXTENSIONS = `
[req]
distinguished_name = dn
[dn]
[root_ca]
basicConstraints = critical,CA:TRUE,pathlen:1
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[intermediate_ca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[not_ca]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`;

export type KeyKind = 'ec-sec1' | 'ec-pkcs8' | 'rsa' | 'p384';

/** Writes a new private key to `name` in `dir` and returns its path. */
export function makeKey(dir: string, name: string, kind: KeyKind = 'ec-sec1'): string {
  const path = join(dir, name);
  switch (kind) {
    case 'ec-sec1':
      // "EC PRIVATE KEY", as step writes it.
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', path], dir);
      break;
    case 'ec-pkcs8':
      openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path], dir);
      break;
    case 'p384':
      openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', path], dir);
      break;
    case 'rsa':
      openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', path], dir);
      break;
  }
  return path;
}

export interface Made {
  cert: string;
  key: string;
}

/** A self-signed root like `step certificate create --profile root-ca`. */
export function makeRoot(dir: string, name: string, opts: { kind?: KeyKind; cn?: string } = {}): Made {
  writeFileSync(join(dir, 'ext.cnf'), EXTENSIONS);
  const key = makeKey(dir, `${name}.key`, opts.kind ?? 'ec-sec1');
  const cert = join(dir, `${name}.crt`);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      key,
      '-subj',
      `/CN=${opts.cn ?? `${name} Root CA`}`,
      '-days',
      '3650',
    ].concat(['-config', 'ext.cnf', '-extensions', 'root_ca', '-sha256', '-out', cert]),
    dir,
  );
  return { cert, key };
}

/**
 * A certificate signed by `parent`, like `step certificate create --profile intermediate-ca`
 * (`profile` intermediate_ca), or a leaf-like non-CA one (not_ca). `days` may be negative:
 * expired.
 */
export function makeSigned(
  dir: string,
  name: string,
  parent: Made,
  opts: { kind?: KeyKind; profile?: 'intermediate_ca' | 'not_ca'; days?: number; key?: string } = {},
): Made {
  writeFileSync(join(dir, 'ext.cnf'), EXTENSIONS);
  const key = opts.key ?? makeKey(dir, `${name}.key`, opts.kind ?? 'ec-sec1');
  const csr = openssl(['req', '-new', '-key', key, '-subj', `/CN=${name} Intermediate CA`], dir);
  const cert = join(dir, `${name}.crt`);
  openssl(
    ['x509', '-req', '-CA', parent.cert, '-CAkey', parent.key, '-days', String(opts.days ?? 365)].concat([
      '-extfile',
      'ext.cnf',
      '-extensions',
      opts.profile ?? 'intermediate_ca',
      '-sha256',
      '-out',
      cert,
    ]),
    dir,
    csr,
  );
  return { cert, key };
}

export interface CsrOptions {
  /** The subject's CN; null for none. Default: the identity. */
  cn?: string | null;
  /** subjectAltName entries (openssl syntax). Default: DNS:<identity>. */
  san?: string | null;
  kind?: KeyKind;
}

/** A DER PKCS#10 request for `identity`, with its key's PEM. */
export function makeCsr(
  dir: string,
  identity: string,
  opts: CsrOptions = {},
): { der: Buffer; keyPem: string } {
  const key = makeKey(dir, `csr-${Math.random().toString(36).slice(2)}.key`, opts.kind ?? 'ec-pkcs8');
  const cn = opts.cn === undefined ? identity : opts.cn;
  const san = opts.san === undefined ? `DNS:${identity}` : opts.san;
  const der = openssl(
    ['req', '-new', '-key', key, '-subj', cn === null ? '/' : `/CN=${cn}`, '-outform', 'DER'].concat(
      san === null ? [] : ['-addext', `subjectAltName=${san}`],
    ),
    dir,
  );
  return { der, keyPem: readFileSync(key, 'utf8') };
}

/** The same CSR with its signature's last byte changed: parseable, but it does not verify. */
export function tamper(der: Buffer): Buffer {
  const copy = Buffer.from(der);
  copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 0x01;
  return copy;
}
