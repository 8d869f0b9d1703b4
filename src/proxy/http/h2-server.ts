import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { HostPort } from '../../util/addr.js';
import { NO_TLS_FROM_REMOTE, type Peer, peerOf } from '../tls/peer.js';
import { originalDstOf } from '../transparent/tag.js';
import type { HttpService } from './exchange.js';
import { H2Exchange } from './h2-exchange.js';
import { type H2CloseReason, H2SessionGuard, type H2Timeouts } from './h2-liveness.js';
import { tunnelOf } from './tunnel-tag.js';

const { NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** Bounds on what a downstream HTTP/2 client may make the proxy hold. */
const SERVER_SETTINGS: http2.Settings = {
  maxConcurrentStreams: 1000,
  maxHeaderListSize: 64 * 1024,
  enablePush: false,
};

/**
 * The HTTP/2 server side (h2c with prior knowledge, and h2 over the mesh's TLS): turns each
 * stream on connections it is handed into an H2Exchange. Sessions are tracked so shutdown
 * can GOAWAY, and each is guarded (H2SessionGuard) so that an idle, failed or silent one
 * closes its socket; `closed` hears why.
 */
export class H2Server {
  private readonly server: http2.Http2Server;
  /**
   * Each session's peer, original destination and tunnel, read once from its connection
   * (session.socket is a proxy object).
   */
  private readonly sessions = new Map<
    http2.ServerHttp2Session,
    {
      peer: Peer;
      originalDst: HostPort | undefined;
      tunnel: string | undefined;
      guard: H2SessionGuard;
    }
  >();

  constructor(
    service: HttpService<H2Exchange>,
    timeouts: H2Timeouts,
    closed: (reason: H2CloseReason) => void,
  ) {
    this.server = http2.createServer({ settings: SERVER_SETTINGS, maxSessionMemory: 10 });
    // Reset in the same read as its HEADERS (rapid reset): it never reaches the stack or an upstream.
    const dispatch = (ex: H2Exchange): void => {
      if (!ex.stream.closed) service(ex);
    };
    this.server.on('stream', (stream, headers, flags) => {
      stream.on('error', () => {});
      const conn = this.sessions.get(stream.session as http2.ServerHttp2Session);
      conn?.guard.streamOpened(stream);
      // Made now, so that it hears the request's trailers, which may come in the same read.
      const ex = new H2Exchange(
        stream,
        headers,
        (flags & NGHTTP2_FLAG_END_STREAM) !== 0,
        conn?.peer ?? NO_TLS_FROM_REMOTE,
      );
      ex.originalDst = conn?.originalDst;
      ex.tunnelAuthority = conn?.tunnel;
      // Node hands over each stream as nghttp2 parses its HEADERS, before the rest of the
      // bytes read with them (a RST_STREAM, say) are parsed; those are by the next turn.
      setImmediate(dispatch, ex);
    });
    this.server.on('session', (session) => {
      const guard = new H2SessionGuard(session, timeouts, closed, 'server');
      this.sessions.set(session, {
        peer: peerOf(session.socket),
        originalDst: originalDstOf(session.socket),
        tunnel: tunnelOf(session.socket),
        guard,
      });
      session.on('error', () => guard.failed());
      session.once('close', () => this.sessions.delete(session));
    });
  }

  accept(socket: Duplex): void {
    this.server.emit('connection', socket);
  }

  /** Sends GOAWAY on every session: streams in flight finish, new ones go elsewhere. */
  drain(): void {
    for (const s of this.sessions.keys()) if (!s.closed) s.close();
  }
}
