// Every scenario of the suite, in the order the report lists them. Add one import and one entry per scenario.
import type { Scenario } from '../scenario.js';
import { garbageOnEveryPort } from './control-plane-garbage.js';
import { badTokens, csrForAnotherIdentity } from './control-plane-identity.js';
import { impersonation } from './control-plane-impersonation.js';
import { badNames, hugeAndExplodingYaml } from './control-plane-yaml.js';

export const scenarios: readonly Scenario[] = [
  csrForAnotherIdentity,
  badTokens,
  garbageOnEveryPort,
  impersonation,
  hugeAndExplodingYaml,
  badNames,
];
