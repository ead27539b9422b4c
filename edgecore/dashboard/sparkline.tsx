import type { Point } from './format.js';

const WIDTH = 96;
const HEIGHT = 24;
/** The sparkline shows the last minute or so. */
const LAST = 60;

/** A tiny inline SVG line of the property's recent values; nothing when there are fewer than two. */
export function Sparkline({ points, label }: { points: readonly Point[]; label: string }) {
  const recent = points.slice(-LAST);
  if (recent.length < 2) return <span class="spark-empty">—</span>;
  const first = recent[0]!.t;
  const span = recent.at(-1)!.t - first || 1;
  const min = Math.min(...recent.map((p) => p.v));
  const max = Math.max(...recent.map((p) => p.v));
  // A flat line sits in the middle.
  const low = max === min ? min - 1 : min;
  const high = max === min ? max + 1 : max;
  const x = (t: number) => (((t - first) / span) * (WIDTH - 2) + 1).toFixed(1);
  const y = (v: number) => ((1 - (v - low) / (high - low)) * (HEIGHT - 4) + 2).toFixed(1);
  const line = recent.map((p) => `${x(p.t)},${y(p.v)}`).join(' ');
  const last = recent.at(-1)!;
  return (
    <svg
      class="spark"
      width={WIDTH}
      height={HEIGHT}
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      role="img"
      aria-label={`${label}: last ${recent.length} values, ${min} to ${max}`}
    >
      <polyline points={line} fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round" />
      <circle cx={x(last.t)} cy={y(last.v)} r="2" fill="currentColor" />
    </svg>
  );
}
