/**
 * emojivoto through the standard proxy variables, which a mesh sets where it cannot
 * intercept: the vote bot sends absolute-form requests to `http_proxy`, the web service's
 * gRPC clients tunnel through `grpc_proxy` with HTTP CONNECT (grpc-js's default), and
 * `no_proxy`/`no_grpc_proxy` exempt hosts.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { ConfigError } from '../../examples/emojivoto/lib/env.js';
import { httpProxyFor, matchesNoProxy } from '../../examples/emojivoto/lib/http-proxy.js';
import { Cleanup, LOOPBACK, listen, startHttpServer, waitFor } from '../helpers/net.js';
import { freePorts, logsWith, startProgram, startStack, webGet } from './emojivoto-helpers.js';

let cleanup = new Cleanup();
afterEach(async () => {
  await cleanup.run();
  cleanup = new Cleanup();
});

describe('no_proxy matching', () => {
  const cases: Array<[string, number, string | undefined, boolean]> = [
    ['web-svc.emojivoto', 80, undefined, false],
    ['web-svc.emojivoto', 80, '', false],
    ['web-svc.emojivoto', 80, '*', true],
    ['web-svc.emojivoto', 80, 'web-svc.emojivoto', true],
    ['web-svc.emojivoto', 80, 'WEB-SVC.emojivoto.', true],
    ['web-svc.emojivoto', 80, 'emojivoto', true],
    ['web-svc.emojivoto', 80, '.emojivoto', true],
    ['emojivoto', 80, '.emojivoto', false],
    ['web-svc.emojivoto', 80, '*.emojivoto', true],
    ['web-svc.emojivoto', 80, 'svc.emojivoto', false],
    ['web-svc.emojivoto', 80, 'other, web-svc.emojivoto:80', true],
    ['web-svc.emojivoto', 80, 'web-svc.emojivoto:8080', false],
    ['10.1.2.3', 80, '10.0.0.0/8', true],
    ['11.1.2.3', 80, '10.0.0.0/8', false],
    ['127.0.0.1', 8080, 'localhost,127.0.0.1', true],
    ['::1', 8080, '[::1]', true],
    ['::1', 8080, '[::1]:8080', true],
    ['::1', 8080, '[::1]:9090', false],
  ];
  it('exempts hosts as curl and Go do', () => {
    for (const [host, port, noProxy, want] of cases) {
      assert.equal(
        matchesNoProxy(host, port, noProxy),
        want,
        `${host}:${port} in ${JSON.stringify(noProxy)}`,
      );
    }
  });

  it('http_proxy (or HTTP_PROXY) names the proxy unless no_proxy exempts the host', () => {
    assert.equal(httpProxyFor('web', 80, {}), undefined);
    assert.deepEqual(httpProxyFor('web', 80, { http_proxy: 'http://127.0.0.1:4140' }), {
      host: '127.0.0.1',
      port: 4140,
      url: 'http://127.0.0.1:4140',
    });
    assert.equal(httpProxyFor('web', 80, { HTTP_PROXY: 'proxy.local' })?.port, 80);
    assert.equal(httpProxyFor('web', 80, { http_proxy: '[::1]:4140' })?.host, '::1');
    assert.equal(httpProxyFor('web', 80, { http_proxy: 'http://p:1', no_proxy: 'web' }), undefined);
    assert.equal(httpProxyFor('web', 80, { http_proxy: 'http://p:1', NO_PROXY: '*' }), undefined);
    assert.equal(
      httpProxyFor('web', 80, { http_proxy: 'http://u%40x:p%3Aw@p:1' })?.authorization,
      `Basic ${Buffer.from('u@x:p:w').toString('base64')}`,
    );
    assert.throws(() => httpProxyFor('web', 80, { http_proxy: 'https://p:1' }), ConfigError);
    assert.throws(() => httpProxyFor('web', 80, { http_proxy: 'http://[nope' }), ConfigError);
  });
});

describe('vote-bot behind http_proxy', () => {
  it('sends absolute-form requests to the proxy, with its credentials', async () => {
    const s = await startStack(cleanup);
    const seen: Array<{ url: string; host: string; auth: string }> = [];
    const proxy = await startHttpServer((req, res) => {
      const url = req.url ?? '';
      seen.push({
        url,
        host: String(req.headers.host),
        auth: String(req.headers['proxy-authorization'] ?? ''),
      });
      // Only the web service's name is routed: it does not resolve, so the bot cannot go direct.
      const prefix = 'http://web-svc.emojivoto:80/';
      if (!url.startsWith(prefix)) {
        res.writeHead(502);
        res.end();
        return;
      }
      const up = http.request(
        {
          host: LOOPBACK,
          port: s.webPort,
          path: url.slice(prefix.length - 1),
          method: req.method,
          agent: false,
        },
        (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
        },
      );
      up.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      req.pipe(up);
    });
    cleanup.add(() => proxy.close());

    // WEB_HOST left at its default, web-svc.emojivoto:80.
    const bot = await startProgram(cleanup, 'vote-bot', {
      http_proxy: `http://bot:s3cret@${LOOPBACK}:${proxy.port}`,
      VOTE_BOT_INTERVAL_MS: '30',
    });
    assert.equal(bot.start.webHost, 'web-svc.emojivoto:80');
    assert.equal(bot.start.proxy, `http://${LOOPBACK}:${proxy.port}`, 'credentials stay out of the log');
    await waitFor(() => logsWith(bot, /^voted for /).length >= 2, 'two votes through the proxy', 20_000);

    assert.ok(seen.some((r) => r.url === 'http://web-svc.emojivoto:80/api/list'));
    assert.ok(
      seen.some((r) => /^http:\/\/web-svc\.emojivoto:80\/api\/vote\?choice=:[a-z0-9_]+:$/.test(r.url)),
    );
    for (const r of seen) {
      assert.equal(r.host, 'web-svc.emojivoto:80');
      assert.equal(r.auth, `Basic ${Buffer.from('bot:s3cret').toString('base64')}`);
    }
    await waitFor(() => logsWith(s.voting, 'voted').length >= 2, 'the voting service to log two votes');
  });

  it('goes direct to a host in no_proxy', async () => {
    const s = await startStack(cleanup);
    const proxy = await startHttpServer((_req, res) => {
      res.writeHead(502);
      res.end();
    });
    cleanup.add(() => proxy.close());
    const bot = await startProgram(cleanup, 'vote-bot', {
      WEB_HOST: `${LOOPBACK}:${s.webPort}`,
      http_proxy: `http://${LOOPBACK}:${proxy.port}`,
      no_proxy: `localhost,${LOOPBACK}`,
      VOTE_BOT_INTERVAL_MS: '30',
    });
    assert.equal(bot.start.proxy, null);
    await waitFor(() => logsWith(bot, /^voted for /).length >= 2, 'two direct votes', 20_000);
    assert.equal(proxy.requests, 0);
  });
});

interface ConnectProxy {
  port: number;
  /** CONNECT targets, in order. */
  targets: string[];
}

