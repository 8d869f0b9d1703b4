import type { Socket } from 'node:net';
import { formatHostPort, type HostPort } from '../../util/addr.js';
import type { Logger } from '../../util/log.js';
import { forwardOpaque, type OpaqueDeps, relayOpaque } from './opaque.js';

/** Serves an opaque connection, given where it was going. */
export type OpaqueService = (client: Socket, target: HostPort) => void;

/**
 * Outbound opaque TCP in transparent mode: the address the application dialled (a
 * Service's cluster IP, say) is an authority for discovery, as Linkerd resolves an
 * original destination. A Service's address goes to one of its endpoints (mutual TLS to
 * meshed ones, `relayOpaque`); any other address gets the connection as it is; when no
 * endpoint is available within the failfast timeout, the connection is closed. No HTTP
 * is spoken back and no HTTP metrics are counted: the TCP metrics are the connectors'.
 */
export function opaqueOutbound(deps: OpaqueDeps, log: Logger): OpaqueService {
  if (!deps.discovery) return (client, target) => forwardOpaque(client, target, deps.connector, log);
  return (client, dialled) => {
    const authority = formatHostPort(dialled);
    relayOpaque(deps, client, authority, dialled, {
      unavailable: (error) => {
        log.debug({ authority, err: error.reason }, 'dropped an opaque connection: no endpoint available');
        client.destroy();
      },
      connecting: (target) => ({
        failed: (err) => {
          log.debug(
            { authority, target: formatHostPort(target), err: err.message },
            'opaque connection to upstream failed',
          );
          client.destroy();
        },
      }),
    });
  };
}
