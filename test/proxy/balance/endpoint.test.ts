import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Endpoint } from '../../../src/proxy/balance/endpoint.js';
import { FakeClock, spec } from './helpers.js';

function endpoint(clock: FakeClock, onChange?: (ep: Endpoint) => void, weight = 10_000): Endpoint {
  return new Endpoint(spec(1, weight), { now: clock.now, accrual: { random: () => 0 } }, onChange);
}

test('a request is pending from begin to finished, and its RTT is observed on response', () => {
  const clock = new FakeClock();
  const ep = endpoint(clock);
  const started = ep.begin();
  assert.equal(ep.pending, 1);
  clock.advance(120);
  ep.responded(started);
  assert.equal(ep.latency.estimate(), 120);
  ep.finished(false);
  assert.equal(ep.pending, 0);
  ep.finished(false);
  assert.equal(ep.pending, 0, 'never negative');
});

test('load is the estimate times pending + 1, per unit of weight', () => {
  const clock = new FakeClock();
  const ep = endpoint(clock, undefined, 4);
  assert.equal(ep.load(), 30 / 4);
  ep.begin();
  ep.begin();
  assert.equal(ep.load(), (30 * 3) / 4);
});

test('seven failures open the breaker and report the change once', () => {
  const clock = new FakeClock();
  let changes = 0;
  const ep = endpoint(clock, () => changes++);
  for (let i = 0; i < 7; i++) {
    ep.begin();
    ep.finished(true);
  }
  assert.equal(changes, 1);
  assert.equal(ep.isAvailable(), false);
});

test('a failed connect opens the breaker at once', () => {
  const clock = new FakeClock();
  let changes = 0;
  const ep = endpoint(clock, () => changes++);
  ep.begin();
  ep.connectFailed();
  assert.equal(ep.pending, 0);
  assert.equal(ep.accrual.state, 'open');
  assert.equal(changes, 1);
});

test('claim takes the probe in probation; a cancelled probe gives it back', () => {
  const clock = new FakeClock();
  let changes = 0;
  const ep = endpoint(clock, () => changes++);
  assert.equal(ep.claim(), true);
  assert.equal(ep.claim(), true, 'closed: any number of requests');
  ep.begin();
  ep.connectFailed();
  assert.equal(ep.claim(), false);
  clock.advance(1000);
  assert.equal(ep.claim(), true);
  assert.equal(ep.claim(), false);
  ep.begin();
  ep.cancelled();
  assert.equal(changes, 2);
  assert.equal(ep.claim(), true);
  ep.begin();
  ep.finished(false);
  assert.equal(ep.accrual.state, 'closed');
  assert.equal(changes, 3);
});

test('update replaces the spec and keeps latency and breaker state', () => {
  const clock = new FakeClock();
  const ep = endpoint(clock);
  const t = ep.begin();
  clock.advance(80);
  ep.responded(t);
  ep.connectFailed();
  ep.update({ ...spec(1, 5), labels: [['dst_pod', 'renamed']] });
  assert.equal(ep.weight, 5);
  assert.deepEqual(ep.spec.labels, [['dst_pod', 'renamed']]);
  assert.equal(ep.latency.estimate(), 80);
  assert.equal(ep.accrual.state, 'open');
});

test('opaque connections are counted; a failed connect opens the breaker; connected closes a probe', () => {
  const clock = new FakeClock();
  const ep = endpoint(clock);
  ep.openConnection();
  ep.openConnection();
  assert.equal(ep.connections, 2);
  ep.closeConnection();
  ep.closeConnection(true);
  assert.equal(ep.connections, 0);
  assert.equal(ep.accrual.state, 'open');
  clock.advance(1000);
  assert.equal(ep.claim(), true);
  ep.openConnection();
  ep.connected();
  assert.equal(ep.accrual.state, 'closed');
  ep.closeConnection();
  ep.closeConnection();
  assert.equal(ep.connections, 0, 'never negative');
});

test('a removed endpoint finishes its requests without reporting changes', () => {
  const clock = new FakeClock();
  let changes = 0;
  const ep = endpoint(clock, () => changes++);
  ep.begin();
  ep.removed = true;
  ep.connectFailed();
  assert.equal(changes, 0);
  assert.equal(ep.pending, 0);
});
