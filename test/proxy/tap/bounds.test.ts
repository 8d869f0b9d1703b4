/**
 * The tap server's bounds, on a real replica's proxy: at most 16 Observe streams at once,
 * and a client that reads too slowly makes the proxy drop (and count) events once its
 * bounded per-stream queue is full, instead of buffering them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { identityName } from '../../../src/identity/names.js';
import { observe, TapError, type TapTarget } from '../../../src/viz/tap/client.js';
import { TapIdentity } from '../../../src/viz/tap/identity.js';
import {
  type ControlPlaneHandle,
  describeFailures,
  Load,
  serviceYaml,
  startControlPlane,
  startReplica,
  weftOk,
} from '../../helpers/controlplane.js';
import { Cleanup, waitFor } from '../../helpers/net.js';
import { scrape, sumSamples } from '../../helpers/prom.js';
import type { ProxyHandle } from '../../helpers/proxy.js';
import { type Collector, collect, openStreams, startTap, stateDirCa, tapTarget } from './helpers.js';

const T = { timeout: 90_000 };
const WEB_ID = identityName('default', 'default');
/** DEFAULT_TAP_LIMITS in src/proxy/tap/server.ts. */
const MAX_STREAMS = 16;
const MAX_QUEUED_EVENTS = 1024;

describe('tap bounds', () => {
  const cleanup = new Cleanup();
  let cp: ControlPlaneHandle;
  let web: ProxyHandle;
  let tapId: TapIdentity;
  let target: TapTarget;

  before(async () => {
    cp = await startControlPlane({ cleanup });
    await weftOk(cp, ['apply', '-f', '-'], serviceYaml('web-svc', { selector: { app: 'web' } }));
    web = (await startReplica(cp, { name: 'web-a' }, cleanup)).proxy;
    tapId = await TapIdentity.start(await stateDirCa(cp.stateDir));
    cleanup.add(() => tapId.close());
    target = tapTarget(web, WEB_ID);
  });

  after(() => cleanup.run());

  test(`at most ${MAX_STREAMS} streams are open at once; beyond, RESOURCE_EXHAUSTED`, T, async () => {
    const open: Collector[] = [];
    for (let i = 0; i < MAX_STREAMS; i++) open.push(await startTap(target, tapId.current));
    assert.equal(await openStreams(web.admin), MAX_STREAMS);
    const extra = observe(target, tapId.current);
    const err = await extra.opened.then(
      () => assert.fail('a stream beyond the limit was accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TapError && err.reason === 'busy', String(err));
    assert.match(err.message, /has 16 tap streams open, its limit/);
    assert.equal(
      sumSamples(await scrape(web.admin), 'tap_observe_refused_total', { reason: 'resource_exhausted' }),
      1,
    );
    // A closed stream frees its place.
    await open.pop()?.close();
    await waitFor(
      async () => (await openStreams(web.admin)) === MAX_STREAMS - 1,
      'a stream to close',
      5_000,
      20,
    );
    open.push(await startTap(target, tapId.current));
    assert.equal(await openStreams(web.admin), MAX_STREAMS);
    await Promise.all(open.map((c) => c.close()));
    await waitFor(async () => (await openStreams(web.admin)) === 0, 'every stream to close', 5_000, 20);
  });

  test('a slow client loses events, counted, instead of the proxy buffering them', T, async () => {
    const before = sumSamples(await scrape(web.admin), 'tap_events_dropped_total');
    // All requests are admitted: fewer than the bucket's one second's worth at max_rps.
    const requests = 900;
    const stream = observe(target, tapId.current, { maxRps: 1000 });
    await stream.opened;
    // Nobody reads the stream for now: the client's buffer, gRPC's and HTTP/2's windows
    // fill, and the proxy's queue with them.
    // 16 workers on keep-alive connections straight to the replica's inbound listener.
    const load = new Load(web.inbound, {
      authority: `${web.inbound.host}:${web.inbound.port}`,
      path: '/flood',
      total: requests,
      concurrency: 16,
    });
    await load.done;
    assert.equal(load.count, requests);
    assert.deepEqual(load.failures(), [], describeFailures(load.failures()));
    const emitted = 3 * requests;
    let dropped = 0;
    await waitFor(
      async () => {
        dropped = sumSamples(await scrape(web.admin), 'tap_events_dropped_total') - before;
        return dropped > 0;
      },
      'events to be dropped',
      10_000,
      50,
    );
    // The proxy held what it could and dropped the rest; now read everything it kept.
    const c = collect(stream);
    let last = -1;
    await waitFor(
      async () => {
        const quiet = c.events.length === last;
        last = c.events.length;
        return quiet;
      },
      'the stream to go quiet',
      20_000,
      500,
    );
    dropped = sumSamples(await scrape(web.admin), 'tap_events_dropped_total') - before;
    const received = c.events.length;
    assert.equal(received + dropped, emitted, `received ${received} + dropped ${dropped}`);
    // What reached the client is the proxy's bounded queue and what the transport holds
    // (the client's own buffer, gRPC's and HTTP/2's flow-control windows).
    assert.ok(received < emitted - 500, `received ${received} of ${emitted}`);
    assert.ok(received <= MAX_QUEUED_EVENTS + 1000, `received ${received}`);
    if (process.env.TAP_DEBUG) console.log({ received, dropped });
    // The stream is still alive: new events flow once the client reads.
    const r = await fetch(`http://${web.inbound.host}:${web.inbound.port}/after-the-flood`);
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    await waitFor(
      () =>
        c.events.some(
          (e) =>
            e.type === 'end' &&
            c.events.some((q) => q.id === e.id && q.type === 'req' && q.path === '/after-the-flood'),
        ),
      'the events of a request after the flood',
      5_000,
      20,
    );
    await c.close();
  });
});
