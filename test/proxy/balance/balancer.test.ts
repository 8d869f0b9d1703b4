import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Balancer, type BalancerOptions } from '../../../src/proxy/balance/balancer.js';
import type { BreakerSettings } from '../../../src/proxy/balance/breaker.js';
import type { Endpoint } from '../../../src/proxy/balance/endpoint.js';
import { FakeClock, seeded, spec, within } from './helpers.js';

function balancer(clock: FakeClock, options: BalancerOptions = {}): Balancer {
  return new Balancer({ now: clock.now, random: seeded(42), ...options });
}

function must(ep: Endpoint | undefined): Endpoint {
  assert.ok(ep);
  return ep;
}

/** Takes an endpoint out now: its connect failed. */
function fail(ep: Endpoint): void {
  ep.begin();
  ep.connectFailed();
}

interface Acquired {
  readonly ep: Endpoint | undefined;
  readonly reason: string | undefined;
}

function acquire(b: Balancer): { result: Promise<Acquired>; cancel: () => void; done: () => boolean } {
  let settled = false;
  let cancel = (): void => {};
  const result = new Promise<Acquired>((resolve) => {
    cancel = b.acquire((ep, reason) => {
      settled = true;
      resolve({ ep, reason });
    });
  });
  return { result, cancel, done: () => settled };
}

test('latency: an endpoint 50 ms slower than the others gets under 10% of sequential picks', () => {
  const clock = new FakeClock();
  const b = balancer(clock);
  b.replace([spec(1), spec(2), spec(3)]);
  const rtt = new Map([
    ['10.0.0.1:1', 10],
    ['10.0.0.1:2', 10],
    ['10.0.0.1:3', 60],
  ]);
  const picks = new Map<string, number>();
  for (let i = 0; i < 10_000; i++) {
    const ep = must(b.pick());
    const started = ep.begin();
    clock.advance(rtt.get(ep.key) ?? 0);
    ep.responded(started);
    ep.finished(false);
    picks.set(ep.key, (picks.get(ep.key) ?? 0) + 1);
  }
  const slow = picks.get('10.0.0.1:3') ?? 0;
  assert.ok(slow < 1000, `slow endpoint got ${slow} picks`);
  // Its estimate decays while idle, so it keeps being retried now and then.
  assert.ok(slow > 0, 'slow endpoint never retried');
  assert.ok((picks.get('10.0.0.1:1') ?? 0) > 4000 && (picks.get('10.0.0.1:2') ?? 0) > 4000);
});

test('weight: an endpoint with 3x the weight takes clearly more under concurrent load', () => {
  const clock = new FakeClock();
  const b = balancer(clock);
  b.replace([spec(1, 30_000), spec(2), spec(3)]);
  const inFlight: { ep: Endpoint; started: number }[] = [];
  const picks = new Map<string, number>();
  for (let i = 0; i < 10_000; i++) {
    const ep = must(b.pick());
    inFlight.push({ ep, started: ep.begin() });
    picks.set(ep.key, (picks.get(ep.key) ?? 0) + 1);
    clock.advance(1);
    // 30 requests in flight, each taking the same 30 ms.
    if (inFlight.length >= 30) {
      const oldest = inFlight.shift();
      assert.ok(oldest);
      oldest.ep.responded(oldest.started);
      oldest.ep.finished(false);
    }
  }
  const heavy = picks.get('10.0.0.1:1') ?? 0;
  const light = Math.max(picks.get('10.0.0.1:2') ?? 0, picks.get('10.0.0.1:3') ?? 0);
  assert.ok(heavy > 5000, `heavy got ${heavy}`);
  assert.ok(heavy > 2 * light, `heavy ${heavy}, light ${light}`);
});

test('equal endpoints share the picks', () => {
  const clock = new FakeClock();
  const b = balancer(clock);
  b.replace([spec(1), spec(2), spec(3), spec(4)]);
  const picks = new Map<string, number>();
  for (let i = 0; i < 4000; i++) {
    const ep = must(b.pick());
    picks.set(ep.key, (picks.get(ep.key) ?? 0) + 1);
  }
  for (const [key, n] of picks) assert.ok(n > 700 && n < 1300, `${key}: ${n}`);
  assert.equal(picks.size, 4);
});

