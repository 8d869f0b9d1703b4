// Handshakes that never finish on the mesh (mTLS) port: truncated ClientHellos (half of one, then
// a FIN, or then silence), a whole ClientHello then a reset, and many half-open handshakes that
// send a ClientHello and never answer the server. Each is closed by the proxy within its detect or
// handshake timeout (set here, never the default), counted, nothing reaches the application, other
// clients are still served meanwhile, and the proxy's descriptors come back to their baseline.
import net from 'node:net';
import { LOOPBACK } from '../../test/helpers/net.js';
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js';
import {
  allowedServed,
  captureClientHello,
  fdsBackTo,
  type MeshPort,
  metric,
  startMeshPort,
} from './tls-mesh-port.js';

/** How a hostile client leaves its handshake. */
type Truncation = 'half-then-fin' | 'half-then-silence' | 'whole-then-reset';

/** Opens a connection to the mesh port, sends `bytes`, then does `then`; resolves when the connection is gone. */
function hostile(
  port: MeshPort,
  bytes: Buffer,
  then: 'fin' | 'silence' | 'reset',
  onOpen?: () => void,
): Promise<{ closedByProxy: boolean; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect({ host: LOOPBACK, port: port.proxy.inbound.port, allowHalfOpen: true });
    let ours = false;
    s.on('error', () => {});
    s.on('connect', () => {
      onOpen?.();
      s.write(bytes, () => {
        if (then === 'fin') s.end();
        else if (then === 'reset') {
          ours = true;
          s.resetAndDestroy();
        }
      });
    });
    s.on('data', () => {});
    s.on('end', () => s.destroy());
    s.on('close', () => resolve({ closedByProxy: !ours, ms: Date.now() - t0 }));
  });
}

const refusedLabels = { direction: 'inbound', reason: 'unauthorized' };

