/** Binding and stopping the two gRPC servers. */
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';

/** How long in-flight calls get to finish before the server is closed under them. */
const GRACE_MS = 5_000;

function bind(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    );
  });
}

/** Whether this host (or network namespace) can listen on IPv6 at all. */
function ipv6Available(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host: '::', port: 0 }, () => probe.close(() => resolve(true)));
  });
}

/**
 * Listens on every address on `port`, as the original's `:PORT` does: `[::]` (IPv4 too,
 * dual-stack), or `0.0.0.0` where IPv6 is not available (a network namespace with it
 * disabled). Resolves with the address and the bound port.
 */
export async function listenAll(
  server: grpc.Server,
  port: number,
): Promise<{ address: string; port: number }> {
  const host = (await ipv6Available()) ? '[::]' : '0.0.0.0';
  const bound = await bind(server, `${host}:${port}`);
  return { address: `${host}:${bound}`, port: bound };
}

/** Lets in-flight calls finish (up to a grace period), then closes every connection. */
export function shutdownServer(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, GRACE_MS);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
