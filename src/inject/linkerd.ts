import { CONFIG, INJECT } from './annotations.js';

// Linkerd's annotations, read as their weft.io equivalents: `linkerd.io/inject` as
// weft.io/inject, and `config.linkerd.io/<x>` as `config.weft.io/<x>` for each <x> weft has.
// The YAML keeps them as written; only what inject reads changes.

const LINKERD_CONFIG = 'config.linkerd.io/';

/** Linkerd's name of each weft annotation it has one for. */
const LINKERD_NAMES: ReadonlyMap<string, string> = new Map([
  [INJECT, 'linkerd.io/inject'],
  ...Object.values(CONFIG).map((key) => [key, key.replace('config.weft.io/', LINKERD_CONFIG)] as const),
]);

const WEFT_NAMES: ReadonlyMap<string, string> = new Map([...LINKERD_NAMES].map(([w, l]) => [l, w]));

/** An annotation's value, and the name it was written under (weft's or Linkerd's). */
export interface ReadAnnotation {
  readonly value: string;
  readonly key: string;
}

/** One holder's annotations (a workload's, a template's), keyed by weft's names. */
export interface WeftView {
  /** Every annotation; a Linkerd one under its weft name unless weft's own is set. */
  readonly annotations: Map<string, ReadAnnotation>;
  /** Where both names are set to different values (weft's wins), as [weft's, Linkerd's]. */
  readonly conflicts: ReadonlyArray<readonly [ReadAnnotation, ReadAnnotation]>;
}

export function weftView(annotations: ReadonlyMap<string, string>): WeftView {
  const out = new Map<string, ReadAnnotation>();
  const conflicts: Array<[ReadAnnotation, ReadAnnotation]> = [];
  for (const [key, value] of annotations) {
    const weft = WEFT_NAMES.get(key);
    if (weft === undefined) {
      out.set(key, { key, value });
      continue;
    }
    const own = annotations.get(weft);
    if (own === undefined) out.set(weft, { key, value });
    else if (own !== value)
      conflicts.push([
        { key: weft, value: own },
        { key, value },
      ]);
  }
  return { annotations: out, conflicts };
}

/** The `config.linkerd.io/*` keys weft has no equivalent of (a view keeps them under their own name). */
export function unsupportedLinkerdKeys(annotations: ReadonlyMap<string, unknown>): string[] {
  return [...annotations.keys()].filter((k) => k.startsWith(LINKERD_CONFIG));
}

/**
 * What stderr says of a resource's Linkerd annotations: which ones were read (those `used`
 * was read from), and a warning for each holder where both names differ.
 */
export function linkerdReports(
  what: string,
  views: readonly WeftView[],
  used: Iterable<ReadAnnotation>,
): string[] {
  const read = [...new Set([...used].map((a) => a.key).filter((k) => WEFT_NAMES.has(k)))];
  const reports: string[] = [];
  if (read.length > 0) {
    const equivalents = read.length === 1 ? 'its weft.io equivalent' : 'their weft.io equivalents';
    reports.push(`${what}: read Linkerd's ${read.join(', ')} as ${equivalents}`);
  }
  for (const { conflicts } of views) {
    for (const [own, linkerd] of conflicts) {
      reports.push(
        `warning: ${what}: ${own.key} is "${own.value}" and ${linkerd.key} "${linkerd.value}"; ${own.key} wins`,
      );
    }
  }
  return reports;
}
