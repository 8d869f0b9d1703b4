/**
 * Who may tap, and with which certificates: a replica's tap server answers viz's tap
 * identity only, over mutual TLS verified both ways against the mesh's trust anchors, and
 * serves its renewed certificates without a restart (`weft up` issues 3 s certificates
 * here, so the proxy renews about every 2 s).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { CertificateAuthority } from '../../../src/controlplane/identity/ca.js';
import { serviceConstructor } from '../../../src/grpc/protos.js';
import { identityName, tapIdentityName } from '../../../src/identity/names.js';
import { observe, type TapCredentials, TapError, type TapTarget } from '../../../src/viz/tap/client.js';
import { TapIdentity } from '../../../src/viz/tap/identity.js';
import {
  type ControlPlaneHandle,
  serviceYaml,
  startControlPlane,
  startReplica,
  weftOk,
} from '../../helpers/controlplane.js';
import { testCa } from '../../helpers/identity.js';
import { Cleanup, refusedPort, request } from '../../helpers/net.js';
import { scrape, sumSamples } from '../../helpers/prom.js';
import { type ProxyHandle, parseJsonLine } from '../../helpers/proxy.js';
import { collect, openStreams, startTap, stateDirCa, tapTarget } from './helpers.js';

const T = { timeout: 60_000 };
const WEB_ID = identityName('default', 'default');

async function credentialsFor(
  ca: CertificateAuthority,
  name: string,
  anchorsPem?: string,
): Promise<TapCredentials> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const issued = await ca.issue(name, publicKey);
  return {
    certChainPem: issued.chainPem,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    trustAnchorsPem: anchorsPem ?? ca.trustAnchorsPem,
  };
}

/** Expects the observation to fail with a TapError of `reason`; returns it. */
async function refused(
  target: TapTarget,
  credentials: TapCredentials,
  reason: TapError['reason'],
): Promise<TapError> {
  const stream = observe(target, credentials);
  const err = await stream.opened.then(
    () => assert.fail('the tap was accepted'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TapError, String(err));
  assert.equal(err.reason, reason, err.message);
  if (process.env.TAP_DEBUG) console.log(reason, err.message);
  // Iterating says the same, and yields nothing.
  const c = collect(stream);
  const ended = await c.done;
  assert.ok(ended instanceof TapError && ended.reason === reason, String(ended));
  assert.deepEqual(c.events, []);
  return err;
}

/** A TLS handshake with the tap server; the certificate it served, or how it failed. */
function handshake(
  target: TapTarget,
  opts: { cert?: string; key?: string; ca: string },
): Promise<{ serial?: string; validTo?: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: target.address,
      port: target.port ?? 0,
      servername: target.identity,
      ca: opts.ca,
      ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
      ALPNProtocols: ['h2'],
      checkServerIdentity: () => undefined,
    });
    let peer: tls.PeerCertificate | undefined;
    const done = (error?: string): void => {
      socket.destroy();
      resolve({
        ...(peer ? { serial: peer.serialNumber, validTo: peer.valid_to } : {}),
        ...(error ? { error } : {}),
      });
    };
    socket.once('secureConnect', () => {
      peer = socket.getPeerCertificate();
      // TLS 1.3: the server judges the client's certificate after the client's side of the
      // handshake is over; a refusal arrives as an alert on the next read.
      setTimeout(() => done(), 500);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    socket.once('close', () => done('closed'));
  });
}

