import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import tls from 'node:tls';
import { checkCsr, pemBlocks } from '../../../src/controlplane/identity/ca.js';
import { identityName } from '../../../src/identity/names.js';
import { Registry } from '../../../src/metrics/registry.js';
import { IdentityClient } from '../../../src/proxy/identity/client.js';
import type { IdentitySettings } from '../../../src/proxy/identity/settings.js';
import {
  captureLogger,
  filesWithPrivateKeys,
  type IdentityServer,
  type IdentityServerOptions,
  startIdentityServer,
  testCa,
} from '../../helpers/identity.js';
import { Cleanup, waitFor, withTimeout } from '../../helpers/net.js';
import { parseProm, sumSamples } from '../../helpers/prom.js';

const T = { timeout: 30_000 };
const FAST = { baseMs: 100, maxMs: 400 };

const cleanup = new Cleanup();
after(() => cleanup.run());

interface Started {
  srv: IdentityServer;
  settings: IdentitySettings;
  client: IdentityClient;
  registry: Registry;
  records: Array<Record<string, unknown>>;
  /** Each certificate the client took, with Date.now() when it took it. */
  changes: Array<{ at: number; serial: string; context: tls.SecureContext }>;
  metric(name: string, labels?: Record<string, string>): number;
  isReady(): boolean;
}

async function setup(
  opts: IdentityServerOptions = {},
  edit: (s: IdentitySettings, srv: IdentityServer) => IdentitySettings = (s) => s,
): Promise<Started> {
  const srv = await startIdentityServer(opts);
  cleanup.add(() => srv.close());
  const settings = edit(srv.workload('web'), srv);
  const registry = new Registry();
  const { log, records } = captureLogger();
  const client = new IdentityClient({ ...settings, registry, log, backoff: FAST, callTimeoutMs: 2000 });
  cleanup.add(() => client.close());
  const changes: Started['changes'] = [];
  client.onChange((c) => {
    changes.push({
      at: Date.now(),
      serial: c.certificate?.leaf.serialNumber ?? '',
      context: c.secureContext,
    });
  });
  let ready = false;
  client.ready.then(
    () => {
      ready = true;
    },
    () => {},
  );
  return {
    srv,
    settings,
    client,
    registry,
    records,
    changes,
    metric: (name, labels = {}) => sumSamples(parseProm(registry.render()), name, labels),
    isReady: () => ready,
  };
}

const failures = (s: Started, reason: string): number =>
  s.metric('identity_cert_refresh_failures_total', { reason });

