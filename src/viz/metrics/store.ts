/**
 * The embedded metrics store: an in-memory time series database for the local platform,
 * holding the last `retentionMs` (default 15 min) of what the scraper read.
 *
 * Samples are kept per scrape target in one block: every series of a target is sampled
 * at the same times (the target's scrapes), so the block keeps one ring of scrape times
 * and, per series, one row of float64 values in a matrix shared by the block's series
 * (8 bytes a sample, no per-sample or per-series buffers). A slot of a row is a value, a
 * staleness marker (the series vanished from that scrape, its scrape failed or its target
 * went away: as Prometheus writes one) or absent (nothing at that scrape). A series whose
 * every retained slot is absent is dropped; a target's block once it is empty and gone.
 *
 * Bounds: series per target (default 20,000) and in total (default 500,000); new series
 * past either bound are dropped and counted.
 */
import { setLabel } from './exposition.js';

/** Go's sort.Search: the first i in [0, n) for which f is true (n if none), by bisection. */
export function search(n: number, f: (i: number) => boolean): number {
  let i = 0;
  let j = n;
  while (i < j) {
    const h = (i + j) >>> 1;
    if (!f(h)) i = h + 1;
    else j = h;
  }
  return i;
}

export type LabelSet = Readonly<Record<string, string>>;

export interface StoreOptions {
  /** How long samples are kept, in ms (default 15 minutes). */
  readonly retentionMs?: number;
  /** Series one target may have, stale ones included until they expire (default 20,000). */
  readonly maxSeriesPerTarget?: number;
  /** Series in the whole store (default 500,000). */
  readonly maxSeries?: number;
}

export const DEFAULT_RETENTION_MS = 15 * 60_000;
export const DEFAULT_MAX_SERIES_PER_TARGET = 20_000;
export const DEFAULT_MAX_SERIES = 500_000;

// A slot that is not a sample holds a NaN with a payload, written and recognised through a
// 32-bit view of the same memory (a NaN's payload does not survive every JS operation, but
// the bits written through the view are only ever read through it). Values that are NaN
// themselves are stored as written and read as samples.
const probe = new Uint32Array(new Float64Array([1]).buffer);
const HI = probe[1] === 0x3ff00000 ? 1 : 0;
const LO = 1 - HI;
const MARK_HI = 0x7ff80000;
const STALE = 2;
const ABSENT = 3;

/** One series: its identity, and its row in its target's block. */
export class StoredSeries {
  /** The round (of its block) that last wrote a value. */
  seen = 0;
  /** Whether its last written slot is a value (not a staleness marker). */
  live = false;
  /** Time of its last value or staleness marker, in ms. */
  lastWritten = Number.NEGATIVE_INFINITY;
  /** The exposition text that names it in its target's scrapes (the scrape cache's key). */
  raw: string | undefined;
  /** Other texts naming it (the same labels written differently): rare. */
  moreRaws: string[] | undefined;
  /** Its place in its target's last scrape. */
  orderIndex = -1;
  /** Dropped from the store (expired). */
  deleted = false;
  constructor(
    /** A hash of its key, for finding it by labels without keeping the key. */
    readonly hash: number,
    readonly name: string,
    /** Without the name; no empty values (an empty label is an absent one). */
    readonly labels: LabelSet,
    readonly block: TargetBlock,
    public row: number,
  ) {}

  /** `name{a="x",b="y"}` with labels sorted: unique within a block (computed: it is not kept). */
  get key(): string {
    return seriesKey(this.name, this.labels);
  }

  /** A label's value, `''` when absent; `__name__` is the name. */
  label(name: string): string {
    return name === '__name__' ? this.name : (this.labels[name] ?? '');
  }
}

/** The samples of one target's series: a ring of scrape times and a row of values per series. */
export class TargetBlock {
  /** Slot j (0 = oldest) of the ring is at (start + j) % cap. */
  times: Float64Array;
  start = 0;
  count = 0;
  cap = 8;
  /** Row r's slot at physical index p is values[r * cap + p]. */
  values = new Float64Array(0);
  words = new Uint32Array(0);
  private absentRow: Float64Array;
  rowCap = 0;
  private rowsUsed = 0;
  private readonly freeRows: number[] = [];
  readonly series = new Set<StoredSeries>();
  /** Series by the hash of their key (a list when hashes collide). */
  readonly byHash = new Map<number, StoredSeries | StoredSeries[]>();
  readonly byRaw = new Map<string, StoredSeries>();
  /** The series of the last scrape, in page order. */
  order: StoredSeries[] = [];
  /** Incremented by each append. */
  round = 0;
  /** The target went away; the block stays until its samples expire. */
  retired = false;

