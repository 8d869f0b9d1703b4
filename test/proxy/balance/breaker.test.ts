import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Breaker, type BreakerSettings, sameBreakerSettings } from '../../../src/proxy/balance/breaker.js';
import { FakeClock, seeded } from './helpers.js';

/** Linkerd's defaults for consecutive failures. */
const DEFAULTS: BreakerSettings = {
  maxFailures: 7,
  backoff: { minMs: 1000, maxMs: 60_000, jitterRatio: 0.5 },
};

function breaker(clock: FakeClock, random: () => number = () => 0, settings = DEFAULTS): Breaker {
  return new Breaker(settings, clock.now, random);
}

/** Opens the breaker (from closed or probation) and returns how long it stays open. */
function openFor(b: Breaker, clock: FakeClock): number {
  while (b.state !== 'open') b.failure();
  return b.reopensAt - clock.t;
}

test('max failures in a row open the breaker; a success in between starts over', () => {
  const clock = new FakeClock();
  const b = breaker(clock);
  for (let i = 0; i < 6; i++) assert.equal(b.failure(), false);
  assert.equal(b.success(), false);
  for (let i = 0; i < 6; i++) b.failure();
  assert.equal(b.state, 'closed');
  assert.equal(b.isAvailable(), true);
  assert.equal(b.failure(), true);
  assert.equal(b.state, 'open');
  assert.equal(b.isAvailable(), false);
  assert.equal(b.reopensAt, 1000);
  // Outcomes of requests already in flight do not extend or end it.
  assert.equal(b.failure(), false);
  assert.equal(b.success(), false);
  assert.equal(b.reopensAt, 1000);
});

test('a breaker of one failure (the connect breaker) opens on the first', () => {
  const clock = new FakeClock();
  const b = breaker(clock, () => 0, { ...DEFAULTS, maxFailures: 1 });
  assert.equal(b.failure(), true);
  assert.equal(b.state, 'open');
});

test('after the backoff exactly one probe may go; its success closes the breaker and resets it', () => {
  const clock = new FakeClock();
  const b = breaker(clock);
  openFor(b, clock);
  clock.advance(999);
  assert.equal(b.claim(), false);
  assert.equal(b.availableAt(clock.t), 1000);
  clock.advance(1);
  assert.equal(b.state, 'probation');
  assert.equal(b.isAvailable(), true);
  assert.equal(b.availableAt(clock.t), clock.t);
  assert.equal(b.claim(), true);
  assert.equal(b.probing, true);
  assert.equal(b.isAvailable(), false);
  assert.equal(b.availableAt(clock.t), Number.POSITIVE_INFINITY, 'only the probe decides');
  assert.equal(b.claim(), false);
  assert.equal(b.success(), true);
  assert.equal(b.state, 'closed');
  assert.equal(b.claim(), true, 'closed: any number of requests');
  assert.equal(b.claim(), true);
  // Reset: seven failures again, and the first backoff again.
  for (let i = 0; i < 6; i++) b.failure();
  assert.equal(b.state, 'closed');
  b.failure();
  assert.equal(b.reopensAt - clock.t, 1000);
});

test('a failed probe reopens the breaker with a doubled backoff', () => {
  const clock = new FakeClock();
  const b = breaker(clock);
  openFor(b, clock);
  clock.advance(1000);
  assert.equal(b.claim(), true);
  assert.equal(b.failure(), true, 'one failure in probation is enough');
  assert.equal(b.state, 'open');
  assert.equal(b.reopensAt - clock.t, 2000);
});

test('a released probe may be claimed again', () => {
  const clock = new FakeClock();
  const b = breaker(clock);
  openFor(b, clock);
  clock.advance(1000);
  assert.equal(b.claim(), true);
  assert.equal(b.releaseProbe(), true);
  assert.equal(b.state, 'probation');
  assert.equal(b.claim(), true);
  assert.equal(b.releaseProbe(), true);
  assert.equal(b.releaseProbe(), false);
});

test('the backoff doubles from min up to the max', () => {
  const clock = new FakeClock();
  const b = breaker(clock);
  const seen: number[] = [];
  for (let i = 0; i < 9; i++) {
    seen.push(openFor(b, clock));
    clock.t = b.reopensAt;
    assert.equal(b.claim(), true);
  }
  assert.deepEqual(seen, [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
});

test("jitter adds up to jitter-ratio of each backoff, as Linkerd's does, never past the max", () => {
  const clock = new FakeClock();
  const random = seeded(7);
  let longest = 0;
  for (let run = 0; run < 50; run++) {
    const b = breaker(clock, random);
    let base = 1000;
    for (let i = 0; i < 10; i++) {
      const backoff = openFor(b, clock);
      assert.ok(backoff >= base && backoff <= Math.min(base * 1.5, 60_000), `${backoff} for ${base}`);
      if (base === 1000) longest = Math.max(longest, backoff);
      base = Math.min(base * 2, 60_000);
      clock.t = b.reopensAt;
      b.claim();
    }
  }
  assert.ok(longest > 1400, `jitter is used (longest first backoff ${longest} ms)`);
  const almostAll = breaker(clock, () => 0.999_999);
  assert.ok(Math.abs(openFor(almostAll, clock) - 1500) < 0.01);
  // A ratio above 1 (Linkerd allows up to 100) is still capped by the max.
  const wide = breaker(clock, () => 0.999_999, {
    maxFailures: 1,
    backoff: { minMs: 1000, maxMs: 5000, jitterRatio: 100 },
  });
  assert.equal(openFor(wide, clock), 5000);
});

test('settings change the threshold and the backoffs', () => {
  const clock = new FakeClock();
  const b = breaker(clock, () => 0, { maxFailures: 2, backoff: { minMs: 10, maxMs: 25, jitterRatio: 0 } });
  b.failure();
  assert.equal(b.state, 'closed');
  b.failure();
  assert.equal(b.reopensAt, 10);
  clock.t = 10;
  b.claim();
  b.failure();
  assert.equal(b.reopensAt, 30);
  clock.t = 30;
  b.claim();
  b.failure();
  assert.equal(b.reopensAt, 55);
});

test('sameBreakerSettings compares every field', () => {
  assert.equal(sameBreakerSettings(undefined, undefined), true);
  assert.equal(sameBreakerSettings(DEFAULTS, undefined), false);
  assert.equal(sameBreakerSettings(DEFAULTS, { ...DEFAULTS, backoff: { ...DEFAULTS.backoff } }), true);
  assert.equal(sameBreakerSettings(DEFAULTS, { ...DEFAULTS, maxFailures: 3 }), false);
  for (const field of ['minMs', 'maxMs', 'jitterRatio'] as const) {
    const other = { ...DEFAULTS, backoff: { ...DEFAULTS.backoff, [field]: DEFAULTS.backoff[field] + 1 } };
    assert.equal(sameBreakerSettings(DEFAULTS, other), false, field);
  }
});
