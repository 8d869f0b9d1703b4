// The short form of the hostile HTTP/2 scenarios (chaos/scenarios/http2-*.ts).
import { shortFormTests } from './short-form.js';

shortFormTests('http2');
