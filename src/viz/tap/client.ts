/**
 * viz's client of the proxies' tap servers (`weft.tap.v1.Tap`): mutual TLS with viz's tap
 * identity, the proxy's certificate checked against the trust anchors and required to name
 * the pod's identity, and the events decoded into plain TapEvents.
 */
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import {
  type DurationMessage,
  type ObserveRequestMessage,
  serviceConstructor,
  type TapEventMessage,
  type TapMatchMessage,
} from '../../grpc/protos.js';
import { certificateIdentity, dnsNames } from '../../identity/x509.js';
import { formatHostPort } from '../../util/addr.js';

/** A proxy to tap: where its tap server listens, and the identity its certificate must name. */
export interface TapTarget {
  readonly address: string;
  /** The Workload's tapPort; 0 or unset: the proxy serves no tap. */
  readonly port: number | undefined;
  /** The pod's identity (identityName(serviceAccount, namespace)). */
  readonly identity: string;
}

/** viz's tap identity, as PEM (TapIdentity.current). */
export interface TapCredentials {
  readonly certChainPem: string;
  readonly keyPem: string;
  readonly trustAnchorsPem: string;
}

/** Which requests to observe; a tree of these, as the proxy's ObserveRequest.Match. */
export type TapMatch =
  | { readonly all: readonly TapMatch[] }
  | { readonly any: readonly TapMatch[] }
  | { readonly not: TapMatch }
  | { readonly sourceLabel: { readonly key: string; readonly value: string } }
  | { readonly destinationLabel: { readonly key: string; readonly value: string } }
  | { readonly routeLabel: { readonly key: string; readonly value: string } }
  | { readonly method: string }
  | { readonly authority: string }
  | { readonly pathPrefix: string }
  | { readonly scheme: string };

export interface TapRequest {
  /** Unset: every request. */
  readonly match?: TapMatch;
  /** Requests per second admitted; unset or 0: the proxy's default (100), capped at 1000. */
  readonly maxRps?: number;
}

export interface TapAddress {
  readonly ip: string;
  readonly port: number;
}

/** What every event of one request carries. */
export interface TapEventCommon {
  /** `<proxy base>:<stream>`: the three events of a request share it. */
  readonly id: string;
  /** Inbound: a request to the proxy's workload; outbound: one from it. */
  readonly direction: 'inbound' | 'outbound';
  readonly source: TapAddress | undefined;
  readonly destination: TapAddress | undefined;
  /** Inbound: tls, client_id; outbound: src_namespace, src_deployment, src_pod, src_serviceaccount. */
  readonly sourceMeta: Readonly<Record<string, string>>;
  /** Outbound: tls, server_id, dst_*; inbound: dst_namespace, dst_deployment, dst_pod, dst_serviceaccount. */
  readonly destinationMeta: Readonly<Record<string, string>>;
  /** rt_route, when the request matched a profile route. */
  readonly routeMeta: Readonly<Record<string, string>>;
  /** Whether the hop was mutual TLS. */
  readonly tls: boolean;
}

/** `req`: the request (no header value, no body byte: the proxy sends none). */
export interface TapRequestInit extends TapEventCommon {
  readonly type: 'req';
  readonly method: string;
  readonly scheme: string;
  readonly authority: string;
  /** Without the query string. */
  readonly path: string;
}

/** `rsp`: the response's headers. */
export interface TapResponseInit extends TapEventCommon {
  readonly type: 'rsp';
  readonly status: number;
  /** From the request to the response's headers. */
  readonly latencyMs: number;
}

/** `end`: the response ended (or failed). */
export interface TapResponseEnd extends TapEventCommon {
  readonly type: 'end';
  /** From the response's headers to its end (Linkerd's `duration`); unset when no headers were sent. */
  readonly durationMs: number | undefined;
  /** From the request to the response's end. */
  readonly sinceRequestMs: number;
  /** The response body's length in bytes. */
  readonly responseBytes: number;
  /** The gRPC status the response carried, for gRPC responses. */
  readonly grpcStatus?: number;
  /** The HTTP/2 error code when the response failed instead of ending (2 INTERNAL_ERROR, 8 CANCEL). */
  readonly resetError?: number;
}

export type TapEvent = TapRequestInit | TapResponseInit | TapResponseEnd;

/** Why an observation failed. */
export type TapErrorReason =
  /** The target has no tap port, or what answers there serves no tap API. */
  | 'no_tap'
  /** Nothing answered, or the TLS handshake failed (either side refused the other's certificate). */
  | 'unreachable'
  /** The proxy's tap server refused this client's identity (PERMISSION_DENIED). */
  | 'permission_denied'
  /** The proxy has as many tap streams open as it allows (RESOURCE_EXHAUSTED). */
  | 'busy'
  /** The proxy refused the request's match (INVALID_ARGUMENT). */
  | 'invalid_request'
  | 'failed';

export class TapError extends Error {
  constructor(
    readonly reason: TapErrorReason,
    message: string,
    /** The gRPC status code, when the call got one. */
    readonly code?: grpc.status,
  ) {
    super(message);
    this.name = 'TapError';
  }
}

