import { useEffect, useRef, useState } from 'preact/hooks';
import type uPlot from 'uplot';

export interface ChartLine {
  readonly label: string;
  readonly values: ReadonlyArray<number | null>;
  readonly color: string;
}

type UPlot = typeof uPlot;
let loading: Promise<UPlot> | undefined;
/** uPlot is only loaded by the pages that draw charts (its own chunk). */
const loadUPlot = (): Promise<UPlot> => {
  loading ??= import('uplot').then((m) => m.default);
  return loading;
};

const HEIGHT = 180;

/** A time-series chart (uPlot on a canvas); times in ms since the epoch, gaps where a value is null. */
export function TimeChart(props: {
  id: string;
  title: string;
  times: readonly number[];
  lines: readonly ChartLine[];
  format: (v: number) => string;
  /** The y axis' range, when it is fixed (success rate: 0..1). */
  range?: [number, number];
}) {
  const { id, title, times, lines, format, range } = props;
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [error, setError] = useState<string>();
  const data = (): uPlot.AlignedData => [
    times.map((t) => t / 1000),
    ...lines.map((l) => l.values as (number | null)[]),
  ];

  // Created once (per set of lines); new data goes in with setData.
  const shape = lines.map((l) => l.label).join(',');
  useEffect(() => {
    let cancelled = false;
    let observer: ResizeObserver | undefined;
    loadUPlot().then(
      (UPlotClass) => {
        const el = box.current;
        if (cancelled || !el) return;
        const css = getComputedStyle(document.documentElement);
        const axis = css.getPropertyValue('--pico-muted-color').trim() || '#666';
        const grid = css.getPropertyValue('--pico-muted-border-color').trim() || '#ddd';
        const opts: uPlot.Options = {
          width: Math.max(200, el.clientWidth),
          height: HEIGHT,
          scales: { x: { time: true }, y: range ? { range } : {} },
          axes: [
            { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
            {
              stroke: axis,
              grid: { stroke: grid, width: 1 },
              ticks: { stroke: grid },
              size: 60,
              values: (_u, ticks) => ticks.map(format),
            },
          ],
          series: [
            { label: 'time' },
            ...lines.map((l) => ({
              label: l.label,
              stroke: l.color,
              width: 2,
              spanGaps: false,
              value: (_u: uPlot, v: number | null) => (v === null ? '-' : format(v)),
            })),
          ],
          legend: { live: true },
        };
        plot.current = new UPlotClass(opts, data(), el);
        observer = new ResizeObserver(() => {
          plot.current?.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT });
        });
        observer.observe(el);
      },
      (err: Error) => setError(`the chart library did not load: ${err.message}`),
    );
    return () => {
      cancelled = true;
      observer?.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // The plot is rebuilt only when its lines change; new data goes in below.
  }, [shape]);

  useEffect(() => {
    plot.current?.setData(data());
  });

  return (
    <figure class="chart" aria-labelledby={`${id}-caption`}>
      <figcaption id={`${id}-caption`}>{title}</figcaption>
      {error ? <p role="alert">{error}</p> : null}
      <div ref={box} id={id} data-points={times.length} />
    </figure>
  );
}
