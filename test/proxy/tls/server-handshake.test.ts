/**
 * Inbound mTLS handshakes that never finish (found by the 'tls' chaos scenarios): each is
 * closed by the handshake timeout, the connection the proxy accepted included (Node
 * destroyed only the TLS socket, so every half-open handshake kept a descriptor), and it
 * is counted as a timeout (Node's error says "TLS handshake timeout", which the old check
 * for "timed out" missed).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import { Registry } from '../../../src/metrics/registry.js';
import { TlsMetrics } from '../../../src/proxy/tls/metrics.js';
import { MeshTlsServer } from '../../../src/proxy/tls/server.js';
import { captureLogger } from '../../helpers/identity.js';
import { LOOPBACK, withTimeout } from '../../helpers/net.js';
import { TestPki } from '../../helpers/pki.js';
import { parseProm, sumSamples } from '../../helpers/prom.js';

test('a ClientHello never followed up: the accepted connection is closed and counted as a timeout', async () => {
  const pki = await TestPki.create();
  const web = await pki.identity('web');
  const registry = new Registry();
  const { log } = captureLogger('error');
  const mts = new MeshTlsServer(
    web,
    new TlsMetrics(registry),
    log,
    () => assert.fail('no handshake completes'),
    200,
  );
  const accepted: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    accepted.push(s);
    mts.accept(s);
  });
  await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
  const { port } = server.address() as net.AddressInfo;

  // Capture a real ClientHello for the identity, then replay it on connections that stop there.
  const hello = await new Promise<Buffer>((resolve) => {
    const cap = net.createServer((s) =>
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
        cap.close();
      }),
    );
    cap.listen(0, LOOPBACK, () => {
      const c = tls.connect({
        host: LOOPBACK,
        port: (cap.address() as net.AddressInfo).port,
        servername: web.name,
      });
      c.on('error', () => {});
    });
  });
  const clients = Array.from({ length: 5 }, () => {
    const c = net.connect({ host: LOOPBACK, port }, () => c.write(hello));
    c.on('error', () => {});
    c.on('data', () => {});
    return c;
  });
  try {
    while (accepted.length < clients.length) await new Promise((r) => setImmediate(r));
    await withTimeout(
      Promise.all(accepted.map((s) => (s.destroyed ? undefined : new Promise((r) => s.once('close', r))))),
      10_000,
      'every accepted connection closed by the handshake timeout',
    );
    assert.equal(
      sumSamples(parseProm(registry.render()), 'tls_handshake_failures_total', {
        direction: 'inbound',
        reason: 'timeout',
      }),
      5,
    );
  } finally {
    for (const c of clients) c.destroy();
    for (const s of accepted) s.destroy();
    server.close();
  }
});
