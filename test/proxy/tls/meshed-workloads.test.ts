/**
 * Mutual TLS between real workload proxies meshed by a real `weft up`: on by default,
 * certificates renewed and the issuer rotated with traffic flowing, and refusals that show
 * in the proxies' own logs and metrics.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import tls from 'node:tls';
import {
  CertificateAuthority,
  createIssuer,
  createTrustAnchor,
} from '../../../src/controlplane/identity/ca.js';
import { controlPlaneClient, unary } from '../../../src/grpc/client.js';
import { identityName } from '../../../src/identity/names.js';
import { identityStatePaths } from '../../../src/identity/state-paths.js';
import {
  type ControlPlaneHandle,
  describeFailures,
  Load,
  makeTempDir,
  ownerToken,
  type Replica,
  serviceYaml,
  startClientProxy,
  startControlPlane,
  startReplica,
  weftOk,
} from '../../helpers/controlplane.js';
import { Cleanup, LOOPBACK, viaOutbound, waitFor } from '../../helpers/net.js';
import { TestPki } from '../../helpers/pki.js';
import { dump, type Exposition, findSamples, scrape, sumSamples } from '../../helpers/prom.js';
import { type HostPort, type ProxyHandle, parseJsonLine } from '../../helpers/proxy.js';

const T = { timeout: 90_000 };
const AUTHORITY = 'web.default.svc.cluster.local:80';
const WEB_ID = identityName('default', 'default');
const CLIENT_ID = identityName('vote-bot', 'default');

const cleanup = new Cleanup();
after(() => cleanup.run());

/** A Service `web` (port 80) with one replica behind it, and a meshed client `vote-bot`. */
async function meshedPair(cp: ControlPlaneHandle): Promise<{ web: Replica; client: ProxyHandle }> {
  await weftOk(cp, ['apply', '-f', '-'], serviceYaml('web'));
  const web = await startReplica(cp, { name: 'web-1' }, cleanup);
  const client = await startClientProxy(cp, 'default', cleanup, 'vote-bot');
  return { web, client };
}

const logRecords = (lines: string[], msg: string) =>
  lines.map(parseJsonLine).filter((r): r is Record<string, unknown> => r?.msg === msg);

const refreshes = async (admin: HostPort): Promise<number> =>
  sumSamples(await scrape(admin), 'identity_cert_refresh_count');

/**
 * The requests for the test's authority the proxy counted in `direction`, by their tls
 * label. Only the test's own authority: a request from elsewhere on the host that finds
 * the proxy's port is not the test's traffic.
 */
function requestsByTls(exp: Exposition, direction: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of findSamples(exp, 'request_total', { direction, authority: AUTHORITY })) {
    const k = s.labels.tls ?? '';
    out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}