  constructor(readonly id: string) {
    this.times = new Float64Array(this.cap);
    this.absentRow = absentRow(this.cap);
  }

  get lastTime(): number {
    return this.count === 0 ? Number.NEGATIVE_INFINITY : this.timeAt(this.count - 1);
  }

  get firstTime(): number {
    return this.count === 0 ? Number.POSITIVE_INFINITY : this.timeAt(0);
  }

  timeAt(j: number): number {
    const p = this.start + j;
    return this.times[p >= this.cap ? p - this.cap : p] as number;
  }

  /** First slot with time >= t (count when none). */
  firstAtOrAfter(t: number): number {
    return search(this.count, (j) => this.timeAt(j) >= t);
  }

  /** Last slot with time <= t (-1 when none). */
  lastAtOrBefore(t: number): number {
    return search(this.count, (j) => this.timeAt(j) > t) - 1;
  }

  /**
   * Copies the samples (values, not markers or absent slots) of slots lo..hi of a series
   * into outT/outV (each at least hi - lo + 1 long); returns how many.
   */
  collect(series: StoredSeries, lo: number, hi: number, outT: Float64Array, outV: Float64Array): number {
    const { cap, start, times, values, words } = this;
    const base = series.row * cap;
    let n = 0;
    for (let j = lo; j <= hi; j++) {
      let p = start + j;
      if (p >= cap) p -= cap;
      const i = base + p;
      const v = values[i] as number;
      if (Number.isNaN(v) && words[2 * i + HI] === MARK_HI) {
        const lo32 = words[2 * i + LO];
        if (lo32 === STALE || lo32 === ABSENT) continue;
      }
      outT[n] = times[p] as number;
      outV[n] = v;
      n++;
    }
    return n;
  }

  /**
   * The latest sample of a series in slots lo..hi, or undefined when there is none or the
   * latest written slot is a staleness marker (the series went stale).
   */
  latest(series: StoredSeries, lo: number, hi: number): number | undefined {
    const { cap, start, values, words } = this;
    const base = series.row * cap;
    for (let j = hi; j >= lo; j--) {
      let p = start + j;
      if (p >= cap) p -= cap;
      const i = base + p;
      const v = values[i] as number;
      if (Number.isNaN(v) && words[2 * i + HI] === MARK_HI) {
        const lo32 = words[2 * i + LO];
        if (lo32 === ABSENT) continue;
        if (lo32 === STALE) return undefined;
      }
      return v;
    }
    return undefined;
  }

  /** The series with these labels (cleaned), if the block has it. */
  find(hash: number, name: string, labels: LabelSet): StoredSeries | undefined {
    const found = this.byHash.get(hash);
    if (found === undefined) return undefined;
    for (const s of Array.isArray(found) ? found : [found]) {
      if (s.name === name && sameLabels(s.labels, labels)) return s;
    }
    return undefined;
  }

  add(s: StoredSeries): void {
    this.series.add(s);
    const found = this.byHash.get(s.hash);
    if (found === undefined) this.byHash.set(s.hash, s);
    else if (Array.isArray(found)) found.push(s);
    else this.byHash.set(s.hash, [found, s]);
  }

  remove(s: StoredSeries): void {
    this.series.delete(s);
    const found = this.byHash.get(s.hash);
    if (found === s) this.byHash.delete(s.hash);
    else if (Array.isArray(found)) {
      const rest = found.filter((x) => x !== s);
      if (rest.length === 1) this.byHash.set(s.hash, rest[0] as StoredSeries);
      else this.byHash.set(s.hash, rest);
    }
    if (s.raw !== undefined) this.byRaw.delete(s.raw);
    for (const r of s.moreRaws ?? []) this.byRaw.delete(r);
    this.freeRow(s.row);
  }

  /** Opens a slot at `timeMs` (after the last one), growing the ring when full. */
  openSlot(timeMs: number): number {
    if (this.count === this.cap) this.growSlots();
    let p = this.start + this.count;
    if (p >= this.cap) p -= this.cap;
    this.times[p] = timeMs;
    this.count++;
    this.round++;
    return p;
  }

  /** Drops slots older than `minTime`; returns whether any were dropped. */
  dropBefore(minTime: number): boolean {
    let dropped = false;
    while (this.count > 0 && (this.times[this.start] as number) < minTime) {
      this.start = this.start + 1 === this.cap ? 0 : this.start + 1;
      this.count--;
      dropped = true;
    }
    if (this.count === 0) this.start = 0;
    return dropped;
  }

