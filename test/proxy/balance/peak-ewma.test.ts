import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeakEwma } from '../../../src/proxy/balance/peak-ewma.js';
import { FakeClock } from './helpers.js';

test('starts at the default RTT and decays towards zero while nothing is observed', () => {
  const clock = new FakeClock();
  const e = new PeakEwma(30, 10_000, clock.now);
  assert.equal(e.estimate(), 30);
  clock.advance(10_000);
  assert.ok(Math.abs(e.estimate() - 30 / Math.E) < 1e-9);
});

test('a slower observation replaces the estimate at once', () => {
  const clock = new FakeClock();
  const e = new PeakEwma(30, 10_000, clock.now);
  clock.advance(1);
  e.observe(250);
  assert.equal(e.estimate(), 250);
});

test('a faster observation moves the estimate by the weight of the elapsed time', () => {
  const clock = new FakeClock();
  const e = new PeakEwma(30, 10_000, clock.now);
  e.observe(100);
  clock.advance(5000);
  e.observe(20);
  const w = Math.exp(-0.5);
  assert.ok(Math.abs(e.estimate() - (100 * w + 20 * (1 - w))) < 1e-9);
  // No time elapsed: a faster observation has no weight yet.
  e.observe(1);
  assert.ok(Math.abs(e.estimate() - (100 * w + 20 * (1 - w))) < 1e-9);
});

test('steady observations converge to their value', () => {
  const clock = new FakeClock();
  const e = new PeakEwma(100, 1000, clock.now);
  for (let i = 0; i < 1000; i++) {
    clock.advance(10);
    e.observe(10);
  }
  assert.ok(Math.abs(e.estimate() - 10) < 0.01, String(e.estimate()));
});
