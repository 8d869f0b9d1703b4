// The Node.js peer: a minimal reverse proxy built on the `http-proxy` package with a keep-alive agent,
// run as its own process. Usage: node dist/bench/httpproxy-server.js --target http://127.0.0.1:PORT
// Prints {"ready":true,"port":N}.
import { Agent, createServer, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import httpProxy from 'http-proxy';
import { announceReady, exitOnSignals } from './node-child.js';

const { values } = parseArgs({ options: { target: { type: 'string' } } });
const target = values.target;
if (!target?.startsWith('http://127.0.0.1:')) {
  process.stderr.write('usage: httpproxy-server.js --target http://127.0.0.1:PORT\n');
  process.exit(2);
}

const agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, keepAliveMsecs: 30_000 });
const proxy = httpProxy.createProxyServer({ target, agent });
proxy.on('error', (err, _req, res) => {
  // `res` is a Socket only for WebSocket upgrades, which this benchmark does not make.
  const response = res as ServerResponse;
  if (!response.headersSent) response.writeHead(502, { 'content-type': 'text/plain' });
  response.end(`bad gateway: ${err.message}\n`);
});

const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 300_000;
server.headersTimeout = 301_000;
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  announceReady(typeof addr === 'object' && addr ? addr.port : 0);
});
exitOnSignals(() => server.close());
