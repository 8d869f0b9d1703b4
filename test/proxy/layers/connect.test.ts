import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, test } from 'node:test';
import { Registry } from '../../../src/metrics/registry.js';
import { TcpMetrics } from '../../../src/metrics/tcp.js';
import { ConnectTimeoutError, upstreamError } from '../../../src/proxy/errors.js';
import { tcpConnector } from '../../../src/proxy/layers/connect.js';
import { Cleanup, listen, refusedPort, startBlackhole } from '../../helpers/net.js';

const cleanup = new Cleanup();
after(() => cleanup.run());

test('connections are counted as dst, with their bytes', async () => {
  const server = net.createServer((s) => s.end('hello'));
  const port = await listen(server);
  cleanup.add(() => server.close());
  const registry = new Registry();
  const stats = new TcpMetrics(registry).stats('outbound', 'dst', [['tls', 'no_identity']]);
  const socket = tcpConnector(1000, stats).connect({ host: '127.0.0.1', port });
  socket.write('ping');
  socket.resume();
  await once(socket, 'close');
  const text = registry.render();
  assert.match(text, /tcp_open_total\{direction="outbound",peer="dst",tls="no_identity"\} 1/);
  assert.match(text, /tcp_close_total\{direction="outbound",peer="dst",tls="no_identity"\} 1/);
  assert.match(text, /tcp_read_bytes_total\{direction="outbound",peer="dst",tls="no_identity"\} 5/);
  assert.match(text, /tcp_write_bytes_total\{direction="outbound",peer="dst",tls="no_identity"\} 4/);
});

test('a refused connection maps to 502 and a hung one to a 504 after the timeout', async () => {
  const stats = new TcpMetrics(new Registry()).stats('outbound', 'dst', [['tls', 'no_identity']]);
  const refused = { host: '127.0.0.1', port: await refusedPort() };
  const [refusal] = (await once(tcpConnector(1000, stats).connect(refused), 'error').catch((e) => [e])) as [
    Error,
  ];
  assert.equal(upstreamError(refusal, refused).status, 502);
  assert.match(upstreamError(refusal, refused).reason, /refused/);

  const hole = await startBlackhole();
  cleanup.add(() => hole.close());
  const target = { host: '127.0.0.1', port: hole.port };
  const started = Date.now();
  const [timeout] = (await once(tcpConnector(150, stats).connect(target), 'error').catch((e) => [e])) as [
    Error,
  ];
  assert.ok(timeout instanceof ConnectTimeoutError, String(timeout));
  assert.ok(Date.now() - started >= 140, 'not before the timeout');
  const mapped = upstreamError(timeout, target);
  assert.equal(mapped.status, 504);
  assert.match(mapped.reason, /timed out after 150ms/);
});
