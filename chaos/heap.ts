// Heap snapshots of a proxy started with --heapsnapshot-signal=SIGUSR2 (the soak scenario), and what grew
// between two of them: live objects counted by constructor name.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../test/helpers/net.js';

/** NODE_OPTIONS for a proxy whose heap the soak snapshots into `dir`. */
export function heapSnapshotNodeOptions(dir: string): string {
  return `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`;
}

/** Signals `pid` and resolves with the path of the new .heapsnapshot in `dir` once it is complete. */
export async function takeHeapSnapshot(pid: number, dir: string, timeoutMs = 60_000): Promise<string> {
  const known = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  let file = '';
  await waitFor(
    () => {
      const fresh = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !known.has(f));
      if (!fresh) return false;
      file = join(dir, fresh);
      // Written in one go; complete once it parses as JSON (its last byte is the closing brace).
      const text = readFileSync(file, 'utf8');
      return text.trimEnd().endsWith('}');
    },
    `a heap snapshot of ${pid} in ${dir}`,
    timeoutMs,
    200,
  );
  return file;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: unknown[] } };
  nodes: number[];
  strings: string[];
}

/** Live objects of a snapshot by constructor name (node type "object"), and closures as "(closure) <name>". */
export function countByConstructor(path: string): Map<string, number> {
  const s = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0] as string[];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const counts = new Map<string, number>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + typeAt] ?? 0];
    if (type !== 'object' && type !== 'closure') continue;
    const name = s.strings[s.nodes[i + nameAt] ?? 0] ?? '?';
    const key = type === 'closure' ? `(closure) ${name}` : name;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** The constructors whose count grew most from `a` to `b`: "Foo +120 (30 -> 150)". */
export function growth(a: Map<string, number>, b: Map<string, number>, top = 8): string[] {
  return [...b]
    .map(([name, n]) => ({ name, from: a.get(name) ?? 0, to: n }))
    .filter((g) => g.to > g.from)
    .sort((x, y) => y.to - y.from - (x.to - x.from))
    .slice(0, top)
    .map((g) => `${g.name} +${g.to - g.from} (${g.from} -> ${g.to})`);
}
