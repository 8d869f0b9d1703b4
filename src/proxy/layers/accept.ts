import net from 'node:net';
import type { TcpStats } from '../../metrics/tcp.js';
import type { HostPort } from '../../util/addr.js';

/**
 * The accept layer: a listening socket whose connections are guarded against unhandled
 * errors and tracked so shutdown can wait for them. With `stats`, each is counted at once
 * (`peer="src"`); without, the direction counts it once it knows the peer's TLS labels.
 */
export class Listener {
  private readonly server: net.Server;
  readonly connections = new Set<net.Socket>();

  constructor(stats: TcpStats | undefined, handle: (socket: net.Socket) => void) {
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      // A peer's reset must never become an uncaught exception; the layers that own the
      // socket handle errors themselves.
      socket.on('error', () => {});
      stats?.track(socket);
      this.connections.add(socket);
      socket.once('close', () => this.connections.delete(socket));
      handle(socket);
    });
  }

  listen(addr: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: addr.host, port: addr.port, backlog: 1024 }, () => {
        this.server.off('error', onError);
        const bound = this.server.address() as net.AddressInfo;
        resolve({ host: bound.address, port: bound.port });
      });
    });
  }

  /** Stops accepting; open connections stay until they finish. */
  stopAccepting(): void {
    // close()'s callback waits for every connection to end; shutdown tracks those itself.
    if (this.server.listening) this.server.close();
  }

  destroyAll(): void {
    for (const s of this.connections) s.destroy();
  }
}
