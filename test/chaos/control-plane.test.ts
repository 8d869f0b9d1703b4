// The short form of the control-plane group: hostile input against a real `weft up` (loopback pods).
import { shortFormTests } from './short-form.js';

shortFormTests('control-plane');
