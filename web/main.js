// @ts-check
// The page: starts the engine worker (WebGPU or the CPU path), loads a bundle with progress,
// and shows the views (search and steering, features, families, clusters). The state lives
// in the URL (state.js); the math runs in the worker (worker.js); text from the bundle is
// always rendered as text.

import { EngineClient } from './engine.js';
import { $, el, fmt, appLink, button } from './dom.js';
import { Catalog } from './catalog.js';
import { Texts } from './texts.js';
import { readState, writeState, stateToSearch, setFirstView, VIEWS, DEFAULT_BUNDLE } from './state.js';
import { SearchView } from './views/search.js';
import { FeatureView } from './views/feature.js';
import { FeaturesView } from './views/features.js';
import { FamiliesView } from './views/families.js';
import { ClustersView } from './views/clusters.js';
import { MapView } from './views/map.js';
import { ExplainView } from './views/explain.js';
import { WorkshopView } from './views/workshop.js';
import { prepareRenderer } from './scatter.js';

/** @import { AppState, View } from './state.js' */
/** @import { EngineStatus, Info, Layout, Progress } from './types.js' */

/**
 * The last clustering (from the Clusters view or the map), for colouring the map: each
 * document's cluster, each cluster's first naming feature, and in words what was clustered.
 * @typedef {{ key: string, assignments: number[], names: (number | null)[], description: string }} Clustering
 */

/**
 * Shows a download's progress: one line per file in `list`, the total in `bar` and `label`.
 * @param {HTMLElement} list
 * @param {HTMLProgressElement} bar
 * @param {HTMLElement} label
 * @returns {(p: Progress) => void}
 */
function progressUi(list, bar, label) {
  /** @type {Map<string, HTMLLIElement>} */
  const items = new Map();
  /** @type {Map<string, number>} */
  const sizes = new Map();
  /** @type {Map<string, number>} */
  const received = new Map();
  let total = 0;
  const redraw = () => {
    let got = 0;
    for (const v of received.values()) got += v;
    bar.value = total ? got / total : 1;
    label.textContent = `${fmt.mb(got)} of ${fmt.mb(total)}`;
  };
  return (p) => {
    if (p.type === 'start') {
      for (const f of p.files) {
        sizes.set(f.path, f.bytes);
        total += f.bytes;
        const li = el('li', `${f.path} (${fmt.mb(f.bytes)})`);
        items.set(f.path, li);
        list.append(li);
      }
    } else if (p.type === 'bytes') {
      received.set(p.path, Math.min(p.bytes, sizes.get(p.path) ?? p.bytes));
    } else if (p.type === 'done') {
      const li = /** @type {HTMLLIElement} */ (items.get(p.path)); // listed by 'start'
      if (p.error) {
        li.className = 'bad';
        li.textContent = p.error;
      } else {
        li.className = 'ok';
        received.set(p.path, sizes.get(p.path) ?? 0);
        if (p.cached) li.textContent += ' from cache';
      }
    } else if (p.type === 'finishing') {
      label.textContent = `${fmt.mb(total)}: preparing…`;
    }
    redraw();
  };
}

export class App {
  constructor() {
    this.state = readState();
    // Set by boot() before anything asks the engine.
    /** @type {EngineClient} */
    this.engine = /** @type {any} */ (null);
    this.engineKind = '';
    /** How often the engine crashed and was restarted (see recover). */
    this.restarts = 0;
    // The loaded bundle's catalog and info: null only while no bundle is loaded, when no view
    // is shown (render() waits for the catalog), so the views take them as present.
    /** @type {Catalog} */
    this.catalog = /** @type {any} */ (null);
    /** @type {Texts} the documents' texts, fetched when shown */
    this.texts = /** @type {any} */ (null);
    /** @type {Info} */
    this.info = /** @type {any} */ (null);
    /** @type {string | null} */
    this.bundleUrl = null;
    this.embedder = { state: 'none', message: '' }; // none | loading | ready | unavailable | failed
    /** @type {Map<string, Float32Array>} */
    this.vectors = new Map(); // query text -> embedding
    /** Where the last query vector's time went (ms): embedding in the worker, and the round trip. */
    this.lastEmbed = { worker: 0, total: 0 };
    /** When the page last began to render a state (performance.now): a query's time counts from there. */
    this.changedAt = performance.now();
    this.busy = 0;
    /** @type {Layout | null} the bundle's map layout, or why it has none */
    this.layout = null;
    /** @type {Clustering | null} */
    this.clusters = null;
    /** When the bundle was ready (performance.now), for the map's first paint. */
    this.readyAt = 0;
    this.search = new SearchView(this);
    this.views = {
      map: new MapView(this, $('view-map')),
      search: this.search,
      explain: new ExplainView(this, $('view-explain')),
      feature: new FeatureView(this, $('view-feature')),
      features: new FeaturesView(this, $('view-features')),
      families: new FamiliesView(this, $('view-families')),
      clusters: new ClustersView(this, $('view-clusters')),
      workshop: new WorkshopView(this, $('view-workshop')),
    };
  }

