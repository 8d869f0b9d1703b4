import type { Socket } from 'node:net';
import type { HostPort } from '../../util/addr.js';
import type { Logger } from '../../util/log.js';
import type { Connector } from './connect.js';
import { splice } from './splice.js';

/** Opaque TCP: relays a connection's bytes to the target as they are. */
export function forwardOpaque(client: Socket, target: HostPort, connector: Connector, log: Logger): void {
  const upstream = connector.connect(target, true);
  const onEarlyError = (err: Error): void => {
    log.debug({ err: err.message }, 'opaque connection to upstream failed');
    client.destroy();
  };
  upstream.once('error', onEarlyError);
  const onClientClose = (): void => {
    upstream.destroy();
  };
  client.once('close', onClientClose);
  upstream.once('connect', () => {
    upstream.off('error', onEarlyError);
    client.off('close', onClientClose);
    splice(client, upstream);
    client.resume();
  });
}
