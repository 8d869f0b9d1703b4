import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatAge, table } from '../../src/cli/table.js';

test('table aligns columns three spaces apart, without padding the last or trailing blanks', () => {
  assert.equal(
    table([
      ['NAME', 'PORTS', 'AGE'],
      ['web', '80/TCP', '5m'],
      ['a-long-name', '8080/TCP,9090/TCP', '12d'],
    ]),
    'NAME          PORTS               AGE\n' +
      'web           80/TCP              5m\n' +
      'a-long-name   8080/TCP,9090/TCP   12d\n',
  );
  assert.equal(
    table([
      ['A', ''],
      ['bb', ''],
    ]),
    'A\nbb\n',
  );
  assert.equal(table([['x']]), 'x\n');
  assert.equal(table([]), '\n');
});

test('formatAge in kubectl units: seconds to 2m, minutes to 2h, hours to 2d, then days', () => {
  const now = Date.parse('2024-06-01T00:00:00Z');
  const ago = (s: number): string => formatAge(new Date(now - s * 1000).toISOString(), now);
  assert.equal(ago(0), '0s');
  assert.equal(ago(45), '45s');
  assert.equal(ago(119), '119s');
  assert.equal(ago(120), '2m');
  assert.equal(ago(7199), '119m');
  assert.equal(ago(7200), '2h');
  assert.equal(ago(172_799), '47h');
  assert.equal(ago(172_800), '2d');
  assert.equal(ago(30 * 86_400 + 5), '30d');
  assert.equal(formatAge(new Date(now + 60_000).toISOString(), now), '0s', 'the future is now');
  assert.equal(formatAge('not a date', now), '<unknown>');
  assert.equal(formatAge('', now), '<unknown>');
});