  /** @param {'loading' | 'ready' | 'error'} s the page's state (body[data-state], which tests wait on) */
  setState(s) {
    document.body.dataset.state = s;
  }

  /** @param {boolean} on */
  setBusy(on) {
    this.busy += on ? 1 : -1;
    document.body.dataset.busy = String(this.busy > 0);
  }

  /** @param {string} message shown in the error line; '' hides it */
  showError(message) {
    $('error').textContent = message;
    $('error').hidden = !message;
  }

  /**
   * Applies `patch` to the state, writes the URL, and re-renders.
   * @param {Partial<AppState>} patch
   * @param {{ push?: boolean }} [options] `push` makes a history entry
   */
  update(patch, { push = false } = {}) {
    const before = this.state;
    this.state = { ...this.state, ...patch };
    writeState(this.state, push);
    if (this.state.bundle !== before.bundle) return this.openBundle();
    return this.render();
  }

  /**
   * Applies `patch` to the state and the URL (replacing the entry) without re-rendering: for
   * what the page already shows (the map's pan and zoom).
   * @param {Partial<AppState>} patch
   */
  remember(patch) {
    this.state = { ...this.state, ...patch };
    writeState(this.state, false);
  }

  /**
   * The URL of the state with `patch` applied (for links that also open in a new tab).
   * @param {Partial<AppState>} patch
   */
  href(patch) {
    return stateToSearch({ ...this.state, ...patch });
  }

  /** @param {number} j */
  openFeature(j) {
    this.update({ view: 'feature', f: j }, { push: true });
  }

  /**
   * Adds feature `j` to the steering at strength 1 (as strong as the whole query; the engine owns the unit).
   * @param {number} j
   */
  async steerWithFeature(j) {
    try {
      const activations = await this.engine.call('steeringActivations', { features: [j], strength: 1 });
      this.update({ view: 'search', steer: new Map([...this.state.steer, ...activations]) }, { push: true });
    } catch (e) {
      this.showError(e.message);
    }
  }

  /**
   * Document `doc` as the query ("more like this"), with no steering.
   * @param {number} doc
   */
  openDocument(doc) {
    this.update({ view: 'search', q: '', doc, steer: new Map(), fam: new Map() }, { push: true });
  }

  /**
   * A link to feature `j`'s page, named by its label.
   * @param {number} j
   */
  featureLink(j, className = 'feature-link') {
    const a = appLink(this.catalog.label(j), this.href({ view: 'feature', f: j }), () => this.openFeature(j), className);
    a.dataset.feature = String(j);
    a.title = `feature ${j}`;
    return a;
  }

  /**
   * A link that makes document `doc` the query, named by its title.
   * @param {number} doc
   */
  documentLink(doc, className = 'title') {
    return appLink(this.catalog.document(doc).title, this.href({ view: 'search', q: '', doc, steer: new Map(), fam: new Map() }), () => this.openDocument(doc), className);
  }

  embedderStatus() {
    const e = this.embedder;
    if (e.state === 'ready') return 'Type a query: it is embedded here, in your browser.';
    if (e.state === 'loading') return `Loading the query embedder… ${e.message}`;
    return e.message;
  }

  /**
   * The query's vector: a document's embedding, or the text embedded in the browser; null (or
   * undefined) when the text cannot be embedded (the status line says why).
   * @param {AppState} s
   */
  async queryVector(s) {
    this.lastEmbed = { worker: 0, total: 0 };
    // Without text the query is a document (the search view asks only for one or the other).
    if (!s.q) return this.engine.call('documentVector', { doc: /** @type {number} */ (s.doc) });
    if (this.vectors.has(s.q)) return this.vectors.get(s.q);
    if (this.embedder.state === 'loading') {
      $('query-status').textContent = this.embedderStatus();
      await this.embedderReady;
    }
    if (this.embedder.state !== 'ready') {
      $('query-status').textContent = this.embedderStatus();
      return null;
    }
    const started = performance.now();
    const { vector, ms } = await this.engine.call('embed', { text: s.q });
    this.lastEmbed = { worker: ms, total: performance.now() - started };
    this.vectors.set(s.q, vector);
    $('query-status').textContent = `Embedded in your browser in ${fmt.num(ms, 0)} ms.`;
    return vector;
  }

