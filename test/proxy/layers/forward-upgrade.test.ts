/**
 * Upgrades (src/proxy/layers/forward-upgrade.ts) through the HTTP layers, in process: an
 * outbound stack whose discovery names the endpoint, the endpoint's inbound stack in front
 * of a WebSocket app, each with a certificate from a real CA. An upgrade to a mesh
 * authority is balanced, goes over mutual TLS, honours the connect timeout and is counted.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { LocalIdentity } from '../../../src/proxy/identity/local.js';
import { Cleanup, LOOPBACK, RawConn, startBlackhole, waitFor } from '../../helpers/net.js';
import { findSample, sumSamples } from '../../helpers/prom.js';
import {
  AUTHORITY,
  closeSide,
  meshIdentities,
  metrics,
  oneEndpoint,
  proxyPair,
  side,
} from '../../helpers/stacks.js';
import { Inbox, opened, startWsApp, type WsApp } from '../../helpers/ws.js';

const T = { timeout: 30_000 };

describe('upgrades through the HTTP layers', () => {
  const cleanup = new Cleanup();
  let app: WsApp;
  let web: LocalIdentity;
  let client: LocalIdentity;

  before(async () => {
    ({ web, client } = await meshIdentities());
    app = await startWsApp();
    cleanup.add(() => app.close());
  });
  after(() => cleanup.run());

  test('a WebSocket to a mesh authority goes to its endpoint over mTLS, and is counted', T, async () => {
    const m = await proxyPair(client, web, { host: LOOPBACK, port: app.port });
    cleanup.add(() => m.close());
    // The client believes it talks to the Service; its connection goes to the outbound listener.
    // (ws leaves the default port out of its Host header.)
    const authority = 'web.default.svc.cluster.local';
    const ws = new WebSocket(`ws://${authority}/chat`, ['v1.weft'], {
      createConnection: () => net.connect(m.client.addr.port, LOOPBACK),
      headers: { 'weft-client-id': 'forged' },
    });
    cleanup.add(() => ws.terminate());
    const inbox = new Inbox(ws);
    await opened(ws);
    assert.equal((await inbox.next('welcome')).data.toString(), 'welcome');
    ws.send('over the mesh');
    assert.equal((await inbox.next('echo')).data.toString(), 'over the mesh');
    const up = app.upgrades[app.upgrades.length - 1];
    assert.equal(up?.url, '/chat');
    assert.equal(up?.clientId, client.name, 'the peer proxy proved the client over mutual TLS');

    const labels = { direction: 'outbound', authority, tls: 'true', server_id: web.name };
    assert.equal(sumSamples(metrics(m.client), 'request_total', { ...labels, dst_pod: 'web-1' }), 1);
    assert.equal(
      sumSamples(metrics(m.server), 'request_total', { direction: 'inbound', client_id: client.name }),
      1,
    );
    // The response is counted once the WebSocket is over.
    assert.equal(sumSamples(metrics(m.client), 'response_total', labels), 0);
    ws.close(1000);
    await waitFor(
      () => findSample(metrics(m.client), 'response_total', { ...labels, status_code: '101' })?.value === 1,
      'the 101 counted when the WebSocket closed',
      5_000,
    );
  });

  test('an upgrade to an endpoint that never accepts gets 504 after the connect timeout', T, async () => {
    const hole = await startBlackhole();
    cleanup.add(() => hole.close());
    const c1 = await side(
      'outbound',
      client,
      { host: LOOPBACK, port: 0 },
      oneEndpoint({ host: LOOPBACK, port: hole.port }, web.name),
    );
    cleanup.add(() => closeSide(c1));
    const c = await RawConn.connect(c1.addr.port);
    cleanup.add(() => c.destroy());
    const started = Date.now();
    c.write(`GET /ws HTTP/1.1\r\nHost: ${AUTHORITY}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    const res = await c.readResponse({ timeoutMs: 10_000 });
    assert.equal(res.statusCode, 504);
    assert.ok(Date.now() - started >= 900, 'answered once the 1 s connect timeout passed');
    assert.equal(
      sumSamples(metrics(c1), 'response_total', {
        direction: 'outbound',
        authority: AUTHORITY,
        dst_pod: 'web-1',
        status_code: '504',
        classification: 'failure',
      }),
      1,
    );
  });
});
