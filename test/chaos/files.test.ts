// The short form of the 'files' group of the chaos suite (chaos/scenarios/files-secrets.ts).
import { shortFormTests } from './short-form.js';

shortFormTests('files');
