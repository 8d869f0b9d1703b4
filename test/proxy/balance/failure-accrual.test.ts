import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailureAccrual } from '../../../src/proxy/balance/failure-accrual.js';
import { FakeClock, seeded } from './helpers.js';

function accrual(clock: FakeClock, random: () => number = () => 0): FailureAccrual {
  return new FailureAccrual({ now: clock.now, random });
}

/** Opens the breaker and returns how long it stays open. */
function openFor(a: FailureAccrual, clock: FakeClock): number {
  a.connectFailure();
  assert.equal(a.state, 'open');
  return a.reopensAt - clock.t;
}

test('seven consecutive failures open the breaker; a success in between starts over', () => {
  const clock = new FakeClock();
  const a = accrual(clock);
  for (let i = 0; i < 6; i++) assert.equal(a.failure(), false);
  assert.equal(a.success(), false);
  for (let i = 0; i < 6; i++) a.failure();
  assert.equal(a.state, 'closed');
  assert.equal(a.isAvailable(), true);
  assert.equal(a.failure(), true);
  assert.equal(a.state, 'open');
  assert.equal(a.isAvailable(), false);
  assert.equal(a.reopensAt, 1000);
});

test('a failed connect opens the breaker at once', () => {
  const clock = new FakeClock();
  const a = accrual(clock);
  assert.equal(a.connectFailure(), true);
  assert.equal(a.state, 'open');
  // Failures of requests already in flight do not extend the backoff.
  assert.equal(a.failure(), false);
  assert.equal(a.connectFailure(), false);
  assert.equal(a.reopensAt, 1000);
});

test('after the backoff exactly one probe may go; its success closes the breaker and resets it', () => {
  const clock = new FakeClock();
  const a = accrual(clock);
  a.connectFailure();
  clock.advance(999);
  assert.equal(a.tryProbe(), false);
  clock.advance(1);
  assert.equal(a.state, 'probation');
  assert.equal(a.isAvailable(), true);
  assert.equal(a.tryProbe(), true);
  assert.equal(a.probing, true);
  assert.equal(a.isAvailable(), false);
  assert.equal(a.tryProbe(), false);
  assert.equal(a.success(), true);
  assert.equal(a.state, 'closed');
  assert.equal(a.tryProbe(), false);
  // Reset: seven failures again, and the first backoff again.
  for (let i = 0; i < 6; i++) a.failure();
  assert.equal(a.state, 'closed');
  a.failure();
  assert.equal(a.reopensAt - clock.t, 1000);
});

test('a failed probe reopens the breaker with a doubled backoff', () => {
  const clock = new FakeClock();
  const a = accrual(clock);
  a.connectFailure();
  clock.advance(1000);
  assert.equal(a.tryProbe(), true);
  assert.equal(a.failure(), true);
  assert.equal(a.state, 'open');
  assert.equal(a.reopensAt - clock.t, 2000);
});

test('a released probe may be claimed again', () => {
  const clock = new FakeClock();
  const a = accrual(clock);
  a.connectFailure();
  clock.advance(1000);
  assert.equal(a.tryProbe(), true);
  assert.equal(a.releaseProbe(), true);
  assert.equal(a.state, 'probation');
  assert.equal(a.tryProbe(), true);
  assert.equal(a.releaseProbe(), true);
  assert.equal(a.releaseProbe(), false);
});

test('the backoff doubles up to the 60 s cap', () => {
  const clock = new FakeClock();
  const a = accrual(clock);
  const seen: number[] = [];
  for (let i = 0; i < 9; i++) {
    seen.push(openFor(a, clock));
    clock.t = a.reopensAt;
    assert.equal(a.tryProbe(), true);
  }
  assert.deepEqual(seen, [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
});

test('jitter shortens each backoff by at most half, and never exceeds the cap', () => {
  const clock = new FakeClock();
  const random = seeded(7);
  for (let run = 0; run < 50; run++) {
    const a = accrual(clock, random);
    let base = 1000;
    for (let i = 0; i < 10; i++) {
      const backoff = openFor(a, clock);
      assert.ok(backoff > base / 2 && backoff <= base, `${backoff} for ${base}`);
      base = Math.min(base * 2, 60_000);
      clock.t = a.reopensAt;
      a.tryProbe();
    }
  }
  const low = openFor(
    accrual(clock, () => 0.999_999),
    clock,
  );
  assert.ok(low > 500 && low < 501, String(low));
});

test('options change the threshold and the backoffs', () => {
  const clock = new FakeClock();
  const a = new FailureAccrual({
    consecutiveFailures: 2,
    minBackoffMs: 10,
    maxBackoffMs: 25,
    jitter: 0,
    now: clock.now,
  });
  a.failure();
  assert.equal(a.state, 'closed');
  a.failure();
  assert.equal(a.reopensAt, 10);
  clock.t = 10;
  a.tryProbe();
  a.failure();
  assert.equal(a.reopensAt, 30);
  clock.t = 30;
  a.tryProbe();
  a.failure();
  assert.equal(a.reopensAt, 55);
});