async function runTruncated(ctx: ScenarioContext): Promise<ScenarioResult> {
  const perKind = ctx.short ? 10 : 100;
  const detectTimeoutMs = 1_000;
  const port = await startMeshPort(ctx, { handshakeTimeoutMs: 2_000, detectTimeoutMs });
  try {
    const hello = await captureClientHello(port.serverName);
    const half = hello.subarray(0, Math.floor(hello.length / 2));
    const warm = await allowedServed(port);
    const before = port.sample();
    const refused0 = await metric(port, 'tcp_refused_total', refusedLabels);
    const failed0 = await metric(port, 'tls_handshake_failures_total', { direction: 'inbound' });
    const app0 = port.app.connections();
    const kinds: Array<[Truncation, Buffer, 'fin' | 'silence' | 'reset']> = [
      ['half-then-fin', half, 'fin'],
      ['half-then-silence', half, 'silence'],
      ['whole-then-reset', hello, 'reset'],
    ];
    const outcomes = await Promise.all(
      kinds.map(([, bytes, then]) =>
        Promise.all(Array.from({ length: perKind }, () => hostile(port, bytes, then))),
      ),
    );
    const stillServed = await allowedServed(port);
    // The reset ones are counted when the proxy sees the reset: wait for the counters to settle.
    const expectCounted = 2 * perKind;
    let refused = 0;
    let failed = 0;
    for (let i = 0; i < 100; i++) {
      refused = (await metric(port, 'tcp_refused_total', refusedLabels)) - refused0;
      failed = (await metric(port, 'tls_handshake_failures_total', { direction: 'inbound' })) - failed0;
      if (refused >= expectCounted && failed >= perKind) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const fds = await fdsBackTo(port, before.fds);
    const after = { ...port.sample(), fds };
    const reachedApp = port.app.connections() - app0;
    const byKind = Object.fromEntries(
      kinds.map(([k], i) => {
        const o = outcomes[i] ?? [];
        return [
          k,
          { closedByProxy: o.filter((x) => x.closedByProxy).length, maxMs: Math.max(...o.map((x) => x.ms)) },
        ];
      }),
    );
    const finClosed = byKind['half-then-fin']?.closedByProxy ?? 0;
    const silenceClosed = byKind['half-then-silence']?.closedByProxy ?? 0;
    const silenceMaxMs = byKind['half-then-silence']?.maxMs ?? 0;
    const pass =
      warm &&
      stillServed &&
      reachedApp === 0 &&
      finClosed === perKind &&
      silenceClosed === perKind &&
      refused === expectCounted &&
      failed === perKind &&
      fds <= before.fds + 2;
    return {
      did: `${perKind} clients each sent half a ClientHello then a FIN, ${perKind} half of one then nothing, ${perKind} a whole one then a reset (detect timeout ${detectTimeoutMs} ms)`,
      outcome:
        `half+FIN: ${finClosed} closed by the proxy; half+silence: ${silenceClosed} closed by the proxy (the last after ${silenceMaxMs} ms); ` +
        `${refused} counted tcp_refused_total{reason="unauthorized"}, ${failed} tls_handshake_failures_total; ` +
        `${reachedApp} connections reached the app; the allowed identity ${stillServed ? 'still served' : 'NOT served'}`,
      before,
      after,
      pass,
      figures: {
        perKind,
        detectTimeoutMs,
        finClosed,
        silenceClosed,
        silenceMaxMs,
        refused,
        handshakeFailures: failed,
        reachedApp,
        allowedStillServed: stillServed,
      },
    };
  } finally {
    await port.close();
  }
}

async function runHalfOpen(ctx: ScenarioContext): Promise<ScenarioResult> {
  const n = ctx.short ? 100 : 1_000;
  const handshakeTimeoutMs = ctx.short ? 1_000 : 3_000;
  const port = await startMeshPort(ctx, { handshakeTimeoutMs, detectTimeoutMs: 2_000 });
  try {
    const hello = await captureClientHello(port.serverName);
    const warm = await allowedServed(port);
    const before = port.sample();
    const timeouts0 = await metric(port, 'tls_handshake_failures_total', {
      direction: 'inbound',
      reason: 'timeout',
    });
    const app0 = port.app.connections();
    let opened = 0;
    let peakFds = before.fds;
    let allOpen: () => void = () => {};
    const open = new Promise<void>((resolve) => {
      allOpen = resolve;
    });
    ctx.log(`opening ${n} half-open handshakes`);
    const halfOpen = Array.from({ length: n }, () =>
      hostile(port, hello, 'silence', () => {
        opened++;
        if (opened === n) allOpen();
      }),
    );
    await open;
    // While they hang: the allowed client is served.
    const servedDuring = await allowedServed(port);
    peakFds = Math.max(peakFds, port.sample().fds);
    const outcomes = await Promise.all(halfOpen);
    const closedByProxy = outcomes.filter((o) => o.closedByProxy).length;
    const maxMs = Math.max(...outcomes.map((o) => o.ms));
    const timedOut =
      (await metric(port, 'tls_handshake_failures_total', { direction: 'inbound', reason: 'timeout' })) -
      timeouts0;
    const servedAfter = await allowedServed(port);
    const fds = await fdsBackTo(port, before.fds);
    const after = { ...port.sample(), fds };
    const reachedApp = port.app.connections() - app0;
    const pass =
      warm &&
      servedDuring &&
      servedAfter &&
      closedByProxy === n &&
      timedOut === n &&
      reachedApp === 0 &&
      fds <= before.fds + 2;
    return {
      did: `${n} clients each sent a ClientHello to the mesh port and never answered (handshake timeout ${handshakeTimeoutMs} ms)`,
      outcome:
        `${closedByProxy} closed by the proxy, the last after ${maxMs} ms; ${timedOut} counted tls_handshake_failures_total{reason="timeout"}; ` +
        `another client ${servedDuring ? 'served' : 'NOT served'} meanwhile; ${reachedApp} connections reached the app; ` +
        `proxy fds ${before.fds} -> ${peakFds} (peak) -> ${fds}`,
      before,
      after,
      pass,
      figures: {
        connections: n,
        handshakeTimeoutMs,
        closedByProxy,
        lastClosedMs: maxMs,
        timedOut,
        servedDuring,
        servedAfter,
        reachedApp,
        peakFds,
      },
    };
  } finally {
    await port.close();
  }
}

export const tlsHandshakeScenarios: readonly Scenario[] = [
  {
    name: 'tls-truncated-handshake',
    group: 'tls',
    goal: 'truncated ClientHellos closed within the detect timeout and counted, a reset handshake counted, nothing reaches the app',
    inShortForm: true,
    run: runTruncated,
  },
  {
    name: 'tls-half-open-handshakes',
    group: 'tls',
    goal: 'half-open handshakes closed by the handshake timeout and counted, others served meanwhile, fds back to baseline',
    inShortForm: true,
    run: runHalfOpen,
  },
];