  private freeRow(row: number): void {
    this.freeRows.push(row);
  }

  write(series: StoredSeries, p: number, value: number): void {
    this.values[series.row * this.cap + p] = value;
  }

  mark(series: StoredSeries, p: number, kind: typeof STALE | typeof ABSENT): void {
    const i = series.row * this.cap + p;
    this.words[2 * i + HI] = MARK_HI;
    this.words[2 * i + LO] = kind;
  }

  /** A row for a new series, every slot absent. */
  allocRow(): number {
    let row = this.freeRows.pop();
    if (row === undefined) {
      if (this.rowsUsed === this.rowCap) this.growRows(Math.max(16, Math.ceil(this.rowCap * 1.5)));
      row = this.rowsUsed++;
    }
    this.values.set(this.absentRow, row * this.cap);
    return row;
  }

  /** Makes room for `rows` series in all (a scrape's new series are known before they are stored). */
  reserveRows(rows: number): void {
    if (rows > this.rowCap) this.growRows(rows);
  }

  private growRows(rowCap: number): void {
    const values = new Float64Array(rowCap * this.cap);
    values.set(this.values.subarray(0, this.rowsUsed * this.cap));
    this.values = values;
    this.words = new Uint32Array(values.buffer);
    this.rowCap = rowCap;
  }

  private growSlots(): void {
    const old = this.cap;
    const cap = old + Math.max(8, Math.ceil(old / 4));
    const times = new Float64Array(cap);
    const values = new Float64Array(this.rowCap * cap);
    // Re-lays the ring from slot 0 (TypedArray.set copies the bits, markers included).
    const head = Math.min(this.count, old - this.start);
    const tail = this.count - head;
    times.set(this.times.subarray(this.start, this.start + head), 0);
    times.set(this.times.subarray(0, tail), head);
    for (let r = 0; r < this.rowsUsed; r++) {
      const from = r * old;
      values.set(this.values.subarray(from + this.start, from + this.start + head), r * cap);
      values.set(this.values.subarray(from, from + tail), r * cap + head);
    }
    this.times = times;
    this.values = values;
    this.words = new Uint32Array(values.buffer);
    this.cap = cap;
    this.start = 0;
    this.absentRow = absentRow(cap);
  }

  /** Bytes held by this block's arrays. */
  get bytes(): number {
    return this.times.byteLength + this.values.byteLength + this.absentRow.byteLength;
  }
}

function absentRow(cap: number): Float64Array {
  const row = new Float64Array(cap);
  const words = new Uint32Array(row.buffer);
  for (let i = 0; i < cap; i++) {
    words[2 * i + HI] = MARK_HI;
    words[2 * i + LO] = ABSENT;
  }
  return row;
}

/** What one append did. */
export interface AppendStats {
  /** Samples stored. */
  readonly samples: number;
  /** New series created. */
  readonly added: number;
  /** Samples of new series refused by a series bound. */
  readonly dropped: number;
  /** Samples of a series already written in this append (the first one counts). */
  readonly duplicates: number;
  /** Staleness markers written (series that were in the previous scrape but not this one). */
  readonly stale: number;
}

/**
 * One scrape of a target being stored: each sample either `add`ed by its labels or, for a
 * series `lookup` finds by its exposition text, `addTo` it; then `commit`. Series not
 * added get a staleness marker if they were live, so an append with no samples is a
 * failed scrape (Prometheus does the same). Nothing may await between the appender's
 * creation and its commit: queries would see the new slot before it is written.
 */
export class Appender {
  private samples = 0;
  private added = 0;
  private dropped = 0;
  private duplicates = 0;
  private committed = false;
  /** Where `lookup` guesses next in the previous scrape's order. */
  private pos = 0;
  /** This scrape's series in page order: the next scrape's guesses. */
  private readonly order: StoredSeries[] = [];

  constructor(
    private readonly store: MetricStore,
    private readonly block: TargetBlock,
    private readonly slot: number,
    readonly timeMs: number,
  ) {}

  /**
   * The series a previous scrape of the target named with this exposition text. A page
   * lists its series in the same order every time, so the series at the same place in
   * the previous scrape is tried first: one string comparison instead of hashing the text.
   */
  lookup(raw: string): StoredSeries | undefined {
    const block = this.block;
    const guess = block.order[this.pos];
    if (guess !== undefined && !guess.deleted && guess.raw === raw) {
      this.pos++;
      return guess;
    }
    const s = block.byRaw.get(raw);
    if (s !== undefined) this.pos = s.orderIndex + 1;
    return s;
  }

