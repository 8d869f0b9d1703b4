import type { Socket } from 'node:net';
import type { Direction } from './http.js';
import {
  CounterFamily,
  type CounterSeries,
  GaugeFamily,
  type GaugeSeries,
  type Labels,
  type Registry,
} from './registry.js';

export type Peer = 'src' | 'dst';

/**
 * Why the proxy refused a connection: it began like an HTTP/1 request but was not one;
 * it came straight to the transparent inbound port without mutual TLS; its client is not
 * one the inbound authorization allows.
 */
export type RefusalReason = 'malformed_http' | 'direct_not_mtls' | 'unauthorized';

/** The TCP series for one (direction, peer, tls) label set and the sockets open in it. */
export class TcpStats {
  readonly open = new Set<Socket>();
  private closedRead = 0;
  private closedWritten = 0;

  constructor(
    readonly openTotal: CounterSeries,
    readonly closeTotal: CounterSeries,
    readonly openConnections: GaugeSeries,
    readonly readBytes: CounterSeries,
    readonly writeBytes: CounterSeries,
  ) {}

  /** Counts a connection from now until it closes. Bytes are read off the socket, not per chunk. */
  track(socket: Socket): void {
    this.openTotal.inc();
    this.openConnections.inc();
    this.open.add(socket);
    socket.once('close', () => {
      this.open.delete(socket);
      this.closeTotal.inc();
      this.openConnections.dec();
      this.closedRead += socket.bytesRead;
      this.closedWritten += socket.bytesWritten;
    });
  }

  /** Folds the open sockets' byte counts into the counters, just before a scrape. */
  refresh(): void {
    let read = this.closedRead;
    let written = this.closedWritten;
    for (const s of this.open) {
      read += s.bytesRead;
      written += s.bytesWritten;
    }
    this.readBytes.value = read;
    this.writeBytes.value = written;
  }
}

/** tcp_open_total, tcp_close_total, tcp_open_connections, tcp_read_bytes_total, tcp_write_bytes_total. */
export class TcpMetrics {
  private readonly openTotal: CounterFamily;
  private readonly closeTotal: CounterFamily;
  private readonly openConnections: GaugeFamily;
  private readonly readBytes: CounterFamily;
  private readonly writeBytes: CounterFamily;
  private readonly detectTimeoutTotal: CounterFamily;
  private readonly refusedTotal: CounterFamily;
  private readonly h2CloseTotal: CounterFamily;
  private readonly cache = new Map<string, WeakMap<Labels, TcpStats>>();
  private readonly all = new Set<TcpStats>();

  constructor(registry: Registry) {
    this.openTotal = registry.register(
      new CounterFamily('tcp_open_total', 'Total count of opened connections.'),
    );
    this.closeTotal = registry.register(
      new CounterFamily('tcp_close_total', 'Total count of closed connections.'),
    );
    this.openConnections = registry.register(
      new GaugeFamily('tcp_open_connections', 'Number of currently-open connections.'),
    );
    this.readBytes = registry.register(
      new CounterFamily('tcp_read_bytes_total', 'Total count of bytes read from peers.'),
    );
    this.writeBytes = registry.register(
      new CounterFamily('tcp_write_bytes_total', 'Total count of bytes written to peers.'),
    );
    this.detectTimeoutTotal = registry.register(
      new CounterFamily(
        'tcp_detect_timeout_total',
        'Total count of accepted connections whose protocol detection timed out, carried on as opaque TCP.',
      ),
    );
    this.refusedTotal = registry.register(
      new CounterFamily(
        'tcp_refused_total',
        'Total count of accepted connections the proxy refused, by reason (malformed_http, direct_not_mtls, unauthorized).',
      ),
    );
    this.h2CloseTotal = registry.register(
      new CounterFamily(
        'http2_connection_close_total',
        'Total count of HTTP/2 connections the proxy closed itself: idle, unresponsive (silent and not acknowledging SETTINGS, as after a protocol error) or session_error.',
      ),
    );
    registry.onRender(() => {
      for (const stats of this.all) stats.refresh();
    });
  }

  /** tcp_detect_timeout_total for one direction. */
  detectTimeouts(direction: Direction): CounterSeries {
    return this.detectTimeoutTotal.get([['direction', direction]]);
  }

  /** tcp_refused_total for one direction and reason. */
  refused(direction: Direction, reason: RefusalReason): CounterSeries {
    return this.refusedTotal.get([
      ['direction', direction],
      ['reason', reason],
    ]);
  }

  /** http2_connection_close_total for one direction, side (src: clients, dst: upstreams) and reason. */
  h2Closes(direction: Direction, peer: Peer, reason: string): CounterSeries {
    return this.h2CloseTotal.get([
      ['direction', direction],
      ['peer', peer],
      ['reason', reason],
    ]);
  }

  /** The series for connections of one direction and side, with a peer's TLS labels (keep lists shared). */
  stats(direction: Direction, peer: Peer, tlsLabels: Labels): TcpStats {
    const key = `${direction}/${peer}`;
    let byLabels = this.cache.get(key);
    if (!byLabels) {
      byLabels = new WeakMap();
      this.cache.set(key, byLabels);
    }
    let stats = byLabels.get(tlsLabels);
    if (!stats) {
      const labels: Labels = [['direction', direction], ['peer', peer], ...tlsLabels];
      stats = new TcpStats(
        this.openTotal.get(labels),
        this.closeTotal.get(labels),
        this.openConnections.get(labels),
        this.readBytes.get(labels),
        this.writeBytes.get(labels),
      );
      byLabels.set(tlsLabels, stats);
      this.all.add(stats);
    }
    return stats;
  }
}