  /**
   * The first view, for a state read from a URL that names none: the map when the bundle has
   * one, else the search (a URL that asks for the map gets it, saying why there is none).
   */
  firstView() {
    setFirstView(this.layout && !this.layout.xy ? 'search' : 'map');
    if (this.state.view === 'map' && this.layout && !this.layout.xy && !new URLSearchParams(location.search).has('view')) {
      this.state = { ...this.state, view: /** @type {View} */ ('search') };
    }
  }

  async render() {
    this.changedAt = performance.now();
    if (!this.catalog) return;
    for (const v of VIEWS) $(`view-${v}`).hidden = v !== this.state.view;
    // The query box serves the search, the map and the explainer.
    const s = this.state;
    $('query-bar').hidden = s.view !== 'search' && s.view !== 'map' && s.view !== 'explain';
    if (document.activeElement !== $('query')) $('query').value = s.q;
    if (!s.q && s.doc === null) $('query-status').textContent = this.embedderStatus();
    for (const a of /** @type {NodeListOf<HTMLAnchorElement>} */ (document.querySelectorAll('#tabs a'))) {
      a.href = this.href({ view: /** @type {View} */ (a.dataset.view) });
      a.classList.toggle('active', a.dataset.view === this.state.view || (a.dataset.view === 'features' && this.state.view === 'feature'));
    }
    await this.views[this.state.view].show();
  }

  async openBundle() {
    const url = this.state.bundle || DEFAULT_BUNDLE;
    this.bundleUrl = url;
    $('bundle-url').value = url;
    this.setState('loading');
    this.showError('');
    this.catalog = /** @type {any} */ (null);
    this.layout = null;
    this.clusters = null;
    this.vectors.clear();
    for (const v of VIEWS) $(`view-${v}`).hidden = true;
    $('query-bar').hidden = true;
    $('tabs').hidden = true;
    $('bundle-info').textContent = '';
    $('progress').hidden = false;
    $('progress-files').replaceChildren();
    const onProgress = progressUi($('progress-files'), $('progress-total'), $('progress-label'));
    const started = performance.now();
    try {
      // The worker lives in web/, so relative bundle URLs are resolved against the page here. A
      // bundle is a folder, one .zip, or `saved:NAME` (one the workshop saved in this browser).
      let source = url;
      if (!url.startsWith('saved:')) {
        const absolute = new URL(url.endsWith('/') || /\.zip$/i.test(url) ? url : `${url}/`, location.href);
        if (absolute.protocol !== 'https:' && absolute.protocol !== 'http:') {
          throw new Error(`a bundle is loaded over http or https, not ${absolute.protocol}`);
        }
        source = absolute.href;
      }
      const { manifest, info, splits, catalog, embedderProblem, offline, storage } = await this.engine.call('open', { url: source }, onProgress);
      if (url !== this.bundleUrl) return; // another bundle was asked for meanwhile
      // The map's layout (an engine without one, or a bundle without, leaves a reason).
      /** @type {Layout} */
      const layout = await this.engine.call('layout').catch((e) => ({ xy: null, problem: e.message }));
      if (url !== this.bundleUrl) return;
      this.readyAt = performance.now();
      this.layout = layout;
      this.catalog = new Catalog(manifest, info, catalog, splits);
      this.texts = new Texts(manifest, this.catalog, async (shard) => (await this.engine.call('documentTexts', { shard })).texts);
      this.info = info;
      $('bundle-info').textContent =
        `${manifest.name}: ${fmt.int(info.documents)} documents, ${manifest.embedding.model} embeddings (${info.d_in}-d), ` +
        `top-k SAE with ${fmt.int(info.d_sae)} features and k = ${info.k}. ${manifest.description}`;
      $('bundle-info').dataset.loadMs = String(Math.round(performance.now() - started));
      this.showOffline(offline);
      this.showStorageProblem(storage);
      $('tabs').hidden = false;
      this.startEmbedder(embedderProblem);
      this.showError(this.catalog.problems.join('\n'));
      this.firstView();
      this.setState('ready');
      await this.render();
    } catch (e) {
      if (url !== this.bundleUrl) return;
      this.showError(`Could not load the bundle at ${url}: ${e.message}`);
      this.setState('error');
    }
  }

  /**
   * Says why (part of) the bundle was not kept for offline use, or hides the note.
   * @param {string | null} problem
   */
  showStorageProblem(problem) {
    const note = $('bundle-storage');
    note.hidden = !problem;
    note.textContent = problem ?? '';
  }

