/**
 * CONNECT tunnels (src/proxy/layers/tunnel.ts), in process: an outbound stack whose
 * discovery names one meshed endpoint, and the endpoint's inbound stack in front of a real
 * application, each with a certificate from a real CA. HTTP/1 and HTTP/2 inside a tunnel
 * to a mesh authority are served by the HTTP stack (per-request metrics, mutual TLS
 * between the proxies, the client's identity at the app); other bytes are relayed, to the
 * peer proxy's inbound port when discovery names it (opaque transport).
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { LocalIdentity } from '../../../src/proxy/identity/local.js';
import { type Echo, startEchoApp, startH2App } from '../../helpers/apps.js';
import { h2request } from '../../helpers/h2.js';
import {
  Cleanup,
  type HttpUpstream,
  LOOPBACK,
  RawConn,
  refusedPort,
  startTcpServer,
  withTimeout,
} from '../../helpers/net.js';
import { sumSamples } from '../../helpers/prom.js';
import {
  AUTHORITY,
  closeSide,
  meshIdentities,
  metrics,
  oneEndpoint,
  proxyPair,
  side,
} from '../../helpers/stacks.js';

const T = { timeout: 30_000 };
const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

/** Opens a CONNECT tunnel to `authority` through the outbound listener; resolves once it is answered. */
async function tunnel(port: number, authority = AUTHORITY): Promise<RawConn> {
  const c = await RawConn.connect(port);
  c.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`);
  assert.equal((await c.readAtLeast(ESTABLISHED.length)).toString(), ESTABLISHED);
  return c;
}

describe('CONNECT tunnels carrying HTTP', () => {
  const cleanup = new Cleanup();
  let app: HttpUpstream;
  let web: LocalIdentity;
  let client: LocalIdentity;

  before(async () => {
    ({ web, client } = await meshIdentities());
    app = await startEchoApp();
    cleanup.add(() => app.close());
  });
  after(() => cleanup.run());

  test(
    'HTTP/1 in a tunnel: each request through the HTTP stack, over mTLS, to the tunnel authority',
    T,
    async () => {
      const m = await proxyPair(client, web, { host: LOOPBACK, port: app.port });
      cleanup.add(() => m.close());
      const c = await tunnel(m.client.addr.port);
      cleanup.add(() => c.destroy());
      // Two requests on the one tunnel; the Host header names something else, and stays.
      for (const path of ['/one', '/two']) {
        c.write(`GET ${path} HTTP/1.1\r\nhost: inner.example\r\nweft-client-id: forged\r\n\r\n`);
        const res = await c.readResponse();
        assert.equal(res.statusCode, 200, res.body.toString());
        const echo = JSON.parse(res.body.toString()) as Echo;
        assert.equal(echo.url, path);
        const header = (name: string): string[] =>
          echo.rawHeaders.filter((_, i) => i % 2 === 1 && echo.rawHeaders[i - 1]?.toLowerCase() === name);
        assert.deepEqual(header('host'), ['inner.example'], 'the Host header is the client’s');
        assert.deepEqual(
          header('weft-client-id'),
          [client.name],
          'mTLS between the proxies proved the client',
        );
      }
      const out = metrics(m.client);
      // Counted per request, with the endpoint's labels, under the tunnel's authority.
      assert.equal(
        sumSamples(out, 'response_total', {
          direction: 'outbound',
          authority: AUTHORITY,
          tls: 'true',
          server_id: web.name,
          dst_pod: 'web-1',
          status_code: '200',
        }),
        2,
      );
      assert.equal(sumSamples(out, 'request_total', { authority: 'inner.example' }), 0);
      assert.equal(
        sumSamples(metrics(m.server), 'request_total', { direction: 'inbound', client_id: client.name }),
        2,
      );
    },
  );

  test('HTTP/2 in a tunnel (gRPC through grpc_proxy) is served by the HTTP/2 stack', T, async () => {
    const h2app = await startH2App();
    cleanup.add(() => h2app.close());
    const m = await proxyPair(client, web, { host: LOOPBACK, port: h2app.port });
    cleanup.add(() => m.close());
    const c = await tunnel(m.client.addr.port);
    cleanup.add(() => c.destroy());
    const session = http2.connect(`http://${AUTHORITY}`, { createConnection: () => c.socket });
    session.on('error', () => {});
    cleanup.add(() => session.destroy());
    for (let i = 0; i < 3; i++) {
      const res = await h2request(session, {
        ':method': 'GET',
        ':path': `/h2/${i}`,
        ':authority': AUTHORITY,
      });
      assert.equal(res.status, 200);
    }
    assert.equal(h2app.streams(), 3, 'three streams reached the app');
    assert.equal(
      sumSamples(metrics(m.client), 'response_total', {
        direction: 'outbound',
        authority: AUTHORITY,
        server_id: web.name,
        status_code: '200',
      }),
      3,
    );
    assert.equal(
      sumSamples(metrics(m.server), 'request_total', { direction: 'inbound', client_id: client.name }),
      3,
    );
  });

  test('opaque bytes in a tunnel go to the peer proxy’s inbound port (opaque transport)', T, async () => {
    // The endpoint's own port is an echo that would reflect a ClientHello; only the peer
    // proxy, on its inbound port, terminates the mutual TLS and relays plain bytes.
    const banner = await startTcpServer((s: net.Socket) => {
      s.write('220 ready\r\n');
      s.pipe(s);
    });
    cleanup.add(() => banner.close());
    const server = await side('inbound', web, { host: LOOPBACK, port: banner.port });
    cleanup.add(() => closeSide(server));
    const clientSide = await side(
      'outbound',
      client,
      { host: LOOPBACK, port: 0 },
      oneEndpoint({ host: LOOPBACK, port: banner.port }, web.name, { opaqueTransportPort: server.addr.port }),
    );
    cleanup.add(() => closeSide(clientSide));
    const c = await tunnel(clientSide.addr.port);
    cleanup.add(() => c.destroy());
    // Client first, as a server-speaks-first client would not be: detection decides at once.
    c.write('\x00hello\r\n');
    const got = (await c.readAtLeast('220 ready\r\n\x00hello\r\n'.length)).toString();
    assert.equal(got, '220 ready\r\n\x00hello\r\n');
    assert.equal(
      sumSamples(metrics(server), 'tcp_open_total', {
        direction: 'inbound',
        peer: 'src',
        client_id: client.name,
      }),
      1,
      'the peer proxy took it as mutual TLS from the client',
    );
    assert.equal(
      sumSamples(metrics(clientSide), 'tcp_open_total', {
        direction: 'outbound',
        peer: 'dst',
        tls: 'true',
        server_id: web.name,
      }),
      1,
    );
  });

  test('a tunnel to a name the mesh does not know is answered once connected, or 502', T, async () => {
    const plain = await side('outbound', undefined, { host: LOOPBACK, port: 0 });
    cleanup.add(() => closeSide(plain));
    const refused = await RawConn.connect(plain.addr.port);
    cleanup.add(() => refused.destroy());
    refused.write(`CONNECT 127.0.0.1:${await refusedPort()} HTTP/1.1\r\n\r\n`);
    assert.equal((await refused.readResponse()).statusCode, 502);

    // HTTP inside it is still served (and counted) by the HTTP stack.
    const c = await tunnel(plain.addr.port, `127.0.0.1:${app.port}`);
    cleanup.add(() => c.destroy());
    c.write('GET /via-dns HTTP/1.1\r\nhost: whatever\r\n\r\n');
    const res = await c.readResponse();
    assert.equal((JSON.parse(res.body.toString()) as Echo).url, '/via-dns');
    assert.equal(
      sumSamples(metrics(plain), 'response_total', {
        authority: `127.0.0.1:${app.port}`,
        status_code: '200',
      }),
      1,
    );
  });

  test(
    'a tunnel that sends nothing is carried on as TCP after the detect timeout, and counted',
    T,
    async () => {
      // Server speaks first, on a port that is not opaque: the banner arrives once detection gives up.
      const banner = await startTcpServer((s: net.Socket) => s.write('220 late banner\r\n'));
      cleanup.add(() => banner.close());
      const plain = await side('outbound', undefined, { host: LOOPBACK, port: 0 });
      cleanup.add(() => closeSide(plain));
      const c = await tunnel(plain.addr.port, `127.0.0.1:${banner.port}`);
      cleanup.add(() => c.destroy());
      const got = await withTimeout(c.readAtLeast('220 late banner\r\n'.length, 10_000), 10_000, 'banner');
      assert.equal(got.toString(), '220 late banner\r\n');
      assert.equal(sumSamples(metrics(plain), 'tcp_detect_timeout_total', { direction: 'outbound' }), 1);
    },
  );
});
