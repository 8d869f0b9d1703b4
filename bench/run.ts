// CLI: `npm run bench` (= npm run build && node dist/bench/run.js [flags]). See bench/README.md.
// Progress goes to stderr; the table, the checks and the JSON path go to stdout.
import { type BenchOptions, parseArgs, USAGE, UsageError } from './args.js';
import { writeReport } from './results.js';
import { runBench } from './suite.js';
import { renderReport } from './table.js';

async function main(): Promise<number> {
  let opts: BenchOptions | null;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (!opts) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const report = await runBench(opts, (line) => process.stderr.write(`bench: ${line}\n`));
  const file = writeReport(report, opts.outFile);
  process.stdout.write(`\n${renderReport(report)}\n\nJSON: ${file}\n`);
  if (report.problems.length > 0) return 1;
  if (opts.strict && report.checks.some((c) => c.status === 'MISS')) return 1;
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
