// Every scenario of the suite, in the order the report lists them. Add one import and one entry per scenario.
import type { Scenario } from '../scenario.js';
import { hungEndpoint } from './faults-hung-endpoint.js';
import { hungProxy } from './faults-hung-proxy.js';
import { slowEndpoint } from './faults-slow-endpoint.js';

export const scenarios: readonly Scenario[] = [hungEndpoint, hungProxy, slowEndpoint];
