// The core of `npm run chaos`: runs scenarios one at a time, prints one line per scenario and a summary
// table, and returns the report that chaos/run.ts writes as JSON. Kept apart from the command line so
// test/chaos/run.test.ts can run it on a list of its own.
import { cpus } from 'node:os';
import { scenarioContext } from './context.js';
import type { ResourceSample, Scenario, ScenarioResult } from './scenario.js';

export interface ScenarioReport {
  readonly name: string;
  readonly group: string;
  readonly goal: string;
  readonly pass: boolean;
  readonly durationS: number;
  readonly did: string;
  readonly outcome: string;
  readonly before?: ResourceSample;
  readonly after?: ResourceSample;
  readonly figures?: ScenarioResult['figures'];
  /** Set when run() threw instead of returning a result (counted as a failure). */
  readonly error?: string;
}

export interface ChaosReport {
  readonly date: string;
  readonly short: boolean;
  readonly only?: string;
  readonly machine: { readonly cpus: number; readonly node: string };
  readonly passed: number;
  readonly failed: number;
  readonly scenarios: readonly ScenarioReport[];
}

export interface RunOptions {
  readonly short: boolean;
  /** Only scenarios whose name or group contains this substring. */
  readonly only?: string;
  /** Where each finished line goes (default: stdout). */
  readonly print?: (line: string) => void;
  /** Progress of a scenario (ctx.log); default: stderr, prefixed with the scenario's name. */
  readonly progress?: (name: string, message: string) => void;
  /** The parent of each scenario's fresh directory (default: the OS temporary directory). */
  readonly baseDir?: string;
}

/** The scenarios a run picks: the short form's only, and --only's substring of name or group. */
export function selectScenarios(all: readonly Scenario[], short: boolean, only?: string): Scenario[] {
  return all.filter(
    (s) =>
      (!short || s.inShortForm) && (only === undefined || s.name.includes(only) || s.group.includes(only)),
  );
}

const mb = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1);

/** "RSS 41.2->43.0 MB fds 23->23", or '' when the scenario had no process under test. */
export function resourcesCell(before?: ResourceSample, after?: ResourceSample): string {
  if (!before && !after) return '';
  const rss = `RSS ${before ? mb(before.rssBytes) : '?'}->${after ? mb(after.rssBytes) : '?'} MB`;
  return `${rss} fds ${before?.fds ?? '?'}->${after?.fds ?? '?'}`;
}

/** The one line a scenario prints. */
export function scenarioLine(r: ScenarioReport): string {
  const res = resourcesCell(r.before, r.after);
  return `${r.pass ? 'PASS' : 'FAIL'}  ${r.name} [${r.group}] ${r.durationS.toFixed(1)} s: ${r.did}; ${r.outcome}${res ? `; ${res}` : ''}`;
}

/** The summary table: one row per scenario, columns padded. */
export function summaryTable(reports: readonly ScenarioReport[]): string {
  const header = ['scenario', 'group', 'result', 's', 'RSS MB before/after', 'fds before/after', 'goal'];
  const rows = reports.map((r) => [
    r.name,
    r.group,
    r.pass ? 'PASS' : 'FAIL',
    r.durationS.toFixed(1),
    r.before || r.after
      ? `${r.before ? mb(r.before.rssBytes) : '?'}/${r.after ? mb(r.after.rssBytes) : '?'}`
      : '-',
    r.before || r.after ? `${r.before?.fds ?? '?'}/${r.after?.fds ?? '?'}` : '-',
    r.goal,
  ]);
  const table = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
  return table
    .map((row) =>
      row
        .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

async function runOne(s: Scenario, opts: RunOptions): Promise<ScenarioReport> {
  const progress = opts.progress ?? ((name, m) => process.stderr.write(`  ${name}: ${m}\n`));
  const ctx = scenarioContext(s.name, opts.short, (m) => progress(s.name, m), opts.baseDir);
  const started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  const base = { name: s.name, group: s.group, goal: s.goal };
  try {
    const r = await s.run(ctx);
    return {
      ...base,
      pass: r.pass,
      durationS: seconds(),
      did: r.did,
      outcome: r.outcome,
      ...(r.before ? { before: r.before } : {}),
      ...(r.after ? { after: r.after } : {}),
      ...(r.figures ? { figures: r.figures } : {}),
    };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return {
      ...base,
      pass: false,
      durationS: seconds(),
      did: 'did not finish',
      outcome: `threw: ${message.split('\n')[0]}`,
      error: err instanceof Error ? (err.stack ?? message) : message,
    };
  }
}

/** Runs the selected scenarios one after another (never in parallel: each measures its own processes). */
export async function runScenarios(all: readonly Scenario[], opts: RunOptions): Promise<ChaosReport> {
  const print = opts.print ?? ((line) => process.stdout.write(`${line}\n`));
  const picked = selectScenarios(all, opts.short, opts.only);
  const reports: ScenarioReport[] = [];
  for (const s of picked) {
    const r = await runOne(s, opts);
    reports.push(r);
    print(scenarioLine(r));
  }
  const failed = reports.filter((r) => !r.pass).length;
  print('');
  for (const line of summaryTable(reports).split('\n')) print(line);
  print('');
  print(`${reports.length - failed} passed, ${failed} failed`);
  return {
    date: new Date().toISOString(),
    short: opts.short,
    ...(opts.only === undefined ? {} : { only: opts.only }),
    machine: { cpus: cpus().length, node: process.version },
    passed: reports.length - failed,
    failed,
    scenarios: reports,
  };
}
