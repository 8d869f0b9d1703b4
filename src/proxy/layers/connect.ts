import net from 'node:net';
import type { TcpStats } from '../../metrics/tcp.js';
import type { HostPort } from '../../util/addr.js';
import { ConnectTimeoutError } from '../errors.js';

/** How a direction opens TCP connections to its upstreams. */
export interface Connector {
  readonly timeoutMs: number;
  /** `halfOpen` keeps the socket writable after the peer's FIN, for byte-stream relays. */
  connect(target: HostPort, halfOpen?: boolean): net.Socket;
}

/**
 * The bottom layer: opens a TCP connection, fails it with ConnectTimeoutError if the
 * handshake takes longer than the timeout, and counts it in the `peer="dst"` metrics.
 * The socket is returned at once, as net.connect does; errors arrive as its 'error' event.
 */
export function tcpConnector(timeoutMs: number, stats: TcpStats): Connector {
  return {
    timeoutMs,
    connect(target: HostPort, halfOpen = false): net.Socket {
      const socket = net.connect({
        host: target.host,
        port: target.port,
        allowHalfOpen: halfOpen,
        noDelay: true,
      });
      const timer = setTimeout(() => socket.destroy(new ConnectTimeoutError(target, timeoutMs)), timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        stats.track(socket);
      });
      socket.once('close', () => clearTimeout(timer));
      return socket;
    },
  };
}
