/**
 * A parser for the Prometheus text exposition format (version 0.0.4), as our proxies'
 * `/metrics` serves it (src/metrics/registry.ts): `# HELP` and `# TYPE` lines, samples
 * `name{label="value",...} value [timestamp]`, label values with the escapes `\\`, `\"`
 * and `\n`, values as Go's ParseFloat reads them (`+Inf`, `-Inf`, `NaN`).
 *
 * Built for a scraper that reads the same page every few seconds: lines of metrics the
 * caller does not keep are skipped after their name (nothing else of them is parsed),
 * and a line whose series text the caller already knows (`known`) has its labels
 * neither parsed nor checked again, as Prometheus's own scrape cache does.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface ExpositionSample {
  /** The metric name, e.g. `response_latency_ms_bucket`. */
  readonly name: string;
  /** The series as written on its line: the name and the label block, e.g. `x{a="b"}`. */
  readonly raw: string;
  /**
   * The labels (without the name), escapes resolved; `undefined` only when the caller's
   * `known(raw)` said it already has them.
   */
  readonly labels: Readonly<Record<string, string>> | undefined;
  readonly value: number;
  /** The sample's own timestamp, in ms since the epoch, when the line has one. */
  readonly timestampMs: number | undefined;
}

export interface Exposition {
  /** The kept samples, in page order. */
  readonly samples: ExpositionSample[];
  /** `# HELP` text by metric family name, escapes resolved. */
  readonly help: Map<string, string>;
  /** `# TYPE` by metric family name. */
  readonly types: Map<string, MetricType>;
}

export interface ParseOptions {
  /** Sample names to keep (default: all). Other lines cost a name scan. */
  readonly keep?: ReadonlySet<string>;
  /** More kept samples than this is an error (Prometheus's `sample_limit`). */
  readonly maxSeries?: number;
  /** Series the caller already knows by their text: their labels are not parsed again. */
  readonly known?: (raw: string) => boolean;
}

