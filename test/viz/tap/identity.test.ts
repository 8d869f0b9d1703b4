/**
 * viz's tap identity: its certificate, issued by the mesh CA for
 * `tap.weft-viz.serviceaccount.identity.weft.<trust domain>` to a key generated in memory,
 * and renewed before it expires.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  CertificateAuthority,
  createIssuer,
  createTrustAnchor,
} from '../../../src/controlplane/identity/ca.js';
import { dnsNames, parseCertificates, signedBy } from '../../../src/identity/x509.js';
import { TapIdentity } from '../../../src/viz/tap/identity.js';
import { testCa } from '../../helpers/identity.js';
import { waitFor } from '../../helpers/net.js';

const T = { timeout: 30_000 };

describe('the tap identity', () => {
  test('is a certificate for viz tap identity, to its own key, chaining to the anchors', T, async () => {
    const ca = await testCa();
    const id = await TapIdentity.start(ca);
    try {
      assert.equal(id.name, 'tap.weft-viz.serviceaccount.identity.weft.cluster.local');
      const { certChainPem, keyPem, trustAnchorsPem } = id.current;
      assert.equal(trustAnchorsPem, ca.trustAnchorsPem);
      const [leaf, issuer] = parseCertificates(certChainPem, 'chain') as [X509Certificate, X509Certificate];
      assert.deepEqual(dnsNames(leaf.subjectAltName), [id.name]);
      assert.ok(leaf.checkPrivateKey(createPrivateKey(keyPem)), 'the leaf is for the key');
      assert.ok(signedBy(leaf, issuer));
      const [anchor] = parseCertificates(trustAnchorsPem, 'anchors') as [X509Certificate];
      assert.ok(signedBy(issuer, anchor));
      assert.equal(id.serialNumber, leaf.serialNumber);
      // 24 h by default, as the CA issues.
      assert.ok(id.notAfter.getTime() - Date.now() > 23 * 3600_000);
    } finally {
      id.close();
    }
  });

  test("takes the CA's trust domain", T, async () => {
    const anchor = await createTrustAnchor({ trustDomain: 'example.org' });
    const issuer = await createIssuer(anchor, { trustDomain: 'example.org' });
    const ca = await CertificateAuthority.create({
      trustAnchorsPem: anchor.certPem,
      issuerCertPem: issuer.certPem,
      issuerKeyPem: issuer.keyPem,
      trustDomain: 'example.org',
    });
    const id = await TapIdentity.start(ca);
    id.close();
    assert.equal(id.name, 'tap.weft-viz.serviceaccount.identity.weft.example.org');
  });

  test('renews at 70% of the lifetime, keeping its key; close stops renewing', T, async () => {
    const ca = await testCa({ issuanceLifetimeMs: 3000, clockSkewMs: 0 });
    const id = await TapIdentity.start(ca);
    const first = id.current;
    const firstSerial = id.serialNumber;
    const renewals: string[] = [];
    id.onRenew((i) => renewals.push(i.serialNumber));
    const started = Date.now();
    await waitFor(() => renewals.length >= 1, 'a renewal', 5_000, 20);
    const after = Date.now() - started;
    // The certificate lives about 3 s (X.509 times are whole seconds): renewed after ~2 s, not at once.
    assert.ok(after > 1000 && after < 3000, `renewed after ${after} ms`);
    assert.notEqual(id.serialNumber, firstSerial);
    assert.equal(id.current.keyPem, first.keyPem, 'one key for its life');
    assert.notEqual(id.current.certChainPem, first.certChainPem);
    const leaf = new X509Certificate(id.current.certChainPem);
    assert.ok(Date.parse(leaf.validTo) > Date.now());
    id.close();
    const count = renewals.length;
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(renewals.length, count, 'no renewal after close');
  });
});
