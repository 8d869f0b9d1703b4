import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as x509 from '@peculiar/x509';
import { checkCsr } from '../../../src/controlplane/identity/ca.js';
import { buildCsr } from '../../../src/proxy/identity/csr.js';
import { makeTempDir } from '../../helpers/controlplane.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const NAME = 'web.emojivoto.serviceaccount.identity.weft.cluster.local';
const p256 = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

/** The CSR's requested subjectAltName. */
function sanOf(csr: x509.Pkcs10CertificateRequest): x509.SubjectAlternativeNameExtension | undefined {
  const e = csr.extensions.find((x) => x.type === '2.5.29.17');
  return e ? new x509.SubjectAlternativeNameExtension(e.rawData) : undefined;
}

function pem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

function openssl(args: string[], file: string): { code: number | null; out: string } {
  const r = spawnSync('openssl', [...args, '-in', file], { encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('openssl accepts the CSR, DER and PEM: its signature verifies and it asks for the SAN', () => {
  const { privateKey } = p256();
  const der = buildCsr(NAME, privateKey);
  const dir = makeTempDir('weft-csr-');
  writeFileSync(join(dir, 'x.der'), der);
  writeFileSync(join(dir, 'x.pem'), pem(der));
  for (const [file, form] of [
    ['x.der', 'DER'],
    ['x.pem', 'PEM'],
  ] as const) {
    const r = openssl(['req', '-inform', form, '-verify', '-noout', '-text'], join(dir, file));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /verify OK/);
    assert.match(r.out, new RegExp(`Subject: CN ?= ?${NAME.replace(/\./g, '\\.')}`));
    assert.match(
      r.out,
      /X509v3 Subject Alternative Name:\s*\n\s*DNS:web\.emojivoto\.serviceaccount\.identity\.weft\.cluster\.local\s*\n/,
    );
    assert.match(r.out, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(r.out, /NIST CURVE: P-256/);
  }
});

test('@peculiar/x509 parses the CSR and verifies its signature; it holds our public key only', async () => {
  const { privateKey, publicKey } = p256();
  const der = buildCsr(NAME, privateKey);
  const csr = new x509.Pkcs10CertificateRequest(new Uint8Array(der));
  assert.equal(await csr.verify(), true);
  assert.equal(csr.subject, `CN=${NAME}`);
  const san = sanOf(csr);
  assert.deepEqual(san?.names.toJSON(), [{ type: 'dns', value: NAME }]);
  assert.equal(csr.extensions.length, 1);
  assert.equal(csr.signatureAlgorithm.name, 'ECDSA');
  assert.deepEqual(Buffer.from(csr.publicKey.rawData), publicKey.export({ type: 'spki', format: 'der' }));
  // The whole request is the CSR: nothing trails it.
  assert.equal(Buffer.from(csr.rawData).length, der.length);
  // The control plane's CA accepts it for that identity, and no other.
  await checkCsr(der, NAME);
  await assert.rejects(checkCsr(der, `x${NAME}`), /is not "xweb\./);
});

test('an identity too long for a common name goes in the SAN only', async () => {
  const long = `${'a'.repeat(60)}.default.serviceaccount.identity.weft.cluster.local`;
  const der = buildCsr(long, p256().privateKey);
  const csr = new x509.Pkcs10CertificateRequest(new Uint8Array(der));
  assert.equal(await csr.verify(), true);
  assert.equal(csr.subject, '');
  assert.deepEqual(sanOf(csr)?.names.toJSON(), [{ type: 'dns', value: long }]);
  await checkCsr(der, long);
});

test('only an ECDSA P-256 private key, and only a DNS name', () => {
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const p = p256();
  assert.throws(() => buildCsr(NAME, p384.privateKey), /ECDSA P-256 private key/);
  assert.throws(() => buildCsr(NAME, rsa.privateKey), /ECDSA P-256 private key/);
  assert.throws(() => buildCsr(NAME, p.publicKey), /ECDSA P-256 private key/);
  assert.throws(() => buildCsr('not a name', p.privateKey), /not a DNS name/);
  assert.throws(() => buildCsr('', p.privateKey), /not a DNS name/);
});