  /**
   * Says when the bundle was opened from the copy kept in this browser (its server did not
   * answer); once the browser is online again, asks whether the bundle changed there and offers
   * to load the new version.
   * @param {boolean} offline
   */
  showOffline(offline) {
    const note = $('bundle-offline');
    note.hidden = !offline;
    document.body.dataset.offline = String(offline);
    if (!offline) return;
    note.replaceChildren(el('span', 'Offline: opened from the copy kept in this browser.', 'muted'));
    const url = this.bundleUrl;
    const check = async () => {
      if (url !== this.bundleUrl) return;
      const changed = await this.engine.call('bundleChanged').catch(() => false);
      if (url !== this.bundleUrl) return;
      if (!changed) {
        note.hidden = true;
        return;
      }
      note.dataset.update = 'offered';
      note.replaceChildren(el('span', 'This bundle changed on its server since the copy kept here. '), button('Load the new version', () => this.openBundle()));
    };
    window.addEventListener('online', check, { once: true });
  }

  /** Fills the storage panel: the site's use and quota, and each kept bundle with a button to free it. */
  async showStorage() {
    const list = $('storage-bundles');
    try {
      const report = await this.engine.call('storageReport');
      $('storage-use').textContent =
        report.usage === null
          ? 'This browser does not say how much this site stores.'
          : `This site stores ${fmt.mb(report.usage)}${report.quota ? ` of the ${fmt.mb(report.quota)} this browser allows it` : ''} (bundle files, the app, bundles saved by the workshop).`;
      if (!report.bundles.length) {
        list.replaceChildren(el('li', 'No bundle files are kept yet: a bundle is kept once it has loaded.', 'muted'));
        return;
      }
      list.replaceChildren(
        ...report.bundles.map((b) => {
          const item = el('li', `${b.base}: ${fmt.mb(b.bytes)} in ${fmt.int(b.files)} files `);
          item.dataset.base = b.base;
          item.append(
            button('Free', async () => {
              await this.engine.call('storageForget', { base: b.base });
              await this.showStorage();
            }),
          );
          return item;
        }),
      );
    } catch (e) {
      list.replaceChildren(el('li', `Could not read this browser's storage: ${e.message}`, 'bad'));
    }
  }

  /**
   * Loads the query embedder in the background: the rest of the page works meanwhile.
   * @param {string | null} problem why the bundle's embedder cannot serve queries, if it cannot
   */
  startEmbedder(problem) {
    if (problem) {
      this.embedder = { state: 'unavailable', message: `Free-text search is off: ${problem}.` };
      $('query').disabled = true;
      this.embedderReady = Promise.resolve();
      return;
    }
    $('query').disabled = false;
    this.embedder = { state: 'loading', message: '' };
    const status = $('query-status');
    const total = this.catalog.manifest.files.filter((f) => f.role.startsWith('embedder-')).reduce((s, f) => s + f.bytes, 0);
    /** @type {Map<string, number>} */
    const got = new Map();
    const url = this.bundleUrl;
    this.embedderReady = this.engine
      .call('loadEmbedder', {}, (p) => {
        if (p.type === 'bytes') got.set(p.path, p.bytes);
        if (p.type === 'done' && p.cached) got.set(p.path, total);
        let sum = 0;
        for (const v of got.values()) sum += v;
        this.embedder.message = p.type === 'finishing' ? 'preparing the model…' : `${fmt.mb(Math.min(sum, total))} of ${fmt.mb(total)}`;
        if (!this.state.q) status.textContent = this.embedderStatus();
      })
      .then(({ storage }) => {
        if (url !== this.bundleUrl) return;
        if (storage) this.showStorageProblem([$('bundle-storage').textContent, storage].filter(Boolean).join(' '));
        this.embedder = { state: 'ready', message: '' };
        document.body.dataset.embedder = 'ready';
        if (!this.state.q && (this.state.view === 'search' || this.state.view === 'map')) status.textContent = this.embedderStatus();
      })
      .catch((e) => {
        if (url !== this.bundleUrl) return;
        this.embedder = { state: 'failed', message: `The query embedder could not be loaded: ${e.message}` };
        document.body.dataset.embedder = 'failed';
        status.textContent = this.embedder.message;
      });
  }

