// The page: picks the engine (WebGPU or the CPU path), loads a bundle with progress, and shows a
// document's active SAE features and its nearest documents. Everything from a bundle is
// rendered as text (textContent), never as HTML.

import init, { Engine } from '../pkg/saescope_wasm.js';
import { loadBundle } from './bundle.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const DEFAULT_BUNDLE = 'bundles/demo/';

const state = { engine: null, scope: null, manifest: null, documents: [], doc: 0 };

function setState(s) {
  document.body.dataset.state = s;
}

function showError(message) {
  const el = $('error');
  el.textContent = message;
  el.hidden = !message;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function updateUrl() {
  const url = new URL(location.href);
  url.searchParams.set('bundle', $('bundle-url').value);
  url.searchParams.set('doc', String(state.doc));
  history.replaceState(null, '', url);
}

function progressUi() {
  const list = $('progress-files');
  const items = new Map();
  let sizes = new Map();
  let total = 0;
  const received = new Map();
  const redraw = () => {
    let got = 0;
    for (const v of received.values()) got += v;
    $('progress-total').value = total ? got / total : 1;
    $('progress-label').textContent = `${(got / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`;
  };
  return {
    start(files) {
      $('progress').hidden = false;
      list.replaceChildren();
      sizes = new Map(files.map((f) => [f.path, f.bytes]));
      total = files.reduce((s, f) => s + f.bytes, 0);
      for (const f of files) {
        const li = el('li', `${f.path} (${(f.bytes / 1e6).toFixed(2)} MB)`);
        items.set(f.path, li);
        list.append(li);
      }
      redraw();
    },
    progress(path, bytes) {
      received.set(path, Math.min(bytes, sizes.get(path) ?? bytes));
      redraw();
    },
    fileDone(path, error, cached) {
      const li = items.get(path);
      if (!li) return;
      li.className = error ? 'bad' : 'ok';
      if (error) li.textContent = error;
      else if (cached) li.textContent += ' from cache';
    },
  };
}

async function openBundle(url) {
  setState('loading');
  showError('');
  $('explore').hidden = true;
  $('bundle-info').textContent = '';
  if (state.scope) {
    state.scope.free();
    state.scope = null;
  }
  try {
    const { scope, manifest, documents } = await loadBundle(state.engine, url, progressUi());
    Object.assign(state, { scope, manifest, documents });
    const info = scope.info();
    $('bundle-info').textContent =
      `${manifest.name}: ${info.documents.toLocaleString()} documents, ${manifest.embedding.model} embeddings (${info.d_in}-d), ` +
      `top-k SAE with ${info.d_sae.toLocaleString()} features and k = ${info.k}. ${manifest.description}`;
    $('doc-index').max = String(info.documents - 1);
    $('explore').hidden = false;
    const doc = Number(params.get('doc') ?? 0);
    await showDocument(Number.isInteger(doc) && doc >= 0 && doc < info.documents ? doc : 0);
    setState('ready');
  } catch (e) {
    showError(`Could not load the bundle at ${url}: ${e.message}`);
    setState('error');
  }
}

async function showDocument(doc) {
  const scope = state.scope;
  if (!scope) return;
  if (!(doc >= 0 && doc < scope.documents())) {
    showError(`There is no document ${doc}; this bundle has ${scope.documents()}.`);
    return;
  }
  showError('');
  setState('busy');
  state.doc = doc;
  $('doc-index').value = String(doc);
  const meta = state.documents[doc] ?? { id: String(doc), title: `Document ${doc}`, abstract: '' };
  $('doc-title').textContent = meta.title;
  $('doc-meta').textContent = [meta.id, ...(meta.categories ?? []).slice(0, 3)].join(' · ');
  $('doc-text').textContent = meta.abstract ?? '';
  try {
    const [features, hits] = [await scope.documentFeatures(doc), await scope.searchByDocument(doc, 10)];
    renderFeatures(doc, features);
    renderSimilar(doc, hits);
    updateUrl();
    setState('ready');
  } catch (e) {
    showError(e.message);
    setState('ready');
  }
}

function renderFeatures(doc, features) {
  const list = $('features');
  list.dataset.doc = String(doc);
  list.replaceChildren();
  const max = Math.max(1e-9, ...features.map((f) => f.activation));
  $('features-note').textContent = `(${features.length} active)`;
  for (const f of features) {
    const li = el('li');
    li.dataset.feature = String(f.feature);
    li.dataset.activation = String(f.activation);
    const bar = el('div', undefined, 'bar');
    bar.style.width = `${(100 * f.activation) / max}%`;
    li.append(el('span', `feature ${f.feature}`), bar, el('span', f.activation.toFixed(3), 'value'));
    list.append(li);
  }
}

function renderSimilar(doc, hits) {
  const list = $('similar');
  list.dataset.doc = String(doc);
  list.replaceChildren();
  for (const h of hits) {
    const li = el('li');
    li.dataset.doc = String(h.doc);
    li.dataset.score = String(h.score);
    const title = state.documents[h.doc]?.title ?? `Document ${h.doc}`;
    const link = el('a', title);
    link.addEventListener('click', () => showDocument(h.doc));
    li.append(link, el('span', h.score.toFixed(3), 'score'));
    list.append(li);
  }
}

async function selfTest() {
  const button = $('selftest');
  const list = $('selftest-results');
  button.disabled = true;
  list.replaceChildren(el('li', 'running…'));
  list.dataset.state = 'running';
  try {
    const cases = await state.engine.selfTest();
    list.replaceChildren(...cases.map((c) => {
      const li = el('li', `${c.name}: ${c.report}`, c.ok ? 'ok' : 'bad');
      li.dataset.ok = String(c.ok);
      return li;
    }));
    list.dataset.state = cases.every((c) => c.ok) ? 'passed' : 'failed';
  } catch (e) {
    list.replaceChildren(el('li', e.message, 'bad'));
    list.dataset.state = 'failed';
  }
  button.disabled = false;
}

async function boot() {
  try {
    await init();
  } catch (e) {
    showError(`Could not start the WebAssembly module: ${e.message}. Was it built (cargo xtask build)?`);
    setState('error');
    return;
  }
  const preferGpu = params.get('device') !== 'cpu';
  state.engine = await Engine.create(preferGpu);
  const badge = $('engine');
  badge.textContent = state.engine.kind() === 'gpu' ? 'WebGPU' : 'CPU';
  badge.className = `badge ${state.engine.kind()}`;
  badge.title = state.engine.describe();
  badge.dataset.kind = state.engine.kind();
  $('selftest').disabled = false;
  $('selftest').addEventListener('click', selfTest);
  $('bundle-form').addEventListener('submit', (e) => {
    e.preventDefault();
    openBundle($('bundle-url').value.trim() || DEFAULT_BUNDLE);
  });
  $('doc-form').addEventListener('submit', (e) => {
    e.preventDefault();
    showDocument(Number($('doc-index').value));
  });
  $('doc-random').addEventListener('click', () => {
    if (state.scope) showDocument(Math.floor(Math.random() * state.scope.documents()));
  });
  const bundle = params.get('bundle') || DEFAULT_BUNDLE;
  $('bundle-url').value = bundle;
  await openBundle(bundle);
}

boot();
