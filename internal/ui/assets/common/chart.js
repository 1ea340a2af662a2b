// Charts on uPlot, themed from the stylesheet's --chart-* colours and
// resized with their container.
import uPlot from './vendor/uPlot.esm.js';

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

const palette = () => [cssVar('--chart-1'), cssVar('--chart-2'), cssVar('--chart-3')];

function axes(yLabel, xValues) {
  const stroke = cssVar('--muted');
  const grid = { stroke: cssVar('--chart-grid'), width: 1 };
  const x = { stroke, grid, ticks: grid };
  if (xValues) x.values = xValues;
  return [x, { stroke, grid, ticks: grid, label: yLabel, size: 60 }];
}

function widthOf(el) {
  return Math.max(240, el.clientWidth || 0);
}

// Chart is a time-series chart. series: [{label, unit}], one per y line;
// bars draws bars instead of lines (for per-day or per-hour usage).
export class Chart {
  constructor(el, { series, yLabel, bars = false, height = 220, xValues }) {
    this.el = el;
    this.data = [[], ...series.map(() => [])];
    this.spec = { series, yLabel, bars, height, xValues };
    this.plot = this.build();
    this.resize = new ResizeObserver(() => this.plot.setSize({ width: widthOf(el), height }));
    this.resize.observe(el);
    // The colours come from the theme: draw again when it changes.
    this.scheme = window.matchMedia('(prefers-color-scheme: dark)');
    this.onScheme = () => {
      this.plot.destroy();
      this.plot = this.build();
    };
    this.scheme.addEventListener('change', this.onScheme);
  }

  build() {
    const { series, yLabel, bars, height, xValues } = this.spec;
    const el = this.el;
    const colors = palette();
    const opts = {
      width: widthOf(el),
      height,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: !xValues }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: axes(yLabel, xValues),
      series: [{}, ...series.map((s, i) => ({
        label: s.label,
        stroke: colors[i % colors.length],
        fill: bars ? colors[i % colors.length] + '99' : undefined,
        width: 2,
        spanGaps: false,
        paths: bars ? uPlot.paths.bars({ size: [0.7, 60], gap: 2 }) : undefined,
        value: (u, v) => (v === null || v === undefined ? '–' : v.toFixed(2) + (s.unit || '')),
      }))],
    };
    return new uPlot(opts, this.data, el);
  }

  // set replaces the data: x values (unix seconds) and one array per series.
  set(data) {
    this.data = data;
    this.plot.setData(data);
    this.el.dataset.points = String(data[0].length);
  }

  destroy() {
    this.scheme.removeEventListener('change', this.onScheme);
    this.resize.disconnect();
    this.plot.destroy();
  }
}
