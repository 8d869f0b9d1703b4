import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatHostPort, parseHostPort } from '../../src/util/addr.js';
import { parseDuration } from '../../src/util/duration.js';

test('host:port parsing and formatting, IPv6 in brackets', () => {
  assert.deepEqual(parseHostPort('0.0.0.0:4143', 'x'), { host: '0.0.0.0', port: 4143 });
  assert.deepEqual(parseHostPort('[::1]:80', 'x'), { host: '::1', port: 80 });
  assert.deepEqual(parseHostPort('web', 'x', 80), { host: 'web', port: 80 });
  assert.equal(formatHostPort({ host: '::1', port: 80 }), '[::1]:80');
  assert.throws(() => parseHostPort('::1:80', 'x'), /without brackets/);
  assert.throws(() => parseHostPort(':80', 'x'), /no valid host/);
  assert.throws(() => parseHostPort('web:port', 'x'), /not a port number/);
});

test('durations', () => {
  assert.equal(parseDuration('100ms', 'x'), 100);
  assert.equal(parseDuration('1.5s', 'x'), 1500);
  assert.equal(parseDuration('2m', 'x'), 120_000);
  assert.throws(() => parseDuration('10', 'x'), /not a duration/);
});

test('durations as Go writes them: several parts, and units below a millisecond', () => {
  assert.equal(parseDuration('1m30s', 'x'), 90_000);
  assert.equal(parseDuration('1h2m3.5s', 'x'), 3_723_500);
  assert.equal(parseDuration('1500us', 'x'), 2);
  assert.equal(parseDuration('2000000ns', 'x'), 2);
  assert.equal(parseDuration('250µs', 'x'), 0);
  for (const bad of ['', '1m30', 's', '1m 30s', '-1s', '1d', '1s1', 'm1s']) {
    assert.throws(() => parseDuration(bad, 'x'), /not a duration/, bad);
  }
  assert.throws(() => parseDuration('600h', 'x'), /too long/);
});
