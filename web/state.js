// @ts-check
// The app's whole state lives in the URL, so a steered search (or a feature page, or a
// clustering) can be shared and reloaded. This module reads and writes it.
//
//   bundle=URL           the bundle: a folder, one .zip, or saved:NAME (kept by the workshop)
//   view=map|search|explain|feature|features|families|clusters
//                        (absent: the search when there is a query, else the map; or the
//                        search when the bundle has no map)
//   q=TEXT | doc=N       the query: free text, or a document ("more like this")
//   steer=J:V,J:V        feature J's activation set to V (0 removes it)
//   fam=F:S,...          family F steered at strength S (x each member's typical activation)
//   mode=rebuild         steering mode: keep-error or rebuild (default: concept)
//   f=J                  the feature page's feature
//   ek=N                 the explainer's k (absent: the SAE's own)
//   k=N&space=codes|embeddings&along=J,J   clustering
//   color=feature:J|family:F|cluster|category|year|score|none   the map's colouring
//   sel=x,y;x,y;...      the map's selection, a polygon in layout units (4 significant digits)
//   mapview=cx,cy,zoom   the map's centre (layout units) and zoom (1 = the whole map)
//   renderer=webgpu|webgl2|canvas   asks the map for one renderer (tests; default: the best)

/**
 * The bundle opened when the URL names none: index.html's `<meta name="saescope-bundle">`
 * (`cargo xtask site` sets it to the site's own bundle).
 */
export const DEFAULT_BUNDLE =
  globalThis.document?.querySelector('meta[name="saescope-bundle"]')?.getAttribute('content') || 'bundles/demo/';

/** @typedef {'map' | 'search' | 'explain' | 'feature' | 'features' | 'families' | 'clusters' | 'workshop'} View */

/**
 * The app's state, as the URL holds it.
 * @typedef {object} AppState
 * @property {string} bundle the bundle: a folder or .zip URL, or saved:NAME ('' for the default)
 * @property {View} view
 * @property {string} q free-text query ('' for none)
 * @property {number | null} doc the query document, when there is no text
 * @property {Map<number, number>} steer feature -> activation
 * @property {Map<number, number>} fam family id -> strength
 * @property {'concept' | 'keep-error' | 'rebuild'} mode
 * @property {number | null} f the feature page's feature
 * @property {number} ek the explainer's k (0: the SAE's own)
 * @property {number} k clusters
 * @property {'codes' | 'embeddings'} space
 * @property {number[]} along features to cluster along
 * @property {string} device 'cpu' or 'gpu' forces that engine; empty: WebGPU unless it is missing or software (SwiftShader), then the CPU path
 * @property {string} color the map's colouring ('' for the default: primary category)
 * @property {number[] | null} sel the map's selection polygon, x0,y0,x1,y1,... (3 vertices or more)
 * @property {[number, number, number] | null} mapview the map's centre and zoom, null to fit
 * @property {string} renderer the map renderer asked for ('' for the best available)
 */

/** What `color=` may say. */
const COLOR = /^(feature:\d+|family:\d+|cluster|category|year|score|none)$/;

/** @type {View[]} */
export const VIEWS = ['map', 'search', 'explain', 'feature', 'features', 'families', 'clusters', 'workshop'];

/**
 * `J:V,J:V` as a map (malformed or negative pairs left out).
 * @param {string | null} text
 * @returns {Map<number, number>}
 */
function parsePairs(text) {
  const out = new Map();
  for (const part of (text ?? '').split(',')) {
    const [a, b] = part.split(':');
    const key = Number(a);
    const value = Number(b);
    if (a !== '' && Number.isInteger(key) && key >= 0 && Number.isFinite(value) && value >= 0) out.set(key, value);
  }
  return out;
}

/** @param {Map<number, number>} map */
function formatPairs(map) {
  return [...map].map(([k, v]) => `${k}:${Number(v.toFixed(3))}`).join(',');
}

/**
 * The steering mode of the URL; the default (concept) when absent or unknown.
 * @param {string | null} text
 * @returns {AppState['mode']}
 */
function parseMode(text) {
  return text === 'rebuild' || text === 'keep-error' ? text : 'concept';
}

/** @param {string | null} text */
function parseInts(text) {
  return (text ?? '').split(',').filter((s) => /^\d+$/.test(s)).map(Number);
}

/**
 * `x` to `digits` significant digits, as short as it gets.
 * @param {number} x
 */
export function round(x, digits = 4) {
  return String(Number(x.toPrecision(digits)));
}

/**
 * `x,y;x,y;...` as a flat polygon, or null when malformed or under 3 vertices.
 * @param {string | null} text
 * @returns {number[] | null}
 */
