import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CertificateAuthority,
  CredentialError,
  CsrError,
  createIssuer,
  createTrustAnchor,
  pemBlocks,
} from '../../../src/controlplane/identity/ca.js';
import { makeTempDir } from '../../helpers/controlplane.js';
import { makeCsr, makeKey, makeRoot, makeSigned, openssl, tamper } from './fixtures.js';

const ID = 'web.default.serviceaccount.identity.weft.cluster.local';
const DAY = 86_400_000;
const read = (p: string): string => readFileSync(p, 'utf8');

async function generatedCa(opts: { issuerLifetimeMs?: number } = {}) {
  const anchor = await createTrustAnchor();
  const issuer = await createIssuer(
    anchor,
    opts.issuerLifetimeMs === undefined ? {} : { lifetimeMs: opts.issuerLifetimeMs },
  );
  const ca = await CertificateAuthority.create({
    trustAnchorsPem: anchor.certPem,
    issuerCertPem: issuer.certPem,
    issuerKeyPem: issuer.keyPem,
  });
  return { anchor, issuer, ca };
}

/** `openssl x509 -text` of a PEM certificate. */
const text = (pem: string): string =>
  execFileSync('openssl', ['x509', '-noout', '-text'], { input: pem }).toString();

test('a generated anchor signs an issuer that signs 24-hour leaves; the chain verifies', async () => {
  const { anchor, issuer, ca } = await generatedCa();
  const a = new X509Certificate(anchor.certPem);
  const i = new X509Certificate(issuer.certPem);
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const before = Date.now();
  const leaf = await ca.issue(ID, publicKey);
  const l = new X509Certificate(leaf.leafPem);

  assert.ok(a.checkIssued(a) && a.verify(a.publicKey), 'the anchor is self-signed');
  assert.ok(i.checkIssued(a) && i.verify(a.publicKey), 'the anchor signed the issuer');
  assert.ok(l.checkIssued(i) && l.verify(i.publicKey), 'the issuer signed the leaf');
  assert.equal(leaf.chainPem, leaf.leafPem + issuer.certPem);

  // Lifetimes: anchor 10 years, issuer 1 year, leaf now − 20 s .. now + 24 h.
  const span = (c: X509Certificate): number => Date.parse(c.validTo) - Date.parse(c.validFrom);
  assert.ok(Math.abs(span(a) - 3650 * DAY) < 2000, a.validTo);
  assert.ok(Math.abs(span(i) - 365 * DAY) < 2000, i.validTo);
  const from = Date.parse(l.validFrom);
  const to = Date.parse(l.validTo);
  assert.ok(from <= before - 19_000 && from >= before - 22_000, `notBefore ${l.validFrom}`);
  assert.ok(Math.abs(to - (before + DAY)) < 3000, `notAfter ${l.validTo}`);
  assert.equal(leaf.validUntil.getTime(), to);

  assert.equal(a.subject, 'CN=root.weft.cluster.local');
  assert.equal(i.subject, 'CN=identity.weft.cluster.local');
  assert.equal(l.subject, `CN=${ID}`);
  assert.equal(l.subjectAltName, `DNS:${ID}`);
  // A positive 16-byte serial.
  assert.match(l.serialNumber, /^[0-7][0-9A-F]{31}$/);

  const at = text(anchor.certPem);
  assert.match(at, /Basic Constraints: critical\s+CA:TRUE\n/);
  assert.match(at, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
  const it = text(issuer.certPem);
  assert.match(it, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
  assert.match(it, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
  const lt = text(leaf.leafPem);
  assert.match(lt, /Public Key Algorithm: id-ecPublicKey[\s\S]*NIST CURVE: P-256/);
  assert.match(lt, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(lt, /Basic Constraints: critical\s+CA:FALSE/);
  assert.match(lt, /Key Usage: critical\s+Digital Signature\n/);
  assert.match(lt, /Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
  const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(it)?.[1];
  const aki = /Authority Key Identifier:\s+(?:keyid:)?([0-9A-F:]+)/.exec(lt)?.[1];
  assert.ok(ski && aki === ski, `the leaf's AKI ${aki} is the issuer's SKI ${ski}`);
  assert.match(lt, /Subject Key Identifier:/);

  // And OpenSSL agrees, for TLS client and server use.
  const dir = makeTempDir();
  writeFileSync(join(dir, 'anchor.pem'), anchor.certPem);
  writeFileSync(join(dir, 'chain.pem'), leaf.chainPem);
  writeFileSync(join(dir, 'leaf.pem'), leaf.leafPem);
  for (const purpose of ['sslserver', 'sslclient']) {
    const out = openssl(
      ['verify', '-purpose', purpose, '-CAfile', 'anchor.pem', '-untrusted', 'chain.pem', 'leaf.pem'],
      dir,
    );
    assert.match(out.toString(), /leaf.pem: OK/);
  }
});

test('a leaf never outlives its issuer; issue takes explicit dates (an expired leaf)', async () => {
  const { ca } = await generatedCa({ issuerLifetimeMs: 3600_000 });
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leaf = await ca.issue(ID, publicKey);
  assert.equal(leaf.validUntil.getTime(), ca.issuerNotAfter.getTime());
  assert.ok(leaf.validUntil.getTime() < Date.now() + 3601_000);

  const expired = await ca.issue(ID, publicKey, {
    notBefore: new Date(Date.now() - 2 * DAY),
    notAfter: new Date(Date.now() - DAY),
  });
  const x = new X509Certificate(expired.leafPem);
  assert.ok(Date.parse(x.validTo) < Date.now() - DAY + 2000);
  assert.equal(expired.validUntil.getTime(), Date.parse(x.validTo));
  await assert.rejects(ca.issue('Not A DNS Name!', publicKey), /not a DNS name/);
});

test('the issuance lifetime, clock skew and trust domain are honoured', async () => {
  const anchor = await createTrustAnchor({ trustDomain: 'example.org' });
  const issuer = await createIssuer(anchor, { trustDomain: 'example.org' });
  assert.equal(new X509Certificate(anchor.certPem).subject, 'CN=root.weft.example.org');
  assert.equal(new X509Certificate(issuer.certPem).subject, 'CN=identity.weft.example.org');
  const ca = await CertificateAuthority.create({
    trustAnchorsPem: anchor.certPem,
    issuerCertPem: issuer.certPem,
    issuerKeyPem: issuer.keyPem,
    issuanceLifetimeMs: 3600_000,
    clockSkewMs: 60_000,
    trustDomain: 'example.org',
  });
  const now = Date.now();
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const x = new X509Certificate(
    (await ca.issue('a.b.serviceaccount.identity.weft.example.org', publicKey)).leafPem,
  );
  assert.ok(Math.abs(Date.parse(x.validFrom) - (now - 60_000)) < 2000, x.validFrom);
  assert.ok(Math.abs(Date.parse(x.validTo) - (now + 3600_000)) < 2000, x.validTo);
  await assert.rejects(createTrustAnchor({ trustDomain: 'Not_A_Domain' }), /not a DNS domain/);
});

test('sign: a CSR for the identity gets a leaf (DER) and the issuer as the only intermediate', async () => {
  const { issuer, ca } = await generatedCa();
  const dir = makeTempDir();
  const csr = makeCsr(dir, ID);
  const signed = await ca.sign(csr.der, ID);
  const leaf = new X509Certificate(signed.leafDer);
  assert.equal(leaf.subjectAltName, `DNS:${ID}`);
  assert.equal(signed.intermediatesDer.length, 1);
  assert.deepEqual(signed.intermediatesDer[0], pemBlocks(issuer.certPem)[0]?.der);
  assert.ok(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(csr.keyPem)));
  assert.equal(signed.validUntil.getTime(), Date.parse(leaf.validTo));
  // No CN at all is fine too.
  await ca.sign(makeCsr(dir, ID, { cn: null }).der, ID);
});

test('sign refuses bad CSRs, each with its reason', async () => {
  const { ca } = await generatedCa();
  const dir = makeTempDir();
  const other = 'api.default.serviceaccount.identity.weft.cluster.local';
  const cases: Array<[string, Buffer, CsrError['reason'], RegExp]> = [
    ['garbage', Buffer.from('not a CSR'), 'csr_malformed', /not a DER PKCS#10 request/],
    [
      'PEM, not DER',
      Buffer.from(`-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n`),
      'csr_malformed',
      /not a DER/,
    ],
    ['RSA key', makeCsr(dir, ID, { kind: 'rsa' }).der, 'csr_key', /RSA key; it must be ECDSA P-256/],
    ['P-384 key', makeCsr(dir, ID, { kind: 'p384' }).der, 'csr_key', /secp384r1 key/],
    ['tampered signature', tamper(makeCsr(dir, ID).der), 'csr_signature', /signature does not verify/],
    ['another DNS name', makeCsr(dir, other).der, 'csr_names', /common name .* is not/],
    ['SAN for another name', makeCsr(dir, ID, { san: `DNS:${other}` }).der, 'csr_names', /exactly \[/],
    ['two DNS names', makeCsr(dir, ID, { san: `DNS:${ID},DNS:${other}` }).der, 'csr_names', /exactly \[/],
    ['no SAN', makeCsr(dir, ID, { san: null }).der, 'csr_names', /exactly \["web/],
    [
      'an IP SAN too',
      makeCsr(dir, ID, { san: `DNS:${ID},IP:10.0.0.1` }).der,
      'csr_names',
      /other than DNS names \(ip\)/,
    ],
    ['a URI SAN', makeCsr(dir, ID, { san: `DNS:${ID},URI:spiffe://x/y` }).der, 'csr_names', /other than DNS/],
    ['CN differs', makeCsr(dir, ID, { cn: 'someone-else' }).der, 'csr_names', /common name "someone-else"/],
  ];
  for (const [name, der, reason, message] of cases) {
    await assert.rejects(
      ca.sign(der, ID),
      (err: unknown) => {
        assert.ok(err instanceof CsrError, `${name}: ${String(err)}`);
        assert.equal(err.reason, reason, `${name}: ${err.message}`);
        assert.match(err.message, message, name);
        return true;
      },
      name,
    );
  }
});

// ---------------------------------------------------------------------------------------
// The user's own files, made by openssl

function create(anchors: string, issuerCert: string, issuerKey: string) {
  return CertificateAuthority.create({
    trustAnchorsPem: read(anchors),
    issuerCertPem: read(issuerCert),
    issuerKeyPem: read(issuerKey),
  });
}

test('files like step root-ca / intermediate-ca (EC PRIVATE KEY) are accepted; leaves verify with openssl', async () => {
  const dir = makeTempDir();
  const root = makeRoot(dir, 'root');
  const int = makeSigned(dir, 'int', root);
  assert.match(read(int.key), /^-----BEGIN EC PRIVATE KEY-----/);
  const ca = await create(root.cert, int.cert, int.key);
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leaf = await ca.issue(ID, publicKey);
  writeFileSync(join(dir, 'leaf.pem'), leaf.leafPem);
  writeFileSync(join(dir, 'chain.pem'), leaf.chainPem);
  const out = openssl(['verify', '-CAfile', root.cert, '-untrusted', 'chain.pem', 'leaf.pem'], dir);
  assert.match(out.toString(), /OK/);
  const l = new X509Certificate(leaf.leafPem);
  assert.equal(l.issuer, 'CN=int Intermediate CA');
});

test('PKCS#8 keys, anchor bundles, and an issuer file carrying its chain are accepted', async () => {
  const dir = makeTempDir();
  const root = makeRoot(dir, 'root', { kind: 'ec-pkcs8' });
  const other = makeRoot(dir, 'other');
  const int = makeSigned(dir, 'int', root, { kind: 'ec-pkcs8' });
  assert.match(read(int.key), /^-----BEGIN PRIVATE KEY-----/);
  // A bundle: the issuer's anchor second.
  writeFileSync(join(dir, 'bundle.pem'), read(other.cert) + read(root.cert));
  const ca = await create(join(dir, 'bundle.pem'), int.cert, int.key);
  assert.equal(pemBlocks(ca.trustAnchorsPem).length, 2);
  // An RSA anchor may sign an EC issuer.
  const rsaRoot = makeRoot(dir, 'rsaroot', { kind: 'rsa' });
  const int2 = makeSigned(dir, 'int2', rsaRoot);
  await create(rsaRoot.cert, int2.cert, int2.key);
  // Issuer, then an intermediate, then the root: the root is not served.
  const mid = makeSigned(dir, 'mid', makeRoot(dir, 'top'));
  const low = makeSigned(dir, 'low', mid);
  writeFileSync(join(dir, 'low-chain.pem'), read(low.cert) + read(mid.cert) + read(join(dir, 'top.crt')));
  const chained = await create(join(dir, 'top.crt'), join(dir, 'low-chain.pem'), low.key);
  assert.equal(pemBlocks(chained.issuerChainPem).length, 2);
  const signed = await chained.sign(makeCsr(dir, ID).der, ID);
  assert.equal(signed.intermediatesDer.length, 2);
});

test('refused files: each names the part and the problem', async () => {
  const dir = makeTempDir();
  const root = makeRoot(dir, 'root');
  const int = makeSigned(dir, 'int', root);
  const refuse = async (
    name: string,
    files: [string, string, string],
    part: CredentialError['part'],
    problem: RegExp,
  ): Promise<void> => {
    await assert.rejects(
      create(...files),
      (err: unknown) => {
        assert.ok(err instanceof CredentialError, `${name}: ${String(err)}`);
        assert.equal(err.part, part, `${name}: ${err.message}`);
        assert.match(err.problem, problem, name);
        return true;
      },
      name,
    );
  };

  const rsa = makeSigned(dir, 'rsa', root, { kind: 'rsa' });
  await refuse(
    'RSA issuer',
    [root.cert, rsa.cert, rsa.key],
    'issuer-key',
    /RSA key; the issuer needs an ECDSA P-256 key/,
  );

  const expired = makeSigned(dir, 'expired', root, { days: -1 });
  await refuse(
    'expired issuer',
    [root.cert, expired.cert, expired.key],
    'issuer-certificate',
    /expired on 20/,
  );

  const anchor = await createTrustAnchor();
  const future = await createIssuer(anchor, { notBefore: new Date(Date.now() + DAY) });
  writeFileSync(join(dir, 'a.pem'), anchor.certPem);
  writeFileSync(join(dir, 'future.crt'), future.certPem);
  writeFileSync(join(dir, 'future.key'), future.keyPem);
  await refuse(
    'not yet valid',
    [join(dir, 'a.pem'), join(dir, 'future.crt'), join(dir, 'future.key')],
    'issuer-certificate',
    /is not valid yet \(notBefore/,
  );

  const leafLike = makeSigned(dir, 'leafy', root, { profile: 'not_ca' });
  await refuse(
    'non-CA issuer',
    [root.cert, leafLike.cert, leafLike.key],
    'issuer-certificate',
    /is not a CA \(its basicConstraints extension says CA:FALSE\)/,
  );
  await refuse('non-CA anchor', [leafLike.cert, int.cert, int.key], 'trust-anchors', /is not a CA/);

  const stray = makeKey(dir, 'stray.key');
  await refuse(
    'mismatched key',
    [root.cert, int.cert, stray],
    'issuer-key',
    /does not match the issuer certificate/,
  );

  const other = makeRoot(dir, 'other');
  await refuse(
    'issuer of another anchor',
    [other.cert, int.cert, int.key],
    'issuer-certificate',
    /is not signed by any of the trust anchors \("CN=other Root CA"\)/,
  );

  const enc8 = join(dir, 'enc8.key');
  openssl(['pkcs8', '-topk8', '-in', int.key, '-out', enc8, '-passout', 'pass:secret'], dir);
  assert.match(read(enc8), /ENCRYPTED PRIVATE KEY/);
  await refuse('encrypted PKCS#8', [root.cert, int.cert, enc8], 'issuer-key', /the key is encrypted/);
  const encLegacy = join(dir, 'enc-legacy.key');
  openssl(['ec', '-in', int.key, '-out', encLegacy, '-aes256', '-passout', 'pass:secret'], dir);
  assert.match(read(encLegacy), /Proc-Type: 4,ENCRYPTED/);
  await refuse('encrypted SEC1', [root.cert, int.cert, encLegacy], 'issuer-key', /the key is encrypted/);

  writeFileSync(join(dir, 'junk'), 'hello\n');
  await refuse('anchors not PEM', [join(dir, 'junk'), int.cert, int.key], 'trust-anchors', /not a PEM file/);
  await refuse(
    'issuer not PEM',
    [root.cert, join(dir, 'junk'), int.key],
    'issuer-certificate',
    /not a PEM file/,
  );
  await refuse('key not PEM', [root.cert, int.cert, join(dir, 'junk')], 'issuer-key', /not a PEM file/);
  await refuse(
    'key file holds a certificate',
    [root.cert, int.cert, int.cert],
    'issuer-key',
    /holds no private key/,
  );
  writeFileSync(join(dir, 'with-key.pem'), read(root.cert) + read(root.key));
  await refuse(
    'anchors holding a key',
    [join(dir, 'with-key.pem'), int.cert, int.key],
    'trust-anchors',
    /EC PRIVATE KEY, not a CERTIFICATE/,
  );
  writeFileSync(join(dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  await refuse(
    'broken certificate',
    [join(dir, 'broken.pem'), int.cert, int.key],
    'trust-anchors',
    /not a valid X\.509 certificate/,
  );
  // An expired anchor in a bundle is named by its place.
  const old = makeSigned(dir, 'old', root, { days: -1 });
  writeFileSync(join(dir, 'bundle.pem'), read(root.cert) + read(old.cert));
  await refuse(
    'expired anchor in a bundle',
    [join(dir, 'bundle.pem'), int.cert, int.key],
    'trust-anchors',
    /^anchor 2: .*expired/,
  );
});
