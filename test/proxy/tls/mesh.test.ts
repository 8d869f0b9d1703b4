/**
 * The data plane's mutual TLS, in process: an outbound stack and an inbound stack, each
 * holding a certificate from a real CA, with a real application behind the inbound side.
 * Each case gives the endpoint the identity it wants and each proxy the certificate it
 * wants: expired, tampered, from another anchor.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import type { LocalIdentity } from '../../../src/proxy/identity/local.js';
import type { HostPort } from '../../../src/util/addr.js';
import { type Echo, startEchoApp, startH2App } from '../../helpers/apps.js';
import { h2request } from '../../helpers/h2.js';
import { Cleanup, type HttpUpstream, LOOPBACK, RawConn, request, startTcpServer } from '../../helpers/net.js';
import { TestPki } from '../../helpers/pki.js';
import { findSample, sumSamples } from '../../helpers/prom.js';
import { AUTHORITY, closeSide, meshIdentities, metrics, proxyPair, side } from '../../helpers/stacks.js';

const T = { timeout: 30_000 };

function get(via: HostPort, path = '/', headers: http.OutgoingHttpHeaders = {}, body?: string) {
  return request(
    {
      host: via.host,
      port: via.port,
      path,
      method: body ? 'POST' : 'GET',
      headers: { host: AUTHORITY, ...headers },
    },
    body,
  );
}

describe('mutual TLS between proxies', () => {
  const cleanup = new Cleanup();
  let pki: TestPki;
  let app: HttpUpstream;
  let web: LocalIdentity;
  let client: LocalIdentity;

  before(async () => {
    ({ pki, web, client } = await meshIdentities());
    app = await startEchoApp();
    cleanup.add(() => app.close());
  });
  after(() => cleanup.run());

  test(
    'HTTP/1 goes over mTLS and HTTP/2, and reaches the app as HTTP/1 with the client identity',
    T,
    async () => {
      const m = await proxyPair(client, web, { host: LOOPBACK, port: app.port });
      cleanup.add(() => m.close());
      const before = app.requests;
      const res = await get(m.client.addr, '/hello?x=1', { 'x-custom': 'a', 'weft-client-id': 'forged' });
      assert.equal(res.status, 200, res.body.toString());
      const echo = JSON.parse(res.body.toString()) as Echo;
      assert.equal(app.requests, before + 1);
      assert.equal(echo.httpVersion, '1.1');
      assert.equal(echo.url, '/hello?x=1');
      const headers = new Map<string, string[]>();
      for (let i = 0; i < echo.rawHeaders.length; i += 2) {
        const k = (echo.rawHeaders[i] as string).toLowerCase();
        headers.set(k, [...(headers.get(k) ?? []), echo.rawHeaders[i + 1] as string]);
      }
      assert.deepEqual(
        headers.get('weft-client-id'),
        [client.name],
        'the proven identity, not the forged one',
      );
      assert.deepEqual(headers.get('x-custom'), ['a']);
      assert.deepEqual(headers.get('host'), [AUTHORITY]);
      assert.equal(headers.get('weft-orig-proto'), undefined, 'the marker stays between the proxies');

      const out = metrics(m.client);
      assert.equal(
        findSample(out, 'request_total', {
          direction: 'outbound',
          tls: 'true',
          server_id: web.name,
          dst_pod: 'web-1',
        })?.value,
        1,
      );
      assert.equal(
        findSample(out, 'tcp_open_total', { peer: 'dst', tls: 'true', server_id: web.name })?.value,
        1,
      );
      const inn = metrics(m.server);
      assert.equal(
        findSample(inn, 'request_total', { direction: 'inbound', tls: 'true', client_id: client.name })
          ?.value,
        1,
      );
      assert.equal(
        findSample(inn, 'tcp_open_total', { peer: 'src', tls: 'true', client_id: client.name })?.value,
        1,
      );
    },
  );

  test('bodies, chunked uploads with trailers, and many requests share one TLS connection', T, async () => {
    const m = await proxyPair(client, web, { host: LOOPBACK, port: app.port });
    cleanup.add(() => m.close());
    const body = 'x'.repeat(200_000);
    const posted = await get(m.client.addr, '/upload', {}, body);
    const echo = JSON.parse(posted.body.toString()) as Echo;
    assert.equal(echo.bodyLength, body.length);

    // Chunked with trailers: the trailers reach the app.
    const chunked = await new Promise<Echo>((resolve, reject) => {
      const req = http.request(
        {
          host: LOOPBACK,
          port: m.client.addr.port,
          method: 'POST',
          path: '/t',
          headers: { host: AUTHORITY, trailer: 'x-sum' },
        },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve(JSON.parse(text) as Echo));
        },
      );
      req.on('error', reject);
      req.write('part one,');
      req.addTrailers({ 'x-sum': '42' });
      req.end('part two');
    });
    assert.equal(chunked.bodyLength, 'part one,part two'.length);
    assert.deepEqual(
      chunked.trailers.map((s) => s.toLowerCase()),
      ['x-sum', '42'],
    );

    // A large response streams back; 40 concurrent requests use the one session.
    const big = await get(m.client.addr, '/', { 'x-size': '1000000' });
    assert.equal(big.body.length, 1_000_000);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => get(m.client.addr, `/${i}`)));
    assert.ok(results.every((r) => r.status === 200));
    assert.equal(sumSamples(metrics(m.server), 'tcp_open_total', { direction: 'inbound', peer: 'src' }), 1);
  });

  test('HTTP/2 goes over mTLS as HTTP/2, trailers and all', T, async () => {
    const h2app = await startH2App();
    cleanup.add(() => h2app.close());
    const m = await proxyPair(client, web, { host: LOOPBACK, port: h2app.port });
    cleanup.add(() => m.close());
    const session = http2.connect(`http://${LOOPBACK}:${m.client.addr.port}`);
    cleanup.add(() => session.destroy());
    const res = await h2request(
      session,
      { ':method': 'POST', ':path': '/echo', ':authority': AUTHORITY, 'content-type': 'application/grpc' },
      'ping',
    );
    assert.equal(res.status, 200);
    assert.equal(res.trailers?.['x-trailer'], 'done');
    assert.equal(h2app.streams(), 1);
    assert.equal(findSample(metrics(m.server), 'request_total', { client_id: client.name })?.value, 1);
  });

  test('CONNECT tunnels go over mTLS behind a transport header', T, async () => {
    const echo = await startTcpServer((s: net.Socket) => s.pipe(s));
    cleanup.add(() => echo.close());
    const m = await proxyPair(client, web, { host: LOOPBACK, port: echo.port });
    cleanup.add(() => m.close());
    const c = await RawConn.connect(m.client.addr.port);
    cleanup.add(() => c.destroy());
    c.write(`CONNECT ${AUTHORITY} HTTP/1.1\r\nhost: ${AUTHORITY}\r\n\r\n`);
    const established = 'HTTP/1.1 200 Connection Established\r\n\r\n';
    assert.equal((await c.readAtLeast(established.length)).toString(), established);
    c.write('opaque bytes');
    assert.equal((await c.readAtLeast('opaque bytes'.length)).toString(), 'opaque bytes');
    assert.equal(
      findSample(metrics(m.server), 'tcp_open_total', { peer: 'src', client_id: client.name })?.value,
      1,
    );
  });

  test('plaintext to the inbound side cannot forge weft-client-id', T, async () => {
    const server = await side('inbound', web, { host: LOOPBACK, port: app.port });
    cleanup.add(() => closeSide(server));
    const res = await request(
      { host: LOOPBACK, port: server.addr.port, path: '/', headers: { 'weft-client-id': client.name } },
      undefined,
    );
    const echo = JSON.parse(res.body.toString()) as Echo;
    assert.ok(!echo.rawHeaders.some((h) => h.toLowerCase() === 'weft-client-id'));
    assert.ok(
      findSample(metrics(server), 'request_total', {
        tls: 'no_identity',
        no_tls_reason: 'no_tls_from_remote',
      }),
    );
  });

  test("the application's own TLS passes through untouched", T, async () => {
    const appTls = await pki.identity('app', { name: 'app.example.com' });
    const tlsApp = tls.createServer({ key: appTls.keyPem, cert: appTls.chainPem }, (s) =>
      s.end('from the app'),
    );
    await new Promise<void>((r) => tlsApp.listen(0, LOOPBACK, r));
    cleanup.add(() => tlsApp.close());
    const port = (tlsApp.address() as net.AddressInfo).port;
    const server = await side('inbound', web, { host: LOOPBACK, port });
    cleanup.add(() => closeSide(server));
    const got = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({
        host: LOOPBACK,
        port: server.addr.port,
        servername: 'app.example.com',
        ca: appTls.anchorsPem,
      });
      let text = '';
      s.on('data', (c) => (text += c));
      s.on('end', () => resolve(text));
      s.on('error', reject);
    });
    assert.equal(got, 'from the app');
  });

  describe('refusals: no request reaches the app, and nothing falls back to plaintext', () => {
    const refused = async (
      clientId: LocalIdentity,
      serverId: LocalIdentity,
      expected: string,
      side: 'outbound' | 'inbound',
      reason: string,
      says: RegExp,
    ): Promise<void> => {
      const m = await proxyPair(clientId, serverId, { host: LOOPBACK, port: app.port }, expected);
      cleanup.add(() => m.close());
      const before = app.requests;
      const res = await get(m.client.addr);
      assert.equal(res.status, 502, res.body.toString());
      assert.match(String(res.headers['weft-proxy-error']), says);
      assert.equal(app.requests, before, 'the app saw nothing');
      const s = side === 'outbound' ? m.client : m.server;
      assert.equal(
        findSample(metrics(s), 'tls_handshake_failures_total', { direction: side, reason })?.value,
        1,
        s.registry.render(),
      );
      const warned = s.logs.filter((r) => r.level === 40 && /mTLS/.test(String(r.msg)));
      assert.equal(warned.length, 1, JSON.stringify(s.logs));
      assert.equal(warned[0]?.reason, reason, 'the log names the reason');
      if (side === 'outbound') assert.equal(warned[0]?.expected, expected, 'and the identity expected');
    };

    test('a server holding another identity than discovery named', T, async () => {
      // A proxy that answers for web's name with api's certificate.
      const api = await pki.identity('api');
      const impostor = { ...api, name: web.name };
      await refused(
        client,
        impostor,
        web.name,
        'outbound',
        'identity_mismatch',
        /proved api\.default.* expected web\.default/,
      );
    });

    test('an endpoint that does not answer TLS for the identity discovery named', T, async () => {
      // Its proxy holds web; the client expects api: the SNI is not its own, so the bytes
      // go to the application, which does not speak TLS.
      await refused(
        client,
        web,
        'api.default.serviceaccount.identity.weft.cluster.local',
        'outbound',
        'handshake',
        /did not answer with TLS/,
      );
    });

    test('a server whose certificate has expired', T, async () => {
      const old = await pki.identity('web', {
        notBefore: new Date(Date.now() - 7200_000),
        notAfter: new Date(Date.now() - 3600_000),
      });
      await refused(client, old, web.name, 'outbound', 'expired', /expired/);
    });

    test('a server whose certificate comes from another trust anchor', T, async () => {
      const other = await TestPki.create();
      const stranger = await other.identity('web', { anchorsPem: pki.anchorPem });
      await refused(client, stranger, web.name, 'outbound', 'untrusted', /trust anchors/);
    });

    test('a server whose certificate was tampered with', T, async () => {
      const tampered = await pki.identity('web', { tamper: true });
      await refused(client, tampered, web.name, 'outbound', 'bad_signature', /signature/);
    });

    test('a client whose certificate has expired', T, async () => {
      const old = await pki.identity('vote-bot', {
        notBefore: new Date(Date.now() - 7200_000),
        notAfter: new Date(Date.now() - 3600_000),
      });
      await refused(old, web, web.name, 'inbound', 'expired', /reset|refused|closed/);
    });

    test('a client whose certificate comes from another trust anchor', T, async () => {
      const other = await TestPki.create();
      const stranger = await other.identity('vote-bot', { anchorsPem: pki.anchorPem });
      await refused(stranger, web, web.name, 'inbound', 'untrusted', /reset|refused|closed/);
    });
  });
});
