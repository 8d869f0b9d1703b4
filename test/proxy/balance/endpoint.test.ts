import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BreakerSettings } from '../../../src/proxy/balance/breaker.js';
import { Endpoint, type EndpointOptions } from '../../../src/proxy/balance/endpoint.js';
import { FakeClock, spec } from './helpers.js';

const CONSECUTIVE_7: BreakerSettings = {
  maxFailures: 7,
  backoff: { minMs: 1000, maxMs: 60_000, jitterRatio: 0.5 },
};

function endpoint(
  clock: FakeClock,
  onChange?: (ep: Endpoint) => void,
  options: Partial<EndpointOptions> = {},
  weight = 10_000,
): Endpoint {
  return new Endpoint(spec(1, weight), { now: clock.now, random: () => 0, ...options }, onChange);
}

/** One request answered: `failure` as classified. */
function answer(ep: Endpoint, failure: boolean): void {
  ep.begin();
  ep.finished(failure);
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
  const ep = endpoint(clock, undefined, {}, 4);
  assert.equal(ep.load(), 30 / 4);
  ep.begin();
  ep.begin();
  assert.equal(ep.load(), (30 * 3) / 4);
});

test('without failure accrual (the default), failed responses never take the endpoint out', () => {
  const clock = new FakeClock();
  let changes = 0;
  const ep = endpoint(clock, () => changes++);
  assert.equal(ep.accrual, undefined);
  for (let i = 0; i < 1000; i++) answer(ep, true);
  assert.equal(ep.isAvailable(), true);
  assert.equal(changes, 0);
});

test('with consecutive failure accrual, max failures open the breaker and report the change once', () => {
  const clock = new FakeClock();
  let changes = 0;
  const ep = endpoint(clock, () => changes++, { failureAccrual: CONSECUTIVE_7 });
  for (let i = 0; i < 6; i++) answer(ep, true);
  assert.equal(ep.isAvailable(), true);
  answer(ep, true);
  assert.equal(changes, 1);
  assert.equal(ep.isAvailable(), false);
  assert.equal(ep.accrual?.state, 'open');
  assert.equal(ep.connect.state, 'closed', 'the endpoint connected each time');
  assert.equal(ep.availableAt(), 1000);
});

test('a failed connect takes the endpoint out at once, with or without failure accrual', () => {
  for (const options of [{}, { failureAccrual: CONSECUTIVE_7 }]) {
    const clock = new FakeClock();
    let changes = 0;
    const ep = endpoint(clock, () => changes++, options);
    ep.begin();
    ep.connectFailed();
    assert.equal(ep.pending, 0);
    assert.equal(ep.connect.state, 'open');
    assert.equal(ep.isAvailable(), false);
    assert.equal(changes, 1);
    // It was never asked: failure accrual does not count it.
    if (ep.accrual) assert.equal(ep.accrual.state, 'closed');
  }
});

test('a connect probe that gets an answer, even a 5xx, brings the endpoint back when accrual is off', () => {
  const clock = new FakeClock();
  let changes = 0;
  const ep = endpoint(clock, () => changes++);
  ep.begin();
  ep.connectFailed();
  assert.equal(ep.claim(), false);
  clock.advance(1000);
  assert.equal(ep.claim(), true);
  assert.equal(ep.claim(), false, 'one probe');
  ep.begin();
  ep.cancelled();
  assert.equal(changes, 2, 'a cancelled probe is given back');
  assert.equal(ep.claim(), true);
  answer(ep, true);
  assert.equal(ep.connect.state, 'closed');
  assert.equal(ep.isAvailable(), true);
  assert.equal(changes, 3);
});

test('a probe claims both breakers when both are in probation; its outcome judges each', () => {
  const clock = new FakeClock();
  const ep = endpoint(clock, undefined, { failureAccrual: { ...CONSECUTIVE_7, maxFailures: 1 } });
  answer(ep, true);
  ep.begin();
  ep.connectFailed();
  assert.equal(ep.accrual?.state, 'open');
  assert.equal(ep.connect.state, 'open');
  clock.advance(1000);
  assert.equal(ep.claim(), true);
  assert.equal(ep.accrual?.probing, true);
  assert.equal(ep.connect.probing, true);
  // It connected, and the application answered 500: connected, still failing.
  answer(ep, true);
  assert.equal(ep.connect.state, 'closed');
  assert.equal(ep.accrual?.state, 'open');
  assert.equal(ep.isAvailable(), false);
  assert.equal(ep.availableAt(), 3000);
});

