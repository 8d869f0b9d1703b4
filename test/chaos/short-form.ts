import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scenarioContext } from '../../chaos/context.js';
import type { ScenarioGroup } from '../../chaos/scenario.js';
import { scenarios } from '../../chaos/scenarios/index.js';

/** Registers one node:test test per scenario of `group` in the short form; each must meet its goal. */
export function shortFormTests(group: ScenarioGroup, timeoutMs = 120_000): void {
  for (const s of scenarios.filter((x) => x.group === group && x.inShortForm)) {
    test(`${s.name}: ${s.goal}`, { timeout: timeoutMs }, async () => {
      const r = await s.run(scenarioContext(s.name, true));
      assert.ok(r.pass, `${s.name} failed its goal (${s.goal}): ${r.did}; ${r.outcome}`);
    });
  }
}