function parsePolygon(text) {
  if (!text) return null;
  const out = [];
  for (const part of text.split(';')) {
    const xy = part.split(',');
    if (xy.length !== 2 || xy.some((v) => v.trim() === '')) return null;
    const [x, y] = xy.map(Number);
    if (!Number.isFinite(x) || !Number.isFinite(y)) return null;
    out.push(x, y);
  }
  return out.length >= 6 && out.length <= 2 * 1000 ? out : null;
}

/**
 * `cx,cy,zoom`, or null when malformed.
 * @param {string | null} text
 * @returns {[number, number, number] | null}
 */
function parseMapView(text) {
  const parts = (text ?? '').split(',');
  if (parts.length !== 3 || parts.some((v) => v.trim() === '')) return null;
  const [cx, cy, zoom] = parts.map(Number);
  return [cx, cy, zoom].every(Number.isFinite) && zoom > 0 && zoom < 1e6 ? [cx, cy, zoom] : null;
}

/** @param {number[]} polygon */
export function formatPolygon(polygon) {
  const out = [];
  for (let i = 0; i + 1 < polygon.length; i += 2) out.push(`${round(polygon[i])},${round(polygon[i + 1])}`);
  return out.join(';');
}

/** @returns {AppState} */
export function readState(search = location.search) {
  const p = new URLSearchParams(search);
  /** @param {string} name */
  const int = (name) => (p.has(name) && /^\d+$/.test(p.get(name) ?? '') ? Number(p.get(name)) : null);
  const asked = p.get('view');
  // No view: the search when the URL holds a query, else the map (App falls back to the search
  // when the bundle has no layout).
  const query = Boolean(p.get('q')) || int('doc') !== null;
  const view = VIEWS.find((v) => v === asked) ?? (query ? 'search' : 'map');
  const color = p.get('color') ?? '';
  const renderer = p.get('renderer') ?? '';
  return {
    bundle: p.get('bundle') || '',
    view,
    q: p.get('q') ?? '',
    doc: int('doc'),
    steer: parsePairs(p.get('steer')),
    fam: parsePairs(p.get('fam')),
    mode: parseMode(p.get('mode')),
    f: int('f'),
    ek: int('ek') ?? 0,
    k: int('k') ?? 8,
    space: p.get('space') === 'embeddings' ? 'embeddings' : 'codes',
    along: parseInts(p.get('along')),
    device: p.get('device') ?? '',
    color: COLOR.test(color) ? color : '',
    sel: parsePolygon(p.get('sel')),
    mapview: parseMapView(p.get('mapview')),
    renderer: ['webgpu', 'webgl2', 'canvas'].includes(renderer) ? renderer : '',
  };
}

/** The view a URL that names none shows without a query: the map, unless the bundle has none. */
let firstView = /** @type {View} */ ('map');

/**
 * Sets what a URL without `view=` and without a query shows (App: once it knows whether the
 * bundle has a map); such URLs leave that view unsaid.
 * @param {View} view
 */
export function setFirstView(view) {
  firstView = view;
}

/** @param {AppState} s */
export function stateToSearch(s) {
  const p = new URLSearchParams();
  if (s.bundle) p.set('bundle', s.bundle);
  if (s.device) p.set('device', s.device);
  if (s.renderer) p.set('renderer', s.renderer);
  // The first view goes without saying: the search when there is a query, else the map (or
  // the search, for a bundle without a map).
  const query = Boolean(s.q) || s.doc !== null;
  if (s.view !== (query ? 'search' : firstView)) p.set('view', s.view);
  if (s.q) p.set('q', s.q);
  else if (s.doc !== null) p.set('doc', String(s.doc));
  if (s.steer.size) p.set('steer', formatPairs(s.steer));
  if (s.fam.size) p.set('fam', formatPairs(s.fam));
  if (s.mode !== 'concept') p.set('mode', s.mode);
  if (s.view === 'feature' && s.f !== null) p.set('f', String(s.f));
  if (s.view === 'explain' && s.ek > 0) p.set('ek', String(s.ek));
  if (s.view === 'clusters') {
    p.set('k', String(s.k));
    p.set('space', s.space);
    if (s.along.length) p.set('along', s.along.join(','));
  }
  if (s.view === 'map') {
    if (s.color) p.set('color', s.color);
    if (s.sel) p.set('sel', formatPolygon(s.sel));
    if (s.mapview) p.set('mapview', `${round(s.mapview[0], 5)},${round(s.mapview[1], 5)},${round(s.mapview[2], 4)}`);
  }
  return `?${p}`;
}

/**
 * Writes `s` into the URL: `push` makes a history entry (navigation), else it replaces.
 * @param {AppState} s
 * @param {boolean} push
 */
export function writeState(s, push) {
  const url = `${location.pathname}${stateToSearch(s)}`;
  if (url === `${location.pathname}${location.search}`) return;
  if (push) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}
