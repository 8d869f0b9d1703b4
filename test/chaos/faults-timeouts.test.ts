/**
 * The short form of the faults scenarios about endpoints that hang or slow down
 * (chaos/scenarios/faults-hung-*.ts, faults-slow-*.ts), by name: the other faults
 * scenarios run from their own file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scenarioContext } from '../../chaos/context.js';
import { scenarios } from '../../chaos/scenarios/index.js';

for (const name of ['faults-hung-endpoint', 'faults-hung-proxy', 'faults-slow-endpoint']) {
  const s = scenarios.find((x) => x.name === name);
  test(`${name}: ${s?.goal ?? 'is listed'}`, { timeout: 120_000 }, async () => {
    assert.ok(s, `${name} is in chaos/scenarios/index.ts`);
    const r = await s.run(scenarioContext(s.name, true));
    assert.ok(r.pass, `${s.name} failed its goal (${s.goal}): ${r.did}; ${r.outcome}`);
  });
}