/** A running observation: its events, and whether the proxy has accepted it. */
export interface TapStream extends AsyncIterable<TapEvent> {
  /**
   * Resolves once the proxy has accepted the tap (its events flow from then on); rejects
   * with the TapError that ends the stream if it is refused first.
   */
  readonly opened: Promise<void>;
  /** Stops observing; the iteration then ends without an error. */
  close(): void;
}

/** The largest event accepted from a proxy, in bytes. */
const MAX_EVENT_BYTES = 1024 * 1024;
/** Events held for a consumer before the call is paused. */
const HIGH_WATER = 256;

function toMatchMessage(m: TapMatch): TapMatchMessage {
  if ('all' in m) return { all: { matches: m.all.map(toMatchMessage) } };
  if ('any' in m) return { any: { matches: m.any.map(toMatchMessage) } };
  if ('not' in m) return { not: toMatchMessage(m.not) };
  if ('sourceLabel' in m) return { sourceLabel: { ...m.sourceLabel } };
  if ('destinationLabel' in m) return { destinationLabel: { ...m.destinationLabel } };
  if ('routeLabel' in m) return { routeLabel: { ...m.routeLabel } };
  if ('method' in m) return { http: { method: m.method } };
  if ('authority' in m) return { http: { authority: m.authority } };
  if ('pathPrefix' in m) return { http: { pathPrefix: m.pathPrefix } };
  return { http: { scheme: m.scheme } };
}

function ms(d: DurationMessage | null | undefined): number {
  return d ? d.seconds * 1000 + d.nanos / 1e6 : 0;
}

/** A TapEvent from the proxy's message; undefined for a message without a known event. */
export function decodeTapEvent(m: TapEventMessage): TapEvent | undefined {
  const common: TapEventCommon = {
    id: `${m.id?.base ?? 0}:${m.id?.stream ?? 0}`,
    direction: m.proxyDirection === 'OUTBOUND' ? 'outbound' : 'inbound',
    source: m.source ? { ip: m.source.ip, port: m.source.port } : undefined,
    destination: m.destination ? { ip: m.destination.ip, port: m.destination.port } : undefined,
    sourceMeta: { ...m.sourceMeta },
    destinationMeta: { ...m.destinationMeta },
    routeMeta: { ...m.routeMeta },
    tls: m.tls,
  };
  if (m.requestInit) {
    const r = m.requestInit;
    return {
      ...common,
      type: 'req',
      method: r.method,
      scheme: r.scheme,
      authority: r.authority,
      path: r.path,
    };
  }
  if (m.responseInit) {
    const r = m.responseInit;
    return { ...common, type: 'rsp', status: r.httpStatus, latencyMs: ms(r.sinceRequestInit) };
  }
  if (m.responseEnd) {
    const r = m.responseEnd;
    return {
      ...common,
      type: 'end',
      durationMs: r.sinceResponseInit ? ms(r.sinceResponseInit) : undefined,
      sinceRequestMs: ms(r.sinceRequestInit),
      responseBytes: r.responseBytes,
      ...(r.end === 'grpcStatus' ? { grpcStatus: r.grpcStatus ?? 0 } : {}),
      ...(r.end === 'resetError' ? { resetError: r.resetError ?? 0 } : {}),
    };
  }
  return undefined;
}

function where(target: TapTarget): string {
  return formatHostPort({ host: target.address, port: target.port ?? 0 });
}

function toTapError(err: unknown, target: TapTarget): TapError {
  const e = err as Partial<grpc.ServiceError>;
  const details = e.details ?? (err as Error).message ?? String(err);
  const proxy = `the tap server of ${target.identity} at ${where(target)}`;
  switch (e.code) {
    case grpc.status.PERMISSION_DENIED:
      return new TapError('permission_denied', `${proxy} refused this client: ${details}`, e.code);
    case grpc.status.RESOURCE_EXHAUSTED:
      return new TapError('busy', `${proxy} is busy: ${details}`, e.code);
    case grpc.status.INVALID_ARGUMENT:
      return new TapError('invalid_request', `${proxy} refused the tap request: ${details}`, e.code);
    case grpc.status.UNIMPLEMENTED:
      return new TapError('no_tap', `${where(target)} serves no tap API (${details})`, e.code);
    case grpc.status.UNAVAILABLE:
      return new TapError('unreachable', `cannot reach ${proxy}: ${connectError(details)}`, e.code);
    default:
      return new TapError(
        'failed',
        `tapping ${target.identity} at ${where(target)} failed: ${details}`,
        e.code,
      );
  }
}

/** grpc-js's "No connection established. Last error: Error: X. Resolution note: " as X. */
function connectError(details: string): string {
  const m = /Last error: (?:Error: )?(.*?)\.?(?: Resolution note:.*)?$/s.exec(details);
  const last = m?.[1]?.trim();
  if (!last) return details;
  // A TLS handshake the server ended: it refused this client's certificate.
  if (/^Failed to connect/.test(last)) {
    return `the connection failed during the TLS handshake (the proxy refuses client certificates that do not chain to its trust anchors): ${last}`;
  }
  if (
    /unable to get local issuer certificate|self[- ]signed certificate|certificate signature failure/i.test(
      last,
    )
  ) {
    return `the proxy's certificate does not chain to this client's trust anchors (${last})`;
  }
  return last;
}

