// @ts-check
// The map: every document on the bundle's 2D layout, coloured by a feature's activation, a
// family, the k-means clusters, the primary category, the year or the current search's scores;
// the current query's hits ringed and its position marked; lasso and rectangle selection with
// the features most over-represented in it (computed by the engine); hover and click. Also the
// small map of the search view ("where the results lie"). The points are drawn by scatter.js.

import { $, el, button, fmt, appLink, downloadFile } from '../dom.js';
import { Scatter } from '../scatter.js';
import { formatPolygon, round } from '../state.js';

/** @import { App } from '../main.js' */
/** @import { AppState } from '../state.js' */
/** @import { Document, Enrichment, Feature, Hit } from '../types.js' */
/** @import { RendererKind } from '../scatter.js' */

/** A document's colour where the coloured quantity is absent (a feature that does not fire). */
export const OFF = [208, 212, 219];
/** The colour of categories beyond the legend's. */
const OTHER = [160, 164, 172];
/** One colour for every document. */
const PLAIN = [78, 121, 167];
/** Categories and clusters. */
const PALETTE = [
  [78, 121, 167], [242, 142, 43], [225, 87, 89], [118, 183, 178], [89, 161, 79], [237, 201, 72],
  [176, 122, 161], [255, 157, 167], [156, 117, 95], [23, 190, 207], [188, 189, 34], [140, 86, 75],
];
/** Activations: light orange to dark red. */
const HEAT = [[253, 212, 158], [252, 141, 89], [215, 48, 31], [127, 0, 0]];
/** Years: dark violet to green-yellow. */
const YEARS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [190, 215, 40]];
/** Scores: light to dark blue. */
const SCORES = [[158, 202, 225], [66, 146, 198], [8, 81, 156], [8, 38, 90]];
/** Not clustered (assignments say so with u32::MAX). */
const NOT_CLUSTERED = 4294967295;
/** Categorical legends show this many entries; the rest are "other". */
const TOP_CATEGORIES = 12;
const RINGS = 10;
const POSITION_FROM = 15;
const SAMPLE = 10;
const ENRICHED = 25;

/**
 * The colour at `t` (0..1) along `stops`.
 * @param {number[][]} stops
 * @param {number} t
 */
function ramp(stops, t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  return stops[i].map((c, k) => Math.round(c + f * (stops[i + 1][k] - c)));
}

/** @param {number[]} c */
const css = (c) => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;

/** @param {number} i */
function paletteColor(i) {
  if (i < PALETTE.length) return PALETTE[i];
  // Beyond the palette: hues a golden angle apart.
  const h = ((i * 137.508) % 360) / 60;
  const c = 0.5;
  const x = c * (1 - Math.abs((h % 2) - 1));
  const [r, g, b] = h < 1 ? [c, x, 0] : h < 2 ? [x, c, 0] : h < 3 ? [0, c, x] : h < 4 ? [0, x, c] : h < 5 ? [x, 0, c] : [c, 0, x];
  return [r, g, b].map((v) => Math.round((v + 0.2) * 255));
}

/**
 * A document's year (the engine reads it from the file or the arXiv id), or null.
 * @param {Document} d
 * @returns {number | null}
 */
export function yearOf(d) {
  return d.year ?? null;
}

/**
 * The colouring's kind: what `color=` says before any ':'.
 * @param {string} color
 */
function colorKind(color) {
  return color ? color.split(':')[0] : 'category';
}

/**
 * The query (text or document) with its steering, or null without a query.
 * @param {AppState} s
 */
function queryKey(s) {
  const q = s.q ? `q:${s.q}` : s.doc !== null ? `doc:${s.doc}` : null;
  if (!q) return null;
  return JSON.stringify([q, [...s.steer], [...s.fam], s.mode]);
}

/**
 * The score-weighted mean position of `hits` on the layout.
 * @param {Hit[]} hits
 * @param {Float32Array} xy
 * @returns {[number, number] | null}
 */
export function queryPosition(hits, xy) {
  let sw = 0;
  let x = 0;
  let y = 0;
  const n = xy.length / 2;
  const use = hits.filter((h) => h.doc < n);
  for (const h of use) {
    const w = Math.max(0, h.score);
    sw += w;
    x += w * xy[2 * h.doc];
    y += w * xy[2 * h.doc + 1];
  }
  if (sw > 0) return [x / sw, y / sw];
  if (!use.length) return null;
  for (const h of use) {
    x += xy[2 * h.doc];
    y += xy[2 * h.doc + 1];
  }
  return [x / use.length, y / use.length];
}

/**
 * What a colouring shows: the colours, the order to draw them in, and the legend.
 * @typedef {object} Coloring
 * @property {Uint8Array} rgba
 * @property {Uint32Array | null} order
 * @property {Legend} legend
 */

/**
 * A legend: a ramp from `min` to `max`, or swatches with counts; `note` under it; `action` a
 * button (run a clustering).
 * @typedef {{ title: string, note?: string, ramp?: { stops: number[][], min: string, max: string, off?: string }, swatches?: { color: number[], name: string, count: number, key: string }[], action?: HTMLElement }} Legend
 */

/**
 * Colours from `values` (one a document): 0 or below is OFF, the rest along `stops` from the
 * smallest positive value to the largest; drawn in increasing order (the strongest on top).
 * @param {Float32Array | number[]} values
 * @param {number[][]} stops
 */
function continuous(values, stops) {
  const n = values.length;
  const rgba = new Uint8Array(4 * n);
  let min = Infinity;
  let max = -Infinity;
  let on = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v > 0) {
      on++;
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
  }
  const span = max > min ? max - min : 1;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const c = v > 0 ? ramp(stops, max > min ? (v - min) / span : 1) : OFF;
    rgba.set(c, 4 * i);
    rgba[4 * i + 3] = 255;
  }
  const order = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => (values[a] > 0 ? values[a] : -1) - (values[b] > 0 ? values[b] : -1));
  return { rgba, order, on, min: on ? min : 0, max: on ? max : 0 };
}

/**
 * Colours by a label per document (null: none), the most common `TOP_CATEGORIES` in the palette.
 * @param {(string | null)[]} labels
 * @param {(name: string) => string} [describe] the legend's name of a label
 */
