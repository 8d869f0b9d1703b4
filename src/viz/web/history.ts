/**
 * Sparklines' points: seeded once from `/api/series` (the last ten minutes, one point per
 * step), then one point per live update of the table they sit in, so they move with the
 * numbers beside them without another stream.
 */
import { useMemo, useState } from 'preact/hooks';
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

/**
 * Rows with golden metrics, live (`path` every 2 s), and their sparklines' History: a point
 * per row (keyed by `keyOf`) per update, after what the series at `seedPath` knew if there
 * is one (its rows are keyed by statKey). The History lives as long as the component: the
 * app mounts a page per namespace and deployment, so a mounted page's paths never change.
 */
export function useLiveHistory<R extends { readonly requests: GoldenMetrics | null }>(
  path: string,
  keyOf: (r: R) => string,
  seedPath?: string,
): { live: Live<{ rows: R[] }>; history: History; seedError: string | undefined } {
  const [history] = useState(() => new History());
  const seed = useFetch<{ rows: StatSeries[] }>(seedPath ?? null);
  // The seed's arrival re-renders the page (useFetch's state); merge it then, once.
  useMemo(() => {
    if (seed.data) history.seed(seed.data.rows);
  }, [seed.data, history]);
  const live = useWatch<{ rows: R[] }>(path, '2s', (d) => {
    const now = Date.now();
    for (const r of d.rows) history.append(keyOf(r), r.requests, now);
  });
  return { live, history, seedError: seed.error };
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
  return useLiveHistory<StatRow>(
    encodeStat(params),
    statKey,
    encodeSeries({ ...params, range: SEED_RANGE, step: SEED_STEP }),
  );
}
