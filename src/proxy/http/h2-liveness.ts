import http2 from 'node:http2';

const { NGHTTP2_CANCEL } = http2.constants;

/** How long HTTP/2 connections and streams may sit without doing anything. */
export interface H2Timeouts {
  /** A connection without streams for this long is closed with GOAWAY (NO_ERROR). */
  readonly idleTimeoutMs: number;
  /**
   * A connection silent this long (no frame the proxy acts on, either way) is sent a
   * SETTINGS frame; one that has not acknowledged it within as long again is destroyed.
   */
  readonly livenessTimeoutMs: number;
  /** A stream with no data, headers or trailers either way for this long is reset (CANCEL). */
  readonly streamIdleTimeoutMs: number;
}

/** HTTP/1's keep-alive timeout, a silence checked after 10 s, and Envoy's 5-minute stream idle timeout. */
export const DEFAULT_H2_TIMEOUTS: H2Timeouts = {
  idleTimeoutMs: 60_000,
  livenessTimeoutMs: 10_000,
  streamIdleTimeoutMs: 300_000,
};

/** Why the proxy closed an HTTP/2 connection itself. */
export type H2CloseReason = 'idle' | 'unresponsive' | 'session_error';

/** How long a connection told GOAWAY may take to finish its streams' frames before it is destroyed. */
const CLOSE_DEADLINE_MS = 1000;

/**
 * Bounds how long one HTTP/2 session (either side) and its streams may hold a connection.
 *
 * When nghttp2 finds a protocol error (a bad frame, HPACK, a flood) it sends GOAWAY and
 * stops reading, and Node tells JavaScript nothing: the socket would stay open for ever,
 * even after the peer has gone. Such a session is silent from then on, so a silent session
 * is asked to acknowledge a SETTINGS frame (RFC 9113 §6.5.3: the peer must), which a
 * finished nghttp2 session never sends; no answer in time and the socket is destroyed.
 * SETTINGS rather than PING: gRPC servers count PINGs on a quiet connection as abuse.
 */
export class H2SessionGuard {
  private streams = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly session: http2.Http2Session,
    private readonly timeouts: H2Timeouts,
    private readonly closed: (reason: H2CloseReason) => void,
  ) {
    session.setTimeout(timeouts.livenessTimeoutMs, () => this.probe());
    session.once('close', () => {
      this.done = true;
      clearTimeout(this.idleTimer);
      clearTimeout(this.probeTimer);
    });
    this.armIdle();
  }

  /** A SETTINGS probe is out and unanswered: new streams should go to another connection. */
  get suspect(): boolean {
    return this.probeTimer !== undefined;
  }

  /** Counts a stream of the session, and resets it once it has been idle too long. */
  streamOpened(stream: http2.Http2Stream): void {
    if (this.streams++ === 0) clearTimeout(this.idleTimer);
    stream.setTimeout(this.timeouts.streamIdleTimeoutMs, () => {
      if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    });
    stream.once('close', () => {
      if (--this.streams === 0) this.armIdle();
    });
  }

  /** The session failed (Node reported an error): destroy it now. */
  failed(): void {
    this.finish('session_error', () => this.session.destroy());
  }

  private armIdle(): void {
    if (this.done) return;
    this.idleTimer = setTimeout(() => {
      if (this.streams === 0) this.finish('idle', () => closeWithDeadline(this.session));
    }, this.timeouts.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private probe(): void {
    if (this.done || this.probeTimer) return;
    try {
      this.session.settings({}, (err) => {
        if (err || this.done) return;
        clearTimeout(this.probeTimer);
        this.probeTimer = undefined;
        // Node's timer fired and stays spent until the session's next activity: watch again.
        this.session.setTimeout(this.timeouts.livenessTimeoutMs, () => this.probe());
      });
    } catch {
      // Too many SETTINGS unacknowledged already: the peer is not answering.
    }
    this.probeTimer = setTimeout(
      () => this.finish('unresponsive', () => this.session.destroy()),
      this.timeouts.livenessTimeoutMs,
    );
    this.probeTimer.unref();
  }

  private finish(reason: H2CloseReason, close: () => void): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.idleTimer);
    clearTimeout(this.probeTimer);
    this.closed(reason);
    close();
  }
}

/** GOAWAY (NO_ERROR) now, and the socket destroyed if streams still hold it after the deadline. */
export function closeWithDeadline(session: http2.Http2Session): void {
  if (session.destroyed) return;
  if (!session.closed) session.close();
  const deadline = setTimeout(() => session.destroy(), CLOSE_DEADLINE_MS);
  deadline.unref();
  session.once('close', () => clearTimeout(deadline));
}
