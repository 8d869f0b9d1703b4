/**
 * A tap event as viz's API streams it (`/api/tap`, server-sent events named `tap`), for
 * the CLI and the dashboard. `rsp` and `end` events repeat their request's method,
 * authority and path, so each line stands on its own.
 */
export interface TapEventView {
  /** `<proxy base>:<stream>`, unique per request among the proxies tapped; the three events of a request share it. */
  readonly id: string;
  readonly type: 'req' | 'rsp' | 'end';
  /** Milliseconds since the epoch when viz received it. */
  readonly time: number;
  /** Which side of the proxy saw the request. */
  readonly direction: 'inbound' | 'outbound';
  /** The pod whose proxy saw it. */
  readonly namespace: string;
  readonly pod: string;
  /** ip:port of the client and of where the request went. */
  readonly src: string;
  readonly dst: string;
  /** The source's and destination's labels (workload names, identities, dst_*). */
  readonly srcLabels: Readonly<Record<string, string>>;
  readonly dstLabels: Readonly<Record<string, string>>;
  /** Whether the hop was mutual TLS. */
  readonly tls: boolean;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  /** The profile route it matched, if any. */
  readonly route?: string;
  /** rsp, end: the response status. */
  readonly status?: number;
  /** rsp, end: from the request to the response's headers. */
  readonly latencyMs?: number;
  /** end: from the response's headers to its end. */
  readonly durationMs?: number;
  /** end: the response body's length in bytes. */
  readonly responseBytes?: number;
  /** end: the gRPC status, for gRPC responses. */
  readonly grpcStatus?: number;
  /** end: the stream was reset (the reason) instead of ending. */
  readonly reset?: string;
}
