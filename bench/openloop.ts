// Open-loop constant-rate HTTP/1.1 load generator, run as its own process:
//
//   node dist/bench/openloop.js --port 8080 --rate 1000 --duration 10 [--connections 32] [--path /]
//     [--host <Host header; default 127.0.0.1:port>]
//
// Request i is due at t0 + i/rate whatever happened to earlier requests. A due request goes out on an
// idle keep-alive socket of the pool (round robin); when none is idle it waits in a FIFO queue. Its latency is taken
// from the time it was DUE (not the time it was written) to the last byte of the response, so a
// stalled server is charged for every request that should have been sent meanwhile: coordinated
// omission is not hidden. Latencies go into HdrHistograms in microseconds. Prints one JSON line
// (OpenLoopResult) on stdout. Traffic goes to 127.0.0.1 only.
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { build, type Histogram } from 'hdr-histogram-js';
import { nowMs, startTicker, type Ticker } from './clock.js';
import { type ParsedResponse, ParseError, ResponseParser } from './http1-parser.js';
import type { LatencyPercentiles, OpenLoopResult } from './types.js';

const HOST = '127.0.0.1';

interface Config {
  port: number;
  rate: number;
  durationS: number;
  connections: number;
  path: string;
  /** The Host header (default 127.0.0.1:<port>); e.g. a meshed service's name for Weft's outbound. */
  host: string | undefined;
  timeoutMs: number;
}

function readConfig(): Config {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '32' },
      path: { type: 'string', default: '/' },
      host: { type: 'string' },
      'timeout-ms': { type: 'string', default: '5000' },
    },
  });
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${v}"`);
    return n;
  };
  return {
    port: num('port', values.port),
    rate: num('rate', values.rate),
    durationS: num('duration', values.duration),
    connections: Math.floor(num('connections', values.connections)),
    path: values.path ?? '/',
    host: values.host,
    timeoutMs: num('timeout-ms', values['timeout-ms']),
  };
}

function histogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.max(1, Math.round(ms * 1000)));
}

function percentiles(h: Histogram): LatencyPercentiles {
  const ms = (us: number) => Math.round(us) / 1000;
  const empty = h.totalCount === 0;
  return {
    count: h.totalCount,
    meanMs: empty ? 0 : ms(h.mean),
    p50Ms: empty ? 0 : ms(h.getValueAtPercentile(50)),
    p90Ms: empty ? 0 : ms(h.getValueAtPercentile(90)),
    p99Ms: empty ? 0 : ms(h.getValueAtPercentile(99)),
    p999Ms: empty ? 0 : ms(h.getValueAtPercentile(99.9)),
    maxMs: empty ? 0 : ms(h.maxValue),
  };
}

interface Conn {
  socket: Socket | undefined;
  connected: boolean;
  busy: boolean;
  /** Due time and write time of the request in flight (nowMs()). */
  due: number;
  sentAt: number;
}

class OpenLoop {
  private readonly total: number;
  private readonly intervalMs: number;
  private readonly request: Buffer;
  private readonly conns: Conn[] = [];
  /** Connected sockets with no request in flight, oldest first. */
  private readonly idle: Conn[] = [];
  /** Due times of requests waiting for an idle socket (FIFO, head index `qh`). */
  private queue: number[] = [];
  private qh = 0;
  private next = 0;
  private t0 = 0;
  private lastDone = 0;
  private sent = 0;
  private ok = 0;
  private errors = 0;
  private readonly errorKinds: Record<string, number> = {};
  private reconnects = 0;
  private finished = false;
  private readonly latency = histogram();
  private readonly service = histogram();
  private readonly sendLag = histogram();
  private ticker: Ticker | undefined;
  private resolveDone: (() => void) | undefined;

  constructor(private readonly cfg: Config) {
    this.total = Math.round(cfg.rate * cfg.durationS);
    this.intervalMs = 1000 / cfg.rate;
    this.request = Buffer.from(
      `GET ${cfg.path} HTTP/1.1\r\nHost: ${cfg.host ?? `${HOST}:${cfg.port}`}\r\nUser-Agent: weft-bench-openloop\r\n\r\n`,
      'latin1',
    );
  }

  async run(): Promise<OpenLoopResult> {
    await Promise.all(Array.from({ length: this.cfg.connections }, () => this.open()));
    const done = new Promise<void>((resolve) => {
      this.resolveDone = resolve;
    });
    this.t0 = nowMs() + 100; // leaves time for the ticker thread to start
    this.lastDone = this.t0;
    this.ticker = startTicker(
      { t0: this.t0, intervalMs: this.intervalMs, total: this.total },
      () => this.pump(),
      (err) => {
        this.errorKinds[`ticker: ${err.message}`] = 1;
        this.finish();
      },
    );
    const watchdog = setInterval(() => this.expire(), 50);
    const scheduleEnd = this.t0 + this.cfg.durationS * 1000;
    const hardStop = setTimeout(() => this.finish(), scheduleEnd - nowMs() + this.cfg.timeoutMs + 100);
    await done;
    clearInterval(watchdog);
    clearTimeout(hardStop);
    await this.ticker?.stop();
    return this.result();
  }

