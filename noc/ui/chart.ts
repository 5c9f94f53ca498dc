// A telemetry chart with uPlot (small and fast: it draws tens of thousands of points on a canvas
// without a framework). Axis labels use the page's language (Intl digits and dates); the chart
// follows its container's width.
import uPlot from 'uplot';
import { axisTime, num } from './i18n.js';

export type ChartPoint = { ts: number; value: number };

const css = (name: string, fallback: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;

/**
 * Where the x axis starts: the requested range, unless the data covers only its last quarter (a
 * device that just joined); then the axis starts at the first point, so the line is readable, and
 * the page says since when there is data.
 */
export function xMin(points: ChartPoint[], range: { from: number; to: number }): number {
  if (!points.length) return range.from;
  const first = points[0].ts;
  return first - range.from > 0.75 * (range.to - range.from) ? first - Math.max(1000, (range.to - first) * 0.05) : range.from;
}

export class TelemetryChart {
  private plot: uPlot | null = null;
  private readonly resize: ResizeObserver;

  constructor(private readonly host: HTMLElement) {
    this.resize = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize(this.size());
    });
    this.resize.observe(host);
  }

  private size(): { width: number; height: number } {
    const width = Math.max(200, this.host.clientWidth);
    return { width, height: Math.round(Math.min(360, Math.max(180, width * 0.32))) };
  }

  /** Draws the points (oldest first); `label` names the series in the legend. */
  show(points: ChartPoint[], label: string, range: { from: number; to: number }): void {
    this.plot?.destroy();
    const xs = points.map((p) => p.ts / 1000);
    const ys = points.map((p) => p.value);
    const spanMs = range.to - xMin(points, range);
    const axis = css('--muted', '#9aa7b8');
    const grid = css('--grid', '#26303d');
    const line = css('--accent', '#4cc2ff');
    const opts: uPlot.Options = {
      ...this.size(),
      // The x axis runs left to right in every language: time does not mirror (like the charts of
      // Arabic and Persian dashboards generally do).
      scales: { x: { time: true, min: xMin(points, range) / 1000, max: range.to / 1000 } },
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      series: [
        { value: (_u, v) => (v === null ? '—' : axisTime(v * 1000, 0)) },
        {
          label,
          stroke: line,
          width: 2,
          fill: 'rgba(76,194,255,0.12)',
          points: { show: points.length < 60 },
          value: (_u, v) => (v === null ? '—' : num(v, 2)),
        },
      ],
      axes: [
        { stroke: axis, grid: { stroke: grid }, ticks: { stroke: grid }, values: (_u, splits) => splits.map((s) => axisTime(s * 1000, spanMs)) },
        { stroke: axis, grid: { stroke: grid }, ticks: { stroke: grid }, size: 60, values: (_u, splits) => splits.map((s) => num(s, 2)) },
      ],
    };
    this.plot = new uPlot(opts, [xs, ys], this.host);
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
