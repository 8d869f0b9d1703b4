// A throw-away PKI for the haproxy-mtls row, made with the openssl command: an ECDSA P-256 trust anchor
// and two leaves (server and client) whose SAN DNS name is the identity they stand for, like Weft's.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runToCompletion } from './procs.js';

export interface LeafFiles {
  /** Certificate then private key, one PEM file (HAProxy's `crt`), mode 0600. */
  pem: string;
}

export interface Pki {
  /** The trust anchor's certificate (HAProxy's `ca-file`). */
  anchor: string;
  leaf(name: string): Promise<LeafFiles>;
}

const openssl = (args: string[]) => runToCompletion('openssl', 'openssl', args, 20_000);

async function ecKey(file: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
  chmodSync(file, 0o600);
}

/** Creates the anchor in `dir`; `leaf(name)` then issues a certificate for the DNS name `name`. */
export async function makePki(dir: string): Promise<Pki> {
  const caKey = join(dir, 'anchor.key');
  const anchor = join(dir, 'anchor.pem');
  await ecKey(caKey);
  await openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    caKey,
    '-subj',
    '/CN=weft-bench trust anchor',
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    anchor,
  ]);
  let serial = 1;
  const leaf = async (name: string): Promise<LeafFiles> => {
    const key = join(dir, `${name}.key`);
    const csr = join(dir, `${name}.csr`);
    const crt = join(dir, `${name}.crt`);
    const ext = join(dir, `${name}.ext`);
    await ecKey(key);
    await openssl(['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', csr]);
    writeFileSync(
      ext,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth,clientAuth',
        `subjectAltName=DNS:${name}`,
        '',
      ].join('\n'),
    );
    await openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      anchor,
      '-CAkey',
      caKey,
      '-set_serial',
      String(serial++),
      '-days',
      '1',
      '-extfile',
      ext,
      '-out',
      crt,
    ]);
    const pem = join(dir, `${name}.pem`);
    writeFileSync(pem, readFileSync(crt, 'utf8') + readFileSync(key, 'utf8'), { mode: 0o600 });
    return { pem };
  };
  return { anchor, leaf };
}