test('endpoints with an open breaker or removed are never picked', () => {
  const clock = new FakeClock();
  const b = balancer(clock);
  b.replace([spec(1), spec(2), spec(3), spec(4), spec(5)]);
  fail(must(b.get('10.0.0.1:1')));
  fail(must(b.get('10.0.0.1:2')));
  b.remove(['10.0.0.1:3']);
  assert.equal(b.size, 4);
  const seen = new Set<string>();
  for (let i = 0; i < 500; i++) seen.add(must(b.pick()).key);
  assert.deepEqual([...seen].sort(), ['10.0.0.1:4', '10.0.0.1:5']);
  fail(must(b.get('10.0.0.1:4')));
  for (let i = 0; i < 50; i++) assert.equal(b.pick()?.key, '10.0.0.1:5');
  fail(must(b.get('10.0.0.1:5')));
  assert.equal(b.pick(), undefined);
  assert.deepEqual(b.counts(), { ready: 0, pending: 4 });
});

test('an endpoint in probation is picked once, for its probe', () => {
  const clock = new FakeClock();
  const b = balancer(clock, { connectBackoff: { minMs: 1000, maxMs: 60_000, jitterRatio: 0 } });
  b.replace([spec(1), spec(2)]);
  const ep1 = must(b.get('10.0.0.1:1'));
  fail(ep1);
  fail(must(b.get('10.0.0.1:2')));
  assert.equal(b.pick(), undefined);
  assert.deepEqual(b.counts(), { ready: 0, pending: 2 });
  clock.t = ep1.connect.reopensAt;
  assert.deepEqual(b.counts(), { ready: 2, pending: 0 });
  const probes = [b.pick(), b.pick(), b.pick()];
  assert.equal(probes[2], undefined);
  assert.deepEqual(probes.map((ep) => ep?.key).sort(), ['10.0.0.1:1', '10.0.0.1:2', undefined]);
  assert.deepEqual(b.counts(), { ready: 0, pending: 2 });
  ep1.begin();
  ep1.finished(false);
  assert.deepEqual(b.counts(), { ready: 1, pending: 1 });
  for (let i = 0; i < 20; i++) assert.equal(b.pick(), ep1);
});

test('add and replace keep the state of known keys; replace marks the others removed', () => {
  const clock = new FakeClock();
  const b = balancer(clock);
  b.add([spec(1), spec(2)]);
  const ep1 = must(b.get('10.0.0.1:1'));
  const ep2 = must(b.get('10.0.0.1:2'));
  fail(ep1);
  b.add([spec(1, 7), spec(3)]);
  assert.equal(b.get('10.0.0.1:1'), ep1);
  assert.equal(ep1.weight, 7);
  assert.equal(ep1.connect.state, 'open');
  assert.equal(b.size, 3);
  const started = ep2.begin();
  b.replace([spec(1), spec(3)]);
  assert.equal(ep2.removed, true);
  assert.equal(b.get('10.0.0.1:2'), undefined);
  assert.deepEqual(
    [...b.endpoints()].map((ep) => ep.key),
    ['10.0.0.1:1', '10.0.0.1:3'],
  );
  // A request in flight on a removed endpoint finishes harmlessly.
  clock.advance(5);
  ep2.responded(started);
  ep2.finished(true);
  for (let i = 0; i < 20; i++) assert.equal(b.pick()?.key, '10.0.0.1:3');
  b.clear();
  assert.equal(b.size, 0);
  assert.equal(b.pick(), undefined);
  assert.equal(ep1.removed, true);
});

test('pickLeastLoaded takes the fewest connections per weight, skipping endpoints that are out', () => {
  const clock = new FakeClock();
  const b = balancer(clock);
  b.replace([spec(1, 3), spec(2, 1), spec(3, 1)]);
  const counts = new Map<string, number>();
  for (let i = 0; i < 50; i++) {
    const ep = must(b.pickLeastLoaded());
    ep.openConnection();
    counts.set(ep.key, (counts.get(ep.key) ?? 0) + 1);
  }
  assert.deepEqual([...counts.entries()].sort(), [
    ['10.0.0.1:1', 30],
    ['10.0.0.1:2', 10],
    ['10.0.0.1:3', 10],
  ]);
  const ep1 = must(b.get('10.0.0.1:1'));
  for (let i = 0; i < 30; i++) ep1.closeConnection();
  ep1.openConnection();
  ep1.closeConnection(true);
  for (let i = 0; i < 10; i++) assert.notEqual(must(b.pickLeastLoaded()).key, '10.0.0.1:1');
});