test('setFailureAccrual: new settings start a fresh breaker, the same keep it, none brings the endpoint back', () => {
  const clock = new FakeClock();
  let changes = 0;
  const ep = endpoint(clock, () => changes++, { failureAccrual: { ...CONSECUTIVE_7, maxFailures: 2 } });
  answer(ep, true);
  answer(ep, true);
  assert.equal(ep.isAvailable(), false);
  assert.equal(changes, 1);
  ep.setFailureAccrual({ ...CONSECUTIVE_7, maxFailures: 2, backoff: { ...CONSECUTIVE_7.backoff } });
  assert.equal(ep.isAvailable(), false, 'the same settings: same state');
  ep.setFailureAccrual(CONSECUTIVE_7);
  assert.equal(ep.isAvailable(), true, 'new settings: a fresh breaker');
  assert.equal(changes, 2);
  for (let i = 0; i < 7; i++) answer(ep, true);
  assert.equal(ep.isAvailable(), false);
  ep.setFailureAccrual(undefined);
  assert.equal(ep.accrual, undefined);
  assert.equal(ep.isAvailable(), true);
  assert.equal(changes, 4);
  for (let i = 0; i < 20; i++) answer(ep, true);
  assert.equal(ep.isAvailable(), true);
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
  assert.equal(ep.connect.state, 'open');
});

test('opaque connections are counted; a failed connect takes the endpoint out; connected brings it back', () => {
  const clock = new FakeClock();
  const ep = endpoint(clock, undefined, { failureAccrual: CONSECUTIVE_7 });
  ep.openConnection();
  ep.openConnection();
  assert.equal(ep.connections, 2);
  ep.closeConnection();
  ep.closeConnection(true);
  assert.equal(ep.connections, 0);
  assert.equal(ep.connect.state, 'open');
  clock.advance(1000);
  assert.equal(ep.claim(), true);
  ep.openConnection();
  ep.connected();
  assert.equal(ep.connect.state, 'closed');
  ep.closeConnection();
  ep.closeConnection();
  assert.equal(ep.connections, 0, 'never negative');
});

test('an opaque connection gives back a failure accrual probe unjudged', () => {
  const clock = new FakeClock();
  const ep = endpoint(clock, undefined, { failureAccrual: { ...CONSECUTIVE_7, maxFailures: 1 } });
  answer(ep, true);
  clock.advance(1000);
  assert.equal(ep.claim(), true);
  ep.openConnection();
  ep.connected();
  assert.equal(ep.accrual?.state, 'probation');
  assert.equal(ep.accrual?.probing, false, 'the next request may probe');
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

test('a request left without response headers takes the endpoint out as a failed connect does, until a probe is answered', () => {
  const clock = new FakeClock();
  let changes = 0;
  const ep = endpoint(clock, () => changes++, { failureAccrual: CONSECUTIVE_7 });
  ep.begin();
  ep.unresponsive();
  assert.equal(ep.pending, 0);
  assert.equal(ep.isAvailable(), false, 'out after one');
  assert.equal(ep.connect.state, 'open');
  assert.equal(changes, 1);
  // Backoff 1 s (random 0: no jitter), then one probe.
  clock.advance(1000);
  assert.equal(ep.claim(), true);
  assert.equal(ep.isAvailable(), false, 'one probe at a time');
  ep.begin();
  ep.unresponsive();
  assert.equal(ep.connect.state, 'open', 'the probe timed out too: out again, for longer');
  clock.advance(1000);
  assert.equal(ep.isAvailable(), false);
  clock.advance(1000);
  assert.equal(ep.claim(), true);
  answer(ep, false);
  assert.equal(ep.isAvailable(), true, 'an answered probe brings it back');
  assert.equal(ep.connect.state, 'closed');
});