  /** Opens (or re-opens) one pooled connection; resolves once connected, rejects on a first-time failure. */
  private open(existing?: Conn): Promise<void> {
    const conn: Conn = existing ?? { socket: undefined, connected: false, busy: false, due: 0, sentAt: 0 };
    if (!existing) this.conns.push(conn);
    return new Promise<void>((resolve, reject) => {
      const socket = connect({ host: HOST, port: this.cfg.port });
      socket.setNoDelay(true);
      conn.socket = socket;
      conn.connected = false;
      const parser = new ResponseParser((r) => this.onResponse(conn, r));
      socket.once('connect', () => {
        conn.connected = true;
        this.idle.push(conn);
        resolve();
        if (this.t0 > 0) this.pump();
      });
      socket.on('data', (chunk: Buffer) => {
        if (conn.socket !== socket) return;
        try {
          parser.push(chunk);
        } catch (err) {
          this.fail(conn, err instanceof ParseError ? 'parse_error' : 'internal_error');
          socket.destroy();
        }
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (!conn.connected && !existing)
          reject(new Error(`connect to ${HOST}:${this.cfg.port}: ${err.message}`));
      });
      socket.on('close', () => this.onClose(conn, socket));
    });
  }

  private onClose(conn: Conn, socket: Socket): void {
    if (conn.socket !== socket) return;
    if (conn.busy) this.fail(conn, 'connection_closed');
    conn.connected = false;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    if (this.finished || this.t0 === 0) return;
    this.reconnects++;
    setTimeout(() => {
      if (!this.finished) this.open(conn).catch(() => undefined);
    }, 10);
  }

  private fail(conn: Conn, kind: string): void {
    if (!conn.busy) return;
    conn.busy = false;
    this.errors++;
    this.errorKinds[kind] = (this.errorKinds[kind] ?? 0) + 1;
  }

  private onResponse(conn: Conn, r: ParsedResponse): void {
    const now = nowMs();
    if (!conn.busy) {
      // A server may announce it is closing an idle connection with a response nobody asked for
      // (e.g. HAProxy's 408 on a connection idle past `timeout http-request`): that is a close, not
      // a failed request. Anything else unsolicited is a protocol error.
      if (r.status !== 408 && !r.close) {
        this.errors++;
        this.errorKinds.unsolicited_response = (this.errorKinds.unsolicited_response ?? 0) + 1;
      }
      conn.socket?.destroy();
      return;
    }
    conn.busy = false;
    this.lastDone = now;
    if (r.status >= 200 && r.status < 300) {
      this.ok++;
      recordMs(this.latency, now - conn.due);
      recordMs(this.service, now - conn.sentAt);
    } else {
      this.errors++;
      const kind = `status_${r.status}`;
      this.errorKinds[kind] = (this.errorKinds[kind] ?? 0) + 1;
    }
    if (r.close) {
      conn.socket?.end();
    } else {
      this.idle.push(conn);
    }
    this.pump();
  }

  /** Moves every request that is due into the queue, and sends what idle sockets allow. */
  private pump(): void {
    if (this.finished) return;
    const now = nowMs();
    while (this.next < this.total) {
      const due = this.t0 + this.next * this.intervalMs;
      if (due > now) break;
      this.queue.push(due);
      this.next++;
    }
    while (this.qh < this.queue.length) {
      // Round robin (oldest idle socket first), so every pooled connection carries load.
      const conn = this.idle.shift();
      if (!conn) break;
      this.send(conn, this.queue[this.qh++] ?? now);
    }
    if (this.qh > 4096 && this.qh * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.qh);
      this.qh = 0;
    }
    this.maybeDone();
  }

  private send(conn: Conn, due: number): void {
    const now = nowMs();
    conn.busy = true;
    conn.due = due;
    conn.sentAt = now;
    recordMs(this.sendLag, now - due);
    this.sent++;
    conn.socket?.write(this.request);
  }

  /** Fails requests that have waited longer than the timeout for their response. */
  private expire(): void {
    const now = nowMs();
    for (const conn of this.conns) {
      if (conn.busy && now - conn.sentAt > this.cfg.timeoutMs) {
        this.fail(conn, 'timeout');
        conn.socket?.destroy();
      }
    }
  }

  private maybeDone(): void {
    if (this.next < this.total || this.qh < this.queue.length) return;
    if (this.conns.some((c) => c.busy)) return;
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    for (const conn of this.conns) {
      this.fail(conn, 'timeout');
      conn.socket?.destroy();
    }
    const unsent = this.total - this.sent;
    if (unsent > 0) {
      this.errors += unsent;
      this.errorKinds.unsent = (this.errorKinds.unsent ?? 0) + unsent;
    }
    this.resolveDone?.();
  }

  private result(): OpenLoopResult {
    const elapsedS = Math.max(1e-9, (this.lastDone - this.t0) / 1000);
    return {
      rate: this.cfg.rate,
      durationS: this.cfg.durationS,
      connections: this.cfg.connections,
      scheduled: this.total,
      sent: this.sent,
      ok: this.ok,
      errors: this.errors,
      errorKinds: this.errorKinds,
      reconnects: this.reconnects,
      achievedRps: Math.round(this.ok / elapsedS),
      latency: percentiles(this.latency),
      service: percentiles(this.service),
      sendLag: percentiles(this.sendLag),
    };
  }
}

async function main(): Promise<void> {
  let output: string;
  let code = 0;
  try {
    const result = await new OpenLoop(readConfig()).run();
    output = JSON.stringify(result);
  } catch (err) {
    output = JSON.stringify({ error: (err as Error).message });
    code = 1;
  }
  process.stdout.write(`${output}\n`, () => process.exit(code));
}

void main();
