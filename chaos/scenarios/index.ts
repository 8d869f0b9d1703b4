// Every scenario of the suite, in the order the report lists them. Add one import and one entry per scenario.
import type { Scenario } from '../scenario.js';
import { faultsControlPlaneDown } from './faults-control-plane.js';
import { faultsKill, faultsKillRetryable } from './faults-kill.js';
import { faultsSigterm } from './faults-sigterm.js';
import { filesSecrets } from './files-secrets.js';
import { soak } from './soak.js';

export const scenarios: readonly Scenario[] = [
  faultsKillRetryable,
  faultsKill,
  faultsControlPlaneDown,
  faultsSigterm,
  soak,
  filesSecrets,
];
