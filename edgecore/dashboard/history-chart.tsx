import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import type { Point } from './format.js';

const HEIGHT = 220;
/** Tick steps of the time axis, in seconds: values come about once a second, so no finer. */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21_600, 43_200, 86_400];

/** The chart's colours follow the page's (light or dark) from its CSS variables. */
function colours() {
  const style = getComputedStyle(document.documentElement);
  const v = (name: string) => style.getPropertyValue(name).trim();
  return { text: v('--muted'), grid: v('--grid'), line: v('--accent'), fill: v('--accent-fill') };
}

const DARK = '(prefers-color-scheme: dark)';

/** Whether the page is dark now; changes when the system's scheme does. */
function useDark(): boolean {
  const [dark, setDark] = useState(() => matchMedia(DARK).matches);
  useEffect(() => {
    const query = matchMedia(DARK);
    const onChange = () => setDark(query.matches);
    query.addEventListener('change', onChange);
    return () => query.removeEventListener('change', onChange);
  }, []);
  return dark;
}

function data(points: readonly Point[]): uPlot.AlignedData {
  return [points.map((p) => p.t / 1000), points.map((p) => p.v)];
}

/**
 * A property's history as a uPlot time chart, redrawn with each point that arrives (the caller appends live
 * values to `points`).
 */
export function HistoryChart({ points, label }: { points: readonly Point[]; label: string }) {
  const host = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot>();
  const dark = useDark();

  useEffect(() => {
    const el = host.current!;
    const c = colours();
    const axis = { stroke: c.text, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1 } };
    const plot = new uPlot(
      {
        width: el.clientWidth || 600,
        height: HEIGHT,
        scales: { x: { time: true } },
        series: [
          {},
          {
            label,
            stroke: c.line,
            fill: c.fill,
            // The area runs down to the bottom of the chart, not to zero.
            fillTo: (u) => u.scales.y?.min ?? 0,
            width: 2,
            points: { show: false },
          },
        ],
        axes: [
          { ...axis, incrs: TIME_STEPS },
          { ...axis, size: 56 },
        ],
        cursor: { drag: { x: false, y: false } },
      },
      data(points),
      el,
    );
    chart.current = plot;
    const resize = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
      chart.current = undefined;
    };
    // Built once per property and colour scheme; `points` updates go through setData below.
  }, [label, dark]);

  useEffect(() => {
    chart.current?.setData(data(points));
  }, [points]);

  return <div class="chart" ref={host} data-points={points.length} />;
}
