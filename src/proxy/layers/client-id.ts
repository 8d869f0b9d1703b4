import type { Exchange, HttpLayer } from '../http/exchange.js';
import { CLIENT_ID_HEADER } from '../http/headers.js';

/**
 * Inbound: tells the application who the client is. `weft-client-id` carries the identity
 * the client's certificate proved over mutual TLS; any value a client sent itself is
 * removed first, so the header cannot be forged.
 */
export function clientIdLayer<E extends Exchange>(): HttpLayer<E> {
  return (next) => (ex) => {
    ex.setRequestHeader(CLIENT_ID_HEADER, ex.peer.id);
    next(ex);
  };
}
