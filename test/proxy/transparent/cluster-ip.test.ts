/**
 * Outbound traffic in transparent mode to a Service's cluster IP, where nothing listens:
 * the proxy resolves the address it was going to through the Destination API, as Linkerd
 * does, and sends the connection to one of the Service's endpoints over mutual TLS. `weft
 * up` and the Services' proxies are real processes; the client proxy runs in this process
 * (SidecarProxy, in transparent mode) with its original-destination lookup injected
 * (`ProxyOptions.originalDst`) instead of iptables and SO_ORIGINAL_DST: cluster IPs are not
 * routable here, and real interception, which needs root, is covered by interception.test.ts
 * and test/pods/. The test connects to the outbound listener and says where the
 * connection "was going".
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { resolveProxyConfig } from '../../../src/proxy/config.js';
import { SidecarProxy } from '../../../src/proxy/proxy.js';
import type { HostPort } from '../../../src/util/addr.js';
import {
  type ControlPlaneHandle,
  ownerTokenFile,
  type Replica,
  startControlPlane,
  startReplica,
  startWorkloadProxy,
  weftOk,
} from '../../helpers/controlplane.js';
import { captureLogger } from '../../helpers/identity.js';
import {
  Cleanup,
  LOOPBACK,
  refusedPort,
  startTcpServer,
  type TcpServer,
  waitFor,
} from '../../helpers/net.js';
import { parseProm, scrape, sumSamples } from '../../helpers/prom.js';
import type { ProxyHandle } from '../../helpers/proxy.js';

const T = { timeout: 30_000 };
const ECHO = { host: '10.43.0.12', port: 7000 };
const WEB = { host: '10.43.0.13', port: 8080 };
/** A Service that selects no workload. */
const IDLE = { host: '10.43.0.14', port: 7000 };

function serviceYaml(name: string, clusterIP: string, port: number, app: string): string {
  return [
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    `  clusterIP: ${clusterIP}`,
    '  selector:',
    `    app: ${app}`,
    '  ports:',
    `    - port: ${port}`,
    `      targetPort: ${port}`,
    '',
  ].join('\n');
}

/** A TCP server (not HTTP) that answers each line with `<name>: <line>`. */
function lineEcho(name: string): Promise<TcpServer> {
  return startTcpServer((s) => {
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        s.write(`${name}: ${buf.slice(0, i)}\n`);
        buf = buf.slice(i + 1);
      }
    });
  });
}