test(
  'the first certificate: ready, a working TLS 1.3 context, metrics, and only a public key sent',
  T,
  async () => {
    const s = await setup();
    const { client, srv, settings } = s;
    assert.throws(() => client.secureContext, /no certificate yet/);
    await withTimeout(client.start(), 10_000, 'the first certificate');
    const cert = client.certificate;
    assert.ok(cert);
    assert.equal(cert.leaf.subjectAltName, `DNS:${identityName('web', 'default')}`);
    assert.ok(Math.abs(cert.notAfterMs - Date.now() - 24 * 3600_000) < 60_000, 'a 24 h leaf');
    assert.equal(s.changes.length, 1);
    assert.equal(s.metric('identity_cert_refresh_count'), 1);
    assert.equal(s.metric('identity_cert_expiration_timestamp_seconds'), Math.floor(cert.notAfterMs / 1000));
    const issued = s.records.find((r) => r.msg === 'certificate issued');
    assert.equal(issued?.identity, settings.name);
    assert.equal(issued?.expires, new Date(cert.notAfterMs).toISOString());
    assert.equal(issued?.level, 30);

    // What went out: the identity, the token and a CSR carrying our public key, nothing else.
    assert.equal(srv.requests.length, 1);
    const req = srv.requests[0];
    assert.ok(req);
    assert.deepEqual(Object.keys(req).sort(), ['certificateSigningRequest', 'identity', 'token']);
    assert.equal(req.identity, settings.name);
    assert.deepEqual(req.token, readFileSync(settings.tokenFile));
    const csrKey = await checkCsr(req.certificateSigningRequest, settings.name);
    assert.deepEqual(
      csrKey.export({ type: 'spki', format: 'der' }),
      cert.leaf.publicKey.export({ type: 'spki', format: 'der' }),
    );
    for (const field of [req.identity, req.token, req.certificateSigningRequest]) {
      assert.ok(!Buffer.from(field).includes('PRIVATE KEY'));
    }
    // Never written, never logged.
    assert.deepEqual(filesWithPrivateKeys(srv.dir), []);
    assert.ok(!JSON.stringify(s.records).includes('PRIVATE KEY'));

    // A second workload's proxy; the two contexts do mutual TLS 1.3.
    const emoji = new IdentityClient({
      ...srv.workload('emoji', 'emojivoto'),
      registry: new Registry(),
      log: captureLogger().log,
    });
    cleanup.add(() => emoji.close());
    await withTimeout(emoji.start(), 10_000, "emoji's certificate");
    // A tls.Server takes a SecureContext through SNICallback (its secureContext option is ignored).
    const server = tls.createServer({
      SNICallback: (_name, cb) => cb(null, client.secureContext),
      requestCert: true,
      rejectUnauthorized: true,
    });
    const seen = new Promise<{ peer: string | undefined; protocol: string | null }>((resolve, reject) => {
      server.once('secureConnection', (sock: tls.TLSSocket) => {
        resolve({ peer: sock.getPeerCertificate().subjectaltname, protocol: sock.getProtocol() });
        sock.end();
      });
      server.once('tlsClientError', reject);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.add(() => server.close());
    const { port } = server.address() as { port: number };
    const sock = tls.connect({
      host: '127.0.0.1',
      port,
      secureContext: emoji.secureContext,
      servername: client.name,
      checkServerIdentity: (host, c) => tls.checkServerIdentity(host, c),
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', () => resolve());
      sock.once('error', reject);
    });
    assert.equal(sock.authorized, true, String(sock.authorizationError));
    assert.equal(sock.getPeerCertificate().subjectaltname, `DNS:${client.name}`);
    assert.deepEqual(await withTimeout(seen, 5000, 'the server side of the handshake'), {
      peer: `DNS:${emoji.name}`,
      protocol: 'TLSv1.3',
    });
    sock.destroy();
  },
);

test('renews at 70% of the remaining lifetime, keeping its key', T, async () => {
  const s = await setup({ issuanceLifetimeMs: 3000 });
  await withTimeout(s.client.start(), 10_000, 'the first certificate');
  const first = s.client.certificate;
  assert.ok(first);
  const firstAt = s.changes[0]?.at as number;
  const remaining = first.notAfterMs - firstAt;
  await waitFor(() => s.metric('identity_cert_refresh_count') >= 3, 'two renewals', 15_000, 10);
  const [a, b, c] = s.changes;
  assert.ok(a && b && c);
  const waited = b.at - a.at;
  assert.ok(
    waited >= 0.7 * remaining - 100 && waited <= 0.7 * remaining + 500,
    `renewed ${waited} ms after a certificate with ${remaining} ms left (70%: ${0.7 * remaining})`,
  );
  assert.ok(b.at < first.notAfterMs, 'renewed before the first one expired');
  assert.equal(new Set([a.serial, b.serial, c.serial]).size, 3);
  assert.notEqual(a.context, b.context);
  const second = s.client.certificate;
  assert.ok(second);
  assert.deepEqual(
    second.leaf.publicKey.export({ type: 'spki', format: 'der' }),
    first.leaf.publicKey.export({ type: 'spki', format: 'der' }),
    'one key for the proxy',
  );
  assert.equal(s.metric('identity_cert_expiration_timestamp_seconds'), Math.floor(second.notAfterMs / 1000));
  assert.equal(s.records.filter((r) => r.msg === 'certificate issued').length, s.changes.length);
  assert.equal(s.srv.requests.length, s.changes.length, 'no failed attempts in between');
});

test(
  'while the identity service is away: the current certificate stays, attempts repeat, expiry is an error, then it recovers',
  T,
  async () => {
    const s = await setup({ issuanceLifetimeMs: 3000 });
    await withTimeout(s.client.start(), 10_000, 'the first certificate');
    const first = s.client.certificate;
    const context = s.client.secureContext;
    assert.ok(first);
    await s.srv.stop();
    await waitFor(() => failures(s, 'unavailable') >= 3, 'three failed renewals', 15_000, 10);
    assert.equal(s.client.certificate, first, 'still the first certificate');
    assert.equal(s.client.secureContext, context, 'still serving with the first context');
    const warn = s.records.find(
      (r) => r.msg === 'certificate renewal failed; the current certificate stays in use',
    );
    assert.ok(warn, JSON.stringify(s.records));
    assert.equal(warn.level, 40);
    assert.equal(warn.reason, 'unavailable');
    assert.equal(warn.code, 'UNAVAILABLE');
    assert.equal(typeof warn.details, 'string');
    assert.equal(warn.currentExpires, new Date(first.notAfterMs).toISOString());

    await waitFor(
      () => s.records.some((r) => r.level === 50),
      'an error once the certificate has expired',
      10_000,
      10,
    );
    const expired = s.records.find((r) => r.level === 50);
    assert.equal(expired?.msg, 'the certificate expired before it could be renewed: peers will refuse it');
    assert.ok(Date.now() >= first.notAfterMs);

    const refreshes = s.metric('identity_cert_refresh_count');
    await s.srv.restart();
    await waitFor(() => s.metric('identity_cert_refresh_count') > refreshes, 'a new certificate', 10_000, 10);
    assert.notEqual(s.client.certificate, first);
    assert.notEqual(s.client.secureContext, context);
    assert.ok((s.client.certificate?.notAfterMs ?? 0) > Date.now());
  },
);

test('a refused token: not ready, warned with the gRPC details; a new token is picked up', T, async () => {
  const s = await setup({}, (settings) => {
    writeFileSync(settings.tokenFile, 'not-a-token');
    return settings;
  });
  void s.client.start();
  await waitFor(() => failures(s, 'refused') >= 2, 'two refusals', 10_000, 10);
  assert.equal(s.isReady(), false);
  assert.throws(() => s.client.secureContext, /no certificate yet/);
  const warn = s.records.find(
    (r) => r.msg === 'no certificate yet: cannot get one from the identity service',
  );
  assert.ok(warn, JSON.stringify(s.records));
  assert.equal(warn.level, 40);
  assert.equal(warn.reason, 'refused');
  assert.equal(warn.code, 'UNAUTHENTICATED');
  assert.match(String(warn.details), /token/);
  assert.equal(warn.identity, s.settings.name);
  assert.equal(s.metric('identity_cert_refresh_count'), 0);
  // The token file is read before each attempt.
  copyFileSync(s.srv.workload('web').tokenFile, s.settings.tokenFile);
  await withTimeout(s.client.ready, 10_000, 'a certificate with the new token');
  assert.equal(s.metric('identity_cert_refresh_count'), 1);
});

test('an unreadable token or trust anchors file: not ready, retried until it is there', T, async () => {
  const s = await setup({}, (settings, srv) => ({
    ...settings,
    tokenFile: join(srv.dir, 'later.token'),
    trustAnchorsFile: join(srv.dir, 'later-anchors.pem'),
  }));
  void s.client.start();
  await waitFor(() => failures(s, 'trust_anchors') >= 2, 'the anchors missing', 10_000, 10);
  const anchors = s.records.find((r) => r.reason === 'trust_anchors');
  assert.match(
    String(anchors?.error),
    /cannot read the trust anchors file .*later-anchors\.pem: no such file/,
  );
  writeFileSync(s.settings.trustAnchorsFile, 'no certificates here\n');
  await waitFor(
    () => s.records.some((r) => /holds no PEM certificate/.test(String(r.error))),
    'an empty bundle refused',
    10_000,
    10,
  );
  copyFileSync(s.srv.anchorsFile, s.settings.trustAnchorsFile);
  await waitFor(() => failures(s, 'token') >= 2, 'the token missing', 10_000, 10);
  const token = s.records.find((r) => r.reason === 'token');
  assert.match(String(token?.error), /cannot read the token file .*later\.token: no such file/);
  assert.equal(s.isReady(), false);
  copyFileSync(s.srv.workload('web').tokenFile, s.settings.tokenFile);
  await withTimeout(s.client.ready, 10_000, 'the first certificate');
});

test('certificates that are not for this proxy, or do not chain to the anchors, are refused', T, async () => {
  const other = await testCa();
  const cases: Array<[string, IdentityServerOptions['answer'], RegExp]> = [
    [
      'another key',
      async (req, ca) =>
        answerFor(
          await ca.issue(req.identity, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey),
          ca,
        ),
      /is not for this proxy's key/,
    ],
    [
      'another name',
      async (req, ca) =>
        answerFor(
          await ca.issue(
            identityName('db', 'default'),
            await checkCsr(req.certificateSigningRequest, req.identity),
          ),
          ca,
        ),
      /names "DNS:db\.default\./,
    ],
    [
      'another CA',
      async (req) =>
        answerFor(
          await other.issue(req.identity, await checkCsr(req.certificateSigningRequest, req.identity)),
          other,
        ),
      /does not chain to a trust anchor/,
    ],
    [
      'expired',
      async (req, ca) =>
        answerFor(
          await ca.issue(req.identity, await checkCsr(req.certificateSigningRequest, req.identity), {
            notBefore: new Date(Date.now() - 7200_000),
            notAfter: new Date(Date.now() - 3600_000),
          }),
          ca,
        ),
      /expired at/,
    ],
  ];
  for (const [what, answer, error] of cases) {
    const s = await setup({ answer });
    void s.client.start();
    await waitFor(() => failures(s, 'invalid_certificate') >= 2, `${what}: refused twice`, 10_000, 10);
    assert.equal(s.isReady(), false, what);
    const warn = s.records.find((r) => r.reason === 'invalid_certificate');
    assert.match(String(warn?.error), error, what);
    s.client.close();
  }
});

test("the identity service's certificate must carry the expected server name", T, async () => {
  const s = await setup({}, (settings) => ({ ...settings, serverName: identityName('impostor', 'weft') }));
  void s.client.start();
  await waitFor(() => failures(s, 'unavailable') >= 2, 'two failed attempts', 10_000, 10);
  assert.equal(s.isReady(), false);
  assert.equal(s.srv.requests.length, 0, 'no request reached the service');
});

test('close() before the first certificate rejects ready and stops the attempts', T, async () => {
  const s = await setup({}, (settings) => ({ ...settings, tokenFile: '/nonexistent/token' }));
  void s.client.start();
  await waitFor(() => failures(s, 'token') >= 1, 'a failed attempt', 10_000, 10);
  s.client.close();
  await assert.rejects(s.client.ready, /was closed/);
  const n = failures(s, 'token');
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(failures(s, 'token'), n);
});

function answerFor(
  issued: { leafPem: string; chainPem: string; validUntil: Date },
  ca: { issuerChainPem: string },
): { leafCertificate: Buffer; intermediateCertificates: Buffer[]; validUntilUnixMs: number } {
  return {
    leafCertificate: new X509Certificate(issued.leafPem).raw,
    intermediateCertificates: pemBlocks(ca.issuerChainPem).map((b) => b.der),
    validUntilUnixMs: issued.validUntil.getTime(),
  };
}
