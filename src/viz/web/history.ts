/**
 * Sparklines' points: seeded once from `/api/series` (the last ten minutes, one point per
 * step), then one point per live update of the table they sit in, so they move with the
 * numbers beside them without another stream.
 */
import { useMemo, useRef } from 'preact/hooks';
import { DEFAULT_WINDOW, encodeSeries, encodeStat } from '../api.js';
import type { GoldenMetrics } from '../golden.js';
import type { VizTarget } from '../resources.js';
import type { StatRow, StatSeries } from '../stat.js';
import { type Live, useFetch, useWatch } from './live.js';

export interface Point {
  /** ms since the epoch */
  readonly t: number;
  readonly rps: number;
  readonly successRate: number | null;
}

/** How far back sparklines reach. */
export const HISTORY_MS = 10 * 60_000;
/** The series seed's range and step (also the workload page's charts'). */
export const SEED_RANGE = '10m';
export const SEED_STEP = '10s';

export class History {
  private readonly points = new Map<string, Point[]>();

  get(key: string): readonly Point[] {
    return this.points.get(key) ?? [];
  }

  /** Prepends what the series knew before the first live point. */
  seed(rows: readonly StatSeries[]): void {
    for (const r of rows) {
      const key = statKey(r);
      const live = this.points.get(key) ?? [];
      const first = live[0]?.t ?? Number.POSITIVE_INFINITY;
      const s = r.series;
      const old: Point[] = [];
      s.times.forEach((t, i) => {
        if (t < first) old.push({ t, rps: s.rps[i] ?? 0, successRate: s.successRate[i] ?? null });
      });
      this.points.set(key, [...old, ...live]);
    }
  }

  append(key: string, g: GoldenMetrics | null, now: number): void {
    const list = this.points.get(key) ?? [];
    list.push({ t: now, rps: g?.rps ?? 0, successRate: g?.successRate ?? null });
    while (list.length > 0 && (list[0] as Point).t < now - HISTORY_MS) list.shift();
    this.points.set(key, list);
  }
}

/** A stat row's key in its History: namespace/name. */
export const statKey = (r: { readonly namespace: string; readonly name: string }): string =>
  `${r.namespace}/${r.name}`;

/** A History seeded from `seriesPath`; fed with `append` on each live update. */
function useHistory(seriesPath: string): { history: History; seedError: string | undefined } {
  const ref = useRef<{ path: string; history: History } | undefined>(undefined);
  if (!ref.current || ref.current.path !== seriesPath)
    ref.current = { path: seriesPath, history: new History() };
  const history = ref.current.history;
  const seed = useFetch<{ rows: StatSeries[] }>(seriesPath);
  // The seed's arrival re-renders the page (useFetch's state); merge it then, once.
  useMemo(() => {
    if (seed.data) history.seed(seed.data.rows);
  }, [seed.data, history]);
  return { history, seedError: seed.error };
}

/**
 * A stat table's rows, live (`/api/stat` every 2 s over the last minute), and their
 * sparklines' History: seeded from the last ten minutes, then a point per update.
 */
export function useLiveStat(
  target: VizTarget,
  namespace?: string,
): { live: Live<{ rows: StatRow[] }>; history: History; seedError: string | undefined } {
  const params = { target, ...(namespace === undefined ? {} : { namespace }), window: DEFAULT_WINDOW };
  const { history, seedError } = useHistory(encodeSeries({ ...params, range: SEED_RANGE, step: SEED_STEP }));
  const live = useWatch<{ rows: StatRow[] }>(encodeStat(params), '2s', (d) => {
    const now = Date.now();
    for (const r of d.rows) history.append(statKey(r), r.requests, now);
  });
  return { live, history, seedError };
}