test('pickLeastLoaded breaks ties at random', () => {
  const clock = new FakeClock();
  const b = balancer(clock);
  b.replace([spec(1), spec(2), spec(3)]);
  const seen = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const key = must(b.pickLeastLoaded()).key;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  for (const [key, n] of seen) assert.ok(n > 800 && n < 1200, `${key}: ${n}`);
  assert.equal(seen.size, 3);
});

test('acquire answers at once when an endpoint can be picked', () => {
  const clock = new FakeClock();
  const b = balancer(clock);
  b.replace([spec(1)]);
  let got: Endpoint | undefined;
  b.acquire((ep) => {
    got = ep;
  });
  assert.equal(got?.key, '10.0.0.1:1');
});

test('waiters are served in order once endpoints are added', async () => {
  const clock = new FakeClock();
  const b = balancer(clock);
  const order: number[] = [];
  const results = [0, 1, 2].map((i) => {
    const a = acquire(b);
    void a.result.then(() => order.push(i));
    return a;
  });
  assert.equal(
    results.some((r) => r.done()),
    false,
  );
  b.add([spec(1)]);
  const served = await within(Promise.all(results.map((r) => r.result)));
  assert.deepEqual(
    served.map((s) => s.ep?.key),
    ['10.0.0.1:1', '10.0.0.1:1', '10.0.0.1:1'],
  );
  assert.deepEqual(order, [0, 1, 2]);
  b.close();
});

test('a waiter fails after failfastMs, saying whether there are no endpoints or all are failing', async () => {
  const clock = new FakeClock();
  const b = balancer(clock, { failfastMs: 50 });
  const none = await within(acquire(b).result);
  assert.deepEqual(none, { ep: undefined, reason: 'no endpoints available after 50ms' });
  b.replace([spec(1), spec(2)]);
  for (const ep of b.endpoints()) fail(ep);
  const failing = await within(acquire(b).result);
  assert.deepEqual(failing, { ep: undefined, reason: 'all 2 endpoints are failing after 50ms' });
  b.close();
});

test('the queue is bounded: beyond capacity a request fails at once', () => {
  const clock = new FakeClock();
  const b = balancer(clock, { queueCapacity: 2 });
  const first = acquire(b);
  acquire(b);
  let reason: string | undefined;
  b.acquire((ep, why) => {
    assert.equal(ep, undefined);
    reason = why;
  });
  assert.equal(reason, 'queue full');
  first.cancel();
  const third = acquire(b);
  assert.equal(third.done(), false, 'a cancelled waiter frees its place');
  b.close();
});

test('a cancelled waiter is never called back, and the others are still served', async () => {
  const clock = new FakeClock();
  const b = balancer(clock, { failfastMs: 50 });
  const gone = acquire(b);
  const kept = acquire(b);
  gone.cancel();
  gone.cancel();
  assert.equal((await within(kept.result)).reason, 'no endpoints available after 50ms');
  assert.equal(gone.done(), false);
  const later = acquire(b);
  b.add([spec(1)]);
  assert.equal((await within(later.result)).ep?.key, '10.0.0.1:1');
  assert.equal(gone.done(), false);
  b.close();
});

test('a backoff that runs out between the pick and the wait still serves the waiter at once', async () => {
  // The pick reads the clock before the backoff has run out; the clock then reads after it
  // (as when a timer fires a little before the clock the breaker reads).
  let t = 0;
  let jumpTo: number | undefined;
  const now = (): number => {
    const v = t;
    if (jumpTo !== undefined) [t, jumpTo] = [jumpTo, undefined];
    return v;
  };
  const b = new Balancer({
    now,
    connectBackoff: { minMs: 20, maxMs: 60_000, jitterRatio: 0 },
    failfastMs: 2000,
  });
  b.replace([spec(1)]);
  const ep = must(b.get('10.0.0.1:1'));
  fail(ep);
  t = 10;
  jumpTo = 25;
  const waiting = acquire(b);
  const got = await within(waiting.result, 500);
  assert.equal(got.ep, ep, 'served by the probe, not failed after the failfast timeout');
  assert.equal(ep.connect.probing, true);
  b.close();
});