describe('workloads meshed by weft up', () => {
  test(
    'traffic between two workload proxies is mutual TLS by default, naming both identities',
    T,
    async () => {
      const cp = await startControlPlane({ cleanup });
      const { web, client } = await meshedPair(cp);
      const load = new Load(client.outbound, { authority: AUTHORITY, concurrency: 4, total: 40 });
      await load.done;
      assert.deepEqual(load.failures(), [], describeFailures(load.failures()));

      assert.equal(web.clientIds.length, 40);
      assert.deepEqual(new Set(web.clientIds), new Set([CLIENT_ID]), 'every request names the client');

      const out = await scrape(client.admin);
      assert.deepEqual(requestsByTls(out, 'outbound'), { true: 40 });
      assert.equal(sumSamples(out, 'request_total', { direction: 'outbound', server_id: WEB_ID }), 40);
      assert.equal(sumSamples(out, 'tcp_open_total', { peer: 'dst', tls: 'true', server_id: WEB_ID }), 1);
      const inn = await scrape(web.proxy.admin);
      assert.deepEqual(requestsByTls(inn, 'inbound'), { true: 40 });
      assert.equal(sumSamples(inn, 'request_total', { direction: 'inbound', client_id: CLIENT_ID }), 40);
      await cp.stop();
    },
  );

  test(
    'renewals, and an issuer rotated under the same anchor, with traffic flowing: no request fails',
    T,
    async (t) => {
      // The user's own anchor and two issuers under it, as files.
      const dir = makeTempDir('weft-rotation-');
      const anchor = await createTrustAnchor();
      const issuers = [await createIssuer(anchor), await createIssuer(anchor)];
      const anchorsFile = join(dir, 'anchors.pem');
      writeFileSync(anchorsFile, anchor.certPem);
      const issuerFlags = issuers.map((issuer, i) => {
        const crt = join(dir, `issuer-${i}.crt`);
        const key = join(dir, `issuer-${i}.key`);
        writeFileSync(crt, issuer.certPem);
        writeFileSync(key, issuer.keyPem, { mode: 0o600 });
        return [
          '--identity-trust-anchors-file',
          anchorsFile,
          '--identity-issuer-certificate-file',
          crt,
          '--identity-issuer-key-file',
          key,
          // Renewal every 7 s, so that a few happen within the test.
          '--identity-issuance-lifetime',
          '10s',
        ];
      });
      let cp = await startControlPlane({ extraArgs: issuerFlags[0], cleanup });
      const { web, client } = await meshedPair(cp);
      const proxies = [web.proxy, client];

      /** The issuer each workload's served certificate chain names (by `weft identity`). */
      const servedIssuers = async (): Promise<string[]> => {
        const issuerOf: string[] = [];
        for (const workload of ['web', 'vote-bot']) {
          const out = await weftOk(cp, ['identity', workload, '-o', 'json', '--state-dir', cp.stateDir]);
          const [pod] = JSON.parse(out) as Array<{ verified: boolean; certificate?: { chain: string[] } }>;
          assert.ok(pod?.verified, out);
          issuerOf.push(new X509Certificate(pod.certificate?.chain[1] ?? '').fingerprint256);
        }
        return issuerOf;
      };
      const fingerprints = issuers.map((i) => new X509Certificate(i.certPem).fingerprint256);
      assert.deepEqual(await servedIssuers(), [fingerprints[0], fingerprints[0]]);

      const load = new Load(client.outbound, { authority: AUTHORITY, concurrency: 8 });
      try {
        // Each proxy renews under load.
        await waitFor(
          async () => (await Promise.all(proxies.map((p) => refreshes(p.admin)))).every((n) => n >= 2),
          'a renewal by each proxy',
          20_000,
          50,
        );
        // Right after the renewals, restart weft up on the same state dir and ports with
        // the second issuer: the proxies keep serving on their certificates meanwhile.
        assert.equal(await cp.stop('SIGINT'), 0);
        const before = load.count;
        cp = await startControlPlane({
          stateDir: cp.stateDir,
          addr: cp.grpcAddr,
          extraArgs: [...(issuerFlags[1] as string[]), '--identity-addr', cp.identityAddr],
          cleanup,
        });
        t.diagnostic(`${load.count - before} requests while weft up restarted`);
        await waitFor(
          async () => (await servedIssuers()).every((f) => f === fingerprints[1]),
          'both proxies to serve a certificate from the new issuer',
          20_000,
          200,
        );
        await load.waitMore(200);
      } finally {
        await load.stop();
      }
      t.diagnostic(`${load.count} requests`);
      assert.deepEqual(load.failures(), [], describeFailures(load.failures()));
      for (const p of proxies) {
        assert.equal(
          sumSamples(await scrape(p.admin), 'identity_cert_refresh_failures_total'),
          0,
          'no renewal failed',
        );
      }
      const out = await scrape(client.admin);
      assert.deepEqual(
        requestsByTls(out, 'outbound'),
        { true: load.count },
        `every request over mTLS\n${dump(out, 'request_total')}`,
      );
      assert.deepEqual(new Set(web.clientIds), new Set([CLIENT_ID]));
      await cp.stop();
    },
  );

  test('refusals show in the proxy log and metrics, and nothing reaches the app', T, async () => {
    const cp = await startControlPlane({ cleanup });
    const { web, client } = await meshedPair(cp);
    const served = web.servedAt.length;

    // Inbound: a client whose certificate comes from another trust anchor.
    const stranger = await (await TestPki.create()).identity('vote-bot');
    const err = await new Promise<string>((resolve) => {
      const s = tls.connect({
        host: LOOPBACK,
        port: web.inbound.port,
        servername: WEB_ID,
        key: stranger.keyPem,
        cert: stranger.chainPem,
        ca: stranger.anchorsPem,
        checkServerIdentity: () => undefined,
        rejectUnauthorized: false,
      });
      s.on('secureConnect', () => s.write('GET / HTTP/1.1\r\nhost: web\r\n\r\n'));
      s.on('data', () => resolve('answered'));
      s.on('error', (e) => resolve(e.message));
      s.on('close', () => resolve('closed'));
    });
    assert.notEqual(err, 'answered');
    await waitFor(
      () => logRecords(web.proxy.stdoutLines, 'refused an mTLS client').length > 0,
      'the refusal in the server proxy log',
    );
    const refused = logRecords(web.proxy.stdoutLines, 'refused an mTLS client')[0];
    assert.equal(refused?.level, 40, 'logged as a warning');
    assert.equal(refused?.reason, 'untrusted');
    assert.equal(
      sumSamples(await scrape(web.proxy.admin), 'tls_handshake_failures_total', {
        direction: 'inbound',
        reason: 'untrusted',
      }),
      1,
    );

    // Outbound: an endpoint registered for service account `default` whose certificate,
    // from the mesh's own issuer, names `imposter` instead.
    const paths = identityStatePaths(cp.stateDir);
    const ca = await CertificateAuthority.create({
      trustAnchorsPem: readFileSync(paths.trustAnchors, 'utf8'),
      issuerCertPem: readFileSync(paths.issuerCertificate, 'utf8'),
      issuerKeyPem: readFileSync(paths.issuerKey, 'utf8'),
    });
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const issued = await ca.issue(identityName('imposter', 'default'), publicKey);
    let received = 0;
    const imposter = tls.createServer(
      {
        key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
        cert: issued.chainPem,
        ALPNProtocols: ['h2'],
      },
      (s) =>
        s
          .on('data', (d: Buffer) => {
            received += d.length;
          })
          .on('error', () => {}),
    );
    await new Promise<void>((r) => imposter.listen(0, LOOPBACK, r));
    cleanup.add(() => new Promise<void>((r) => imposter.close(() => r())));
    const registry = controlPlaneClient('registry', cp.grpc, ownerToken(cp));
    cleanup.add(() => registry.close());
    await unary(
      registry,
      'register',
      {
        namespace: 'default',
        name: 'imposter',
        pod: 'imposter-1',
        serviceAccount: 'default',
        labels: { app: 'imposter' },
        address: LOOPBACK,
        port: (imposter.address() as AddressInfo).port,
        namedPorts: {},
        starting: false,
      },
      5000,
    );
    await weftOk(cp, ['apply', '-f', '-'], serviceYaml('imposter', { selector: { app: 'imposter' } }));
    const res = await viaOutbound(client.outbound, 'http://imposter.default.svc.cluster.local/');
    assert.equal(res.status, 502, res.body.toString());
    await waitFor(
      () => logRecords(client.stdoutLines, 'mTLS handshake failed').length > 0,
      'the refusal in the client proxy log',
    );
    const failed = logRecords(client.stdoutLines, 'mTLS handshake failed')[0];
    assert.equal(failed?.level, 40, 'logged as a warning');
    assert.equal(failed?.reason, 'identity_mismatch');
    assert.equal(failed?.expected, WEB_ID);
    assert.match(String(failed?.err), /imposter\.default\.serviceaccount/);
    assert.ok(
      sumSamples(await scrape(client.admin), 'tls_handshake_failures_total', {
        direction: 'outbound',
        reason: 'identity_mismatch',
      }) >= 1,
    );
    assert.equal(received, 0, 'no request went to the imposter, in plaintext or otherwise');
    assert.equal(web.servedAt.length, served, 'nothing reached the app');
    await cp.stop();
  });
});