describe('tap authorization and certificates', () => {
  const cleanup = new Cleanup();
  let cp: ControlPlaneHandle;
  let web: ProxyHandle;
  let ca: CertificateAuthority;
  let tapId: TapIdentity;
  let target: TapTarget;

  before(async () => {
    cp = await startControlPlane({ extraArgs: ['--identity-issuance-lifetime', '3s'], cleanup });
    await weftOk(cp, ['apply', '-f', '-'], serviceYaml('web-svc', { selector: { app: 'web' } }));
    web = (await startReplica(cp, { name: 'web-a' }, cleanup)).proxy;
    ca = await stateDirCa(cp.stateDir);
    tapId = await TapIdentity.start(ca);
    cleanup.add(() => tapId.close());
    target = tapTarget(web, WEB_ID);
  });

  after(() => cleanup.run());

  const refusals = async (reason: string): Promise<number> =>
    sumSamples(await scrape(web.admin), 'tap_observe_refused_total', { reason });

  test("viz's tap identity observes", T, async () => {
    assert.equal(tapId.name, tapIdentityName());
    assert.equal(tapId.name, 'tap.weft-viz.serviceaccount.identity.weft.cluster.local');
    const c = await startTap(target, tapId.current);
    const r = await request({ host: web.inbound.host, port: web.inbound.port, path: '/direct' });
    assert.equal(r.status, 200);
    await c.waitFor(3);
    const [req, , end] = c.events;
    assert.ok(req?.type === 'req' && req.path === '/direct');
    // The body as the plain HTTP/1 leaf forwarded it (the replica answers its name).
    assert.ok(end?.type === 'end' && end.responseBytes === r.body.length && r.body.length === 5);
    // Plaintext from the test: the hop is not mutual TLS, and the source says so.
    assert.equal(req.tls, false);
    assert.equal(req.sourceMeta.tls, 'no_identity');
    await c.close();
  });

  test('another mesh identity gets PERMISSION_DENIED naming the identity it proved', T, async () => {
    const before = await refusals('permission_denied');
    const other = identityName('web', 'default');
    const err = await refused(target, await credentialsFor(ca, other), 'permission_denied');
    assert.equal(err.code, grpc.status.PERMISSION_DENIED);
    assert.ok(err.message.includes(`this client is ${other}`), err.message);
    assert.match(
      err.message,
      /tap is only for tap\.weft-viz\.serviceaccount\.identity\.weft\.cluster\.local/,
    );
    assert.equal(await refusals('permission_denied'), before + 1);
    assert.equal(await openStreams(web.admin), 0);
  });

  test('a client without a certificate fails the TLS handshake', T, async () => {
    const raw = await handshake(target, { ca: ca.trustAnchorsPem });
    assert.match(raw.error ?? '', /CERTIFICATE_REQUIRED|closed|ECONNRESET/, JSON.stringify(raw));
    // The same through gRPC: no call gets through.
    const Ctor = serviceConstructor('tap');
    const client = new Ctor(
      `${target.address}:${target.port}`,
      grpc.credentials.createSsl(Buffer.from(ca.trustAnchorsPem)),
      {
        'grpc.ssl_target_name_override': WEB_ID,
        'grpc.use_local_subchannel_pool': 1,
      },
    );
    const call = (client as unknown as { observe(r: object): grpc.ClientReadableStream<unknown> }).observe({
      maxRps: 1,
    });
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      call.on('data', () => assert.fail('an event reached a client without a certificate'));
      call.on('error', () => {});
      call.on('status', resolve);
    });
    client.close();
    assert.equal(status.code, grpc.status.UNAVAILABLE, status.details);
    assert.equal(await openStreams(web.admin), 0);
  });

  test('a client certificate from other trust anchors fails the handshake', T, async () => {
    const other = await testCa();
    const creds = await credentialsFor(other, tapIdentityName(), ca.trustAnchorsPem);
    const raw = await handshake(target, {
      ca: ca.trustAnchorsPem,
      cert: creds.certChainPem,
      key: creds.keyPem,
    });
    assert.ok(raw.error, `the handshake succeeded: ${JSON.stringify(raw)}`);
    await refused(target, creds, 'unreachable');
    assert.equal(await openStreams(web.admin), 0);
  });

  test("a client trusting other anchors refuses the proxy's certificate", T, async () => {
    const other = await testCa();
    const err = await refused(
      target,
      { ...tapId.current, trustAnchorsPem: other.trustAnchorsPem },
      'unreachable',
    );
    assert.match(err.message, /cannot reach the tap server of default\.default\./);
  });

  test("the client refuses a certificate that does not name the pod's identity", T, async () => {
    const wrong = identityName('web', 'default');
    const err = await refused({ ...target, identity: wrong }, tapId.current, 'unreachable');
    assert.match(
      err.message,
      /names default\.default\.serviceaccount\.identity\.weft\.cluster\.local, not web\.default\./,
    );
  });

  test('a target without a tap port, or where nothing listens, fails clearly', T, async () => {
    const noTap = await refused({ ...target, port: 0 }, tapId.current, 'no_tap');
    assert.match(noTap.message, /has no tap server/);
    const gone = await refused({ ...target, port: await refusedPort() }, tapId.current, 'unreachable');
    assert.match(gone.message, /cannot reach the tap server/);
  });

  test('renewed certificates are served without a restart', T, async () => {
    const creds = { ca: ca.trustAnchorsPem, cert: tapId.current.certChainPem, key: tapId.current.keyPem };
    const first = await handshake(target, creds);
    assert.equal(first.error, undefined, JSON.stringify(first));
    // Past the first certificate's expiry (3 s), with renewals in between.
    await new Promise((r) => setTimeout(r, 4000));
    const issued = web.stdoutLines
      .map(parseJsonLine)
      .filter((r) => r?.msg === 'certificate issued')
      .map((r) => String(r?.serial).toUpperCase());
    assert.ok(issued.length >= 3, `the proxy renewed: ${issued.join(', ')}`);
    const second = await handshake(target, creds);
    assert.equal(second.error, undefined, JSON.stringify(second));
    assert.notEqual(second.serial, first.serial);
    assert.ok(
      issued.includes(String(second.serial).toUpperCase()),
      `${second.serial} not in ${issued.join(', ')}`,
    );
    assert.ok(Date.parse(String(second.validTo)) > Date.now(), 'the served certificate is valid');
    assert.ok(Date.parse(String(first.validTo)) < Date.now(), 'the first certificate has expired');
    // And a tap still works over it.
    const c = await startTap(target, tapId.current);
    await request({ host: web.inbound.host, port: web.inbound.port, path: '/after-renewal' });
    await c.waitFor(3);
    await c.close();
  });
});
