// The short form of the http1 chaos scenarios (chaos/scenarios/http1-*.ts) in npm test.
import { shortFormTests } from './short-form.js';

shortFormTests('http1');
