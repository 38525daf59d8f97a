// @ts-check
// The search view: a free-text query (embedded in the browser) or a document ("more like
// this"), its active SAE features as sliders, added features and families, and results that
// re-rank live while a slider moves.

import { $, el, button, fmt } from '../dom.js';
import { Catalog } from '../catalog.js';
import { ResultsMap } from './map.js';

/** @import { App } from '../main.js' */
/** @import { AppState } from '../state.js' */
/** @import { Feature, Hit, SteeredSearch } from '../types.js' */

const RESULTS = 20;

export class SearchView {
  /** @param {App} app */
  constructor(app) {
    this.app = app;
    /** @type {string | null} */
    this.queryKey = null; // what the sliders were built for: the query, not its steering
    /** @type {Feature[]} */
    this.original = []; // the query's own code: [{feature, activation}]
    /** @type {Hit[]} */
    this.hits = [];
    /** Where the results lie on the map (when the bundle has a layout). */
    this.resultsMap = new ResultsMap(app, $('results-map'));
    // The query box is shared with the map and the explainer; a query opens the search (or
    // stays in the explainer).
    $('query-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const q = $('query').value.trim();
      const view = app.state.view === 'explain' ? 'explain' : 'search';
      if (q) app.update({ view, q, doc: null, steer: new Map(), fam: new Map() }, { push: true });
    });
    for (const radio of /** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll('#mode input'))) {
      radio.addEventListener('change', () => app.update({ mode: /** @type {AppState['mode']} */ (radio.value) }));
    }
    $('reset-steering').addEventListener('click', () => app.update({ steer: new Map(), fam: new Map() }));
    $('add-feature').addEventListener('input', () => this.renderAddResults());
  }

  /** Renders for the current state; rebuilds the sliders only when the query itself changed. */
  async show() {
    const s = this.app.state;
    $('query').value = s.q;
    /** @type {HTMLInputElement} */ (document.querySelector(`#mode input[value="${s.mode}"]`)).checked = true;
    const key = s.q ? `q:${s.q}` : s.doc !== null ? `doc:${s.doc}` : null;
    this.renderQueryDocument(s);
    if (!key) {
      this.queryKey = null;
      this.original = [];
      this.resultsMap.hide();
      $('steering').hidden = true;
      $('results').replaceChildren();
      $('results-note').textContent = '';
      $('query-status').textContent = this.app.embedderStatus();
      return;
    }
    $('steering').hidden = false;
    await this.run(key);
  }

  /**
   * The query document ("more like this"), shown when there is no text query.
   * @param {AppState} s
   */
  renderQueryDocument(s) {
    const box = $('query-doc');
    box.hidden = Boolean(s.q) || s.doc === null;
    if (box.hidden) return;
    const d = this.app.catalog.document(/** @type {number} */ (s.doc));
    $('doc-title').textContent = d.title;
    $('doc-meta').textContent = [d.id, ...(d.categories ?? []).slice(0, 3)].join(' · ');
    this.app.texts.paragraph(/** @type {number} */ (s.doc), null, $('doc-text'));
  }

  /**
   * Runs the steered search for the current state and shows it.
   * @param {string} key the query (text or document) the sliders are for
   */
  async run(key) {
    const app = this.app;
    const s = app.state;
    const started = performance.now();
    app.setBusy(true);
    try {
      const vector = await app.queryVector(s);
      if (!vector) return; // the status line says why
      const embedded = app.lastEmbed;
      // Explicit feature edits over family strengths; the engine expands families (in the
      // query's unit) and answers with the edits it applied.
      const asked = performance.now();
      const result = await app.engine.steer({
        vector, features: [...s.steer.keys()], values: [...s.steer.values()],
        families: [...s.fam.keys()], strengths: [...s.fam.values()], mode: s.mode, k: RESULTS,
      });
      if (!result) return; // superseded by a newer slider position
      const answered = performance.now();
      if (key !== this.queryKey) {
        this.queryKey = key;
        this.original = result.features;
        this.renderSliders();
      } else {
        this.syncSliders();
      }
      this.hits = result.hits;
      this.renderResults(result, new Map(result.edits));
      // Not waited for: the map follows the results (its first drawing may take a moment).
      this.resultsMap.show(result.hits).catch((e) => app.showError(e.message));
      this.showTimings({
        embed: embedded.worker,
        search: result.ms,
        transfer: embedded.total - embedded.worker + (answered - asked - result.ms),
        render: performance.now() - answered,
        total: performance.now() - Math.min(app.changedAt, started),
      });
      app.showError('');
    } catch (e) {
      app.showError(e.message);
    } finally {
      app.setBusy(false);
    }
  }

  /**
   * Slider for feature `j` starting at `value`; `original` is the query's own activation.
   * @param {number} j
   * @param {number} value
   * @param {number} original
   * @param {() => void} [onRemove] gives the slider a remove button
   */
  slider(j, value, original, onRemove) {
    const catalog = this.app.catalog;
    // Up to twice the query's own norm (see saescope_interp::explorer), or twice the activation.
    const max = Math.max(2, 2 * original, value);
    const li = el('li', undefined, undefined, { feature: j, activation: original });
    const name = this.app.featureLink(j, 'label');
    name.title = `feature ${j}`;
    const input = el('input');
    Object.assign(input, { type: 'range', min: '0', max: String(max), step: String(max / 200), value: String(value) });
    input.dataset.feature = String(j);
    input.setAttribute('aria-label', `activation of ${catalog.label(j)}`);
    const shown = el('span', fmt.num(value, 2), 'value');
    input.addEventListener('input', () => {
      shown.textContent = fmt.num(Number(input.value), 2);
      const steer = new Map(this.app.state.steer);
      const v = Number(input.value);
      if (Math.abs(v - original) < 1e-6 && original > 0) steer.delete(j);
      else steer.set(j, v);
      this.app.update({ steer });
    });
    li.append(name, input, shown);
    if (onRemove) li.append(button('×', onRemove, 'remove'));
    return li;
  }

  renderSliders() {
    const s = this.app.state;
    const own = new Set(this.original.map((f) => f.feature));
    $('features-note').textContent = `(${this.original.length} active)`;
    $('query-features').replaceChildren(...this.original.map((f) => this.slider(f.feature, s.steer.get(f.feature) ?? f.activation, f.activation)));
    const added = [...s.steer].filter(([j]) => !own.has(j));
    $('added-features').replaceChildren(
      ...added.map(([j, v]) =>
        this.slider(j, v, 0, () => {
          const steer = new Map(this.app.state.steer);
          steer.delete(j);
          this.app.update({ steer });
        }),
      ),
    );
    $('family-sliders').replaceChildren(...[...s.fam].map(([id, strength]) => this.familySlider(id, strength)));
  }

  /** Keeps slider positions in step with the state (after a reload or a reset) without rebuilding. */
  syncSliders() {
    const s = this.app.state;
    const shown = new Set([.../** @type {NodeListOf<HTMLLIElement>} */ (document.querySelectorAll('#added-features li'))].map((li) => Number(li.dataset.feature)));
    const own = new Set(this.original.map((f) => f.feature));
    const wantAdded = [...s.steer.keys()].filter((j) => !own.has(j));
    const familiesShown = document.querySelectorAll('#family-sliders li').length;
    if (wantAdded.length !== shown.size || wantAdded.some((j) => !shown.has(j)) || familiesShown !== s.fam.size) {
      this.renderSliders();
      return;
    }
    for (const li of /** @type {NodeListOf<HTMLLIElement>} */ (document.querySelectorAll('#query-features li'))) {
      const j = Number(li.dataset.feature);
      const input = /** @type {HTMLInputElement} */ (li.querySelector('input'));
      const want = s.steer.get(j) ?? Number(li.dataset.activation);
      if (Math.abs(Number(input.value) - want) > 1e-6 && document.activeElement !== input) {
        input.value = String(want);
        /** @type {HTMLElement} */ (li.querySelector('.value')).textContent = fmt.num(want, 2);
      }
    }
  }

  /**
   * Slider for family `id`'s strength.
   * @param {number} id
   * @param {number} strength
   */
  familySlider(id, strength) {
    const catalog = this.app.catalog;
    const family = catalog.familyById.get(id);
    const li = el('li', undefined, 'family', { family: id });
    // A family the bundle lacks (a URL from another bundle) is named by its id.
    const name = el('span', `family: ${family ? family.label ?? catalog.label(family.parent) : `#${id}`} (${family ? family.children.length + 1 : 0} features)`, 'label');
    const input = el('input');
    Object.assign(input, { type: 'range', min: '0', max: '2', step: '0.01', value: String(strength) });
    input.dataset.family = String(id);
    input.setAttribute('aria-label', `strength of family ${id}`);
    const shown = el('span', `×${fmt.num(strength, 2)}`, 'value');
    input.addEventListener('input', () => {
      shown.textContent = `×${fmt.num(Number(input.value), 2)}`;
      this.app.update({ fam: new Map(this.app.state.fam).set(id, Number(input.value)) });
    });
    const remove = button('×', () => {
      const fam = new Map(this.app.state.fam);
      fam.delete(id);
      this.app.update({ fam });
    }, 'remove');
    li.append(name, input, shown, remove);
    return li;
  }

  renderAddResults() {
    const catalog = this.app.catalog;
    const list = $('add-results');
    const { features, families } = catalog.searchLabels($('add-feature').value);
    /**
     * @param {string} text
     * @param {() => void} onClick
     */
    const item = (text, onClick) => {
      const li = el('li');
      li.append(button(text, onClick, 'add'));
      return li;
    };
    list.replaceChildren(
      ...features.map((j) => item(`${catalog.label(j)} (#${j})`, () => this.addFeature(j))),
      ...families.map((f) => item(`family: ${f.label ?? catalog.label(f.parent)} (${f.children.length + 1} features)`, () => this.addFamily(f.id))),
    );
  }

  /** @param {number} j */
  addFeature(j) {
    $('add-feature').value = '';
    $('add-results').replaceChildren();
    this.app.steerWithFeature(j);
  }

  /** @param {number} id */
  addFamily(id) {
    $('add-feature').value = '';
    $('add-results').replaceChildren();
    this.app.update({ fam: new Map(this.app.state.fam).set(id, 1), view: 'search' }, { push: true });
  }

  /**
   * Where the query's time went, in ms (the worker's embedding and steered search, the messages
   * between page and worker, and drawing the results), beside the results and in
   * `#results[data-timings]` for `tests/browser/measure.mjs`.
   * @param {{ embed: number, search: number, transfer: number, render: number, total: number }} t
   *   `total` counts from the change of state (a typed query, a slider move) to the drawn results
   */
  showTimings(t) {
    const parts = Object.entries(t).filter(([name, ms]) => name !== 'total' && (name !== 'embed' || ms > 0));
    $('results-note').textContent += ` · ${fmt.num(t.total, 0)} ms: ${parts.map(([name, ms]) => `${name} ${fmt.num(ms, ms < 10 ? 1 : 0)}`).join(', ')}`;
    $('results-note').title = 'Where the time went: the embedding of the query and the steered search (encode, steer, search) in the worker, the messages between the page and the worker, and drawing the results.';
    $('results').dataset.timings = JSON.stringify(t);
  }

  /**
   * The results of a steered search.
   * @param {SteeredSearch} result
   * @param {Map<number, number>} edits the edits it applied: feature -> activation
   */
  renderResults(result, edits) {
    const catalog = this.app.catalog;
    const steered = [...edits].filter(([, v]) => v > 0).map(([j]) => j);
    $('moved').textContent = edits.size ? `(cosine to the query ${fmt.num(result.cosine, 3)})` : '';
    $('moved').dataset.cosine = String(result.cosine);
    $('results-note').textContent = `top ${result.hits.length} of ${fmt.int(this.app.info.documents)}`;
    const list = $('results');
    list.dataset.query = /** @type {string} */ (this.queryKey); // set by run() before it renders
    // Which edits these results answer (tests and scripts wait on it; steering is asynchronous).
    list.dataset.steer = [...edits].map(([j, v]) => `${j}:${Number(v.toFixed(3))}`).join(',');
    list.replaceChildren(
      ...result.hits.map((h) => {
        const d = catalog.document(h.doc);
        const fires = (h.fires ?? []).filter((j) => steered.includes(j));
        const li = el('li', undefined, undefined, { doc: h.doc, score: h.score, fires: fires.join(' ') });
        const title = this.app.documentLink(h.doc);
        const year = d.year;
        const meta = el('p', [d.id, d.categories?.[0], year, `score ${fmt.num(h.score, 3)}`].filter(Boolean).join(' · '), 'meta');
        const url = Catalog.arxivUrl(d.id);
        if (url) {
          const a = el('a', 'arXiv', 'external');
          a.href = url;
          a.target = '_blank';
          a.rel = 'noopener';
          meta.append(' · ', a);
        }
        meta.append(' · ', button('more like this', () => this.app.openDocument(h.doc), 'link'));
        li.append(title, meta, this.app.texts.paragraph(h.doc, 240));
        if (fires.length) li.append(el('p', `fires: ${fires.map((j) => catalog.label(j)).join(' · ')}`, 'fires'));
        return li;
      }),
    );
  }
}