test('a waiter is served when a breaker backoff elapses', async () => {
  const b = new Balancer({ connectBackoff: { minMs: 20, maxMs: 60_000, jitterRatio: 0 }, failfastMs: 2000 });
  b.replace([spec(1)]);
  const ep = must(b.get('10.0.0.1:1'));
  fail(ep);
  const started = performance.now();
  const waiting = acquire(b);
  assert.equal(waiting.done(), false);
  const got = await within(waiting.result);
  assert.equal(got.ep, ep);
  assert.ok(performance.now() - started >= 19);
  assert.equal(ep.connect.probing, true, 'the waiter got the probe');
  b.close();
});

test('a waiter is served when a probe succeeds', () => {
  const clock = new FakeClock();
  const b = balancer(clock);
  b.replace([spec(1)]);
  const ep = must(b.get('10.0.0.1:1'));
  fail(ep);
  clock.t = ep.connect.reopensAt;
  assert.equal(b.pick(), ep);
  const waiting: (Endpoint | undefined)[] = [];
  b.acquire((got) => waiting.push(got));
  b.acquire((got) => waiting.push(got));
  assert.deepEqual(waiting, []);
  ep.begin();
  ep.finished(false);
  assert.deepEqual(waiting, [ep, ep]);
  b.close();
});

test('close fails the waiters and every later acquire', () => {
  const clock = new FakeClock();
  const b = balancer(clock);
  const reasons: (string | undefined)[] = [];
  b.acquire((_, reason) => reasons.push(reason));
  b.close();
  b.acquire((_, reason) => reasons.push(reason));
  assert.deepEqual(reasons, ['balancer closed', 'balancer closed']);
});

const CONSECUTIVE_3: BreakerSettings = {
  maxFailures: 3,
  backoff: { minMs: 1000, maxMs: 60_000, jitterRatio: 0 },
};

/** `n` requests to `ep`, each answered as a failure. */
function answerFailures(ep: Endpoint, n: number): void {
  for (let i = 0; i < n; i++) {
    ep.begin();
    ep.finished(true);
  }
}

test('without failure accrual (the default), an endpoint answering only failures keeps its share', () => {
  const clock = new FakeClock();
  const b = balancer(clock);
  b.replace([spec(1), spec(2)]);
  const picks = new Map<string, number>();
  for (let i = 0; i < 1000; i++) {
    const ep = must(b.pick());
    picks.set(ep.key, (picks.get(ep.key) ?? 0) + 1);
    ep.begin();
    ep.finished(ep.key === '10.0.0.1:1');
  }
  assert.ok((picks.get('10.0.0.1:1') ?? 0) > 400, `the failing endpoint got ${picks.get('10.0.0.1:1')}`);
  assert.deepEqual(b.counts(), { ready: 2, pending: 0 });
});

test('setFailureAccrual applies to the endpoints already there and to those added later', () => {
  const clock = new FakeClock();
  const b = balancer(clock);
  b.replace([spec(1), spec(2)]);
  const ep1 = must(b.get('10.0.0.1:1'));
  answerFailures(ep1, 10);
  assert.equal(ep1.isAvailable(), true);
  b.setFailureAccrual(CONSECUTIVE_3);
  assert.deepEqual(b.failureAccrual, CONSECUTIVE_3);
  answerFailures(ep1, 3);
  assert.equal(ep1.isAvailable(), false);
  for (let i = 0; i < 20; i++) assert.equal(b.pick()?.key, '10.0.0.1:2');
  b.add([spec(3)]);
  const ep3 = must(b.get('10.0.0.1:3'));
  assert.equal(ep3.accrual?.state, 'closed');
  answerFailures(ep3, 3);
  assert.equal(ep3.isAvailable(), false);
  // The same settings again (a reopened stream): nothing changes.
  b.setFailureAccrual({ ...CONSECUTIVE_3, backoff: { ...CONSECUTIVE_3.backoff } });
  assert.deepEqual(b.counts(), { ready: 1, pending: 2 });
});

test('turning failure accrual off serves the waiters at once', async () => {
  const clock = new FakeClock();
  const b = balancer(clock, { failureAccrual: CONSECUTIVE_3, failfastMs: 60_000 });
  b.replace([spec(1)]);
  const ep = must(b.get('10.0.0.1:1'));
  answerFailures(ep, 3);
  const waiting = acquire(b);
  assert.equal(waiting.done(), false);
  b.setFailureAccrual(undefined);
  assert.equal((await within(waiting.result)).ep, ep);
  answerFailures(ep, 10);
  assert.equal(b.pick(), ep);
  b.close();
});
