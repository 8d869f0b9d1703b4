/**
 * Identity.Certify over real TLS, with real tokens from real registrations: in-process
 * (the control plane as `weft up` builds it) and through `weft up` itself.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { registryService } from '../../../src/catalog/local/api.js';
import { LocalCallers } from '../../../src/catalog/local/callers.js';
import { LocalCatalog } from '../../../src/catalog/local/local-catalog.js';
import { SnapshotStore } from '../../../src/catalog/local/store.js';
import { loadOrCreateStateCredentials } from '../../../src/controlplane/identity/credentials.js';
import { ControlPlane } from '../../../src/controlplane/server.js';
import { controlPlaneClient, identityClient, unary } from '../../../src/grpc/client.js';
import type {
  CertifyRequestMessage,
  CertifyResponseMessage,
  LeaseMessage,
  WorkloadMessage,
} from '../../../src/grpc/protos.js';
import { DEFAULT_DOMAIN, identityName, identityServiceName } from '../../../src/identity/names.js';
import { formatHostPort, type HostPort } from '../../../src/util/addr.js';
import { makeTempDir, ownerToken, startControlPlane } from '../../helpers/controlplane.js';
import { waitFor } from '../../helpers/net.js';
import { findSample, scrape } from '../../helpers/prom.js';
import { makeCsr, tamper } from './fixtures.js';

const T = { timeout: 60_000 };

function workloadMsg(pod: string, extra: Partial<WorkloadMessage> = {}): WorkloadMessage {
  return {
    namespace: 'shop',
    name: 'web',
    pod,
    serviceAccount: 'web',
    labels: { app: 'web' },
    address: '127.0.0.1',
    port: 20_000 + Math.floor(Math.random() * 10_000),
    namedPorts: {},
    starting: true,
    ...extra,
  };
}

function grpcError(err: unknown): grpc.ServiceError {
  assert.ok(err && typeof err === 'object' && 'code' in err, String(err));
  return err as grpc.ServiceError;
}

async function certifyCount(admin: HostPort, result: string): Promise<number> {
  return findSample(await scrape(admin), 'identity_certify_total', { result })?.value ?? 0;
}

describe('Identity.Certify in process', () => {
  const dir = makeTempDir();
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  let catalog: LocalCatalog;
  let plane: ControlPlane;
  let bound: { grpc: HostPort; admin: HostPort; identity?: HostPort };
  let registry: grpc.Client;
  let lease: LeaseMessage;
  let token: Buffer;
  let anchorsPem: string;
  let client: grpc.Client;
  const ID = identityName('web', 'shop');
  const csrDir = makeTempDir();

  const certify = (req: Partial<CertifyRequestMessage>, c = client): Promise<CertifyResponseMessage> =>
    unary(c, 'certify', { identity: ID, token, certificateSigningRequest: Buffer.alloc(0), ...req }, 10_000);

  /** Certify is refused with `code`, `details` matching, the refusal logged and counted as `result`. */
  async function refused(
    req: Partial<CertifyRequestMessage>,
    code: grpc.status,
    result: string,
    details: RegExp,
  ): Promise<void> {
    const admin = bound.admin;
    const before = await certifyCount(admin, result);
    const logged = logs.length;
    await assert.rejects(certify(req), (err: unknown) => {
      const e = grpcError(err);
      assert.equal(e.code, code, `${result}: ${grpc.status[e.code]} ${e.details}`);
      assert.match(e.details, details, result);
      return true;
    });
    assert.equal(await certifyCount(admin, result), before + 1, `identity_certify_total{result="${result}"}`);
    const warn = logs.slice(logged).find((l) => l.msg === 'certify refused');
    assert.ok(warn, `a warning for ${result}`);
    assert.equal(warn.level, 40);
    assert.equal(warn.reason, result);
    assert.ok(!JSON.stringify(logs).includes(token.toString()), 'no token in the logs');
  }

  before(async () => {
    catalog = new LocalCatalog(new SnapshotStore(dir), { leaseMs: 10_000 });
    const callers = new LocalCallers(dir);
    const settings = { trustDomain: 'cluster.local', issuanceLifetimeMs: 86_400_000, clockSkewMs: 20_000 };
    const { ca, paths } = await loadOrCreateStateCredentials(dir, settings);
    const identityAddr = { addr: '' };
    plane = new ControlPlane(
      catalog,
      [
        {
          name: 'registry',
          implementation: registryService(catalog, callers, log, {
            domain: DEFAULT_DOMAIN,
            trustAnchorsFile: paths.trustAnchors,
            addr: () => identityAddr.addr,
          }),
        },
      ],
      {
        grpcAddr: { host: '127.0.0.1', port: 0 },
        adminAddr: { host: '127.0.0.1', port: 0 },
        clusterDomain: 'cluster.local',
        identity: { ca, tokens: catalog.tokens, addr: { host: '127.0.0.1', port: 0 } },
        log,
      },
    );
    bound = await plane.start();
    assert.ok(bound.identity);
    identityAddr.addr = formatHostPort(bound.identity);
    registry = controlPlaneClient('registry', bound.grpc, ownerToken({ stateDir: dir }));
    lease = await unary<WorkloadMessage, LeaseMessage>(registry, 'register', workloadMsg('web-1'), 5000);
    assert.ok(lease.identity);
    token = readFileSync(lease.identity.tokenFile);
    anchorsPem = readFileSync(lease.identity.trustAnchorsFile, 'utf8');
    client = identityClient(lease.identity.addr, anchorsPem, lease.identity.serverName);
  });

  after(async () => {
    client?.close();
    registry?.close();
    await plane?.stop();
    catalog?.close();
  });

  test('the Lease says how to get a certificate; the token file is 0600', () => {
    assert.deepEqual(lease.identity, {
      name: ID,
      tokenFile: `${dir}/tokens/shop/web-1.token`,
      trustAnchorsFile: `${dir}/identity/trust-anchors.pem`,
      addr: formatHostPort(bound.identity as HostPort),
      serverName: identityServiceName(),
    });
    assert.equal(statSync(lease.identity?.tokenFile as string).mode & 0o777, 0o600);
    // Registered as starting: known, not ready.
    assert.equal(catalog.workloads.get('shop', 'web-1')?.ready, false);
  });

  test('a CSR with a good token gets a leaf chaining to the trust anchors', async () => {
    const before = await certifyCount(bound.admin, 'ok');
    const csr = makeCsr(csrDir, ID);
    const res = await certify({ certificateSigningRequest: csr.der });
    const leaf = new X509Certificate(res.leafCertificate);
    assert.equal(res.intermediateCertificates.length, 1);
    const issuer = new X509Certificate(res.intermediateCertificates[0] as Buffer);
    const anchor = new X509Certificate(anchorsPem);
    assert.ok(leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey));
    assert.ok(issuer.checkIssued(anchor) && issuer.verify(anchor.publicKey));
    assert.equal(leaf.subjectAltName, `DNS:${ID}`);
    assert.equal(res.validUntilUnixMs, Date.parse(leaf.validTo));
    assert.ok(Math.abs(res.validUntilUnixMs - (Date.now() + 86_400_000)) < 5000);
    assert.equal(await certifyCount(bound.admin, 'ok'), before + 1);
    assert.ok(logs.some((l) => l.msg === 'certificate issued' && l.identity === ID));
  });

  test('the Identity server proves its own name; a client expecting another name refuses it', async () => {
    const wrong = identityClient(
      formatHostPort(bound.identity as HostPort),
      anchorsPem,
      'other.weft.serviceaccount.identity.weft.cluster.local',
    );
    try {
      await assert.rejects(
        certify({}, wrong),
        (err: unknown) => grpcError(err).code === grpc.status.UNAVAILABLE,
      );
    } finally {
      wrong.close();
    }
    // And one that trusts other anchors refuses it too.
    const { createTrustAnchor } = await import('../../../src/controlplane/identity/ca.js');
    const stranger = identityClient(
      formatHostPort(bound.identity as HostPort),
      (await createTrustAnchor()).certPem,
      identityServiceName(),
    );
    try {
      await assert.rejects(
        certify({}, stranger),
        (err: unknown) => grpcError(err).code === grpc.status.UNAVAILABLE,
      );
    } finally {
      stranger.close();
    }
  });

  test('refusals: token missing, malformed, unknown', async () => {
    const csr = makeCsr(csrDir, ID).der;
    await refused(
      { token: Buffer.alloc(0), certificateSigningRequest: csr },
      grpc.status.UNAUTHENTICATED,
      'token_missing',
      /no token/,
    );
    await refused(
      { token: Buffer.from('hello'), certificateSigningRequest: csr },
      grpc.status.UNAUTHENTICATED,
      'token_malformed',
      /not a local platform token/,
    );
    const forged = Buffer.from(`weft-local-v1.${'A'.repeat(43)}`);
    await refused(
      { token: forged, certificateSigningRequest: csr },
      grpc.status.UNAUTHENTICATED,
      'token_unknown',
      /unknown/,
    );
  });

  test('refusals: another identity than the token proves, or not of this trust domain', async () => {
    const other = identityName('admin', 'shop');
    await refused(
      { identity: other, certificateSigningRequest: makeCsr(csrDir, other).der },
      grpc.status.PERMISSION_DENIED,
      'identity_mismatch',
      new RegExp(`the token proves identity ${ID.replace(/\./g, '\\.')}, not ${other.replace(/\./g, '\\.')}`),
    );
    const foreign = 'web.shop.serviceaccount.identity.weft.example.org';
    await refused(
      { identity: foreign, certificateSigningRequest: makeCsr(csrDir, foreign).der },
      grpc.status.INVALID_ARGUMENT,
      'identity_invalid',
      /is not a name of trust domain cluster\.local/,
    );
  });

  test('refusals: bad CSRs (another name, RSA, tampered, garbage, extra SAN types)', async () => {
    const other = identityName('admin', 'shop');
    const cases: Array<[Buffer, string, RegExp]> = [
      [makeCsr(csrDir, other).der, 'csr_names', /common name/],
      [makeCsr(csrDir, ID, { cn: null, san: `DNS:${other}` }).der, 'csr_names', /DNS names must be exactly/],
      [makeCsr(csrDir, ID, { san: `DNS:${ID},IP:127.0.0.1` }).der, 'csr_names', /other than DNS names/],
      [makeCsr(csrDir, ID, { kind: 'rsa' }).der, 'csr_key', /RSA key; it must be ECDSA P-256/],
      [tamper(makeCsr(csrDir, ID).der), 'csr_signature', /signature does not verify/],
      [Buffer.from('garbage'), 'csr_malformed', /not a DER PKCS#10/],
      [Buffer.alloc(0), 'csr_malformed', /not a DER PKCS#10/],
    ];
    for (const [der, result, details] of cases) {
      await refused({ certificateSigningRequest: der }, grpc.status.INVALID_ARGUMENT, result, details);
    }
  });

  test('refusals: oversized fields', async () => {
    const csr = makeCsr(csrDir, ID).der;
    await refused(
      { certificateSigningRequest: Buffer.alloc(16 * 1024 + 1) },
      grpc.status.INVALID_ARGUMENT,
      'too_large',
      /at most 16384/,
    );
    await refused(
      { token: Buffer.alloc(8 * 1024 + 1), certificateSigningRequest: csr },
      grpc.status.INVALID_ARGUMENT,
      'too_large',
      /at most 8192/,
    );
    await refused(
      { identity: 'a'.repeat(254), certificateSigningRequest: csr },
      grpc.status.INVALID_ARGUMENT,
      'too_large',
      /at most 253/,
    );
  });

  test('the token stops working when its workload deregisters, and its file is deleted', async () => {
    const l = await unary<WorkloadMessage, LeaseMessage>(registry, 'register', workloadMsg('web-2'), 5000);
    const file = l.identity?.tokenFile as string;
    const t2 = readFileSync(file);
    const id = identityName('web', 'shop');
    await certify({ token: t2, certificateSigningRequest: makeCsr(csrDir, id).der });
    await unary(registry, 'deregister', { namespace: 'shop', pod: 'web-2' }, 5000);
    assert.equal(existsSync(file), false);
    await refused(
      { token: t2, certificateSigningRequest: makeCsr(csrDir, id).der },
      grpc.status.UNAUTHENTICATED,
      'token_unknown',
      /no longer valid|unknown/,
    );
  });

  test('every result has a series from the start', async () => {
    const exp = await scrape(bound.admin);
    for (const r of ['ok', 'token_missing', 'identity_mismatch', 'csr_key', 'internal']) {
      assert.ok(findSample(exp, 'identity_certify_total', { result: r }), r);
    }
    assert.equal(exp.types.get('identity_certify_total'), 'counter');
  });
});