function categorical(labels, describe = (x) => x) {
  /** @type {Map<string, number>} */
  const counts = new Map();
  for (const l of labels) if (l !== null) counts.set(l, (counts.get(l) ?? 0) + 1);
  const top = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, TOP_CATEGORIES);
  const color = new Map(top.map(([name], i) => [name, paletteColor(i)]));
  const rgba = new Uint8Array(4 * labels.length);
  let other = 0;
  let none = 0;
  labels.forEach((l, i) => {
    const c = l === null ? OFF : color.get(l) ?? OTHER;
    if (l === null) none++;
    else if (!color.has(l)) other++;
    rgba.set(c, 4 * i);
    rgba[4 * i + 3] = 255;
  });
  const swatches = top.map(([name, count], i) => ({ color: paletteColor(i), name: describe(name), count, key: name }));
  if (other) swatches.push({ color: OTHER, name: `other (${fmt.int(counts.size - top.length)} more)`, count: other, key: 'other' });
  if (none) swatches.push({ color: OFF, name: 'none', count: none, key: 'none' });
  return { rgba, swatches };
}

/**
 * One colour for all `n` documents.
 * @param {number} n
 * @param {number[]} color
 */
function uniform(n, color) {
  const rgba = new Uint8Array(4 * n);
  // One opaque pixel repeated as 32-bit words (byte order is the platform's either way).
  const pixel = Uint8Array.of(color[0], color[1], color[2], 255);
  new Uint32Array(rgba.buffer).fill(new Uint32Array(pixel.buffer)[0]);
  return rgba;
}

/**
 * A CSV field, quoted (every field is: commas, quotes and line breaks in titles stay inside it).
 * @param {string | number | null | undefined} v
 */
export function csvField(v) {
  return `"${String(v ?? '').replace(/"/g, '""')}"`;
}


/**
 * A bar `fraction` long (of its cell), with the value as text.
 * @param {number} fraction
 * @param {string} text
 * @param {string} className
 */
function bar(fraction, text, className) {
  const box = el('span', undefined, `rate ${className}`);
  const fill = el('span', undefined, 'fill');
  fill.style.width = `${Math.max(0, Math.min(100, 100 * fraction)).toFixed(1)}%`;
  box.append(fill, el('span', text, 'text'));
  return box;
}

export class MapView {
  /**
   * @param {App} app
   * @param {HTMLElement} root
   */
  constructor(app, root) {
    this.app = app;
    this.root = root;
    this.built = false;
    /** @type {Scatter | null} */
    this.scatter = null;
    /** @type {Promise<Scatter | null> | null} */
    this.creating = null;
    /** @type {Float32Array | null} the layout the map shows */
    this.shown = null;
    /** @type {object | null} the catalog the caches are for */
    this.catalogFor = null;
    /** @type {string | null} */
    this.colorKey = null;
    /** @type {string | null} */
    this.queryKey = null;
    /** @type {string | null} */
    this.selKey = null;
    this.tokens = { color: 0, query: 0, sel: 0 };
    /** @type {{ key: string, hits: Hit[], k: number, limited: boolean } | null} the current query's hits (`limited`: fewer than asked, the engine's top-k limit) */
    this.query = null;
    /** @type {Map<number, Feature[]>} documents' own features (for the hover) */
    this.featureCache = new Map();
    this.hoverDoc = -1;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.hoverTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.viewTimer = undefined;
    /** @type {{ docs: Uint32Array, enrichment: Enrichment | null, polygon: number[] } | null} */
    this.selection = null;
    this.layoutNote = '';
    /** @type {[number, number, number] | null | undefined} the state's view the map last showed */
    this.appliedView = undefined;
    /** @type {import('../scatter.js').Tool} */
    this.tool = 'pan';
  }

  /** The view's parts, made once (the renderer lives as long as the page). */
  build() {
    this.built = true;
    const app = this.app;
    const toolbar = el('div', undefined, 'map-toolbar');
    toolbar.id = 'map-toolbar';
    const select = el('select');
    select.id = 'map-color';
    for (const [value, text] of [
      ['category', 'primary category'], ['year', 'year'], ['feature', 'a feature…'], ['family', 'a family…'],
      ['cluster', 'k-means clusters'], ['score', 'the search’s scores'], ['none', 'one colour'],
    ]) {
      const o = el('option', text);
      o.value = value;
      select.append(o);
    }
    const colorLabel = el('label', 'Colour by ');
    colorLabel.append(select);
    const pickBox = el('span', undefined, 'map-pick');
    pickBox.id = 'map-pick-box';
    const pick = el('input');
    Object.assign(pick, { type: 'search', id: 'map-pick', placeholder: 'feature or family by label or number', autocomplete: 'off', spellcheck: false });
    const picks = el('ul', undefined, 'picks');
    picks.id = 'map-picks';
    pickBox.append(pick, picks);
    select.addEventListener('change', () => {
      const v = select.value;
      if (v === 'feature' || v === 'family') {
        pickBox.hidden = false;
        pick.focus();
        this.renderPicks();
        return;
      }
      app.update({ color: v === 'category' ? '' : v }, { push: true });
    });
    pick.addEventListener('input', () => this.renderPicks());
    const tools = el('span', undefined, 'map-tools');
    tools.setAttribute('role', 'group');
    tools.setAttribute('aria-label', 'what dragging does');
    /** @type {[import('../scatter.js').Tool, string, string][]} */
    const toolList = [['pan', 'Pan', 'drag to move the map'], ['lasso', 'Lasso', 'draw around documents to select them (or shift-drag)'], ['box', 'Rectangle', 'drag a rectangle to select documents (or shift-alt-drag)']];
    for (const [tool, text, title] of toolList) {
      const b = button(text, () => this.setTool(tool), 'tool');
      b.id = `map-tool-${tool}`;
      b.title = title;
      b.dataset.tool = tool;
      tools.append(b);
    }
    const fit = button('Fit', () => {
      this.scatter?.fit();
      this.scatter?.moved();
    });
    fit.id = 'map-fit';
    fit.title = 'show the whole map (key 0)';
    toolbar.append(colorLabel, pickBox, tools, fit);

    const frame = el('div', undefined, 'map-frame');
    const plot = el('div');
    plot.id = 'map-plot';
    const tooltip = el('div', undefined, 'map-tooltip');
    tooltip.id = 'map-tooltip';
    tooltip.hidden = true;
    frame.append(plot, tooltip);
    const side = el('aside', undefined, 'map-side');
    const legend = el('div', undefined, 'map-legend');
    legend.id = 'map-legend';
    const queryNote = el('p', undefined, 'muted');
    queryNote.id = 'map-query-note';
    side.append(legend, queryNote);
    const main = el('div', undefined, 'map-main');
    main.id = 'map-main';
    main.append(frame, side);
    const status = el('p', undefined, 'muted');
    status.id = 'map-status';
    const none = el('div', undefined, 'map-nolayout');
    none.id = 'map-nolayout';
    none.hidden = true;
    const selection = el('section', undefined, 'panel map-selection');
    selection.id = 'map-selection';
    selection.hidden = true;
    this.root.replaceChildren(toolbar, main, status, none, selection);
    this.setTool('pan');
  }

