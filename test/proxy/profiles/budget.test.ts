import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_BUDGET, RetryBudget } from '../../../src/proxy/profiles/budget.js';

/** A clock the test moves by hand. */
class FakeClock {
  t = 0;
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Withdraws until the budget refuses (at most `cap` times); returns how many went through. */
function drain(budget: RetryBudget, cap = 100_000): number {
  let n = 0;
  while (n < cap && budget.withdraw()) n++;
  return n;
}

function deposit(budget: RetryBudget, n: number): void {
  for (let i = 0; i < n; i++) budget.deposit();
}

test('the reserve alone lets minRetriesPerSecond × ttl retries through, then refuses', () => {
  const clock = new FakeClock();
  const budget = new RetryBudget(0.2, 1, 10_000, clock.now);
  for (let i = 0; i < 10; i++) assert.equal(budget.withdraw(), true, `retry ${i + 1}`);
  assert.equal(budget.withdraw(), false);
  // A refusal takes nothing, and refusals do not pile up.
  assert.equal(budget.withdraw(), false);
  budget.deposit();
  budget.deposit();
  budget.deposit();
  budget.deposit();
  // Four requests are less than the cost of one retry at 20 %.
  assert.equal(budget.withdraw(), false);
  budget.deposit();
  assert.equal(budget.withdraw(), true);
  assert.equal(budget.withdraw(), false);
});

test("Linkerd's default budget: 10 retries a second over 10 s of reserve", () => {
  const clock = new FakeClock();
  const { retryRatio, minRetriesPerSecond, ttlMs } = DEFAULT_BUDGET;
  const budget = new RetryBudget(retryRatio, minRetriesPerSecond, ttlMs, clock.now);
  assert.equal(drain(budget), 100);
});

test('each request deposits enough for retryRatio of a retry', () => {
  const clock = new FakeClock();
  const budget = new RetryBudget(0.2, 1, 10_000, clock.now);
  assert.equal(drain(budget), 10);
  deposit(budget, 100);
  assert.equal(drain(budget), 20);
  // Without a reserve, only the deposits count.
  const noReserve = new RetryBudget(0.2, 0, 10_000, clock.now);
  assert.equal(noReserve.withdraw(), false);
  deposit(noReserve, 100);
  assert.equal(drain(noReserve), 20);
});

test('withdrawals expire after ttl, and the reserve comes back', () => {
  const clock = new FakeClock();
  const budget = new RetryBudget(0.2, 1, 10_000, clock.now);
  assert.equal(drain(budget), 10);
  clock.advance(9_999);
  assert.equal(budget.withdraw(), false, 'the withdrawals still count just before ttl');
  clock.advance(1);
  assert.equal(drain(budget), 10);
  // Long after (more than a whole window of slots): the reserve, no more.
  clock.advance(1_000_000);
  assert.equal(drain(budget), 10);
});

test('deposits made more than ttl ago no longer count', () => {
  const clock = new FakeClock();
  const early = new RetryBudget(0.2, 0, 10_000, clock.now);
  deposit(early, 50);
  clock.advance(10_000);
  assert.equal(early.withdraw(), false);

  const clock2 = new FakeClock();
  const budget = new RetryBudget(0.2, 0, 10_000, clock2.now);
  deposit(budget, 50); // t = 0: 10 retries' worth
  clock2.advance(5_000);
  deposit(budget, 25); // t = 5 s: 5 retries' worth
  clock2.advance(5_000);
  // t = 10 s: the first deposits have expired, the second have not.
  assert.equal(drain(budget), 5);
  clock2.advance(5_000);
  // t = 15 s: the second have expired too, but the withdrawals made at 10 s still count.
  deposit(budget, 5);
  assert.equal(budget.withdraw(), false);
  clock2.advance(5_000);
  // t = 20 s: everything from 10 s is gone; the deposits at 15 s remain.
  assert.equal(drain(budget), 1);
});

test('deposits within ttl keep counting until their slot expires', () => {
  const clock = new FakeClock();
  const budget = new RetryBudget(0.2, 0, 10_000, clock.now);
  deposit(budget, 5);
  clock.advance(9_999);
  assert.equal(budget.withdraw(), true);
  assert.equal(budget.withdraw(), false);
});

test('over a long run, retries stay within retryRatio of requests plus the reserve', () => {
  const clock = new FakeClock();
  const budget = new RetryBudget(0.2, 1, 10_000, clock.now);
  let requests = 0;
  let retries = 0;
  // 100 requests a second for 100 s, each failing and asking for a retry.
  for (let ms = 0; ms < 100_000; ms += 10) {
    clock.t = ms;
    budget.deposit();
    requests++;
    if (budget.withdraw()) retries++;
  }
  assert.equal(requests, 10_000);
  // 20 % of the requests, plus at most a reserve (10) per ttl started (11 windows).
  assert.ok(retries >= 2_000, `${retries} retries`);
  assert.ok(retries <= 2_000 + 11 * 10, `${retries} retries`);
});

test('a ratio of 0 allows only the reserve: deposits add nothing', () => {
  const clock = new FakeClock();
  const budget = new RetryBudget(0, 1, 10_000, clock.now);
  assert.equal(drain(budget), 10);
  deposit(budget, 1_000);
  assert.equal(budget.withdraw(), false);
  clock.advance(10_000);
  assert.equal(drain(budget), 10);
  // Without a reserve, nothing at all.
  const none = new RetryBudget(0, 0, 10_000, clock.now);
  deposit(none, 1_000);
  assert.equal(none.withdraw(), false);
});

test('a ratio above 1 allows several retries per request', () => {
  const clock = new FakeClock();
  const budget = new RetryBudget(2, 0, 10_000, clock.now);
  assert.equal(budget.withdraw(), false);
  budget.deposit();
  assert.equal(drain(budget), 2);
  deposit(budget, 10);
  assert.equal(drain(budget), 20);
  // The reserve is still minRetriesPerSecond × ttl retries, whatever the ratio.
  const withReserve = new RetryBudget(2, 1, 10_000, clock.now);
  assert.equal(drain(withReserve), 10);
});

test('sameAs compares the three settings', () => {
  const budget = new RetryBudget(0.2, 10, 10_000);
  assert.equal(budget.sameAs(0.2, 10, 10_000), true);
  assert.equal(budget.sameAs(0.25, 10, 10_000), false);
  assert.equal(budget.sameAs(0.2, 11, 10_000), false);
  assert.equal(budget.sameAs(0.2, 10, 5_000), false);
  assert.equal(budget.retryRatio, 0.2);
  assert.equal(budget.minRetriesPerSecond, 10);
  assert.equal(budget.ttlMs, 10_000);
});

// Floating-point: 1/retryRatio is inexact for most ratios, and the running sum of
// withdrawals may fall below the balance by a few ulps: the last retry must still pass.
test('ratios without an exact reciprocal still allow every whole retry', () => {
  const clock = new FakeClock();
  assert.equal(drain(new RetryBudget(3, 1, 10_000, clock.now)), 10, 'ratio 3, reserve of 10');
  assert.equal(drain(new RetryBudget(0.9, 10, 10_000, clock.now)), 100, 'ratio 0.9, reserve of 100');
  const deposits = new RetryBudget(0.7, 0, 10_000, clock.now);
  deposit(deposits, 100);
  assert.equal(drain(deposits), 70, 'ratio 0.7 of 100 requests');
});
