/**
 * A small Prometheus registry built for the proxy's hot path. Each series is resolved
 * once (its label string rendered once) and then updated by plain field writes;
 * nothing is hashed, formatted or allocated when a request is recorded, where
 * prom-client hashes the label object on every `inc()`.
 */
export type Labels = ReadonlyArray<readonly [string, string]>;

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function renderLabels(labels: Labels): string {
  if (labels.length === 0) return '';
  return `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

export class CounterSeries {
  value = 0;
  constructor(readonly labels: string) {}
  inc(by = 1): void {
    this.value += by;
  }
}

export class GaugeSeries extends CounterSeries {
  dec(by = 1): void {
    this.value -= by;
  }
  set(value: number): void {
    this.value = value;
  }
}

export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  readonly bucketLabels: string[];
  constructor(
    readonly labels: Labels,
    readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
    this.bucketLabels = [...bounds.map((b) => String(b)), '+Inf'].map((le) =>
      renderLabels([...labels, ['le', le]]),
    );
  }
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    if (i < bounds.length) this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

interface Family {
  readonly name: string;
  render(out: string[]): void;
}

abstract class SeriesFamily<S> implements Family {
  protected readonly series = new Map<string, S>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {}
  /** Resolves (creating once) the series for a label set. Callers cache the result. */
  get(labels: Labels): S {
    const key = renderLabels(labels);
    let s = this.series.get(key);
    if (!s) {
      s = this.create(labels, key);
      this.series.set(key, s);
    }
    return s;
  }
  protected abstract create(labels: Labels, rendered: string): S;
  protected abstract renderSeries(s: S, out: string[]): void;
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`);
    for (const s of this.series.values()) this.renderSeries(s, out);
  }
}

export class CounterFamily extends SeriesFamily<CounterSeries> {
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  protected create(_labels: Labels, rendered: string): CounterSeries {
    return new CounterSeries(rendered);
  }
  protected renderSeries(s: CounterSeries, out: string[]): void {
    out.push(`${this.name}${s.labels} ${s.value}\n`);
  }
}

export class GaugeFamily extends SeriesFamily<GaugeSeries> {
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  protected create(_labels: Labels, rendered: string): GaugeSeries {
    return new GaugeSeries(rendered);
  }
  protected renderSeries(s: GaugeSeries, out: string[]): void {
    out.push(`${this.name}${s.labels} ${s.value}\n`);
  }
}

export class HistogramFamily extends SeriesFamily<HistogramSeries> {
  constructor(
    name: string,
    help: string,
    readonly bounds: readonly number[],
  ) {
    super(name, help, 'histogram');
  }
  protected create(labels: Labels): HistogramSeries {
    return new HistogramSeries(labels, this.bounds);
  }
  protected renderSeries(s: HistogramSeries, out: string[]): void {
    let cumulative = 0;
    for (let i = 0; i < s.bucketLabels.length; i++) {
      cumulative += i < s.counts.length ? (s.counts[i] as number) : 0;
      out.push(`${this.name}_bucket${s.bucketLabels[i]} ${i < s.counts.length ? cumulative : s.count}\n`);
    }
    const plain = renderLabels(s.labels);
    out.push(`${this.name}_sum${plain} ${s.sum}\n${this.name}_count${plain} ${s.count}\n`);
  }
}

/** Holds the families and renders them in Prometheus text format (version 0.0.4). */
export class Registry {
  private readonly families: Family[] = [];
  private readonly beforeRender: Array<() => void> = [];

  register<F extends Family>(family: F): F {
    if (this.families.some((f) => f.name === family.name))
      throw new Error(`metric ${family.name} registered twice`);
    this.families.push(family);
    return family;
  }

  /** Runs before each scrape, to fold live values (open sockets' byte counts) into series. */
  onRender(hook: () => void): void {
    this.beforeRender.push(hook);
  }

  render(): string {
    for (const hook of this.beforeRender) hook();
    const out: string[] = [];
    for (const f of this.families) f.render(out);
    return out.join('');
  }
}