  /** @param {import('../scatter.js').Tool} tool */
  setTool(tool) {
    if (this.scatter) this.scatter.tool = tool;
    this.tool = tool;
    for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ (this.root.querySelectorAll('.map-tools button'))) {
      b.setAttribute('aria-pressed', String(b.dataset.tool === tool));
    }
    this.root.dataset.tool = tool;
  }

  /** The label search of the feature/family picker. */
  renderPicks() {
    const app = this.app;
    const text = $('map-pick').value;
    const wantFamilies = $('map-color').value === 'family';
    const { features, families } = app.catalog.searchLabels(text, 10);
    /**
     * @param {string} label
     * @param {string} color
     */
    const item = (label, color) => {
      const li = el('li');
      const b = button(label, () => app.update({ color }, { push: true }), 'add');
      b.dataset.color = color;
      li.append(b);
      return li;
    };
    const featureItems = features.map((j) => item(`${app.catalog.label(j)} (#${j})`, `feature:${j}`));
    const familyItems = families.map((f) => item(`family: ${f.label ?? app.catalog.label(f.parent)} (${f.children.length + 1} features)`, `family:${f.id}`));
    $('map-picks').replaceChildren(...(wantFamilies ? [...familyItems, ...featureItems] : [...featureItems, ...familyItems]));
  }

  async show() {
    const app = this.app;
    if (!this.built) this.build();
    if (this.catalogFor !== app.catalog) {
      this.catalogFor = app.catalog;
      this.colorKey = this.queryKey = this.selKey = null;
      this.query = null;
      this.featureCache.clear();
    }
    const xy = app.layout?.xy;
    if (!xy) {
      this.showNoLayout(app.layout?.problem ?? 'this bundle has no layout');
      return;
    }
    $('map-nolayout').hidden = true;
    $('map-toolbar').hidden = false;
    $('map-main').hidden = false;
    const scatter = await this.ensureScatter(xy);
    // Another view (or bundle) may have been asked for meanwhile: then this one stops here.
    const current = () => app.state.view === 'map' && app.layout?.xy === xy;
    if (!scatter || !current()) return;
    this.syncControls();
    try {
      await this.applyQuery();
      if (current()) await this.applyColor();
      if (current()) await this.applySelection();
    } catch (e) {
      app.showError(e.message);
    }
  }

  /**
   * The renderer, made on first use, showing `xy`.
   * @param {Float32Array} xy
   */
  async ensureScatter(xy) {
    const app = this.app;
    if (!this.scatter) {
      this.creating ??= Scatter.create($('map-plot'), { kind: /** @type {RendererKind | ''} */ (app.state.renderer) }).catch((e) => {
        $('map-status').textContent = `The map cannot be drawn here: ${e.message}`;
        return null;
      });
      const scatter = await this.creating;
      if (!scatter) return null;
      if (!this.scatter) {
        this.scatter = scatter;
        scatter.tool = this.tool;
        scatter.onView = (view) => {
          clearTimeout(this.viewTimer);
          this.viewTimer = setTimeout(() => {
            if (this.app.state.view !== 'map') return;
            this.app.remember({ mapview: view });
            this.appliedView = this.app.state.mapview;
          }, 200);
        };
        scatter.onSelect = (polygon) => {
          const rounded = polygon.map((v) => Number(round(v)));
          this.app.update({ sel: rounded }, { push: true });
        };
        scatter.onHover = (p) => this.hover(p);
        scatter.onClick = (p) => {
          const doc = this.pick(p);
          if (doc >= 0) this.app.openDocument(doc);
        };
      }
    }
    const scatter = this.scatter;
    if (this.shown !== xy) {
      this.shown = xy;
      this.colorKey = this.queryKey = this.selKey = null;
      scatter.firstPaintFrom = app.readyAt || performance.now();
      scatter.setPoints(xy);
      // The category colours are at hand: the first paint has them.
      if (!app.state.color) {
        const { rgba } = this.categories();
        scatter.setColors(rgba);
      }
      this.appliedView = undefined;
    }
    // The state's view, when it changed since the map last took or gave it (a reload, the
    // browser's back button); the map's own pans reach the state a moment later.
    const v = app.state.mapview;
    if (v !== this.appliedView) {
      this.appliedView = v;
      if (v) scatter.setView(v[0], v[1], v[2]);
      else scatter.fit();
    }
    const n = this.app.info.documents;
    const source = this.layoutNote || 'the bundle’s layout';
    $('map-status').textContent =
      `${fmt.int(xy.length / 2)} documents on ${source}, drawn with ${{ webgpu: 'WebGPU', webgl2: 'WebGL2', canvas: 'a 2D canvas' }[scatter.kind]}. ` +
      'Drag to pan, wheel or pinch to zoom (keys: arrows, + and −, 0 to fit); hover a point for its document, click it for more like it; shift-drag (or Lasso) to select.';
    if (xy.length / 2 !== n) $('map-status').textContent += ` The layout has ${fmt.int(xy.length / 2)} points for ${fmt.int(n)} documents.`;
    return scatter;
  }

  /** The colour select and the picker as the state says. */
  syncControls() {
    const s = this.app.state;
    const kind = colorKind(s.color);
    const select = $('map-color');
    select.value = kind;
    const pickBox = $('map-pick-box');
    const picking = kind === 'feature' || kind === 'family';
    pickBox.hidden = !picking;
    if (picking && document.activeElement !== $('map-pick')) {
      const id = Number(s.color.split(':')[1]);
      if (kind === 'feature') $('map-pick').value = String(id);
      else $('map-pick').value = this.app.catalog.familyById.get(id)?.label ?? '';
      $('map-picks').replaceChildren();
    }
  }

  // ---- Colouring ----

  /** The primary categories' colouring. */
  categories() {
    const docs = this.app.catalog;
    const n = this.app.info.documents;
    const labels = Array.from({ length: n }, (_, i) => docs.document(i).categories?.[0] ?? null);
    return categorical(labels);
  }

  /** Colours the map as the state says (when that changed). */
  async applyColor() {
    const app = this.app;
    const s = app.state;
    const kind = colorKind(s.color);
    const key = kind === 'score' ? `score|${this.query?.key ?? ''}` : kind === 'cluster' ? `cluster|${app.clusters?.key ?? ''}` : s.color || 'category';
    if (key === this.colorKey) return;
    this.colorKey = key;
    const token = ++this.tokens.color;
    delete this.root.dataset.color;
    app.setBusy(true);
    try {
      const coloring = await this.coloring(kind, s);
      if (token !== this.tokens.color || !this.scatter) return;
      this.scatter.setColors(coloring.rgba, coloring.order);
      this.renderLegend(coloring.legend);
      // Said once the colours are on the screen.
      await this.scatter.flush();
      if (token !== this.tokens.color) return;
      this.root.dataset.color = key;
    } catch (e) {
      if (token !== this.tokens.color) return;
      this.renderLegend({ title: 'Colouring failed', note: e.message });
      app.showError(e.message);
    } finally {
      app.setBusy(false);
    }
  }

  /**
   * The colours and legend of colouring `kind`.
   * @param {string} kind
   * @param {AppState} s
   * @returns {Promise<Coloring>}
   */
  async coloring(kind, s) {
    const app = this.app;
    const catalog = app.catalog;
    const n = app.info.documents;
    if (kind === 'none') return { rgba: uniform(n, PLAIN), order: null, legend: { title: 'One colour', swatches: [{ color: PLAIN, name: 'documents', count: n, key: 'all' }] } };
    if (kind === 'category') {
      const { rgba, swatches } = this.categories();
      return { rgba, order: null, legend: { title: 'Primary category', swatches, note: `The first of each document’s categories; the ${Math.min(TOP_CATEGORIES, swatches.length)} most common coloured.` } };
    }
    if (kind === 'year') {
      const years = Array.from({ length: n }, (_, i) => yearOf(catalog.document(i)));
      const known = /** @type {number[]} */ (years.filter((y) => y !== null));
      if (!known.length) return { rgba: uniform(n, OFF), order: null, legend: { title: 'Year', note: 'These documents have no years (no arXiv ids).' } };
      let min = Infinity;
      let max = -Infinity;
      for (const y of known) {
        min = Math.min(min, y);
        max = Math.max(max, y);
      }
      const values = years.map((y) => (y === null ? 0 : 1 + y - min));
      const c = continuous(values, YEARS);
      // Every known year is coloured (the ramp runs from the first year to the last).
      for (let i = 0; i < n; i++) {
        if (years[i] === null) continue;
        c.rgba.set(ramp(YEARS, max > min ? (/** @type {number} */ (years[i]) - min) / (max - min) : 1), 4 * i);
      }
      return { rgba: c.rgba, order: c.order, legend: { title: 'Year', ramp: { stops: YEARS, min: String(min), max: String(max), off: known.length < n ? `no year: ${fmt.int(n - known.length)}` : undefined } } };
    }
    if (kind === 'feature' || kind === 'family') {
      const id = Number(s.color.split(':')[1]);
      let values;
      let title;
      if (kind === 'feature') {
        if (!(id < app.info.d_sae)) throw new Error(`there is no feature ${id}; this SAE has ${app.info.d_sae}`);
        values = await app.engine.call('featureActivations', { feature: id });
        title = `Feature ${id}: ${catalog.label(id)}`;
      } else {
        const family = catalog.familyById.get(id);
        if (!family) throw new Error(`this bundle has no family ${id}`);
        values = await app.engine.call('familyActivations', { family: id });
        title = `Family ${id}: ${family.label ?? catalog.label(family.parent)} (${family.children.length + 1} features, activations summed)`;
      }
      const c = continuous(values, HEAT);
      const link = kind === 'feature' ? app.featureLink(id) : null;
      const legend = {
        title,
        ramp: { stops: HEAT, min: fmt.num(c.min, 2), max: fmt.num(c.max, 2), off: `not firing: ${fmt.int(n - c.on)}` },
        note: `Fires in ${fmt.int(c.on)} of ${fmt.int(n)} documents (${fmt.pct(c.on / Math.max(1, n))}); the strongest drawn on top.`,
        action: link ?? undefined,
      };
      return { rgba: c.rgba, order: c.order, legend };
    }
    if (kind === 'cluster') {
      const clusters = app.clusters;
      if (!clusters) {
        const run = button(`Cluster the documents (k = ${s.k}, over ${s.space === 'codes' ? 'the SAE codes' : 'the embeddings'}${s.along.length ? `, along ${s.along.length} features` : ''})`, () => this.runClusters());
        run.id = 'map-run-clusters';
        return { rgba: uniform(n, OFF), order: null, legend: { title: 'k-means clusters', note: 'No clustering yet: run one here or in the Clusters view.', action: run } };
      }
      const labels = clusters.assignments.map((a) => (a === NOT_CLUSTERED || a >= clusters.names.length ? null : String(a)));
      const { rgba, swatches } = categorical(labels, (k) => {
        const f = clusters.names[Number(k)];
        return `cluster ${k}${f !== null && f !== undefined ? `: ${catalog.label(f)}` : ''}`;
      });
      // Clusters keep their own colours whatever their size order: recolour by index.
      labels.forEach((l, i) => {
        if (l !== null) rgba.set(paletteColor(Number(l)), 4 * i);
      });
      for (const sw of swatches) if (/^\d+$/.test(sw.key)) sw.color = paletteColor(Number(sw.key));
      const other = swatches.find((sw) => sw.key === 'other');
      if (other) {
        other.name = `${clusters.names.length - TOP_CATEGORIES} smaller clusters`;
        // Their own colours too (not grey): the swatch shows a mixed grey.
        other.color = OTHER;
      }
      return { rgba, order: null, legend: { title: `k-means clusters (${clusters.names.length}, ${clusters.description})`, swatches } };
    }
    if (kind === 'score') {
      const q = this.query;
      if (!q) return { rgba: uniform(n, OFF), order: null, legend: { title: 'The search’s scores', note: 'Search first (type a query, or open a document): the map then shades its best hits.' } };
      const values = new Float32Array(n);
      let min = Infinity;
      let max = -Infinity;
      for (const h of q.hits) {
        min = Math.min(min, h.score);
        max = Math.max(max, h.score);
      }
      // Shift so the lowest shown score is still > 0 (coloured).
      for (const h of q.hits) values[h.doc] = h.score - min + 1e-6 * Math.max(1e-9, max - min) + 1e-12;
      const c = continuous(values, SCORES);
      return {
        rgba: c.rgba,
        order: c.order,
        legend: { title: 'The search’s scores', ramp: { stops: SCORES, min: fmt.num(min, 3), max: fmt.num(max, 3), off: `below the top ${q.hits.length}` }, note: `top ${q.k} by score (cosine to the steered query)${q.limited ? `; ${app.engineKind} gives at most ${q.k} hits a search` : ''}` },
      };
    }
    throw new Error(`unknown colouring ${kind}`);
  }

  /** Runs the clustering the state describes and colours the map by it. */
  async runClusters() {
    const app = this.app;
    const s = app.state;
    const b = /** @type {HTMLButtonElement | null} */ (document.getElementById('map-run-clusters'));
    if (b) {
      b.disabled = true;
      b.textContent = 'clustering…';
    }
    app.setBusy(true);
    try {
      const result = await app.engine.call('cluster', { clusters: s.k, space: s.along.length ? 'codes' : s.space, features: s.along, iterations: 20, seed: 0 });
      app.views.clusters.remember(JSON.stringify([s.k, s.along.length ? 'codes' : s.space, s.along]), result);
      this.colorKey = null;
      if (app.state.view === 'map') await this.applyColor();
    } catch (e) {
      app.showError(e.message);
      if (b) b.disabled = false;
    } finally {
      app.setBusy(false);
    }
  }

  /** @param {Legend} legend */
  renderLegend(legend) {
    const box = $('map-legend');
    /** @type {HTMLElement[]} */
    const children = [el('h4', legend.title)];
    if (legend.ramp) {
      const r = el('div', undefined, 'ramp');
      r.style.background = `linear-gradient(to right, ${legend.ramp.stops.map(css).join(', ')})`;
      const ends = el('div', undefined, 'ramp-ends');
      ends.append(el('span', legend.ramp.min, 'min'), el('span', legend.ramp.max, 'max'));
      children.push(r, ends);
      if (legend.ramp.off) {
        const off = el('p', undefined, 'off');
        const sw = el('span', undefined, 'swatch');
        sw.style.background = css(OFF);
        off.append(sw, legend.ramp.off);
        children.push(off);
      }
    }
    if (legend.swatches) {
      const ul = el('ul', undefined, 'swatches');
      ul.append(
        ...legend.swatches.map((s) => {
          const li = el('li', undefined, undefined, { key: s.key, count: s.count });
          const sw = el('span', undefined, 'swatch');
          sw.style.background = css(s.color);
          li.append(sw, el('span', s.name, 'name'), el('span', fmt.int(s.count), 'count'));
          return li;
        }),
      );
      children.push(ul);
    }
    if (legend.note) children.push(el('p', legend.note, 'muted'));
    if (legend.action) children.push(legend.action);
    box.replaceChildren(...children);
    box.dataset.kind = legend.ramp ? 'continuous' : legend.swatches ? 'categorical' : 'none';
  }

  // ---- The query ----

  /** Rings the current query's best hits and marks its position (when the query changed). */
  async applyQuery() {
    const app = this.app;
    const s = app.state;
    const qk = queryKey(s);
    const n = app.info.documents;
    const k = colorKind(s.color) === 'score' ? Math.min(n, 1000) : POSITION_FROM;
    const key = qk && `${qk}|${k}`;
    if (key === this.queryKey) return;
    this.queryKey = key;
    const token = ++this.tokens.query;
    const note = $('map-query-note');
    const scatter = /** @type {Scatter} */ (this.scatter);
    if (!qk) {
      this.query = null;
      scatter.setHighlight({ rings: [], query: null });
      note.textContent = '';
      delete this.root.dataset.query;
      return;
    }
    app.setBusy(true);
    try {
      const vector = await app.queryVector(s);
      if (token !== this.tokens.query) return;
      if (!vector) {
        this.queryKey = null;
        note.textContent = app.embedderStatus();
        return;
      }
      /** @param {number} top */
      const search = (top) => app.engine.call('steeredSearch', {
        vector, features: [...s.steer.keys()], values: [...s.steer.values()],
        families: [...s.fam.keys()], strengths: [...s.fam.values()], mode: s.mode, k: top,
      });
      let got = k;
      let result;
      try {
        result = await search(k);
      } catch (e) {
        // The GPU's top-k has a limit (the CPU's has none): the most it gives, then.
        const limit = /top-k limit of (\d+)/.exec(e.message);
        if (!limit || Number(limit[1]) >= k) throw e;
        got = Number(limit[1]);
        result = await search(got);
      }
      if (token !== this.tokens.query) return;
      this.query = { key: qk, hits: result.hits, k: got, limited: got < k };
      const xy = /** @type {Float32Array} */ (this.shown);
      const position = queryPosition(result.hits.slice(0, POSITION_FROM), xy);
      scatter.setHighlight({ rings: result.hits.slice(0, RINGS).map((h) => h.doc), query: position });
      const what = s.q ? `“${s.q}”` : `“${app.catalog.document(/** @type {number} */ (s.doc)).title}”`;
      const steered = s.steer.size || s.fam.size ? ', steered' : '';
      note.textContent = `The query ${what}${steered}: its top ${Math.min(RINGS, result.hits.length)} results are ringed; the star is where they lie (the score-weighted mean of its top ${POSITION_FROM}).`;
      this.root.dataset.query = qk;
      if (position) {
        this.root.dataset.queryX = String(position[0]);
        this.root.dataset.queryY = String(position[1]);
      }
    } catch (e) {
      this.queryKey = null;
      app.showError(e.message);
    } finally {
      app.setBusy(false);
    }
  }

  // ---- Hover and click ----

  /**
   * The document under `p` (CSS pixels in the map), or -1.
   * @param {{ x: number, y: number }} p
   */
  pick(p) {
    const scatter = this.scatter;
    if (!scatter?.index) return -1;
    const [x, y] = scatter.toLayout(p.x, p.y);
    return scatter.index.nearest(x, y, (scatter.radius + 4) / scatter.scale);
  }

  /** @param {{ x: number, y: number } | null} p */
  hover(p) {
    const tip = $('map-tooltip');
    const doc = p ? this.pick(p) : -1;
    if (doc < 0 || !p) {
      tip.hidden = true;
      if (this.hoverDoc !== -1) this.scatter?.setHighlight({ hover: null });
      this.hoverDoc = -1;
      clearTimeout(this.hoverTimer);
      return;
    }
    const scatter = /** @type {Scatter} */ (this.scatter);
    const left = p.x + 16 + 280 > scatter.cssW ? Math.max(0, p.x - 296) : p.x + 16;
    tip.style.left = `${left}px`;
    tip.style.top = `${Math.min(p.y + 16, Math.max(0, scatter.cssH - 120))}px`;
    if (doc === this.hoverDoc) return;
    this.hoverDoc = doc;
    scatter.setHighlight({ hover: doc });
    const d = this.app.catalog.document(doc);
    const features = el('p', undefined, 'features');
    tip.replaceChildren(el('strong', d.title), el('p', [d.categories?.[0], yearOf(d), d.id].filter((x) => x !== null && x !== undefined && x !== '').join(' · '), 'muted'), features);
    tip.dataset.doc = String(doc);
    tip.hidden = false;
    const cached = this.featureCache.get(doc);
    const showFeatures = (/** @type {Feature[]} */ fs) => {
      features.textContent = fs.length ? `Top features: ${fs.map((f) => this.app.catalog.label(f.feature)).join(' · ')}` : 'No features fire.';
    };
    if (cached) {
      showFeatures(cached);
      return;
    }
    features.textContent = '…';
    clearTimeout(this.hoverTimer);
    // Its features come from the engine (its embedding encoded) once the pointer rests.
    this.hoverTimer = setTimeout(async () => {
      try {
        const fs = await this.app.engine.call('documentFeatures', { doc, n: 5 });
        this.featureCache.set(doc, fs);
        if (this.hoverDoc === doc) showFeatures(fs);
      } catch {
        if (this.hoverDoc === doc) features.textContent = '';
      }
    }, 120);
  }

  // ---- Selection ----

  /** Selects the documents inside the state's polygon and enriches them (when it changed). */
  async applySelection() {
    const app = this.app;
    const sel = app.state.sel;
    const key = sel ? formatPolygon(sel) : null;
    if (key === this.selKey) return;
    this.selKey = key;
    const token = ++this.tokens.sel;
    const panel = $('map-selection');
    const scatter = /** @type {Scatter} */ (this.scatter);
    scatter.setSelection(sel);
    if (!sel) {
      this.selection = null;
      panel.hidden = true;
      panel.replaceChildren();
      panel.dataset.state = 'none';
      return;
    }
    panel.hidden = false;
    panel.dataset.state = 'running';
    delete panel.dataset.count;
    panel.replaceChildren(el('h3', 'Selection'), el('p', 'selecting the documents inside the polygon…', 'muted'));
    app.setBusy(true);
    try {
      const { docs, ms } = await app.engine.call('selectPolygon', { polygon: sel });
      if (token !== this.tokens.sel) return;
      if (!docs.length) {
        this.selection = { docs, enrichment: null, polygon: sel };
        panel.replaceChildren(this.selectionHead(0, ms), el('p', 'No documents inside the selection.', 'empty'));
        panel.dataset.count = '0';
        panel.dataset.state = 'done';
        return;
      }
      if (docs.length >= app.info.documents) {
        this.selection = { docs, enrichment: null, polygon: sel };
        panel.replaceChildren(this.selectionHead(docs.length, ms), el('p', 'The selection holds every document: there is nothing to compare it with.', 'muted'));
        panel.dataset.count = String(docs.length);
        panel.dataset.state = 'done';
        return;
      }
      panel.replaceChildren(this.selectionHead(docs.length, ms), el('p', 'finding the features over-represented in it…', 'muted'));
      const enrichment = await app.engine.call('enrich', { docs, n: ENRICHED });
      if (token !== this.tokens.sel) return;
      this.selection = { docs, enrichment, polygon: sel };
      this.renderSelection(docs, enrichment, ms);
      panel.dataset.count = String(docs.length);
      panel.dataset.state = 'done';
    } catch (e) {
      if (token !== this.tokens.sel) return;
      panel.replaceChildren(el('h3', 'Selection'), el('p', e.message, 'bad'));
      panel.dataset.state = 'failed';
    } finally {
      app.setBusy(false);
    }
  }

  /**
   * The panel's heading: count, timing, clear button.
   * @param {number} count
   * @param {number} ms
   */
  selectionHead(count, ms) {
    const n = this.app.info.documents;
    const head = el('header', undefined, 'selection-head');
    const h = el('h3', `Selection: ${fmt.int(count)} of ${fmt.int(n)} documents (${fmt.pct(count / Math.max(1, n))})`);
    h.id = 'map-selection-count';
    const clear = button('Clear selection', () => this.app.update({ sel: null }, { push: true }));
    clear.id = 'map-clear-selection';
    head.append(h, el('span', `selected in ${fmt.num(ms, 1)} ms`, 'muted'), clear);
    return head;
  }

  /**
   * The selection panel: sample titles, actions, the enrichment table.
   * @param {Uint32Array} docs
   * @param {Enrichment & { ms?: number }} enrichment
   * @param {number} ms
   */
  renderSelection(docs, enrichment, ms) {
    const app = this.app;
    const catalog = app.catalog;
    const panel = $('map-selection');
    const sample = el('ol', undefined, 'docs');
    sample.id = 'map-sample';
    const step = docs.length / Math.min(SAMPLE, docs.length);
    for (let m = 0; m < Math.min(SAMPLE, docs.length); m++) {
      const doc = docs[Math.floor(m * step)];
      const d = catalog.document(doc);
      const li = el('li', undefined, undefined, { doc });
      li.append(app.documentLink(doc), el('span', ` ${[d.categories?.[0], yearOf(d)].filter(Boolean).join(' · ')}`, 'muted'));
      sample.append(li);
    }
    const left = el('section');
    left.append(el('h4', docs.length > SAMPLE ? `A sample of ${SAMPLE}` : 'Its documents'), sample);

    const significant = enrichment.features.filter((f) => f.significant);
    const top = significant.length ? significant : [];
    const actions = el('section', undefined, 'selection-actions');
    actions.append(el('h4', 'Do more with it'));
    const steer = button('Steer the search toward it', () => this.steerToward(top.slice(0, 3).map((f) => f.feature)));
    steer.id = 'map-steer';
    steer.disabled = !top.length;
    steer.title = top.length ? `steer with ${top.slice(0, 3).map((f) => catalog.label(f.feature)).join(', ')}` : 'no feature is significantly over-represented';
    const cluster = button('Cluster along its features', () => app.update({ view: 'clusters', space: 'codes', along: top.slice(0, 8).map((f) => f.feature) }, { push: true }));
    cluster.id = 'map-cluster';
    cluster.disabled = !top.length;
    cluster.title = 'k-means of the documents along the selection’s over-represented features (the Clusters view)';
    const families = el('div', undefined, 'selection-families');
    families.id = 'map-families';
    const showFamilies = button('Show its families', () => this.renderFamilies(families, enrichment), undefined);
    showFamilies.id = 'map-show-families';
    const csv = button('Export CSV', () => this.export('csv'));
    csv.id = 'map-export-csv';
    const json = button('Export JSON', () => this.export('json'));
    json.id = 'map-export-json';
    const row = el('p', undefined, 'buttons');
    row.append(steer, cluster, showFamilies, csv, json);
    actions.append(row, families);
    if (!top.length) actions.append(el('p', 'No feature is significantly over-represented (q < 0.05): steering and clustering need one.', 'muted'));

    const columns = el('div', undefined, 'columns');
    columns.append(left, actions);

    const table = el('table', undefined, 'enrichment');
    table.id = 'map-enrichment';
    const head = el('tr');
    for (const [text, title] of [
      ['feature', ''], ['in the selection', 'share of the selected documents it fires in'], ['elsewhere', 'share of the other documents it fires in'],
      ['log-odds', 'log odds ratio, Haldane-corrected (+0.5 in each cell)'], ['lower 95%', 'lower bound of the log odds ratio’s 95% confidence interval'],
      ['q', 'Benjamini–Hochberg q-value over the features tested'],
    ]) {
      const th = el('th', text);
      if (title) th.title = title;
      head.append(th);
    }
    const thead = el('thead');
    thead.append(head);
    const body = el('tbody');
    const maxRate = Math.max(1e-9, ...enrichment.features.map((f) => Math.max(f.rate_inside, f.rate_outside)));
    body.append(
      ...enrichment.features.map((f, i) => {
        const tr = el('tr', undefined, f.significant ? 'significant' : undefined, {
          feature: f.feature, rank: i, inside: f.inside, outside: f.outside, significant: f.significant, logOdds: f.log_odds, lower: f.lower, q: f.q_value,
        });
        const name = el('td');
        name.append(app.featureLink(f.feature), el('span', ` #${f.feature}`, 'muted'));
        if (f.significant) name.append(el('span', ' ✓', 'good'));
        const inside = el('td');
        inside.append(bar(f.rate_inside / maxRate, `${fmt.pct(f.rate_inside)} (${fmt.int(f.inside)})`, 'inside'));
        const outside = el('td');
        outside.append(bar(f.rate_outside / maxRate, `${fmt.pct(f.rate_outside)} (${fmt.int(f.outside)})`, 'outside'));
        tr.append(name, inside, outside, el('td', fmt.num(f.log_odds, 2)), el('td', fmt.num(f.lower, 2)), el('td', f.q_value < 1e-4 ? f.q_value.toExponential(1) : fmt.num(f.q_value, 4)));
        return tr;
      }),
    );
    table.append(thead, body);
    const note = el(
      'p',
      `The features most over-represented in the ${fmt.int(enrichment.selected)} selected documents against the other ${fmt.int(enrichment.rest)}, by the lower bound of the log odds ratio; ` +
        `✓ marks q < 0.05 (Benjamini–Hochberg over ${fmt.int(enrichment.tested)} features tested). ` +
        `Selection ${fmt.num(ms, 1)} ms, enrichment ${fmt.num(enrichment.ms ?? NaN, 1)} ms, on ${app.engineKind}.`,
      'muted',
    );
    panel.replaceChildren(this.selectionHead(docs.length, ms), columns, el('h4', 'Features over-represented in the selection'), note, table);
  }

  /**
   * Steers the search with `features` together (strength 1); without a query, the selected
   * document nearest the polygon's centre becomes it.
   * @param {number[]} features
   */
  async steerToward(features) {
    const app = this.app;
    const sel = this.selection;
    if (!features.length || !sel) return;
    try {
      const activations = await app.engine.call('steeringActivations', { features, strength: 1 });
      /** @type {Partial<AppState>} */
      const patch = { view: 'search', steer: new Map([...app.state.steer, ...activations]) };
      if (!app.state.q && app.state.doc === null) {
        const p = sel.polygon;
        let cx = 0;
        let cy = 0;
        for (let i = 0; i < p.length; i += 2) {
          cx += p[i];
          cy += p[i + 1];
        }
        cx /= p.length / 2;
        cy /= p.length / 2;
        const xy = /** @type {Float32Array} */ (this.shown);
        let best = sel.docs[0];
        let bestD = Infinity;
        for (const doc of sel.docs) {
          const d = (xy[2 * doc] - cx) ** 2 + (xy[2 * doc + 1] - cy) ** 2;
          if (d < bestD) {
            bestD = d;
            best = doc;
          }
        }
        patch.doc = best;
      }
      app.update(patch, { push: true });
    } catch (e) {
      app.showError(e.message);
    }
  }

  /**
   * The families that hold the selection's over-represented features.
   * @param {HTMLElement} box
   * @param {Enrichment} enrichment
   */
  renderFamilies(box, enrichment) {
    const app = this.app;
    const catalog = app.catalog;
    /** @type {Map<number, number[]>} family id -> its enriched members */
    const found = new Map();
    for (const f of enrichment.features.slice(0, 10)) {
      const { asParent, asChild } = catalog.familiesOf(f.feature);
      for (const fam of [...asParent, ...asChild]) found.set(fam.id, [...(found.get(fam.id) ?? []), f.feature]);
    }
    if (!found.size) {
      box.replaceChildren(el('p', catalog.families.length ? 'None of its top 10 features is in a family.' : 'This bundle has no feature families.', 'muted'));
      return;
    }
    const ul = el('ul', undefined, 'families');
    for (const [id, members] of found) {
      const fam = /** @type {import('../types.js').Family} */ (catalog.familyById.get(id));
      const li = el('li', undefined, undefined, { family: id });
      li.append(
        el('strong', fam.label ?? catalog.label(fam.parent)),
        el('span', ` (family ${id}, ${fam.children.length + 1} features; holds ${members.map((j) => catalog.label(j)).join(', ')}) `, 'muted'),
        appLink('show on the map', app.href({ view: 'map', color: `family:${id}` }), () => app.update({ view: 'map', color: `family:${id}` }, { push: true }), 'map-link'),
        ' · ',
        button('steer with it', () => app.update({ view: 'search', fam: new Map(app.state.fam).set(id, 1) }, { push: true }), 'link'),
      );
      ul.append(li);
    }
    const all = appLink('all families', app.href({ view: 'families' }), () => app.update({ view: 'families' }, { push: true }));
    const p = el('p');
    p.append('In the Families view: ', all);
    box.replaceChildren(ul, p);
  }

  /**
   * Downloads the selection: ids, titles, categories, years, and per document which of the
   * selection's 10 most over-represented features fire in it (strongest first).
   * @param {'csv' | 'json'} format
   */
  async export(format) {
    const app = this.app;
    const sel = this.selection;
    if (!sel) return;
    const catalog = app.catalog;
    app.setBusy(true);
    try {
      const docs = [...sel.docs];
      const features = (sel.enrichment?.features ?? []).slice(0, 10).map((f) => f.feature);
      /** @type {{ feature: number, activation: number }[][]} */
      const fires = docs.map(() => []);
      if (app.info.has_codes) {
        for (const j of features) {
          const acts = await app.engine.call('activationsIn', { feature: j, docs });
          acts.forEach((a, i) => {
            if (a > 0) fires[i].push({ feature: j, activation: a });
          });
        }
      }
      for (const f of fires) f.sort((a, b) => b.activation - a.activation);
      const rows = docs.map((doc, i) => {
        const d = catalog.document(doc);
        return { doc, id: d.id, title: d.title, categories: d.categories ?? [], year: yearOf(d), top_features: fires[i].map((f) => ({ ...f, label: catalog.label(f.feature) })) };
      });
      const name = `selection-${docs.length}`;
      if (format === 'json') {
        const out = {
          bundle: app.catalog.manifest.name,
          polygon: sel.polygon,
          selected: docs.length,
          enrichment: (sel.enrichment?.features ?? []).map((f) => ({ ...f, label: catalog.label(f.feature) })),
          documents: rows,
        };
        downloadFile(JSON.stringify(out, null, 1), `${name}.json`, 'application/json');
      } else {
        const lines = [['doc', 'id', 'title', 'categories', 'year', 'top_features'].map(csvField).join(',')];
        for (const r of rows) {
          const top = r.top_features.map((f) => `${f.label} (#${f.feature}): ${f.activation.toFixed(3)}`).join('; ');
          lines.push([r.doc, r.id, r.title, r.categories.join(' '), r.year ?? '', top].map(csvField).join(','));
        }
        downloadFile(`${lines.join('\r\n')}\r\n`, `${name}.csv`, 'text/csv');
      }
    } catch (e) {
      app.showError(e.message);
    } finally {
      app.setBusy(false);
    }
  }

  // ---- No layout ----

  /** @param {string} problem */
  showNoLayout(problem) {
    const app = this.app;
    $('map-toolbar').hidden = true;
    $('map-main').hidden = true;
    $('map-selection').hidden = true;
    $('map-status').textContent = '';
    const box = $('map-nolayout');
    box.hidden = false;
    if (box.dataset.for === app.bundleUrl && box.childElementCount) return;
    box.dataset.for = app.bundleUrl ?? '';
    const n = app.info.documents;
    const go = button('Lay out here', () => this.layOut(go, progress, label));
    go.id = 'map-layout-here';
    const progress = el('progress');
    progress.id = 'map-layout-progress';
    progress.max = 1;
    progress.value = 0;
    progress.hidden = true;
    const label = el('span', '', 'muted');
    label.id = 'map-layout-label';
    const problemText = el('p', `No map: ${problem}.`.replace(/\.\.$/, '.'));
    problemText.id = 'map-problem';
    box.replaceChildren(
      el('h2', 'Map'),
      problemText,
      el('p', `“Lay out here” places the ${fmt.int(n)} documents on a 2D map in your browser (UMAP over their embeddings, 15 neighbours). It suits up to about 20,000 documents${n > 20000 ? '; this bundle has more, so it may take many minutes' : ''}; the map is not saved with the bundle.`, 'muted'),
      go,
      progress,
      label,
    );
  }

  /**
   * Computes the layout in the worker, with progress.
   * @param {HTMLButtonElement} go
   * @param {HTMLProgressElement} progress
   * @param {HTMLElement} label
   */
  async layOut(go, progress, label) {
    const app = this.app;
    const url = app.bundleUrl;
    go.disabled = true;
    progress.hidden = false;
    label.textContent = 'starting…';
    app.setBusy(true);
    try {
      const { xy, ms } = await app.engine.call('computeLayout', { seed: 0 }, (p) => {
        if (p.type !== 'layout') return;
        progress.value = p.total > 0 ? p.done / p.total : 0;
        label.textContent = `${p.stage}: ${fmt.int(p.done)} of ${fmt.int(p.total)}`;
      });
      if (url !== app.bundleUrl) return;
      app.layout = { xy, problem: null };
      this.layoutNote = `a layout made here in ${fmt.num(ms / 1000, 1)} s (UMAP, 15 neighbours; not saved: \`saescope layout --bundle DIR\` adds one to the bundle)`;
      this.root.dataset.layoutMs = String(Math.round(ms));
      if (app.state.view === 'map') await this.show();
    } catch (e) {
      label.textContent = `The layout failed: ${e.message}`;
      go.disabled = false;
    } finally {
      app.setBusy(false);
    }
  }
}

