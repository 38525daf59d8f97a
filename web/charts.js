// @ts-check
// Drawings as SVG built node by node (labels are text nodes, never markup).

const SVG = 'http://www.w3.org/2000/svg';

/**
 * An SVG element with attributes and optional text.
 * @param {string} tag
 * @param {Record<string, string | number>} attrs
 * @param {string} [text]
 * @returns {SVGElement}
 */
function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, String(v)));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * A bar chart of `counts` (one bar per bin). `xLabel(i)` names bin i's left edge for the axis;
 * `title(i)` is the tooltip of bar i. `log` draws heights on a log scale (for long tails).
 * @param {number[]} counts
 * @param {object} [options]
 * @param {number} [options.width]
 * @param {number} [options.height]
 * @param {(i: number) => string} [options.xLabel]
 * @param {(i: number) => string} [options.title]
 * @param {boolean} [options.log]
 * @param {string} [options.caption]
 * @returns {SVGElement}
 */
export function barChart(counts, { width = 420, height = 140, xLabel = (i) => String(i), title = (i) => String(counts[i]), log = false, caption = '' } = {}) {
  const pad = { left: 36, right: 8, top: 8, bottom: 28 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  /** @param {number} c */
  const scale = (c) => (log ? Math.log10(1 + c) : c);
  const max = Math.max(1e-9, ...counts.map(scale));
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'chart' });
  if (caption) svg.append(svgEl('title', {}, caption));
  const band = w / Math.max(1, counts.length);
  counts.forEach((c, i) => {
    const bh = (h * scale(c)) / max;
    const rect = svgEl('rect', { x: pad.left + i * band + 1, y: pad.top + h - bh, width: Math.max(1, band - 2), height: bh, class: 'bar' });
    rect.append(svgEl('title', {}, title(i)));
    svg.append(rect);
  });
  svg.append(svgEl('line', { x1: pad.left, y1: pad.top + h, x2: pad.left + w, y2: pad.top + h, class: 'axis' }));
  const ticks = Math.min(counts.length, 5);
  for (let t = 0; t <= ticks; t++) {
    const i = Math.round((t * counts.length) / ticks);
    svg.append(svgEl('text', { x: pad.left + i * band, y: height - 10, 'text-anchor': 'middle', class: 'tick' }, xLabel(i)));
  }
  const top = log ? Math.round(10 ** max - 1) : Math.round(max);
  svg.append(svgEl('text', { x: pad.left - 4, y: pad.top + 8, 'text-anchor': 'end', class: 'tick' }, String(top)));
  svg.append(svgEl('text', { x: pad.left - 4, y: pad.top + h, 'text-anchor': 'end', class: 'tick' }, '0'));
  return svg;
}

/**
 * Signed values as bars up and down from zero (one bar per value), with an optional second
 * series of the same length drawn as a line over them (the reconstruction over the embedding).
 * @param {ArrayLike<number>} values
 * @param {object} [options]
 * @param {ArrayLike<number> | null} [options.overlay]
 * @param {number} [options.width]
 * @param {number} [options.height]
 * @param {string} [options.caption]
 * @returns {SVGElement}
 */
export function signedBars(values, { overlay = null, width = 768, height = 150, caption = '' } = {}) {
  const pad = { left: 40, right: 8, top: 8, bottom: 18 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  let max = 1e-9;
  for (const series of [values, overlay ?? []]) for (let i = 0; i < series.length; i++) max = Math.max(max, Math.abs(series[i]));
  const zero = pad.top + h / 2;
  /** @param {number} v */
  const y = (v) => zero - (v / max) * (h / 2);
  const band = w / Math.max(1, values.length);
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'chart signed' });
  if (caption) svg.append(svgEl('title', {}, caption));
  // One path for all bars: hundreds of rects would each be a node.
  let bars = '';
  for (let i = 0; i < values.length; i++) {
    const x = pad.left + i * band;
    bars += `M${x.toFixed(2)} ${zero.toFixed(2)}V${y(values[i]).toFixed(2)}h${Math.max(0.6, band * 0.8).toFixed(2)}V${zero.toFixed(2)}Z`;
  }
  svg.append(svgEl('path', { d: bars, class: 'bar' }));
  if (overlay) {
    let line = '';
    for (let i = 0; i < overlay.length; i++) line += `${i ? 'L' : 'M'}${(pad.left + (i + 0.4) * band).toFixed(2)} ${y(overlay[i]).toFixed(2)}`;
    svg.append(svgEl('path', { d: line, class: 'overlay' }));
  }
  svg.append(svgEl('line', { x1: pad.left, y1: zero, x2: pad.left + w, y2: zero, class: 'axis' }));
  svg.append(svgEl('text', { x: pad.left - 4, y: pad.top + 8, 'text-anchor': 'end', class: 'tick' }, max.toPrecision(2)));
  svg.append(svgEl('text', { x: pad.left - 4, y: pad.top + h, 'text-anchor': 'end', class: 'tick' }, (-max).toPrecision(2)));
  svg.append(svgEl('text', { x: pad.left, y: height - 4, class: 'tick' }, '0'));
  svg.append(svgEl('text', { x: pad.left + w, y: height - 4, 'text-anchor': 'end', class: 'tick' }, String(values.length - 1)));
  return svg;
}