describe('Identity through weft up', () => {
  test(
    'register (starting), certify over TLS, become ready; the token file goes with the registration',
    T,
    async () => {
      const cp = await startControlPlane({ leaseDuration: '1s' });
      const registry = controlPlaneClient('registry', cp.grpc, ownerToken(cp));
      let client: grpc.Client | undefined;
      try {
        const ready = cp.logs('control plane ready')[0];
        assert.equal(ready?.identity, cp.identityAddr);
        const w = workloadMsg('e2e-1', { namespace: 'default', serviceAccount: 'api' });
        const lease = await unary<WorkloadMessage, LeaseMessage>(registry, 'register', w, 5000);
        const cfg = lease.identity;
        assert.ok(cfg);
        assert.equal(cfg.addr, cp.identityAddr);
        assert.equal(cfg.trustAnchorsFile, `${cp.stateDir}/identity/trust-anchors.pem`);
        const id = identityName('api', 'default');
        assert.equal(cfg.name, id);
        assert.equal(statSync(cfg.tokenFile).mode & 0o777, 0o600);

        // Starting: no endpoint yet.
        const endpoints = (): Promise<string> =>
          unary<
            { kind: string; namespace: string; allNamespaces: boolean; name: string },
            { objects: string[] }
          >(
            controlPlaneClient('resources', cp.grpc, ownerToken(cp)),
            'list',
            { kind: 'workloads', namespace: 'default', allNamespaces: false, name: '' },
            5000,
          ).then((r) => r.objects.join('\n'));
        assert.match(await endpoints(), /"ready":false/);

        client = identityClient(cfg.addr, readFileSync(cfg.trustAnchorsFile), cfg.serverName);
        const res = await unary<CertifyRequestMessage, CertifyResponseMessage>(
          client,
          'certify',
          {
            identity: id,
            token: readFileSync(cfg.tokenFile),
            certificateSigningRequest: makeCsr(makeTempDir(), id).der,
          },
          10_000,
        );
        assert.equal(new X509Certificate(res.leafCertificate).subjectAltName, `DNS:${id}`);
        await assert.rejects(
          unary(
            client,
            'certify',
            { identity: id, token: Buffer.from('nope'), certificateSigningRequest: Buffer.alloc(0) },
            10_000,
          ),
          (err: unknown) => grpcError(err).code === grpc.status.UNAUTHENTICATED,
        );
        assert.equal(await certifyCount(cp.admin, 'ok'), 1);
        assert.equal(await certifyCount(cp.admin, 'token_malformed'), 1);
        await waitFor(
          () => cp.logs('certify refused').some((l) => l.reason === 'token_malformed'),
          'the refusal logged with its reason',
        );

        await unary(registry, 'register', { ...w, starting: false }, 5000);
        assert.match(await endpoints(), /"ready":true/);
        // No more renewals: the lease lapses, and the token file goes.
        const token = readFileSync(cfg.tokenFile, 'utf8');
        await waitFor(() => !existsSync(cfg.tokenFile), 'the token file deleted at lease expiry', 5000);
        assert.ok(!cp.stdoutLines.join('\n').includes(token), 'no token in the logs');
      } finally {
        client?.close();
        registry.close();
        await cp.stop();
      }
    },
  );
});
