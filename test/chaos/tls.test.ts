/**
 * The short form of the 'tls' chaos scenarios (chaos/scenarios/tls-*.ts): hostile clients of
 * a real proxy's mesh (mTLS) port, each refused and counted, nothing reaching the application.
 */
import { shortFormTests } from './short-form.js';

shortFormTests('tls');
