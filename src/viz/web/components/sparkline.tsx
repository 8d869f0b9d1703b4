import type { Point } from '../history.js';

const W = 100;
const H = 24;

/** Request rate over the last minutes as a small line (SVG, scaled to its own peak). */
export function Sparkline({ points, label }: { points: readonly Point[]; label: string }) {
  const n = points.length;
  if (n < 2) {
    return (
      <svg
        class="spark"
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${label}: not enough data yet`}
        data-points={n}
      />
    );
  }
  const t0 = (points[0] as Point).t;
  const span = Math.max(1, (points[n - 1] as Point).t - t0);
  const peak = Math.max(...points.map((p) => p.rps), 1e-9);
  const d = points
    .map((p, i) => {
      const x = ((p.t - t0) / span) * W;
      const y = H - 2 - (p.rps / peak) * (H - 4);
      return `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join('');
  const failing = points.some((p) => p.successRate !== null && p.successRate < 0.95);
  return (
    <svg
      class={`spark${failing ? ' failing' : ''}`}
      viewBox={`0 0 ${W} ${H}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={`${label}: peak ${peak.toFixed(1)} requests per second`}
      data-points={n}
    >
      <path d={d} fill="none" vector-effect="non-scaling-stroke" />
    </svg>
  );
}