/** A page that is not valid exposition text (or breaks a limit): names the 1-based line. */
export class ExpositionError extends Error {
  override readonly name = 'ExpositionError';
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

const TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
/** A valid Prometheus metric name. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^-?\d+$/;

const isNameStart = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 58; // a-z A-Z _ :
const isNameChar = (c: number): boolean => isNameStart(c) || (c >= 48 && c <= 57);
const isLabelStart = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
const isLabelChar = (c: number): boolean => isLabelStart(c) || (c >= 48 && c <= 57);
const isBlank = (c: number): boolean => c === 32 || c === 9;

/**
 * A float as Go's strconv.ParseFloat reads it in Prometheus (decimal, or inf/infinity/nan
 * in any case, inf with a sign); undefined when it is not one. Hex floats are not accepted.
 */
export function parseFloatGo(s: string): number | undefined {
  if (DECIMAL.test(s)) return Number(s);
  switch (s.toLowerCase()) {
    case 'inf':
    case '+inf':
    case 'infinity':
    case '+infinity':
      return Number.POSITIVE_INFINITY;
    case '-inf':
    case '-infinity':
      return Number.NEGATIVE_INFINITY;
    case 'nan':
      return Number.NaN;
    default:
      return undefined;
  }
}

/** Resolves `\\` and `\n` in HELP text (other backslashes stay as written, as Prometheus does). */
function unescapeHelp(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\([\\n])/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
}

/** Parses a page. Throws ExpositionError naming the line of the first problem. */
export function parseExposition(text: string, options: ParseOptions = {}): Exposition {
  const keep = options.keep;
  const maxSeries = options.maxSeries ?? Number.POSITIVE_INFINITY;
  const known = options.known;
  const samples: ExpositionSample[] = [];
  const help = new Map<string, string>();
  const types = new Map<string, MetricType>();

  let lineNo = 0;
  let pos = 0;
  const len = text.length;
  while (pos < len) {
    lineNo++;
    let end = text.indexOf('\n', pos);
    if (end < 0) end = len;
    const start = pos;
    pos = end + 1;
    // Leading blanks are tolerated; a blank line is skipped.
    let i = start;
    while (i < end && isBlank(text.charCodeAt(i))) i++;
    if (i === end) continue;
    const first = text.charCodeAt(i);
    if (first === 35 /* # */) {
      parseComment(text.slice(i, end), lineNo, help, types);
      continue;
    }
    if (!isNameStart(first))
      throw new ExpositionError(lineNo, `expected a metric name, got ${quote(text, i)}`);
    let j = i + 1;
    while (j < end && isNameChar(text.charCodeAt(j))) j++;
    const name = text.slice(i, j);
    if (keep !== undefined && !keep.has(name)) continue;
    if (samples.length >= maxSeries) {
      throw new ExpositionError(lineNo, `more than ${maxSeries} series (the limit per scrape)`);
    }
    // The label block, if any: from `{` to the last `}` on the line (values and timestamps
    // never contain one, so the last `}` closes the block even when a label value has `}`).
    let k = j;
    while (k < end && isBlank(text.charCodeAt(k))) k++;
    let raw: string;
    let labels: Record<string, string> | undefined;
    let after: number;
    if (text.charCodeAt(k) === 123 /* { */) {
      const close = text.lastIndexOf('}', end - 1);
      if (close < k) throw new ExpositionError(lineNo, 'unterminated label block');
      raw = text.slice(i, close + 1);
      after = close + 1;
      if (known === undefined || !known(raw)) labels = parseLabels(text, k + 1, close, lineNo);
    } else {
      raw = name;
      after = j;
      if (known === undefined || !known(raw)) labels = {};
    }
    // Value and optional timestamp, separated by blanks.
    let v = after;
    if (v >= end || !isBlank(text.charCodeAt(v))) {
      throw new ExpositionError(lineNo, `expected a blank and a value after ${JSON.stringify(raw)}`);
    }
    while (v < end && isBlank(text.charCodeAt(v))) v++;
    let ve = v;
    while (ve < end && !isBlank(text.charCodeAt(ve))) ve++;
    if (ve === v) throw new ExpositionError(lineNo, `no value for ${JSON.stringify(raw)}`);
    const valueText = text.slice(v, ve);
    const value = parseFloatGo(valueText);
    if (value === undefined) throw new ExpositionError(lineNo, `invalid value ${JSON.stringify(valueText)}`);
    let t = ve;
    while (t < end && isBlank(text.charCodeAt(t))) t++;
    let timestampMs: number | undefined;
    if (t < end) {
      let te = t;
      while (te < end && !isBlank(text.charCodeAt(te))) te++;
      const tsText = text.slice(t, te);
      if (!INTEGER.test(tsText))
        throw new ExpositionError(lineNo, `invalid timestamp ${JSON.stringify(tsText)}`);
      timestampMs = Number(tsText);
      while (te < end && isBlank(text.charCodeAt(te))) te++;
      if (te < end)
        throw new ExpositionError(lineNo, `unexpected text after the timestamp: ${quote(text, te)}`);
    }
    samples.push({ name, raw, labels, value, timestampMs });
  }
  return { samples, help, types };
}

/**
 * Sets a label on a plain object; `__proto__`, a valid label name, becomes an own
 * property instead of setting the object's prototype.
 */
export function setLabel(labels: Record<string, string>, name: string, value: string): void {
  if (name === '__proto__') {
    Object.defineProperty(labels, name, { value, enumerable: true, writable: true, configurable: true });
  } else labels[name] = value;
}

function quote(text: string, at: number): string {
  const end = text.indexOf('\n', at);
  return JSON.stringify(text.slice(at, Math.min(end < 0 ? text.length : end, at + 20)));
}

function parseComment(
  line: string,
  lineNo: number,
  help: Map<string, string>,
  types: Map<string, MetricType>,
): void {
  // `# HELP name text` and `# TYPE name type`; any other comment is ignored.
  const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
  if (!m) return;
  const [, kind, name = '', rest = ''] = m;
  if (!METRIC_NAME.test(name))
    throw new ExpositionError(lineNo, `invalid metric name ${JSON.stringify(name)}`);
  if (kind === 'HELP') {
    help.set(name, unescapeHelp(rest));
    return;
  }
  const type = rest.trim();
  if (!TYPES.has(type)) throw new ExpositionError(lineNo, `invalid metric type ${JSON.stringify(type)}`);
  types.set(name, type as MetricType);
}

/** Parses `a="x",b="y"` between `from` (after `{`) and `to` (the closing `}`). */
function parseLabels(text: string, from: number, to: number, lineNo: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = from;
  for (;;) {
    while (i < to && isBlank(text.charCodeAt(i))) i++;
    if (i >= to) return labels;
    const ns = i;
    if (!isLabelStart(text.charCodeAt(i))) {
      throw new ExpositionError(lineNo, `expected a label name, got ${quote(text, i)}`);
    }
    while (i < to && isLabelChar(text.charCodeAt(i))) i++;
    const label = text.slice(ns, i);
    while (i < to && isBlank(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== 61 /* = */) {
      throw new ExpositionError(lineNo, `expected = after label ${JSON.stringify(label)}`);
    }
    i++;
    while (i < to && isBlank(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== 34 /* " */) {
      throw new ExpositionError(lineNo, `expected a quoted value for label ${JSON.stringify(label)}`);
    }
    i++;
    // The value: up to the next unescaped quote. Only \\, \" and \n are escapes; any
    // other backslash stays as written (Prometheus's lexer does the same).
    let value = '';
    let chunk = i;
    for (;;) {
      if (i >= to) throw new ExpositionError(lineNo, `unterminated value for label ${JSON.stringify(label)}`);
      const c = text.charCodeAt(i);
      if (c === 34) break;
      if (c === 92 /* \ */) {
        const e = text.charCodeAt(i + 1);
        if (e === 92 || e === 34 || e === 110) {
          value += text.slice(chunk, i) + (e === 110 ? '\n' : e === 92 ? '\\' : '"');
          i += 2;
          chunk = i;
          continue;
        }
      }
      i++;
    }
    value += text.slice(chunk, i);
    i++;
    if (label === '__name__') throw new ExpositionError(lineNo, 'the label __name__ is not allowed here');
    if (Object.hasOwn(labels, label))
      throw new ExpositionError(lineNo, `duplicate label ${JSON.stringify(label)}`);
    setLabel(labels, label, value);
    while (i < to && isBlank(text.charCodeAt(i))) i++;
    if (i >= to) return labels;
    if (text.charCodeAt(i) !== 44 /* , */) {
      throw new ExpositionError(
        lineNo,
        `expected , or } after label ${JSON.stringify(label)}, got ${quote(text, i)}`,
      );
    }
    i++;
  }
}
