// The short form of the 'faults' group of the chaos suite (chaos/scenarios/faults-*.ts).
import { shortFormTests } from './short-form.js';

shortFormTests('faults');
