import http2 from 'node:http2';

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR, NGHTTP2_SETTINGS_TIMEOUT } =
  http2.constants;

/**
 * Rapid reset (CVE-2023-44487), bounded as Envoy does: once a client connection has
 * opened this many streams, it is closed with GOAWAY ENHANCE_YOUR_CALM if half or more of
 * them were premature: reset by the client within PREMATURE_MS, before the proxy answered.
 * Envoy's default count is 500; nghttp2's own reset rate limit ends such a connection
 * after a few hundred streams already, so the proxy's limit is lower, to come first and
 * to bound the streams an attacker makes the proxy open upstream.
 */
const PREMATURE_RESET_STREAMS = 100;
const PREMATURE_MS = 1000;
/**
 * An upstream connection that has carried this many resets is retired (GOAWAY, its streams
 * finish, new ones go to a new connection): the proxy passes clients' cancels on as
 * RST_STREAM, and a server with nghttp2's reset rate limit (a burst of 1000) would
 * otherwise end the connection every client shares, failing their requests with it.
 */
const UPSTREAM_RESETS_PER_SESSION = 500;

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
export type H2CloseReason = 'idle' | 'unresponsive' | 'session_error' | 'premature_resets' | 'reset_budget';

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
  private opened = 0;
  private premature = 0;
  private resets = 0;
  private retired = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly session: http2.Http2Session,
    private readonly timeouts: H2Timeouts,
    private readonly closed: (reason: H2CloseReason) => void,
    /**
     * server: the client's premature resets close the connection (rapid reset); client
     * (an upstream connection): resets retire it once it has carried its budget of them.
     */
    private readonly role: 'server' | 'client',
  ) {
    session.setTimeout(timeouts.livenessTimeoutMs, () => this.probe());
    session.once('close', () => {
      this.done = true;
      clearTimeout(this.idleTimer);
      clearTimeout(this.probeTimer);
    });
    this.armIdle();
  }

  /** A SETTINGS probe is out and unanswered, or the connection is retired: new streams go to another. */
  get suspect(): boolean {
    return this.probeTimer !== undefined || this.retired;
  }

  /** Streams of the session not yet closed. */
  get activeStreams(): number {
    return this.streams;
  }

  /** Counts a stream of the session, and resets it once it has been idle too long. */
  streamOpened(stream: http2.Http2Stream): void {
    if (this.streams++ === 0) clearTimeout(this.idleTimer);
    this.opened++;
    const server = this.role === 'server';
    const openedAt = server ? performance.now() : 0;
    stream.setTimeout(this.timeouts.streamIdleTimeoutMs, () => {
      if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    });
    stream.once('close', () => {
      if (--this.streams === 0) this.armIdle();
      if (stream.rstCode === NGHTTP2_NO_ERROR || stream.rstCode === undefined) return;
      if (!server) {
        if (++this.resets === UPSTREAM_RESETS_PER_SESSION && !this.done) {
          this.retired = true;
          this.closed('reset_budget');
          this.session.close();
        }
        return;
      }
      if (!(stream as http2.ServerHttp2Stream).headersSent && performance.now() - openedAt < PREMATURE_MS) {
        this.premature++;
        if (this.opened >= PREMATURE_RESET_STREAMS && this.premature * 2 >= this.opened) {
          this.finish('premature_resets', () =>
            this.session.destroy(new Error('too many premature resets'), NGHTTP2_ENHANCE_YOUR_CALM),
          );
        }
      }
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
      // RFC 9113 §6.5.3: an unacknowledged SETTINGS is a connection error SETTINGS_TIMEOUT.
      () =>
        this.finish('unresponsive', () =>
          this.session.destroy(new Error('SETTINGS not acknowledged in time'), NGHTTP2_SETTINGS_TIMEOUT),
        ),
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