/**
 * The search view's small map: where the current results lie, ringed, with the query's
 * position; it follows the results as a steering slider moves.
 */
export class ResultsMap {
  /**
   * @param {App} app
   * @param {HTMLElement} figure holds the map (its first child) and a caption
   */
  constructor(app, figure) {
    this.app = app;
    this.figure = figure;
    /** @type {Scatter | null} */
    this.scatter = null;
    /** @type {Promise<Scatter | null> | null} */
    this.creating = null;
    /** @type {Float32Array | null} */
    this.shown = null;
    /** @type {Uint8Array | null} the background colours (every document) */
    this.base = null;
  }

  hide() {
    this.figure.hidden = true;
  }

  /**
   * Shows `hits` on the map.
   * @param {Hit[]} hits
   */
  async show(hits) {
    const xy = this.app.layout?.xy;
    if (!xy) {
      this.hide();
      return;
    }
    this.figure.hidden = false;
    const plot = /** @type {HTMLElement} */ (this.figure.querySelector('.results-map-plot'));
    this.creating ??= Scatter.create(plot, { kind: /** @type {RendererKind | ''} */ (this.app.state.renderer) }).catch(() => null);
    const scatter = (this.scatter ??= await this.creating);
    if (!scatter) {
      this.hide();
      return;
    }
    scatter.onClick ??= (p) => {
      const [x, y] = scatter.toLayout(p.x, p.y);
      const doc = scatter.index?.nearest(x, y, (scatter.radius + 4) / scatter.scale) ?? -1;
      if (doc >= 0) this.app.openDocument(doc);
    };
    const n = xy.length / 2;
    if (this.shown !== xy || !this.base) {
      this.shown = xy;
      this.base = uniform(n, OFF);
      scatter.setPoints(xy);
      scatter.fit();
    }
    // A copy of the cached background (one memcpy; a slider moves it often), hits drawn over it.
    const rgba = this.base.slice();
    const order = new Uint32Array(n);
    const inHits = new Uint8Array(n);
    for (const h of hits) if (h.doc < n) inHits[h.doc] = 1;
    let m = 0;
    for (let i = 0; i < n; i++) if (!inHits[i]) order[m++] = i;
    // The best drawn last (on top), darker.
    [...hits].reverse().forEach((h) => {
      if (h.doc >= n) return;
      const rank = hits.indexOf(h);
      rgba.set(ramp(SCORES, 1 - rank / Math.max(1, hits.length - 1)), 4 * h.doc);
      order[m++] = h.doc;
    });
    scatter.setColors(rgba, m === n ? order : null);
    const position = queryPosition(hits.slice(0, POSITION_FROM), xy);
    scatter.setHighlight({ rings: hits.slice(0, RINGS).map((h) => h.doc), query: position });
    if (position) {
      this.figure.dataset.queryX = String(position[0]);
      this.figure.dataset.queryY = String(position[1]);
    }
    this.figure.dataset.hits = hits.map((h) => h.doc).join(' ');
  }
}
