import http from 'node:http';
import type { HostPort } from '../util/addr.js';

export interface AdminHandlers {
  readonly isReady: () => boolean;
  readonly metrics: () => string;
  /** Absent when the shutdown endpoint is disabled. */
  readonly shutdown?: () => void;
}

function send(
  res: http.ServerResponse,
  status: number,
  body: string,
  type = 'text/plain; charset=utf-8',
): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The admin listener: /live, /ready, /metrics and (when enabled) POST /shutdown. */
export class AdminServer {
  private readonly server: http.Server;

  constructor(handlers: AdminHandlers) {
    this.server = http.createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 10_000 }, (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      switch (path) {
        case '/live':
          send(res, 200, 'live\n');
          return;
        case '/ready':
          if (handlers.isReady()) send(res, 200, 'ready\n');
          else send(res, 503, 'not ready\n');
          return;
        case '/metrics':
          send(res, 200, handlers.metrics(), 'text/plain; version=0.0.4; charset=utf-8');
          return;
        case '/shutdown':
          if (!handlers.shutdown) {
            send(res, 404, 'the shutdown endpoint is disabled (--enable-shutdown-endpoint)\n');
          } else if (req.method !== 'POST') {
            res.setHeader('allow', 'POST');
            send(res, 405, 'use POST /shutdown\n');
          } else {
            send(res, 200, 'shutdown\n');
            handlers.shutdown();
          }
          return;
        default:
          send(res, 404, 'not found: try /live, /ready, /metrics\n');
      }
    });
  }

  listen(addr: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(addr.port, addr.host, () => {
        this.server.off('error', reject);
        const a = this.server.address() as import('node:net').AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }
}
