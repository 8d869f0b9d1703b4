import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { DurationMessage, TapEventMessage, TcpAddress } from '../../grpc/protos.js';
import type { Direction } from '../../metrics/http.js';
import type { Labels } from '../../metrics/registry.js';
import type { Exchange, ExchangeObserver, HttpLayer } from '../http/exchange.js';
import type { H1Exchange } from '../http/h1-exchange.js';
import type { H2Exchange } from '../http/h2-exchange.js';
import type { CompiledRoute } from '../profiles/profile.js';
import { NO_TLS_NOT_DISCOVERED } from '../tls/peer.js';
import type { TapSubject } from './match.js';
import type { Tap, TapRegistry } from './registry.js';

/** HTTP/2 error codes a response_end carries when the response failed. */
const INTERNAL_ERROR = 2;
const CANCEL = 8;

/**
 * The tap layer, beside the metrics layer (after balance, so an outbound request's endpoint
 * and route are known): while no tap is open it costs one boolean check and allocates
 * nothing. Otherwise each open tap whose match holds, and whose token bucket has a token,
 * gets the request's events: `request_init` now, `response_init` at the response's
 * headers, `response_end` at its end. Only then is the response body counted.
 */
export function tapLayer<E extends Exchange>(taps: TapRegistry, direction: Direction): HttpLayer<E> {
  return (next) => (ex) => {
    if (taps.active) observe(taps, ex, direction);
    next(ex);
  };
}

/** Label lists are built once and shared, so their records are cached by identity. */
const records = new WeakMap<Labels, Record<string, string>>();
function recordOf(labels: Labels): Record<string, string> {
  let r = records.get(labels);
  if (!r) {
    r = Object.fromEntries(labels);
    records.set(labels, r);
  }
  return r;
}

const NO_META: Readonly<Record<string, string>> = Object.freeze({});
const routeMetas = new WeakMap<CompiledRoute, Record<string, string>>();
function routeMetaOf(ex: Exchange): Readonly<Record<string, string>> {
  const route = ex.routing?.route;
  if (!route || route.name === '') return NO_META;
  let r = routeMetas.get(route);
  if (!r) {
    r = { rt_route: route.name };
    routeMetas.set(route, r);
  }
  return r;
}

/** The client's connection the request came on. */
function downstreamSocket(ex: Exchange): Socket | undefined {
  if (ex.protocol === 'http1') return (ex as unknown as H1Exchange).req.socket;
  return (ex as unknown as H2Exchange).stream.session?.socket as Socket | undefined;
}

/** A socket's own or peer address; a TLS socket over an accepted one may only know it there. */
function address(socket: Socket | undefined, side: 'local' | 'remote'): TcpAddress | null {
  let s = socket as (Socket & { _parent?: Socket }) | undefined;
  for (let hops = 0; s && hops < 3; hops++, s = s._parent) {
    const ip = side === 'local' ? s.localAddress : s.remoteAddress;
    const port = side === 'local' ? s.localPort : s.remotePort;
    if (ip !== undefined && port !== undefined)
      return { ip: ip.startsWith('::ffff:') ? ip.slice(7) : ip, port };
  }
  return null;
}

