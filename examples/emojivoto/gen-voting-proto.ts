/**
 * Writes examples/emojivoto/proto/Voting.proto from the emoji list:
 * `npm run build && node dist/examples/emojivoto/gen-voting-proto.js`. With `--check`,
 * only says whether the committed file is up to date (exit 1 if not).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROTO_DIR, votingProtoText } from './lib/protos.js';

const path = join(PROTO_DIR, 'Voting.proto');
const text = votingProtoText();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    // A missing file is simply out of date.
  }
  if (current !== text) {
    process.stderr.write(`${path} is out of date: run node dist/examples/emojivoto/gen-voting-proto.js\n`);
    process.exit(1);
  }
  process.stdout.write(`${path} is up to date\n`);
} else {
  writeFileSync(path, text);
  process.stdout.write(`wrote ${path}\n`);
}