  /** Prepares room for `n` new series (optional; saves regrowing the block row by row). */
  reserve(n: number): void {
    const block = this.block;
    block.reserveRows(Math.min(block.series.size + n, this.store.maxSeriesPerTarget));
  }

  /** A sample of a series `lookup` found. */
  addTo(s: StoredSeries, value: number): void {
    if (s.block !== this.block || s.deleted) throw new Error('addTo: not a live series of this target');
    this.put(s, value);
  }

  /**
   * A sample of a series by its final labels (target labels merged; empty values are
   * dropped). `raw`, the exposition text, lets later scrapes find it with `lookup`.
   */
  add(raw: string, name: string, labels: LabelSet, value: number): boolean {
    const block = this.block;
    let s = block.byRaw.get(raw);
    if (!s) {
      const clean = cleanLabels(labels);
      const hash = fnv1a(seriesKey(name, clean));
      s = block.find(hash, name, clean);
      if (!s) {
        s = this.store.createSeries(block, hash, name, clean);
        if (!s) {
          this.dropped++;
          return false;
        }
        this.added++;
      }
      const r = detach(raw);
      if (s.raw === undefined) s.raw = r;
      else {
        s.moreRaws ??= [];
        s.moreRaws.push(r);
      }
      block.byRaw.set(r, s);
    }
    this.put(s, value);
    return true;
  }

  private put(s: StoredSeries, value: number): void {
    if (s.seen === this.block.round) {
      this.duplicates++;
      return;
    }
    s.seen = this.block.round;
    this.order.push(s);
    this.block.write(s, this.slot, value);
    s.live = true;
    s.lastWritten = this.timeMs;
    this.samples++;
  }

  /** Marks the series this scrape did not have. */
  commit(): AppendStats {
    if (this.committed) throw new Error('append already committed');
    this.committed = true;
    const block = this.block;
    block.order = this.order;
    for (let i = 0; i < this.order.length; i++) (this.order[i] as StoredSeries).orderIndex = i;
    let stale = 0;
    for (const s of block.series) {
      if (s.seen === block.round) continue;
      if (s.live) {
        block.mark(s, this.slot, STALE);
        s.live = false;
        s.lastWritten = this.timeMs;
        stale++;
      } else {
        block.mark(s, this.slot, ABSENT);
      }
    }
    return {
      samples: this.samples,
      added: this.added,
      dropped: this.dropped,
      duplicates: this.duplicates,
      stale,
    };
  }
}

export interface StoreStats {
  readonly targets: number;
  readonly series: number;
  /** Retained sample slots, summed over series. */
  readonly samples: number;
  /** Bytes of the sample arrays (not counting labels and maps). */
  readonly bytes: number;
  /** Shared label names and values held. */
  readonly strings: number;
}

export class MetricStore {
  readonly retentionMs: number;
  readonly maxSeriesPerTarget: number;
  readonly maxSeries: number;
  private readonly blocks = new Map<string, TargetBlock>();
  private readonly byName = new Map<string, Set<StoredSeries>>();
  private seriesCount = 0;
  /** Shared label names and values, so that the series of many targets do not each hold a copy. */
  private readonly strings = new Map<string, string>();
  private stringsKept = 0;

  constructor(options: StoreOptions = {}) {
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.maxSeriesPerTarget = options.maxSeriesPerTarget ?? DEFAULT_MAX_SERIES_PER_TARGET;
    this.maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES;
  }

  /**
   * Starts storing one scrape of `target` (any stable id) taken at `timeMs`, which must be
   * later than the target's previous one.
   */
  appender(target: string, timeMs: number): Appender {
    let block = this.blocks.get(target);
    if (!block) {
      block = new TargetBlock(target);
      this.blocks.set(target, block);
    }
    if (!(timeMs > block.lastTime)) {
      throw new RangeError(
        `scrape of ${target} at ${timeMs} is not after its previous one at ${block.lastTime}`,
      );
    }
    block.retired = false;
    this.trimBlock(block, timeMs);
    return new Appender(this, block, block.openSlot(timeMs), timeMs);
  }

  /**
   * The target went away: its live series get a staleness marker at `timeMs` (as
   * Prometheus writes when a target disappears); its samples stay until they expire.
   */
  retireTarget(target: string, timeMs: number): void {
    const block = this.blocks.get(target);
    if (!block || block.retired) return;
    if (timeMs > block.lastTime) this.appender(target, timeMs).commit();
    block.retired = true;
  }

