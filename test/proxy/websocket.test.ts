/**
 * WebSocket (the ws package) through the inbound listener, and through the outbound
 * listener both as an origin-form upgrade routed by Host and inside a CONNECT tunnel.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { sha256 } from '../helpers/apps.js';
import { adminRequest, Cleanup, deferred, request, withTimeout } from '../helpers/net.js';
import { type ProxyHandle, startBehindProxy } from '../helpers/proxy.js';
import { Inbox, opened, startWsApp, type WsApp } from '../helpers/ws.js';

const T = { timeout: 30_000 };

/** Runs the same conversation on an open client and checks every step. */
async function converse(ws: WebSocket, inbox: Inbox): Promise<void> {
  assert.equal((await inbox.next('welcome')).data.toString(), 'welcome', 'server-first message');
  ws.send('hello');
  const t = await inbox.next('text echo');
  assert.equal(t.data.toString(), 'hello');
  assert.equal(t.binary, false);
  const big = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 256;
  ws.send(big);
  const b = await inbox.next('1 MiB binary echo');
  assert.equal(b.binary, true);
  assert.equal(sha256(b.data), sha256(big));
  for (let i = 0; i < 20; i++) ws.send(`m${i}`);
  for (let i = 0; i < 20; i++) assert.equal((await inbox.next(`m${i}`)).data.toString(), `m${i}`);
  const pong = deferred<Buffer>();
  ws.once('pong', (d: Buffer) => pong.resolve(d));
  ws.ping('are-you-there');
  assert.equal((await withTimeout(pong.promise, 10_000, 'pong')).toString(), 'are-you-there');
  const closed = new Promise<[number, string]>((r) =>
    ws.once('close', (code: number, reason: Buffer) => r([code, reason.toString()])),
  );
  ws.send('close-me');
  assert.deepEqual(await withTimeout(closed, 10_000, 'close frame from the server'), [4001, 'bye']);
}

describe('WebSocket proxying', () => {
  const cleanup = new Cleanup();
  let app: WsApp;
  let p: ProxyHandle;

  before(async () => {
    ({ app, p } = await startBehindProxy(cleanup, startWsApp));
  });
  after(() => cleanup.run());

  test('inbound: upgrade, subprotocol, text, binary, ping and close code all pass through', T, async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${p.inbound.port}/chat?room=1`, ['v2.weft', 'v1.weft'], {
      headers: { 'x-custom': 'inbound-ws' },
    });
    cleanup.add(() => ws.terminate());
    const inbox = new Inbox(ws);
    await opened(ws);
    assert.equal(ws.protocol, 'v1.weft', 'the app chose the subprotocol and the proxy relayed it');
    const up = app.upgrades[app.upgrades.length - 1];
    assert.equal(up?.url, '/chat?room=1');
    assert.equal(up?.custom, 'inbound-ws');
    await converse(ws, inbox);
  });

  test('outbound: origin-form upgrade routed by its Host header', T, async () => {
    // The client believes it talks to the app, but its TCP connection goes to the proxy.
    const ws = new WebSocket(`ws://127.0.0.1:${app.port}/outbound-host`, ['v1.weft'], {
      createConnection: () => net.connect(p.outbound.port, '127.0.0.1'),
      headers: { 'x-custom': 'outbound-ws' },
    });
    cleanup.add(() => ws.terminate());
    const inbox = new Inbox(ws);
    await opened(ws);
    assert.equal(ws.protocol, 'v1.weft');
    const up = app.upgrades[app.upgrades.length - 1];
    assert.equal(up?.url, '/outbound-host');
    assert.equal(up?.host, `127.0.0.1:${app.port}`);
    assert.equal(up?.custom, 'outbound-ws');
    await converse(ws, inbox);
  });

  test('outbound: WebSocket inside a CONNECT tunnel', T, async () => {
    const tunnel = await new Promise<net.Socket>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: p.outbound.port,
        method: 'CONNECT',
        path: `127.0.0.1:${app.port}`,
        headers: { host: `127.0.0.1:${app.port}` },
        agent: false,
      });
      req.once('connect', (res, socket, head) => {
        if (res.statusCode !== 200) reject(new Error(`CONNECT answered ${res.statusCode}`));
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      });
      req.once('error', reject);
      req.end();
    });
    cleanup.add(() => tunnel.destroy());
    const ws = new WebSocket(`ws://127.0.0.1:${app.port}/tunnelled`, ['v1.weft'], {
      createConnection: () => tunnel,
    });
    cleanup.add(() => ws.terminate());
    const inbox = new Inbox(ws);
    await opened(ws);
    assert.equal(app.upgrades[app.upgrades.length - 1]?.url, '/tunnelled');
    await converse(ws, inbox);
  });

  for (const side of ['inbound', 'outbound'] as const) {
    test(`${side}: an upgrade the app refuses comes back as the app's 403`, T, async () => {
      const ws =
        side === 'inbound'
          ? new WebSocket(`ws://127.0.0.1:${p.inbound.port}/forbidden`)
          : new WebSocket(`ws://127.0.0.1:${app.port}/forbidden`, {
              createConnection: () => net.connect(p.outbound.port, '127.0.0.1'),
            });
      cleanup.add(() => ws.terminate());
      ws.on('error', () => {});
      const res = await withTimeout(
        new Promise<http.IncomingMessage>((resolve, reject) => {
          ws.once('unexpected-response', (_req, r) => resolve(r));
          ws.once('open', () => reject(new Error('the upgrade was accepted')));
        }),
        10_000,
        'the refused upgrade answer',
      );
      assert.equal(res.statusCode, 403);
      assert.equal(res.headers['x-why'], 'no-entry');
      res.destroy();
    });
  }

  test('inbound: a client that vanishes mid-conversation leaves the proxy serving', T, async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${p.inbound.port}/vanish`);
    const inbox = new Inbox(ws);
    await opened(ws);
    await inbox.next('welcome');
    ws.terminate();
    const r = await request({ host: '127.0.0.1', port: p.inbound.port, path: '/plain' });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'plain-http');
    assert.equal((await adminRequest(p.admin, '/live')).status, 200);
  });

  test('inbound: several WebSockets at once, each gets its own echoes', T, async () => {
    const sockets = Array.from({ length: 5 }, (_, i) => {
      const ws = new WebSocket(`ws://127.0.0.1:${p.inbound.port}/multi/${i}`);
      cleanup.add(() => ws.terminate());
      return { ws, inbox: new Inbox(ws) };
    });
    await Promise.all(sockets.map((s) => opened(s.ws)));
    for (const [i, s] of sockets.entries()) {
      assert.equal((await s.inbox.next('welcome')).data.toString(), 'welcome');
      s.ws.send(`only-for-${i}`);
    }
    for (const [i, s] of sockets.entries()) {
      assert.equal((await s.inbox.next(`echo ${i}`)).data.toString(), `only-for-${i}`);
      s.ws.close(1000);
    }
  });
});
