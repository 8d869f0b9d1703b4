import http from 'node:http';
import type { Socket } from 'node:net';
import type { Connector } from '../layers/connect.js';

/** Upstream connections idle longer than this are closed, before servers' own idle timeouts (Node's is 5 s). */
const IDLE_TIMEOUT_MS = 4000;

/**
 * The HTTP/1.1 endpoint pool: keep-alive connections per target, reused most-recently-used
 * first, each opened through the direction's connector (timeout and dst metrics).
 */
export class H1Pool extends http.Agent {
  constructor(private readonly connector: Connector) {
    super({ keepAlive: true, scheduling: 'lifo', timeout: IDLE_TIMEOUT_MS });
  }

  // Node's Agent calls this to open each new upstream connection.
  override createConnection(options: { host?: string; port?: number | string }): Socket {
    return this.connector.connect({ host: options.host ?? 'localhost', port: Number(options.port ?? 80) });
  }
}