function pathOf(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

function schemeOf(ex: Exchange): string {
  if (ex.protocol === 'h2') {
    const s = (ex as unknown as H2Exchange).headers[':scheme'];
    if (typeof s === 'string' && s !== '') return s.toLowerCase();
  }
  return 'http';
}

/** The fields every event of one tapped request shares. */
type Common = Omit<TapEventMessage, 'event' | 'requestInit' | 'responseInit' | 'responseEnd'>;

function observe(taps: TapRegistry, ex: Exchange, direction: Direction): void {
  const inbound = direction === 'inbound';
  const subject: TapSubject = {
    method: ex.method,
    scheme: schemeOf(ex),
    authority: ex.authority,
    path: pathOf(ex.path),
    sourceMeta: inbound ? recordOf(ex.peer.labels) : taps.outboundSourceMeta,
    destinationMeta: inbound ? taps.inboundDestinationMeta : recordOf(ex.dst ?? NO_TLS_NOT_DISCOVERED.labels),
    routeMeta: routeMetaOf(ex),
  };
  let admitted: Tap[] | undefined;
  const now = performance.now();
  for (const tap of taps.taps) {
    if (!tap.matches(subject) || !tap.bucket.take(now)) continue;
    if (admitted) admitted.push(tap);
    else admitted = [tap];
  }
  if (!admitted) return;

  const socket = downstreamSocket(ex);
  const target = ex.target;
  const common: Common = {
    id: { base: taps.base, stream: taps.nextStream() },
    proxyDirection: inbound ? 'INBOUND' : 'OUTBOUND',
    source: address(socket, 'remote'),
    destination: inbound
      ? ex.originalDst
        ? { ip: ex.originalDst.host, port: ex.originalDst.port }
        : address(socket, 'local')
      : target
        ? { ip: target.host, port: target.port }
        : null,
    sourceMeta: subject.sourceMeta,
    destinationMeta: subject.destinationMeta,
    routeMeta: subject.routeMeta,
    tls: inbound ? ex.peer.id !== undefined : ex.serverId !== undefined,
  };
  ex.responseBytes = 0;
  ex.observe(new TapObserver(ex, admitted, common, now));
  send(admitted, {
    ...common,
    requestInit: {
      method: subject.method,
      scheme: subject.scheme,
      authority: subject.authority,
      path: subject.path,
    },
  });
}

function send(taps: readonly Tap[], event: TapEventMessage): void {
  for (const tap of taps) tap.emit(event);
}

function duration(ms: number): DurationMessage {
  const ns = Math.max(0, Math.round(ms * 1e6));
  return { seconds: Math.floor(ns / 1e9), nanos: ns % 1e9 };
}

/** Sends a tapped request's response events to the taps that admitted it. */
export class TapObserver implements ExchangeObserver {
  private headAt: number | undefined;

  constructor(
    private readonly ex: Exchange,
    private readonly taps: readonly Tap[],
    private readonly common: Common,
    private readonly startedAt: number,
  ) {}

  head(status: number): void {
    const at = performance.now();
    this.headAt = at;
    send(this.taps, {
      ...this.common,
      responseInit: { sinceRequestInit: duration(at - this.startedAt), httpStatus: status },
    });
  }

  end(_status: number, grpcStatus: number | undefined, errored: boolean): void {
    const at = performance.now();
    const headAt = this.headAt;
    send(this.taps, {
      ...this.common,
      responseEnd: {
        sinceRequestInit: duration(at - this.startedAt),
        sinceResponseInit: headAt === undefined ? null : duration(at - headAt),
        responseBytes: this.ex.responseBytes ?? 0,
        ...(errored
          ? { resetError: this.ex.cancelledByClient ? CANCEL : INTERNAL_ERROR }
          : grpcStatus !== undefined
            ? { grpcStatus }
            : {}),
      },
    });
  }
}

/**
 * For a forward leaf: wraps the writer of a tapped exchange's response body so that it
 * counts the bytes on `responseBytes`. Leaves call it only when `responseBytes` is set.
 */
export function countingWriter(ex: Exchange, write: (chunk: Buffer) => boolean): (chunk: Buffer) => boolean {
  return (chunk) => {
    ex.responseBytes = (ex.responseBytes ?? 0) + chunk.length;
    return write(chunk);
  };
}

/**
 * For a forward leaf that pipes the upstream response body: counts what flows on a tapped
 * exchange's `responseBytes`. Call it right after `pipe`, in the same tick.
 */
export function countResponseBody(ex: Exchange, body: Readable): void {
  body.on('data', (chunk: Buffer) => {
    ex.responseBytes = (ex.responseBytes ?? 0) + chunk.length;
  });
}