/** Accepts only a certificate whose one DNS name is exactly `identity`. */
function checkIdentity(identity: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    if (certificateIdentity(cert.subjectaltname) === identity) return undefined;
    const names = dnsNames(cert.subjectaltname);
    return new Error(
      `the tap server's certificate names ${names.length === 0 ? 'no DNS name' : names.join(', ')}, not ${identity}`,
    );
  };
}

/** A stream that fails at once with `error`. */
function failed(error: TapError): TapStream {
  const opened = Promise.reject(error);
  opened.catch(() => {});
  return {
    opened,
    close: () => {},
    [Symbol.asyncIterator]: async function* (): AsyncGenerator<TapEvent> {
      yield* [];
      throw error;
    },
  };
}

/**
 * Observes the requests through one proxy: its tap server (`target`) is called over mutual
 * TLS with `credentials` (viz's tap identity), and its certificate must chain to the
 * credentials' trust anchors and name `target.identity`. The events are decoded; the
 * iteration ends without an error when `signal` aborts or `close` is called, and throws a
 * TapError when the proxy refuses (PERMISSION_DENIED), is unreachable, has no tap, or the
 * stream fails. Iterate it once.
 */
export function observe(
  target: TapTarget,
  credentials: TapCredentials,
  request: TapRequest = {},
  signal?: AbortSignal,
): TapStream {
  if (!target.port) {
    return failed(
      new TapError('no_tap', `${target.identity} at ${target.address} has no tap server (no tap port)`),
    );
  }
  if (signal?.aborted) {
    return { opened: Promise.resolve(), close: () => {}, [Symbol.asyncIterator]: async function* () {} };
  }
  const Ctor = serviceConstructor('tap');
  const client = new Ctor(
    where(target),
    grpc.credentials.createSsl(
      Buffer.from(credentials.trustAnchorsPem),
      Buffer.from(credentials.keyPem),
      Buffer.from(credentials.certChainPem),
      { checkServerIdentity: checkIdentity(target.identity) },
    ),
    {
      'grpc.ssl_target_name_override': target.identity,
      'grpc.default_authority': target.identity,
      'grpc.max_receive_message_length': MAX_EVENT_BYTES,
      // Each observation has its own connection (and so its own client certificate).
      'grpc.use_local_subchannel_pool': 1,
    },
  );
  const message: ObserveRequestMessage = {
    ...(request.match ? { match: toMatchMessage(request.match) } : {}),
    maxRps: Math.max(0, Math.floor(request.maxRps ?? 0)),
  };
  const call = (
    client as unknown as { observe(req: ObserveRequestMessage): grpc.ClientReadableStream<TapEventMessage> }
  ).observe(message);

  // Events wait here for the consumer; past HIGH_WATER the call is paused, so the proxy's
  // stream pushes back (and drops, counting) instead of this process buffering.
  const buffered: TapEvent[] = [];
  let head = 0;
  let failure: TapError | undefined;
  let ended = false;
  let stopped = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    ended = true;
    call.cancel();
    client.close();
    signal?.removeEventListener('abort', stop);
    notify();
  };
  signal?.addEventListener('abort', stop, { once: true });

  let resolveOpened: () => void = () => {};
  let rejectOpened: (err: TapError) => void = () => {};
  const opened = new Promise<void>((resolve, reject) => {
    resolveOpened = resolve;
    rejectOpened = reject;
  });
  opened.catch(() => {});

  call.once('metadata', () => resolveOpened());
  call.on('data', (m: TapEventMessage) => {
    resolveOpened();
    const event = decodeTapEvent(m);
    if (event) buffered.push(event);
    if (buffered.length - head >= HIGH_WATER) call.pause();
    notify();
  });
  call.on('end', () => {
    ended = true;
    resolveOpened();
    notify();
  });
  call.on('error', (err) => {
    if (!stopped) failure ??= toTapError(err, target);
    ended = true;
    if (failure) rejectOpened(failure);
    else resolveOpened();
    notify();
  });

  async function* events(): AsyncGenerator<TapEvent> {
    try {
      for (;;) {
        if (head < buffered.length) {
          const event = buffered[head++] as TapEvent;
          if (head === buffered.length) {
            buffered.length = 0;
            head = 0;
          } else if (head > 1024) {
            buffered.splice(0, head);
            head = 0;
          }
          if (call.isPaused() && buffered.length - head < HIGH_WATER / 2) call.resume();
          yield event;
          continue;
        }
        if (failure) throw failure;
        if (ended) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      stop();
    }
  }
  const iterator = events();
  return {
    opened,
    close: stop,
    [Symbol.asyncIterator]: () => iterator,
  };
}