/** Sends one line on a new connection; resolves with the first line back, or all that came before the close. */
function sendLine(
  port: number,
  line: string,
  timeoutMs = 10_000,
): Promise<{ answer: string; closed: boolean; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: LOOPBACK, port });
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms (got ${JSON.stringify(got)})`));
    }, timeoutMs);
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ answer: got.split('\n')[0] ?? '', closed, ms: Date.now() - started });
    };
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      got += d;
      if (got.includes('\n')) done(false);
    });
    s.on('error', () => {});
    s.on('close', () => done(true));
    s.write(`${line}\n`);
  });
}

describe('transparent outbound to a Service cluster IP', () => {
  const cleanup = new Cleanup();
  let cp: ControlPlaneHandle;
  let echoProxy: ProxyHandle;
  let web: Replica;
  let direct: TcpServer;
  let client: SidecarProxy;
  let clientId: string;
  let outbound: HostPort;
  const { log, records } = captureLogger('debug');
  /** Where the next connection to the client's outbound listener "was going". */
  let dialled: HostPort | undefined;
  const clientMetrics = () => parseProm(client.registry.render());

  before(async () => {
    cp = await startControlPlane({ cleanup });
    await weftOk(
      cp,
      ['apply', '-f', '-'],
      [
        serviceYaml('echo', ECHO.host, ECHO.port, 'echo'),
        serviceYaml('web', WEB.host, WEB.port, 'web'),
        serviceYaml('idle', IDLE.host, IDLE.port, 'nobody'),
      ].join('---\n'),
    );

    // The echo Service's one endpoint: a line-echo server behind its own meshed proxy.
    const echo = await lineEcho('echo-1');
    cleanup.add(() => echo.close());
    ({ proxy: echoProxy } = await startWorkloadProxy(
      cp,
      echo.port,
      { workload: 'echo', pod: 'echo-1', serviceAccount: 'echo' },
      cleanup,
    ));
    web = await startReplica(cp, { name: 'web-1' }, cleanup);
    direct = await lineEcho('direct');
    cleanup.add(() => direct.close());

    // The client: a meshed workload's proxy, in transparent mode.
    const config = resolveProxyConfig(
      {
        inboundAddr: '127.0.0.1:0',
        outboundAddr: '127.0.0.1:0',
        adminAddr: '127.0.0.1:0',
        tapAddr: '127.0.0.1:0',
        inboundForward: `127.0.0.1:${await refusedPort()}`,
        destination: cp.grpcAddr,
        controlPlaneTokenFile: ownerTokenFile(cp),
        workload: 'client',
        pod: 'client-1',
        serviceAccount: 'client',
        label: 'app=client',
        transparent: true,
        shutdownGracePeriod: '0s',
        detectTimeout: '500ms',
      },
      {},
    );
    let outboundPort = -1;
    client = await SidecarProxy.create(config, log, {
      originalDst: (socket) => (socket.localPort === outboundPort ? dialled : undefined),
    });
    cleanup.add(() => client.shutdown('test over'));
    const bound = await client.start();
    assert.ok(bound, 'the client proxy started');
    outbound = bound.outbound;
    outboundPort = outbound.port;
    clientId = client.identity?.name ?? '';
    assert.match(clientId, /^client\.default\.serviceaccount\./);
  });

  after(() => cleanup.run());

  test(
    'opaque TCP to the cluster IP reaches the Service endpoint through its proxy, over mTLS',
    T,
    async () => {
      dialled = ECHO;
      const r = await sendLine(outbound.port, 'hello, opaque');
      assert.equal(r.answer, 'echo-1: hello, opaque');

      // The echo's proxy took it as mutual TLS from the client's identity...
      const server = await scrape(echoProxy.admin);
      assert.equal(
        sumSamples(server, 'tcp_open_total', {
          direction: 'inbound',
          peer: 'src',
          tls: 'true',
          client_id: clientId,
        }),
        1,
      );
      // ...and the client counted a TCP connection to the echo's identity, and no HTTP.
      const m = clientMetrics();
      assert.equal(
        sumSamples(m, 'tcp_open_total', {
          direction: 'outbound',
          peer: 'dst',
          tls: 'true',
          server_id: 'echo.default.serviceaccount.identity.weft.cluster.local',
        }),
        1,
      );
      assert.equal(sumSamples(m, 'request_total', { direction: 'outbound' }), 0);
    },
  );

  test('HTTP to the cluster IP (authority 10.43.0.13:8080) is balanced over mTLS', T, async () => {
    dialled = WEB;
    const res = await new Promise<{ status: number; replica: unknown }>((resolve, reject) => {
      const req = http.request(
        {
          host: LOOPBACK,
          port: outbound.port,
          path: '/',
          agent: false,
          headers: { host: `${WEB.host}:${WEB.port}` },
          timeout: 10_000,
        },
        (r) => {
          r.resume();
          r.on('end', () => resolve({ status: r.statusCode ?? 0, replica: r.headers['x-replica'] }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(res, { status: 200, replica: 'web-1' });
    assert.deepEqual(web.clientIds, [clientId], 'the replica saw the client identity (weft-client-id)');
    // Counted as the response ends, which may be just after the client has read it.
    const answered = (): number =>
      sumSamples(clientMetrics(), 'response_total', {
        direction: 'outbound',
        authority: `${WEB.host}:${WEB.port}`,
        dst_service: 'web',
        tls: 'true',
        status_code: '200',
      });
    await waitFor(() => answered() === 1, `a 200 counted for ${WEB.host}:${WEB.port}`, 2_000);
  });

  test('an address that is no Service cluster IP gets the connection as it is', T, async () => {
    dialled = { host: LOOPBACK, port: direct.port };
    const r = await sendLine(outbound.port, 'hello, direct');
    assert.equal(r.answer, 'direct: hello, direct');
    assert.equal(
      sumSamples(clientMetrics(), 'tcp_open_total', {
        direction: 'outbound',
        peer: 'dst',
        no_tls_reason: 'not_provided_by_service_discovery',
      }),
      1,
    );
  });

  test(
    'a client that sends nothing is carried on as TCP after the detect timeout, and counted',
    T,
    async () => {
      // A server-speaks-first peer on a port that is not opaque: it must still be reached.
      const banner = await startTcpServer((s) => s.write('220 banner\n'));
      cleanup.add(() => banner.close());
      const before = sumSamples(clientMetrics(), 'tcp_detect_timeout_total', { direction: 'outbound' });
      dialled = { host: LOOPBACK, port: banner.port };
      const s = net.connect({ host: LOOPBACK, port: outbound.port });
      cleanup.add(() => s.destroy());
      const got = await new Promise<string>((resolve, reject) => {
        s.setEncoding('utf8');
        s.once('data', resolve);
        s.once('error', reject);
      });
      assert.equal(got, '220 banner\n');
      assert.equal(
        sumSamples(clientMetrics(), 'tcp_detect_timeout_total', { direction: 'outbound' }),
        before + 1,
      );
      s.destroy();
    },
  );

  test('a Service with no endpoint: the connection is closed after the failfast timeout', T, async () => {
    dialled = IDLE;
    const r = await sendLine(outbound.port, 'anyone there?');
    assert.deepEqual([r.closed, r.answer], [true, ''], 'closed without a byte (no HTTP response)');
    assert.ok(r.ms >= 2_500, `closed after ${r.ms} ms: it waited for an endpoint first`);
    await waitFor(
      () => records.some((rec) => rec.msg === 'dropped an opaque connection: no endpoint available'),
      'the debug log of the dropped connection',
      2_000,
    );
    assert.equal(
      sumSamples(clientMetrics(), 'request_total', { direction: 'outbound', authority: '10.43.0.14:7000' }),
      0,
    );
  });
});