  async selfTest() {
    const button = $('selftest');
    const list = $('selftest-results');
    button.disabled = true;
    list.replaceChildren(el('li', 'running…'));
    list.dataset.state = 'running';
    try {
      const cases = await this.engine.call('selfTest');
      list.replaceChildren(
        ...cases.map((c) => {
          const li = el('li', `${c.name}: ${c.report}`, c.ok ? 'ok' : 'bad');
          li.dataset.ok = String(c.ok);
          return li;
        }),
      );
      list.dataset.state = cases.every((c) => c.ok) ? 'passed' : 'failed';
    } catch (e) {
      list.replaceChildren(el('li', e.message, 'bad'));
      list.dataset.state = 'failed';
    }
    button.disabled = false;
  }

  /**
   * After an engine crash (a Rust panic: the worker was replaced), starts the new engine, loads
   * the bundle again (its files come from the cache) and says what happened.
   * @param {string} reason
   */
  async recover(reason) {
    this.restarts += 1;
    document.body.dataset.engineRestarts = String(this.restarts);
    const message = `The engine crashed (${reason}) and was restarted; the bundle was loaded again. Please report this.`;
    if (this.restarts > 3) {
      // The same fault again and again (say, while loading this bundle): stop retrying.
      this.showError(`The engine crashed ${this.restarts} times (last: ${reason}); reload the page or try another bundle.`);
      return;
    }
    try {
      this.showEngine(await this.engine.call('init', { device: this.state.device || 'auto' }));
      await this.openBundle();
      this.showError(message);
    } catch (e) {
      this.showError(`${message} Restarting failed too: ${e.message}`);
    }
  }

  /**
   * Shows what runs the math in the badge: WebGPU or the CPU, and why the CPU when the GPU
   * device was lost (the engine then computes on the CPU, with the same answers).
   * @param {EngineStatus} engine
   */
  showEngine(engine) {
    this.engineKind = engine.kind === 'gpu' ? 'WebGPU' : 'the CPU';
    const badge = $('engine');
    badge.textContent =
      engine.kind === 'gpu'
        ? 'WebGPU'
        : engine.lost
          ? `CPU (GPU device lost: ${engine.lost})`
          : engine.softwareSkipped
            ? 'CPU (faster here than software WebGPU)'
            : 'CPU';
    badge.className = `badge ${engine.kind}`;
    badge.title = engine.describe;
    badge.dataset.kind = engine.kind;
    if (engine.lost) badge.dataset.lost = engine.lost;
    else delete badge.dataset.lost;
  }

  async boot() {
    // The app itself, kept for offline visits (sw.js); bundles are kept by the engine's worker.
    // Relative, so a site served from a sub-path keeps its own scope.
    if ('serviceWorker' in navigator) {
      navigator.serviceWorker.register('sw.js').then(
        () => (document.body.dataset.offlineReady = 'true'),
        (e) => (document.body.dataset.offlineReady = `no: ${e.message}`),
      );
    }
    $('storage').addEventListener('toggle', () => $('storage').open && this.showStorage());
    this.engine = new EngineClient();
    this.engine.onRestart = (reason) => this.recover(reason);
    this.engine.onStatus = (engine) => this.showEngine(engine);
    // The app object, for scripts and tests in the page's console.
    /** @type {any} */ (window).saescope = this;
    let engine;
    try {
      engine = await this.engine.call('init', { device: this.state.device || 'auto' });
    } catch (e) {
      this.showError(`Could not start the engine: ${e.message}. Was the WebAssembly package built (cargo xtask build)?`);
      this.setState('error');
      return;
    }
    this.showEngine(engine);
    // The map's WebGPU device, got while the bundle loads.
    if (!this.state.renderer || this.state.renderer === 'webgpu') prepareRenderer();
    $('selftest').disabled = false;
    $('selftest').addEventListener('click', () => this.selfTest());
    $('bundle-url').placeholder = DEFAULT_BUNDLE;
    $('bundle-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const bundle = $('bundle-url').value.trim() || DEFAULT_BUNDLE;
      this.state = { ...readState('?'), bundle, device: this.state.device };
      setFirstView('map'); // until the new bundle says otherwise
      writeState(this.state, true);
      this.openBundle();
    });
    for (const a of /** @type {NodeListOf<HTMLAnchorElement>} */ (document.querySelectorAll('#tabs a'))) {
      a.addEventListener('click', (e) => {
        e.preventDefault();
        this.update({ view: /** @type {View} */ (a.dataset.view) }, { push: true });
      });
    }
    window.addEventListener('popstate', () => {
      const bundleBefore = this.state.bundle;
      this.state = readState();
      if (this.state.bundle !== bundleBefore) this.openBundle();
      else {
        this.firstView();
        this.render();
      }
    });
    await this.openBundle();
  }
}

new App().boot();
