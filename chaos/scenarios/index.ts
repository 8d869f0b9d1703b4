// Every scenario of the suite, in the order the report lists them. Add one import and one entry per scenario.
import type { Scenario } from '../scenario.js';
import {
  h2ContinuationFlood,
  h2HpackBomb,
  h2PingFlood,
  h2RapidReset,
  h2SettingsFlood,
} from './http2-floods.js';
import { h2ZeroWindow } from './http2-zero-window.js';

export const scenarios: readonly Scenario[] = [
  h2RapidReset,
  h2ContinuationFlood,
  h2SettingsFlood,
  h2PingFlood,
  h2ZeroWindow,
  h2HpackBomb,
];
