/**
 * The queries viz asks of its metrics, as data: each backend evaluates the same query,
 * the embedded store directly and Prometheus as the PromQL `promql.ts` renders.
 */

export type MatchOp = '=' | '!=' | '=~' | '!~';

/** A label matcher, as in PromQL (`=~` and `!~` are fully anchored RE2-style regexes). */
export interface Matcher {
  readonly label: string;
  readonly op: MatchOp;
  readonly value: string;
}

/** A metric name and label matchers: `metric{label="value", ...}`. */
export interface Selector {
  readonly metric: string;
  readonly matchers: readonly Matcher[];
}

/**
 * - `rate`: `sum by (by) (rate(selector[windowMs]))`, per-second, counters.
 * - `quantile`: `histogram_quantile(q, sum by (le, by) (rate(selector[windowMs])))`, where
 *   the selector names the histogram's `_bucket` series.
 * - `gauge`: `sum by (by) (selector)`, the latest sample of each series within the
 *   lookback (5 minutes, as Prometheus), unless the series went stale.
 */
export type Query =
  | {
      readonly kind: 'rate';
      readonly selector: Selector;
      readonly windowMs: number;
      readonly by: readonly string[];
    }
  | {
      readonly kind: 'quantile';
      readonly q: number;
      readonly selector: Selector;
      readonly windowMs: number;
      readonly by: readonly string[];
    }
  | { readonly kind: 'gauge'; readonly selector: Selector; readonly by: readonly string[] };

/** One output series of an instant query: its `by` labels (those present) and its value. */
export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One output series of a range query: its `by` labels and a value per step that had one. */
export interface Series {
  readonly labels: Readonly<Record<string, string>>;
  /** [time in ms since the epoch, value], in time order. */
  readonly points: ReadonlyArray<readonly [number, number]>;
}

export const eq = (label: string, value: string): Matcher => ({ label, op: '=', value });
