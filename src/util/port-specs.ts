// Port lists as annotations write them (`80,443,9000-9100`): each item a port 1-65535 or a
// range lo-hi of them. `weft inject` reads them from a workload's config.weft.io/*
// annotations, the catalog from a Service's opaque-ports annotation.

/**
 * Linkerd's default opaque ports, weft's too (the proxy's `--opaque-ports`, and the Service
 * ports the control plane calls opaque without an annotation): SMTP, MySQL, PostgreSQL,
 * Redis, Elasticsearch, Memcached...
 */
export const DEFAULT_OPAQUE_PORTS: readonly string[] = [
  '25',
  '587',
  '3306',
  '4444',
  '5432',
  '6379',
  '9300',
  '11211',
];

/** A port list that does not parse: the message starts with `what`, `problem` is the rest. */
export class PortSpecError extends Error {
  override name = 'PortSpecError';
  constructor(
    what: string,
    readonly problem: string,
  ) {
    super(`${what}: ${problem}`);
  }
}

const ITEM = /^(\d{1,5})(?:-(\d{1,5}))?$/;

/**
 * Why one item is not a port or a port range, or undefined when it is one. `names`, when
 * there are any, are what else an item may be: the message lists them.
 */
export function portSpecProblem(item: string, names: readonly string[] = []): string | undefined {
  const m = ITEM.exec(item);
  const lo = m ? Number(m[1]) : Number.NaN;
  const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
  if (!m || lo < 1 || hi > 65535 || lo > 65535) {
    return names.length > 0
      ? `"${item}" is not a port, a port range (1-65535, or lo-hi like 9000-9100) or a port name (${names.join(', ')})`
      : `"${item}" is not a port or a port range (1-65535, or lo-hi like 9000-9100)`;
  }
  if (lo > hi) return `the range "${item}" is backwards`;
  return undefined;
}

/**
 * The items of a list, trimmed, blanks skipped; a list naming no port is an error. An item
 * that is one of `names` (a Service's port names) is kept as it is.
 */
export function parsePortSpecs(text: string, what: string, names: readonly string[] = []): string[] {
  const out: string[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const problem = names.includes(item) ? undefined : portSpecProblem(item, names);
    if (problem !== undefined) throw new PortSpecError(what, problem);
    out.push(item);
  }
  if (out.length === 0) throw new PortSpecError(what, `"${text}" names no port`);
  return out;
}

/** Whether `port` is one of the ports or in one of the ranges of a parsed list (names are not ports). */
export function coversPort(specs: readonly string[], port: number): boolean {
  return specs.some((item) => {
    const m = ITEM.exec(item);
    if (!m) return false;
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    return port >= lo && port <= hi;
  });
}