/**
 * A descending curve (values sorted largest first) with a cut after the first `cut` values:
 * the kept part drawn strong, a vertical marker at the cut and a horizontal one at its value.
 * The x axis is logarithmic in rank, so that the few kept values are not a sliver.
 * @param {ArrayLike<number>} sorted
 * @param {number} cut
 * @param {object} [options]
 * @param {number} [options.width]
 * @param {number} [options.height]
 * @param {string} [options.caption]
 * @returns {SVGElement}
 */
export function cutCurve(sorted, cut, { width = 768, height = 170, caption = '' } = {}) {
  const pad = { left: 44, right: 8, top: 10, bottom: 22 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const n = sorted.length;
  const lo = Math.min(0, sorted[n - 1]);
  const hi = Math.max(1e-9, sorted[0]);
  /** @param {number} rank 1-based */
  const x = (rank) => pad.left + (w * Math.log(rank)) / Math.log(Math.max(2, n));
  /** @param {number} v */
  const y = (v) => pad.top + ((hi - v) / (hi - lo)) * h;
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'chart cut' });
  if (caption) svg.append(svgEl('title', {}, caption));
  /** @param {number} from @param {number} to 1-based ranks, inclusive */
  const path = (from, to) => {
    let d = '';
    // Past a few hundred ranks neighbours share a pixel: every ~0.5 px is enough.
    let lastX = -Infinity;
    for (let r = from; r <= to; r++) {
      const px = x(r);
      if (r !== to && px - lastX < 0.5) continue;
      lastX = px;
      d += `${d ? 'L' : 'M'}${px.toFixed(2)} ${y(sorted[r - 1]).toFixed(2)}`;
    }
    return d;
  };
  svg.append(svgEl('line', { x1: pad.left, y1: y(0), x2: pad.left + w, y2: y(0), class: 'axis' }));
  svg.append(svgEl('path', { d: path(Math.max(1, cut), n), class: 'dropped' }));
  svg.append(svgEl('path', { d: path(1, Math.max(1, cut)), class: 'kept' }));
  svg.append(svgEl('line', { x1: x(cut), y1: pad.top, x2: x(cut), y2: pad.top + h, class: 'marker' }));
  svg.append(svgEl('line', { x1: pad.left, y1: y(sorted[cut - 1]), x2: pad.left + w, y2: y(sorted[cut - 1]), class: 'marker faint' }));
  svg.append(svgEl('text', { x: x(cut) + 4, y: pad.top + 10, class: 'tick' }, `k = ${cut}`));
  svg.append(svgEl('text', { x: pad.left - 4, y: pad.top + 8, 'text-anchor': 'end', class: 'tick' }, hi.toPrecision(2)));
  svg.append(svgEl('text', { x: pad.left - 4, y: y(0) + 4, 'text-anchor': 'end', class: 'tick' }, '0'));
  for (const r of [1, 10, 100, 1000, 10000].filter((r) => r <= n)) {
    svg.append(svgEl('text', { x: x(r), y: height - 6, 'text-anchor': 'middle', class: 'tick' }, `#${r}`));
  }
  return svg;
}

/**
 * A line over steps: `ys[i]` at step `xs[i]`, on axes from 0 (or the least value) to the
 * largest, with the last value written at the end of the line (the live training plots).
 * @param {number[]} xs
 * @param {number[]} ys
 * @param {object} [options]
 * @param {number} [options.width]
 * @param {number} [options.height]
 * @param {string} [options.caption] the plot's name, drawn above it
 * @param {(v: number) => string} [options.format]
 * @param {number} [options.xMax] the x axis's end (the run's last step), so the line grows into it
 * @returns {SVGElement}
 */
export function lineChart(xs, ys, { width = 300, height = 130, caption = '', format = (v) => v.toPrecision(3), xMax = 0 } = {}) {
  const pad = { left: 44, right: 10, top: 18, bottom: 20 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'chart line-chart' });
  svg.append(svgEl('text', { x: pad.left, y: 12, class: 'tick caption' }, caption));
  const finite = ys.filter(Number.isFinite);
  const top = Math.max(1e-9, ...finite);
  const bottom = Math.min(0, ...finite);
  const right = Math.max(1, xMax, ...xs);
  /** @param {number} x */
  const px = (x) => pad.left + (w * x) / right;
  /** @param {number} y */
  const py = (y) => pad.top + h - (h * (y - bottom)) / (top - bottom || 1);
  svg.append(svgEl('line', { x1: pad.left, y1: pad.top + h, x2: pad.left + w, y2: pad.top + h, class: 'axis' }));
  svg.append(svgEl('line', { x1: pad.left, y1: pad.top, x2: pad.left, y2: pad.top + h, class: 'axis' }));
  svg.append(svgEl('text', { x: pad.left - 4, y: pad.top + 8, 'text-anchor': 'end', class: 'tick' }, format(top)));
  svg.append(svgEl('text', { x: pad.left - 4, y: pad.top + h, 'text-anchor': 'end', class: 'tick' }, format(bottom)));
  svg.append(svgEl('text', { x: pad.left + w, y: height - 4, 'text-anchor': 'end', class: 'tick' }, `step ${right}`));
  const points = xs.map((x, i) => [x, ys[i]]).filter(([, y]) => Number.isFinite(y));
  if (points.length) {
    svg.append(svgEl('polyline', { points: points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' '), class: 'series' }));
    const [lx, ly] = /** @type {number[]} */ (points.at(-1));
    svg.append(svgEl('text', { x: Math.min(px(lx) + 3, width - 2), y: Math.max(py(ly) - 4, pad.top + 8), 'text-anchor': px(lx) > width - 60 ? 'end' : 'start', class: 'tick value' }, format(ly)));
  }
  return svg;
}
