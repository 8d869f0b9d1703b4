import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../util/addr.js';

/**
 * The sample application behind the demo proxy: answers every request with a small JSON
 * document saying what it received. `/status/<code>` answers with that status, so failures
 * show up in the proxy's metrics.
 */
export function startSampleServer(addr: HostPort): Promise<{ server: http.Server; addr: HostPort }> {
  const server = http.createServer((req, res) => {
    const status = /^\/status\/(\d{3})$/.exec(req.url ?? '')?.[1];
    const body = JSON.stringify({
      app: 'weft-sample',
      method: req.method,
      path: req.url,
      host: req.headers.host,
    });
    res.writeHead(status ? Number(status) : 200, { 'content-type': 'application/json' });
    res.end(`${body}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      const a = server.address() as AddressInfo;
      resolve({ server, addr: { host: a.address, port: a.port } });
    });
  });
}
