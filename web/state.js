// @ts-check
// The app's whole state lives in the URL, so a steered search (or a feature page, or a
// clustering) can be shared and reloaded. This module reads and writes it.
//
//   bundle=URL           the bundle folder
//   view=search|feature|features|families|clusters
//   q=TEXT | doc=N       the query: free text, or a document ("more like this")
//   steer=J:V,J:V        feature J's activation set to V (0 removes it)
//   fam=F:S,...          family F steered at strength S (x each member's typical activation)
//   mode=rebuild         steering mode (default: keep-error)
//   f=J                  the feature page's feature
//   k=N&space=codes|embeddings&along=J,J   clustering

/** @typedef {'search' | 'feature' | 'features' | 'families' | 'clusters'} View */

/**
 * The app's state, as the URL holds it.
 * @typedef {object} AppState
 * @property {string} bundle the bundle folder ('' for the default)
 * @property {View} view
 * @property {string} q free-text query ('' for none)
 * @property {number | null} doc the query document, when there is no text
 * @property {Map<number, number>} steer feature -> activation
 * @property {Map<number, number>} fam family id -> strength
 * @property {'keep-error' | 'rebuild'} mode
 * @property {number | null} f the feature page's feature
 * @property {number} k clusters
 * @property {'codes' | 'embeddings'} space
 * @property {number[]} along features to cluster along
 * @property {string} device 'cpu' asks for the CPU path
 */

/** @type {View[]} */
export const VIEWS = ['search', 'feature', 'features', 'families', 'clusters'];

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

/** @param {string | null} text */
function parseInts(text) {
  return (text ?? '').split(',').filter((s) => /^\d+$/.test(s)).map(Number);
}

/** @returns {AppState} */
export function readState(search = location.search) {
  const p = new URLSearchParams(search);
  /** @param {string} name */
  const int = (name) => (p.has(name) && /^\d+$/.test(p.get(name) ?? '') ? Number(p.get(name)) : null);
  const asked = p.get('view');
  const view = VIEWS.find((v) => v === asked) ?? 'search';
  return {
    bundle: p.get('bundle') || '',
    view,
    q: p.get('q') ?? '',
    doc: int('doc'),
    steer: parsePairs(p.get('steer')),
    fam: parsePairs(p.get('fam')),
    mode: p.get('mode') === 'rebuild' ? 'rebuild' : 'keep-error',
    f: int('f'),
    k: int('k') ?? 8,
    space: p.get('space') === 'embeddings' ? 'embeddings' : 'codes',
    along: parseInts(p.get('along')),
    device: p.get('device') ?? '',
  };
}

/** @param {AppState} s */
export function stateToSearch(s) {
  const p = new URLSearchParams();
  if (s.bundle) p.set('bundle', s.bundle);
  if (s.device) p.set('device', s.device);
  if (s.view !== 'search') p.set('view', s.view);
  if (s.q) p.set('q', s.q);
  else if (s.doc !== null) p.set('doc', String(s.doc));
  if (s.steer.size) p.set('steer', formatPairs(s.steer));
  if (s.fam.size) p.set('fam', formatPairs(s.fam));
  if (s.mode !== 'keep-error') p.set('mode', s.mode);
  if (s.view === 'feature' && s.f !== null) p.set('f', String(s.f));
  if (s.view === 'clusters') {
    p.set('k', String(s.k));
    p.set('space', s.space);
    if (s.along.length) p.set('along', s.along.join(','));
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
