// `npm run chaos`: the fault and adversarial-input suite, every scenario of chaos/scenarios/index.ts.
//
//   node dist/chaos/run.js [--short] [--only <substring of a name or group>] [--json <file>]
//
// Prints one line per scenario and a summary table, writes the report as JSON (default
// chaos/results/<date>[-short].json), and exits 1 if any scenario missed its goal. Every process a
// scenario starts through bench/procs.ts is stopped on exit and on Ctrl-C.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../bench/paths.js';
import { installCleanupHandlers, stopAll } from '../bench/procs.js';
import { runScenarios, selectScenarios } from './runner.js';
import { scenarios } from './scenarios/index.js';

const USAGE = `usage: npm run chaos -- [--short] [--only <substring of a name or group>] [--json <file>]
  --short   the short form (the one npm test runs)
  --only    only the scenarios whose name or group contains this
  --json    where to write the report (default chaos/results/<date>[-short].json)
  WEFT_CHAOS_SOAK_S sets the full soak's length in seconds
`;

type Args = { short?: boolean; only?: string; json?: string; help?: boolean };

function parse(): Args | undefined {
  try {
    return parseArgs({
      options: {
        short: { type: 'boolean', default: false },
        only: { type: 'string' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`chaos: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return undefined;
  }
}

async function main(): Promise<number> {
  const values = parse();
  if (!values) return 2;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const short = values.short ?? false;
  if (selectScenarios(scenarios, short, values.only).length === 0) {
    process.stderr.write(`chaos: no scenario matches${values.only ? ` --only ${values.only}` : ''}\n`);
    return 2;
  }
  installCleanupHandlers();
  const report = await runScenarios(scenarios, { short, ...(values.only ? { only: values.only } : {}) });
  await stopAll();
  const day = report.date.slice(0, 19).replace(/:/g, '-');
  const file = values.json ?? join(repoRoot, 'chaos', 'results', `${day}${short ? '-short' : ''}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`results: ${file}\n`);
  return report.failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
