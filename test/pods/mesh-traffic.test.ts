/**
 * @host-network: it adds and removes links on this host, so it runs alone (scripts/run-tests.js).
 * Traffic between meshed pods that is not plain request/response HTTP, for real: pods
 * from Deployments under `weft up`, proxy-init's rules, the applications unaware of the
 * mesh. A server-speaks-first protocol on an opaque port (3306) works both ways round
 * (the client waits for the banner, or speaks first) and is mutual TLS between the two
 * proxies; a WebSocket to a Service of two meshed pods is balanced across them and is
 * mutual TLS too. Needs root: see test/helpers/netns.ts.
 */
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { identityName } from '../../src/identity/names.js';
import {
  type ControlPlaneHandle,
  makeTempDir,
  ownerArgs,
  startControlPlane,
  weft,
  weftOk,
} from '../helpers/controlplane.js';
import { waitFor } from '../helpers/net.js';
import { requirePrivileged } from '../helpers/netns.js';
import { nodeDeploymentYaml, stopWithPods, waitForLogs } from '../helpers/pods.js';
import { dump, type Exposition, parseProm, sumSamples } from '../helpers/prom.js';
import { REPO_ROOT } from '../helpers/proxy.js';

const BRIDGE = `wmt${process.pid % 10000}`;
const WS_MODULE = join(REPO_ROOT, 'node_modules', 'ws');

/** A MySQL-like server: it speaks first (a banner), then echoes each line. */
const DB_JS = `require('node:net').createServer((s) => {
  s.write('220 db ready\\n');
  s.pipe(s);
}).listen(3306, () => console.log('listening'));
`;

/** A WebSocket echo server that greets each client with its own id (so the client sees which pod it reached). */
const WS_JS = `const { WebSocketServer } = require(${JSON.stringify(WS_MODULE)});
const id = require('node:crypto').randomUUID();
const wss = new WebSocketServer({ port: 8080 }, () => console.log('listening'));
wss.on('connection', (ws, req) => {
  ws.send('server ' + id + ' client ' + (req.headers['weft-client-id'] || '-'));
  ws.on('message', (m) => ws.send('echo ' + m));
});
`;

/**
 * The client: the opaque port both ways round, then two WebSockets open at once to the
 * Service (a pending one makes the balancer prefer the other pod). Prints what it got,
 * then stays up (a Deployment's pod restarts when it exits).
 */
const CLIENT_JS = `const net = require('node:net');
const WebSocket = require(${JSON.stringify(WS_MODULE)});
const read = (s, want) => new Promise((resolve) => {
  let got = '';
  s.on('data', (d) => { got += d; if (got.split('\\n').length > want) resolve(got.trim().split('\\n')); });
  s.on('error', (e) => resolve(['error ' + e.message]));
});
async function opaque() {
  const first = net.connect(3306, 'db');
  console.log('server-first: ' + (await read(first, 1)).join(' | '));
  first.destroy();
  const second = net.connect(3306, 'db', () => second.write('ping\\n'));
  console.log('client-first: ' + (await read(second, 2)).join(' | '));
  second.destroy();
}
function websocket(n) {
  return new Promise((resolve) => {
    const ws = new WebSocket('ws://ws/chat');
    const got = [];
    ws.on('message', (m) => {
      got.push(String(m));
      if (got.length === 1) ws.send('hello ' + n);
      else resolve({ ws, line: got.join(' | ') });
    });
    ws.on('error', (e) => resolve({ ws, line: 'error ' + e.message }));
  });
}
(async () => {
  await opaque();
  const both = await Promise.all([websocket(1), websocket(2)]);
  for (const { line } of both) console.log('websocket: ' + line);
  for (const { ws } of both) ws.close();
  setInterval(() => {}, 60000);
})();
`;

function service(name: string, port: number, targetPort: number): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector:
    app: ${name}
  ports:
    - port: ${port}
      targetPort: ${targetPort}
