const TUNNEL = Symbol('weft.tunnel');
type Tagged = { [TUNNEL]?: string };

/**
 * Records on a CONNECT tunnel's connection the authority the tunnel was opened to: the
 * HTTP requests found inside it go there, whatever their Host header says.
 */
export function tagTunnel(socket: object, authority: string): void {
  (socket as Tagged)[TUNNEL] = authority;
}

/** The CONNECT authority of a tunnel's connection; undefined for any other connection. */
export function tunnelOf(socket: object | null | undefined): string | undefined {
  return (socket as Tagged | null | undefined)?.[TUNNEL];
}
