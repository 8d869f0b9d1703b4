// The short form of the 'soak' group of the chaos suite (chaos/scenarios/soak.ts).
import { shortFormTests } from './short-form.js';

shortFormTests('soak');
