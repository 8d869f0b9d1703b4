// Every scenario of the suite, in the order the report lists them. Add one import and one entry per scenario.
import type { Scenario } from '../scenario.js';
import { garbageOnEveryPort } from './control-plane-garbage.js';
import { badTokens, csrForAnotherIdentity } from './control-plane-identity.js';
import { impersonation } from './control-plane-impersonation.js';
import { badNames, hugeAndExplodingYaml } from './control-plane-yaml.js';
import { faultsControlPlaneDown } from './faults-control-plane.js';
import { hungEndpoint } from './faults-hung-endpoint.js';
import { hungProxy } from './faults-hung-proxy.js';
import { faultsKill, faultsKillRetryable } from './faults-kill.js';
import { faultsSigterm } from './faults-sigterm.js';
import { slowEndpoint } from './faults-slow-endpoint.js';
import { filesSecrets } from './files-secrets.js';
import { http1HeaderFloods } from './http1-header-floods.js';
import { http1SlowReader } from './http1-slow-reader.js';
import { http1Slowloris } from './http1-slowloris.js';
import { http1Smuggling } from './http1-smuggling.js';
import {
  h2ContinuationFlood,
  h2HpackBomb,
  h2PingFlood,
  h2RapidReset,
  h2SettingsFlood,
} from './http2-floods.js';
import { h2ZeroWindow } from './http2-zero-window.js';
import { soak } from './soak.js';
import { tlsCertificateScenarios } from './tls-certificates.js';
import { tlsHandshakeScenarios } from './tls-handshakes.js';

export const scenarios: readonly Scenario[] = [
  faultsKillRetryable,
  faultsKill,
  faultsControlPlaneDown,
  faultsSigterm,
  hungEndpoint,
  hungProxy,
  slowEndpoint,
  http1Smuggling,
  http1HeaderFloods,
  http1SlowReader,
  http1Slowloris,
  h2RapidReset,
  h2ContinuationFlood,
  h2SettingsFlood,
  h2PingFlood,
  h2ZeroWindow,
  h2HpackBomb,
  ...tlsCertificateScenarios,
  ...tlsHandshakeScenarios,
  csrForAnotherIdentity,
  badTokens,
  garbageOnEveryPort,
  impersonation,
  hugeAndExplodingYaml,
  badNames,
  soak,
  filesSecrets,
];
