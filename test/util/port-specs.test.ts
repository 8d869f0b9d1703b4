import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coversPort, PortSpecError, parsePortSpecs } from '../../src/util/port-specs.js';

test('port lists: ports 1-65535 and ranges lo-hi, nothing else', () => {
  assert.deepEqual(parsePortSpecs(' 1,65535 ,80-80,,9000-9100', 'p'), ['1', '65535', '80-80', '9000-9100']);
  for (const bad of [
    '0',
    '65536',
    '80-70000',
    'http',
    '80;443',
    '-80',
    '80-',
    '1.5',
    '8080-8000',
    ',,',
    '',
  ]) {
    assert.throws(() => parsePortSpecs(bad, 'config.weft.io/skip-inbound-ports'), PortSpecError, bad);
  }
  assert.throws(
    () => parsePortSpecs('80,99999', 'what'),
    (err: unknown) =>
      err instanceof PortSpecError &&
      err.message === 'what: "99999" is not a port or a port range (1-65535, or lo-hi like 9000-9100)' &&
      err.problem === '"99999" is not a port or a port range (1-65535, or lo-hi like 9000-9100)',
  );
});

test('port lists with names: a name given is kept, any other is refused and the names listed', () => {
  assert.deepEqual(parsePortSpecs('mysql,9000-9001', 'p', ['mysql', 'http']), ['mysql', '9000-9001']);
  assert.throws(
    () => parsePortSpecs('mysqlx', 'p', ['mysql', 'http']),
    /^PortSpecError: p: "mysqlx" is not a port, a port range \(1-65535, or lo-hi like 9000-9100\) or a port name \(mysql, http\)$/,
  );
});

test('coversPort: the ports and the ranges a list names, and nothing else', () => {
  const specs = parsePortSpecs('25,9000-9100,mysql', 'p', ['mysql']);
  for (const port of [25, 9000, 9050, 9100]) assert.ok(coversPort(specs, port), String(port));
  for (const port of [24, 26, 8999, 9101, 3306]) assert.ok(!coversPort(specs, port), String(port));
});
