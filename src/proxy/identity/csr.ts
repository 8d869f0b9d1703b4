import { createPublicKey, type KeyObject, sign } from 'node:crypto';

/**
 * A PKCS#10 certificate signing request (RFC 2986) for the proxy's ECDSA P-256 key, built
 * with node:crypto and the few lines of DER below. The proxy deliberately imports no X.509
 * or ASN.1 library: @peculiar/x509 (with its asn1 schema and polyfill) costs about 14 MB
 * resident per proxy, measured, for the one structure the proxy ever writes.
 */

// --- A minimal DER encoder: tag, length, contents. ------------------------------------------

function der(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else {
    // Long form: 0x80 | count, then the length's bytes, big-endian.
    const bytes: number[] = [];
    for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

const sequence = (...items: Buffer[]): Buffer => der(0x30, ...items);
const set = (...items: Buffer[]): Buffer => der(0x31, ...items);
const integer0 = (): Buffer => der(0x02, Buffer.from([0]));
const utf8String = (s: string): Buffer => der(0x0c, Buffer.from(s, 'utf8'));
const octetString = (b: Buffer): Buffer => der(0x04, b);
/** A BIT STRING of whole bytes (no unused bits). */
const bitString = (b: Buffer): Buffer => der(0x03, Buffer.from([0]), b);

/** An OBJECT IDENTIFIER from its dotted form: 40 × first + second, then base-128 arcs. */
function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes: number[] = [];
  for (const arc of [(first as number) * 40 + (second as number), ...rest]) {
    const groups = [arc % 128];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v % 128) | 0x80);
    bytes.push(...groups);
  }
  return der(0x06, Buffer.from(bytes));
}

const OID = {
  commonName: '2.5.4.3',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
};

/** X.520's upper bound on a common name; longer identities go in the SAN only. */
const MAX_COMMON_NAME = 64;

/**
 * The DER CSR for `identity`: subject CN = identity (when it fits in a CN), an
 * extensionRequest asking for subjectAltName = the identity as its one dNSName, the
 * public key of `privateKey`, signed with it (ecdsa-with-SHA256). Only the public key is in it.
 */
export function buildCsr(identity: string, privateKey: KeyObject): Buffer {
  const { type, asymmetricKeyType, asymmetricKeyDetails } = privateKey;
  if (type !== 'private' || asymmetricKeyType !== 'ec' || asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('the CSR needs an ECDSA P-256 private key');
  }
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(identity)) {
    throw new Error(`the identity "${identity.slice(0, 80)}" is not a DNS name`);
  }
  const subject =
    identity.length <= MAX_COMMON_NAME
      ? sequence(set(sequence(oid(OID.commonName), utf8String(identity))))
      : sequence();
  // SubjectPublicKeyInfo comes ready-made from node:crypto (the private key's public half).
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  // GeneralNames: one dNSName, [2] IMPLICIT IA5String.
  const san = sequence(der(0x82, Buffer.from(identity, 'ascii')));
  const extensions = sequence(sequence(oid(OID.subjectAltName), octetString(san)));
  const attributes = der(0xa0, sequence(oid(OID.extensionRequest), set(extensions)));
  const info = sequence(integer0(), subject, spki, attributes);
  const signature = sign('sha256', info, privateKey); // ECDSA-Sig-Value, DER
  return sequence(info, sequence(oid(OID.ecdsaWithSha256)), bitString(signature));
}