  /**
   * Drops samples older than the retention, series left with none, and empty retired
   * targets; and the shared strings no series uses any more, once there are twice as many
   * as after the last time (label values of series that expired: pods that restarted).
   */
  trim(nowMs: number): void {
    for (const block of this.blocks.values()) this.trimBlock(block, nowMs);
    if (this.strings.size > 2 * Math.max(4096, this.stringsKept)) this.compactStrings();
  }

  /** @internal */
  trimBlock(block: TargetBlock, nowMs: number): void {
    if (!block.dropBefore(nowMs - this.retentionMs) && block.count > 0) return;
    const oldest = block.firstTime;
    for (const s of block.series) {
      if (s.lastWritten < oldest) this.deleteSeries(s);
    }
    if (block.retired && block.count === 0) this.blocks.delete(block.id);
  }

  /** @internal Creates a series, unless a bound says no. */
  createSeries(block: TargetBlock, hash: number, name: string, labels: LabelSet): StoredSeries | undefined {
    if (this.seriesCount >= this.maxSeries || block.series.size >= this.maxSeriesPerTarget) return undefined;
    const interned: Record<string, string> = {};
    for (const [k, v] of Object.entries(labels)) setLabel(interned, this.intern(k), this.intern(v));
    const s = new StoredSeries(hash, this.intern(name), interned, block, block.allocRow());
    block.add(s);
    let set = this.byName.get(s.name);
    if (!set) {
      set = new Set();
      this.byName.set(s.name, set);
    }
    set.add(s);
    this.seriesCount++;
    return s;
  }

  private deleteSeries(s: StoredSeries): void {
    s.deleted = true;
    s.block.remove(s);
    const set = this.byName.get(s.name);
    set?.delete(s);
    if (set?.size === 0) this.byName.delete(s.name);
    this.seriesCount--;
  }

  private intern(s: string): string {
    let v = this.strings.get(s);
    if (v === undefined) {
      v = detach(s);
      this.strings.set(v, v);
    }
    return v;
  }

  /** Drops shared strings no series uses any more (it walks every series: trim runs it when due). */
  compactStrings(): void {
    const used = new Set<string>();
    for (const set of this.byName.values()) {
      for (const s of set) {
        used.add(s.name);
        for (const [k, v] of Object.entries(s.labels)) {
          used.add(k);
          used.add(v);
        }
      }
    }
    for (const k of this.strings.keys()) if (!used.has(k)) this.strings.delete(k);
    this.stringsKept = this.strings.size;
  }

  /** The series named `name`, every target's. */
  select(name: string): Iterable<StoredSeries> {
    return this.byName.get(name) ?? [];
  }

  get series(): number {
    return this.seriesCount;
  }

  /** The block of a target, if any (for tests and health). */
  block(target: string): TargetBlock | undefined {
    return this.blocks.get(target);
  }

  stats(): StoreStats {
    let samples = 0;
    let bytes = 0;
    for (const b of this.blocks.values()) {
      samples += b.count * b.series.size;
      bytes += b.bytes;
    }
    return {
      targets: this.blocks.size,
      series: this.seriesCount,
      samples,
      bytes,
      strings: this.strings.size,
    };
  }
}

/** Without empty values (an empty label is the label being absent, as in Prometheus). */
function cleanLabels(labels: LabelSet): LabelSet {
  for (const v of Object.values(labels)) {
    if (v === '') {
      const out: Record<string, string> = {};
      for (const [k, x] of Object.entries(labels)) if (x !== '') setLabel(out, k, x);
      return out;
    }
  }
  return labels;
}

function sameLabels(a: LabelSet, b: LabelSet): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k] || !Object.hasOwn(b, k)) return false;
  return true;
}

/** 32-bit FNV-1a of a string's UTF-16 code units. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** `name{a="x",b="y"}`, labels sorted by name and values escaped: one string per label set. */
export function seriesKey(name: string, labels: LabelSet): string {
  const names = Object.keys(labels).sort();
  let key = `${name}{`;
  for (let i = 0; i < names.length; i++) {
    const k = names[i] as string;
    key += `${i === 0 ? '' : ','}${k}=${JSON.stringify(labels[k])}`;
  }
  return `${key}}`;
}

/**
 * A flat copy of `s` that does not point into a larger string: V8 keeps a substring as a
 * view of its parent, and a label value sliced out of a scraped page would otherwise keep
 * the whole page alive for as long as the series lives. (Substrings shorter than 13
 * characters are copies already.) Runs once per new series or label value, not per sample.
 */
function detach(s: string): string {
  return s.length < 13 ? s : (JSON.parse(JSON.stringify(s)) as string);
}