`;
}

describe('meshed pods: opaque ports and WebSockets', () => {
  let cp: ControlPlaneHandle | undefined;
  after(() => stopWithPods(cp, BRIDGE));

  test('a server-first protocol on 3306 and a WebSocket to a Service of two pods, over mTLS', {
    timeout: 120_000,
  }, async (t) => {
    if (!requirePrivileged(t, ['iptables-legacy'])) return;
    const dir = makeTempDir('weft-mesh-traffic-');
    // The applications run as uid 1000 from the manifest's directory.
    chmodSync(dir, 0o755);
    for (const [file, text] of [
      ['db.js', DB_JS],
      ['ws.js', WS_JS],
      ['client.js', CLIENT_JS],
    ] as const) {
      writeFileSync(join(dir, file), text);
    }
    const servers = join(dir, 'servers.yaml');
    writeFileSync(
      servers,
      [
        service('db', 3306, 3306),
        service('ws', 80, 8080),
        nodeDeploymentYaml('db', 'db.js', { port: 3306, gracePeriodSeconds: 2 }),
        nodeDeploymentYaml('ws', 'ws.js', { replicas: 2, port: 8080, gracePeriodSeconds: 2 }),
      ].join('---\n'),
    );
    const clientManifest = join(dir, 'client.yaml');
    writeFileSync(clientManifest, nodeDeploymentYaml('client', 'client.js', { gracePeriodSeconds: 2 }));
    cp = await startControlPlane({
      extraArgs: ['--pod-bridge', BRIDGE, '--pod-cidr', '10.223.0.0/16', '--service-cidr', '10.224.0.0/16'],
    });
    const control = cp;
    type Listed = { workload: string; address: string; ready: boolean };
    const ready = async (): Promise<Listed[]> => {
      const out = await weft(['get', 'workloads', '-o', 'json', ...ownerArgs(control)]);
      return out.code === 0
        ? (JSON.parse(out.stdout) as { items: Listed[] }).items.filter((w) => w.ready)
        : [];
    };
    await weftOk(control, ['apply', '-f', servers]);
    // The client starts once both WebSocket pods are endpoints, so it can reach each.
    await waitFor(
      async () => (await ready()).length === 3,
      'the db pod and both ws pods to be ready',
      60_000,
      200,
    );
    await weftOk(control, ['apply', '-f', clientManifest]);
    const logs = await waitForLogs(
      control,
      'client',
      /websocket: [^\n]*\n[^\n]*websocket: /,
      "the client's results",
      {
        flags: ['--app'],
        timeoutMs: 60_000,
      },
    );
    const clientId = identityName('client', 'default');

    // The opaque port, both ways round: the banner reaches a client that sent nothing, and
    // a client that speaks first gets the banner and its echo.
    assert.match(logs, /server-first: 220 db ready$/m, logs);
    assert.match(logs, /client-first: 220 db ready \| ping$/m, logs);

    // Two WebSockets, one to each pod of the Service, each echoing, each seeing the
    // client's identity (the peer proxy proved it over mutual TLS).
    const sockets = [...logs.matchAll(/websocket: server (\S+) client (\S+) \| echo hello (\d)$/gm)];
    assert.equal(sockets.length, 2, logs);
    assert.deepEqual(
      sockets.map((m) => m[2]),
      [clientId, clientId],
    );
    assert.equal(
      new Set(sockets.map((m) => m[1])).size,
      2,
      `both pods of the Service were reached:\n${logs}`,
    );

    // What the proxies counted.
    const listed = await ready();
    const addressOf = (name: string): string[] =>
      listed.filter((w) => w.workload === name).map((w) => w.address);
    const metricsOf = async (address: string): Promise<Exposition> =>
      parseProm(await (await fetch(`http://${address}:4191/metrics`)).text());
    const [client] = addressOf('client');
    const [db] = addressOf('db');
    assert.ok(client && db, JSON.stringify(listed));
    // tcp_* with tls="true" on both sides of the opaque port.
    let dbMetrics = parseProm('');
    await waitFor(
      async () => {
        dbMetrics = await metricsOf(db);
        return (
          sumSamples(dbMetrics, 'tcp_open_total', {
            direction: 'inbound',
            peer: 'src',
            tls: 'true',
            client_id: clientId,
          }) === 2
        );
      },
      "the db pod's proxy to count two mTLS connections from the client",
      10_000,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}\n${dump(dbMetrics, 'tcp_open_total')}\n${dump(dbMetrics, 'tcp_close_total')}`,
      );
    });
    const clientMetrics = await metricsOf(client);
    assert.equal(
      sumSamples(clientMetrics, 'tcp_open_total', {
        direction: 'outbound',
        peer: 'dst',
        tls: 'true',
        server_id: identityName('db', 'default'),
      }),
      2,
    );
    // The WebSockets were requests to the Service, balanced and counted over mTLS.
    assert.equal(
      sumSamples(clientMetrics, 'request_total', {
        direction: 'outbound',
        dst_service: 'ws',
        tls: 'true',
        server_id: identityName('ws', 'default'),
      }),
      2,
    );
    let inbound = 0;
    for (const address of addressOf('ws')) {
      inbound += sumSamples(await metricsOf(address), 'request_total', {
        direction: 'inbound',
        tls: 'true',
        client_id: clientId,
      });
    }
    assert.equal(inbound, 2);
  });
});
