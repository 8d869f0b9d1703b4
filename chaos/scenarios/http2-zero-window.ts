// A client that sets SETTINGS_INITIAL_WINDOW_SIZE 0 and never sends WINDOW_UPDATE, while
// the app behind the proxy has a large response for each of its streams. Flow control
// makes the proxy stop reading the app (memory bounded by the windows); the stream idle
// timeout must then reset each stream, both ways, so the app is not held for ever. The
// proxy's upstream pool carries at most 100 streams per connection, so the stuck streams
// spread over connections of their own and the good client's requests find one with room
// (before that cap, 1,000 stuck streams on the one shared connection filled the app's
// maxSessionMemory and the app reset it, failing a good request).
import type http2 from 'node:http2';
import { type H2App, startH2Server } from '../../test/helpers/apps.js';
import { getFrame, RawH2 } from '../../test/helpers/h2.js';
import { deferred, waitFor } from '../../test/helpers/net.js';
import { sampleProcess } from '../context.js';
import type { Scenario, ScenarioResult } from '../scenario.js';
import { goodClient, livenessFlag, RSS_BOUND_BYTES, settledSample, withTarget } from './http2-harness.js';

/** Each /big response: 8 MiB in 16 KiB writes, as fast as back-pressure lets it. */
const RESPONSE_BYTES = 8 * 1024 * 1024;
const CHUNK = Buffer.alloc(16 * 1024, 0x7a);

interface BigApp extends H2App {
  /** Bytes the app managed to write, all streams together. */
  written: () => number;
  /** /big streams that ended before their whole response went (reset: the proxy let go). */
  released: () => number;
}

async function startBigApp(): Promise<BigApp> {
  let streams = 0;
  let written = 0;
  let released = 0;
  const app = await startH2Server((stream: http2.ServerHttp2Stream, headers) => {
    streams++;
    if (headers[':path'] !== '/big') {
      stream.respond({ ':status': 200 });
      stream.end('ok');
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
    let sent = 0;
    const pump = (): void => {
      while (sent < RESPONSE_BYTES && !stream.destroyed) {
        sent += CHUNK.length;
        written += CHUNK.length;
        if (!stream.write(CHUNK)) return;
      }
      if (!stream.destroyed) stream.end();
    };
    stream.on('drain', pump);
    stream.once('close', () => {
      if (sent < RESPONSE_BYTES || stream.rstCode !== 0) released++;
    });
    pump();
  });
  return Object.assign(app, { streams: () => streams, written: () => written, released: () => released });
}

export const h2ZeroWindow: Scenario = {
  name: 'h2-zero-window',
  group: 'http2',
  goal: 'a window that never opens: memory bounded by flow control, each stream reset within the stream idle timeout, the app released',
  inShortForm: true,
  run: async (ctx): Promise<ScenarioResult> => {
    const streamIdle = ctx.short ? 1000 : 5000;
    let app: BigApp | undefined;
    // A short idle timeout: the upstream connections the stuck streams spread over close
    // soon after their streams, before the descriptors are counted again.
    const flags = [...livenessFlag(ctx), '--stream-idle-timeout', `${streamIdle}ms`, '--idle-timeout', '2s'];
    return withTarget(
      flags,
      async (t) => {
        const big = app as BigApp;
        const pid = t.proxy.proc.pid as number;
        const n = ctx.short ? 4 : 20;
        const perConn = ctx.short ? 25 : 50;
        const before = sampleProcess(pid);
        const attacked = deferred();
        const good = goodClient(t.proxy.inbound.port, attacked.promise);
        const conns = await Promise.all(
          Array.from({ length: n }, () => RawH2.connect(t.proxy.inbound.port, { settings: [[4, 0]] })),
        );
        for (const c of conns)
          c.send(...Array.from({ length: perConn }, (_, i) => getFrame(1 + 2 * i, '/big')));
        // Wait until the app is blocked on every stream, then for the resets.
        const total = n * perConn;
        const waitMs = streamIdle * 4 + 10_000;
        // Each stream ends: reset after the stream idle timeout (or, past what the proxy's
        // upstream connection takes at once, answered 502 at once).
        const reset = await Promise.all(
          conns.map((c) =>
            c
              .until(() => c.ended.size >= perConn, waitMs, 'the proxy to end every stream')
              .then(
                () => true,
                () => false,
              ),
          ),
        );
        const peak = sampleProcess(pid);
        const allReset = reset.every(Boolean);
        const stillOpen = conns.filter((c) => !c.socket.destroyed).length;
        for (const c of conns) c.destroy();
        attacked.resolve();
        const served = await good;
        const after = await settledSample(pid, before, 3, 15_000);
        // The app's streams close once the proxy's resets reach it.
        await waitFor(
          () => big.released() === big.streams() - served.ok - served.failed,
          'the app released',
          10_000,
          100,
        ).catch(() => {});
        const released = big.released();
        const blocked = big.streams() - served.ok - served.failed;
        const dataBytes = conns.reduce((a, c) => a + c.dataBytes, 0);
        const growth = peak.rssBytes - before.rssBytes;
        // Flow control bounds what each stuck stream holds: a window and a buffer or two.
        const rssBound = RSS_BOUND_BYTES / 2 + total * 64 * 1024;
        const pass =
          allReset &&
          released === blocked &&
          dataBytes === 0 &&
          served.failed === 0 &&
          growth < rssBound &&
          after.fds <= before.fds + 3;
        return {
          did: `${n} connections with SETTINGS_INITIAL_WINDOW_SIZE 0 each asked for ${perConn} responses of 8 MiB and never opened the window`,
          outcome: `${conns.reduce((a, c) => a + c.ended.size, 0)}/${total} streams ended by the proxy (${conns.reduce((a, c) => a + c.resets.length, 0)} reset after the ${streamIdle} ms stream idle timeout, the rest answered at once), ${released}/${blocked} app streams released, the app wrote ${(big.written() / 1024 / 1024).toFixed(1)} MiB in all before flow control stopped it, peak RSS +${(growth / 1024 / 1024).toFixed(1)} MiB, ${big.sessions()} upstream connections; ${stillOpen}/${n} connections still open (they answer SETTINGS: only their streams were stuck); good client ${served.ok} ok, ${served.failed} failed${served.firstFailure ? ` (first: ${served.firstFailure})` : ''}`,
          before,
          after,
          pass,
          figures: {
            connections: n,
            streams: total,
            released,
            upstreamConnections: big.sessions(),
            appWrittenBytes: big.written(),
            peakRssGrowthBytes: growth,
            streamIdleTimeoutMs: streamIdle,
            goodOk: served.ok,
            goodFailed: served.failed,
          },
        };
      },
      async () => {
        app = await startBigApp();
        return app;
      },
    );
  },
};
