// A large body to a slow reader, both ways: a client that reads a 100 MB response at
// 10 MB/s, and an app that reads a 100 MB request body at 10 MB/s. Back-pressure must
// hold the rest where it came from: the proxy's memory stays bounded, whatever the size.
import http from 'node:http';
import { Writable } from 'node:stream';
import { LOOPBACK, startHttpServer } from '../../test/helpers/net.js';
import { baseArgs, startProxy } from '../../test/helpers/proxy.js';
import { sampleProcess } from '../context.js';
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js';
import { MiB, proxiedApp } from './http1-setup.js';

/** Peak RSS growth allowed while a body streams: a few socket buffers, not the body. */
const MAX_GROWTH_BYTES = 48 * MiB;

/** A sink that takes `rate` bytes a second, holding its writer back (small buffer) the rest of the time. */
function slowSink(rate: number): Writable & { received: () => number } {
  let received = 0;
  const start = performance.now();
  const sink = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, cb) {
      received += chunk.length;
      const due = start + (received / rate) * 1000;
      setTimeout(cb, Math.max(0, due - performance.now()));
    },
  });
  return Object.assign(sink, { received: () => received });
}

/** Samples `pid`'s RSS every 100 ms until stopped; the peak. */
function peakSampler(pid: number): { stop: () => number } {
  let peak = sampleProcess(pid).rssBytes;
  const timer = setInterval(() => {
    peak = Math.max(peak, sampleProcess(pid).rssBytes);
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, sampleProcess(pid).rssBytes);
    },
  };
}

/** Downloads `size` bytes through the proxy at `rate`; the bytes received. */
function slowDownload(port: number, size: number, rate: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: LOOPBACK, port, path: '/big', agent: false, headers: { host: 'web', 'x-size': String(size) } },
      (res) => {
        const sink = slowSink(rate);
        res.pipe(sink);
        sink.on('finish', () => resolve(sink.received()));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
}

/** Uploads `size` bytes through the proxy as fast as it takes them; what the app says it read. */
function upload(port: number, size: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: LOOPBACK,
        port,
        path: '/upload',
        method: 'PUT',
        agent: false,
        headers: { host: 'web', 'content-length': String(size) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    const piece = Buffer.alloc(64 * 1024, 'u');
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        const n = Math.min(piece.length, size - sent);
        sent += n;
        if (!req.write(n === piece.length ? piece : piece.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

export const http1SlowReader: Scenario = {
  name: 'http1-slow-reader',
  group: 'http1',
  goal: 'a 100 MB body to a slow reader, either way, arrives whole; proxy RSS growth under 48 MB (back-pressure)',
  inShortForm: true,
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const size = (ctx.short ? 16 : 100) * MiB;
    const rate = (ctx.short ? 16 : 10) * MiB;
    // Download: the echo app answers x-size bytes at once; the client reads slowly.
    const p = await proxiedApp();
    // Upload: an app that reads slowly, behind a proxy of its own.
    const slowApp = await startHttpServer((req, res) => {
      const sink = slowSink(rate);
      req.pipe(sink);
      sink.on('finish', () => res.end(String(sink.received())));
    });
    const up = await startProxy(baseArgs(slowApp.port));
    try {
      const before = p.sample();
      const downPeak = peakSampler(p.proxy.proc.pid as number);
      const downStart = performance.now();
      const downloaded = await slowDownload(p.port, size, rate);
      const downSeconds = (performance.now() - downStart) / 1000;
      const downGrowth = downPeak.stop() - before.rssBytes;
      const after = p.sample();
      ctx.log(`download: ${downloaded} bytes in ${downSeconds.toFixed(1)} s`);

      const upPid = up.proc.pid as number;
      const upBefore = sampleProcess(upPid).rssBytes;
      const upPeak = peakSampler(upPid);
      const upStart = performance.now();
      const uploaded = Number(await upload(up.inbound.port, size));
      const upSeconds = (performance.now() - upStart) / 1000;
      const upGrowth = upPeak.stop() - upBefore;
      ctx.log(`upload: ${uploaded} bytes in ${upSeconds.toFixed(1)} s`);

      const mb = (n: number): string => (n / MiB).toFixed(1);
      const pass =
        downloaded === size &&
        uploaded === size &&
        downGrowth < MAX_GROWTH_BYTES &&
        upGrowth < MAX_GROWTH_BYTES;
      return {
        did: `${mb(size)} MB response to a client reading ${mb(rate)} MB/s, and ${mb(size)} MB request body to an app reading ${mb(rate)} MB/s`,
        outcome:
          `download ${mb(downloaded)} MB in ${downSeconds.toFixed(1)} s, proxy peak RSS +${mb(downGrowth)} MB; ` +
          `upload ${mb(uploaded)} MB in ${upSeconds.toFixed(1)} s, proxy peak RSS +${mb(upGrowth)} MB`,
        before,
        after,
        pass,
        figures: {
          bodyMiB: size / MiB,
          readerMiBps: rate / MiB,
          downloadSeconds: Number(downSeconds.toFixed(2)),
          downloadPeakGrowthMiB: Number(mb(downGrowth)),
          uploadSeconds: Number(upSeconds.toFixed(2)),
          uploadPeakGrowthMiB: Number(mb(upGrowth)),
          intact: downloaded === size && uploaded === size,
        },
      };
    } finally {
      await up.stop('SIGKILL');
      await slowApp.close();
      await p.close();
    }
  },
};
