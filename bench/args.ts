// Command-line flags of `node dist/bench/run.js`.
import { parseArgs as parseNodeArgs } from 'node:util';
import {
  type BenchName,
  type DiscoverySettings,
  PROTOCOLS,
  type Protocol,
  SCENARIO_NAMES,
  TARGET_NAMES,
} from './types.js';

export interface BenchOptions {
  /** Seconds per measured phase. */
  durationS: number;
  /** Seconds of unrecorded load before the measured phases of each target. */
  warmupS: number;
  /** Targets (proxy rows) and scenarios to run. */
  only: BenchName[];
  protocols: Protocol[];
  /** Keep-alive sockets of the open-loop generator. */
  connections: number;
  /** Fixed open-loop rates in requests/s. The checks use the first one. */
  rates: number[];
  /** Size of the discovery scenario (smaller with --quick). */
  discovery: DiscoverySettings;
  /** Where to write the JSON (default bench/results/<ISO date>.json). */
  outFile?: string;
  /** Exit non-zero when a target check is a MISS. */
  strict: boolean;
}

export const USAGE = `Usage: node dist/bench/run.js [options]

  --duration <s>      seconds per measured phase (integer, default 10)
  --quick             1 s phases and 1 s warm-up, a small discovery scenario: a smoke run
  --warmup <s>        seconds of unrecorded warm-up load per target (default 2, 1 with --quick)
  --only <names>      comma list of targets:
                        ${TARGET_NAMES.join(', ')},
                      and scenarios: ${SCENARIO_NAMES.join(', ')} (default: all)
  --protocols <list>  comma list of: ${PROTOCOLS.join(', ')} (default: all)
  --connections <n>   open-loop generator sockets (default 32)
  --out <file>        JSON output path (default bench/results/<ISO date>.json)
  --strict            exit 1 when a target check is a MISS
  -h, --help          this text

Exit status: 0 on success; 1 if a target could not be measured (its process failed to start
or died, a check or a load tool failed), the direct path saw errors, or (with --strict) a
check missed; 2 on bad flags.`;

const ALIASES: Record<string, BenchName> = {
  direct: 'direct',
  weft: 'weft',
  haproxy: 'haproxy',
  'http-proxy': 'http-proxy',
  httpproxy: 'http-proxy',
  node: 'http-proxy',
  'weft-mesh': 'weft-mesh',
  'weft-mesh-routes': 'weft-mesh-routes',
  'haproxy-mtls': 'haproxy-mtls',
  discovery: 'discovery',
};

/** The discovery scenario: full size, and the --quick smoke size. */
export const DISCOVERY_FULL: DiscoverySettings = {
  watchers: 200,
  watcherProcesses: 2,
  endpoints: 1000,
  warmupChanges: 100,
  changes: 500,
  changesPerS: 100,
};
export const DISCOVERY_QUICK: DiscoverySettings = {
  watchers: 20,
  watcherProcesses: 2,
  endpoints: 100,
  warmupChanges: 10,
  changes: 50,
  changesPerS: 100,
};

export class UsageError extends Error {}

function positiveInt(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} needs a positive integer, got "${value}"`);
  return n;
}

function list<T extends string>(
  flag: string,
  value: string | undefined,
  map: (s: string) => T | undefined,
): T[] {
  if (value === undefined) return [];
  const out: T[] = [];
  for (const raw of value.split(',')) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    const mapped = map(name);
    if (mapped === undefined) throw new UsageError(`${flag}: unknown name "${name}"`);
    if (!out.includes(mapped)) out.push(mapped);
  }
  return out;
}

const SPEC = {
  duration: { type: 'string' },
  quick: { type: 'boolean', default: false },
  warmup: { type: 'string' },
  only: { type: 'string' },
  protocols: { type: 'string' },
  connections: { type: 'string' },
  out: { type: 'string' },
  strict: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parseFlags(argv: string[]) {
  try {
    return parseNodeArgs({ args: argv, options: SPEC, strict: true, allowPositionals: false });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Returns the options, or null when --help was asked for. Throws UsageError on bad flags. */
export function parseArgs(argv: string[]): BenchOptions | null {
  const parsed = parseFlags(argv);
  const v = parsed.values;
  if (v.help) return null;
  const quick = v.quick === true;
  const durationS = positiveInt('--duration', v.duration, quick ? 1 : 10);
  const warmupS = positiveInt('--warmup', v.warmup, quick ? 1 : Math.min(2, durationS));
  const only = list('--only', v.only, (s) => ALIASES[s]);
  const protocols = list('--protocols', v.protocols, (s) =>
    (PROTOCOLS as readonly string[]).includes(s) ? (s as Protocol) : undefined,
  );
  const options: BenchOptions = {
    durationS,
    warmupS,
    only: only.length > 0 ? only : [...TARGET_NAMES, ...SCENARIO_NAMES],
    protocols: protocols.length > 0 ? protocols : [...PROTOCOLS],
    connections: positiveInt('--connections', v.connections, 32),
    rates: [1000, 5000],
    discovery: { ...(quick ? DISCOVERY_QUICK : DISCOVERY_FULL) },
    strict: v.strict === true,
  };
  if (v.out !== undefined) options.outFile = v.out;
  return options;
}
