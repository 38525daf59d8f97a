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