/** An HTTP CONNECT proxy that tunnels the names in `routes` to loopback ports. */
async function startConnectProxy(routes: Record<string, number>): Promise<ConnectProxy> {
  const sockets = new Set<net.Socket>();
  const targets: string[] = [];
  const server = http.createServer((_req, res) => {
    res.writeHead(405);
    res.end();
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const target = req.url ?? '';
    targets.push(target);
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    const port = routes[target];
    if (port === undefined) {
      client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      return;
    }
    const up = net.connect(port, LOOPBACK, () => {
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      if (head.length > 0) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    sockets.add(up);
    up.on('close', () => sockets.delete(up));
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
  });
  const port = await listen(server);
  cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        for (const sock of sockets) sock.destroy();
        server.close(() => resolve());
      }),
  );
  return { port, targets };
}

describe('web behind grpc_proxy', () => {
  it('tunnels its gRPC calls through the proxy with HTTP CONNECT', async () => {
    const [emojiPort = 0, votingPort = 0, webPort = 0] = await freePorts(3);
    await Promise.all([
      startProgram(cleanup, 'emoji', { GRPC_PORT: String(emojiPort) }),
      startProgram(cleanup, 'voting', { GRPC_PORT: String(votingPort) }),
    ]);
    const proxy = await startConnectProxy({
      'emoji-svc.emojivoto:8080': emojiPort,
      'voting-svc.emojivoto:8080': votingPort,
    });
    // EMOJISVC_HOST and VOTINGSVC_HOST left at their defaults, names that do not resolve here.
    const web = await startProgram(cleanup, 'web', {
      WEB_PORT: String(webPort),
      grpc_proxy: `http://${LOOPBACK}:${proxy.port}`,
    });
    assert.equal(web.start.grpcProxy, `http://${LOOPBACK}:${proxy.port}`);

    const list = await webGet(webPort, '/api/list');
    assert.equal(list.status, 200, list.text);
    assert.equal((await webGet(webPort, '/api/vote?choice=:joy:')).status, 200);
    assert.equal((await webGet(webPort, '/api/vote?choice=:doughnut:')).status, 500);
    const board = JSON.parse((await webGet(webPort, '/api/leaderboard')).text) as unknown;
    assert.deepEqual(board, [{ shortcode: ':joy:', unicode: '\u{1F602}', votes: '1' }]);
    assert.ok(proxy.targets.includes('emoji-svc.emojivoto:8080'), JSON.stringify(proxy.targets));
    assert.ok(proxy.targets.includes('voting-svc.emojivoto:8080'), JSON.stringify(proxy.targets));
  });

  it('goes direct to a target in no_grpc_proxy', async () => {
    const s = await startStack(cleanup);
    const proxy = await startConnectProxy({});
    const [webPort = 0] = await freePorts(1);
    await startProgram(cleanup, 'web', {
      WEB_PORT: String(webPort),
      EMOJISVC_HOST: `${LOOPBACK}:${s.emojiPort}`,
      VOTINGSVC_HOST: `${LOOPBACK}:${s.votingPort}`,
      grpc_proxy: `http://${LOOPBACK}:${proxy.port}`,
      no_grpc_proxy: LOOPBACK,
    });
    assert.equal((await webGet(webPort, '/api/list')).status, 200);
    assert.equal((await webGet(webPort, '/api/vote?choice=:joy:')).status, 200);
    assert.deepEqual(proxy.targets, []);
  });
});
