// @ts-check
// The workshop: the visitor's own corpus, start to finish, in this tab. (1) Bring data: a corpus
// file (JSON Lines, CSV or plain text, plain or gzip, read with `saescope build`'s rules), and
// optionally its embeddings (.npy) and an SAE (SAELens cfg.json + safetensors, or the paper's
// .pth). (2) Embed with all-MiniLM-L6-v2 on a pool of workers. (3) Train a top-k SAE with live
// plots, pause, resume and stop. (4) Build: encode, feature statistics, map, labels, families;
// the bundle is saved in the browser and opens in every view; export it as a zip or a folder.
// All the work runs in workers (the engine's and the embedding pool's); this only presents.

import { $, el, button, downloadFile, fmt, snippet } from '../dom.js';
import { lineChart } from '../charts.js';
import { embedAll } from '../embed-pool.js';
import { DEFAULT_BUNDLE } from '../state.js';

/** @import { App } from '../main.js' */
/** @import { CorpusSummary, TrainSettings, StepPoint, WorkshopModel } from '../types.js' */

/** Corpus files, by name. */
const CORPUS = /\.(jsonl|json|ndjson|csv|txt)(\.gz)?$/i;

/**
 * A labelled number input.
 * @param {string} label
 * @param {string} name
 * @param {number} value
 * @param {string} step
 */
function numberField(label, name, value, step) {
  const input = el('input');
  input.type = 'number';
  input.name = name;
  input.value = String(value);
  input.step = step;
  input.min = '0';
  const wrap = el('label', `${label} `);
  wrap.append(input);
  return { wrap, input };
}

/**
 * A duration in words.
 * @param {number} seconds
 */
function duration(seconds) {
  if (!Number.isFinite(seconds)) return '…';
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  return `${Math.round(seconds / 60)} min`;
}


export class WorkshopView {
  /**
   * @param {App} app
   * @param {HTMLElement} root
   */
  constructor(app, root) {
    this.app = app;
    this.root = root;
    this.built = false;
    /** @type {CorpusSummary | null} */
    this.summary = null;
    /** @type {WorkshopModel | null} */
    this.model = null;
    this.embedded = false;
    /** Whether the embeddings came from an imported .npy (any model's) rather than the workers. */
    this.imported = false;
    /** @type {'none' | 'trained' | 'imported'} */
    this.sae = 'none';
    /** @type {AbortController | null} */
    this.embedding = null;
    /** Training: running, paused (resumed by calling `resume`), asked to stop. */
    this.training = { running: false, paused: false, stop: false, resume: () => {} };
    /** @type {StepPoint[]} */
    this.points = [];
    this.totalSteps = 0;
    /** @type {Record<Exclude<keyof TrainSettings, 'engine'>, { wrap: HTMLLabelElement, input: HTMLInputElement }> | null} */
    this.fields = null;
    /** Whether the visitor typed a model URL (then the open bundle's is not put there). */
    this.modelTouched = false;
    // The controls, laid out by build() when the tab is first shown.
    this.pthK = numberField('k of a .pth SAE', 'pth-k', 32, '1');
    this.dataStatus = this.status('ws-data-status');
    this.modelUrl = el('input');
    this.workers = el('select');
    this.embedButton = button('Embed', () => this.embed());
    this.cancelButton = button('Cancel', () => this.embedding?.abort());
    this.embedBar = el('progress');
    this.embedStatus = this.status('ws-embed-status');
    this.settingsBox = el('div', null, 'ws-settings');
    /** @type {HTMLSelectElement | null} */
    this.engineSelect = null;
    this.reasoning = el('p', '', 'muted');
    this.trainButton = button('Train', () => this.train());
    this.pauseButton = button('Pause', () => this.pause());
    this.stopButton = button('Stop', () => this.stop());
    this.plots = el('div', null, 'ws-plots');
    this.trainStatus = this.status('ws-train-status');
    this.nameInput = el('input');
    this.buildButton = button('Build', () => this.buildBundle());
    this.buildBar = el('progress');
    this.buildStatus = this.status('ws-build-status');
    this.savedList = el('ul', null, 'ws-saved');
    const ids = /** @type {const} */ ([
      [this.modelUrl, 'ws-model'], [this.workers, 'ws-workers'], [this.embedButton, 'ws-embed-start'], [this.cancelButton, 'ws-embed-cancel'],
      [this.trainButton, 'ws-train-start'], [this.pauseButton, 'ws-train-pause'], [this.stopButton, 'ws-train-stop'], [this.plots, 'ws-plots'],
      [this.nameInput, 'ws-name'], [this.buildButton, 'ws-build-start'], [this.savedList, 'ws-saved-list'],
    ]);
    for (const [node, id] of ids) node.id = id;
  }

  /**
   * A step's status line.
   * @param {string} id
   */
  status(id) {
    const line = el('div', '', 'ws-status');
    line.id = id;
    return line;
  }

  async show() {
    if (!this.built) this.build();
    // The model comes from the open bundle when it carries one and is on the web (the pool's
    // workers fetch its files, from the cache after the first time).
    const url = this.app.bundleUrl ?? '';
    const carries = this.app.catalog?.manifest.files.some((f) => f.role === 'embedder-weights');
    if (!this.modelTouched && carries && !url.startsWith('saved:') && !/\.zip$/i.test(url)) this.modelUrl.value = url;
    await this.refreshSaved();
  }

  /**
   * A step's panel: a heading, a line of help, and its body.
   * @param {string} id
   * @param {string} title
   * @param {string} help
   */
  step(id, title, help) {
    const body = el('div');
    const section = el('section', null, 'panel workshop-step');
    section.id = id;
    section.append(el('h3', title), el('p', help, 'muted'), body);
    this.root.append(section);
    return body;
  }

  build() {
    this.built = true;
    this.root.replaceChildren(
      el('h2', 'Workshop: your own corpus, start to finish'),
      el('p', 'Everything happens in this tab: nothing is uploaded. The result is saved in this browser and opens in every view of the page.', 'muted'),
    );

    // 1. Bring data.
    const data = this.step('ws-data', '1. Bring data', 'A corpus file: JSON Lines (id, title, abstract, categories), CSV with those columns, or plain text with one document per line; plain or .gz. Optionally add embeddings made elsewhere (.npy, one row per document) and an SAE (SAELens cfg.json with its .safetensors, or the paper’s .pth).');
    const input = el('input');
    input.type = 'file';
    input.multiple = true;
    input.id = 'ws-files';
    const drop = el('div', 'Drop files here, or ', 'drop-zone');
    drop.append(input);
    drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      if (e.dataTransfer?.files.length) this.bring([...e.dataTransfer.files]);
    });
    input.addEventListener('change', () => input.files?.length && this.bring([...input.files]));
    data.append(drop, this.pthK.wrap, this.dataStatus);

    // 2. Embed.
    const embed = this.step('ws-embed', '2. Embed', 'all-MiniLM-L6-v2 on the CPU in WebAssembly, spread over workers (each its own copy of the model). Its weights come from the bundle below (from the browser’s cache when the page has loaded them).');
    // The bundle whose query embedder embeds the documents, unless the visitor names another.
    this.modelUrl.value = DEFAULT_BUNDLE;
    this.modelUrl.addEventListener('input', () => (this.modelTouched = true));
    this.modelUrl.size = 40;
    const modelLabel = el('label', 'model from the bundle at ');
    modelLabel.append(this.modelUrl);
    const cores = Math.max(1, navigator.hardwareConcurrency || 2);
    for (let n = 1; n <= Math.min(cores, 8); n++) this.workers.append(new Option(String(n), String(n), false, n === Math.min(2, cores)));
    const workersLabel = el('label', ' workers ');
    workersLabel.append(this.workers);
    const embedButtons = el('div', null, 'ws-buttons');
    embedButtons.append(this.embedButton, this.cancelButton);
    embed.append(modelLabel, workersLabel, embedButtons, this.embedBar, this.embedStatus);

    // 3. Train.
    const train = this.step('ws-train', '3. Train', 'A top-k sparse autoencoder (arXiv 2408.00657’s recipe), on WebGPU where the browser has a hardware GPU, else on the CPU path (a software WebGPU such as SwiftShader is far slower than it). A tenth of the documents is held out to measure it.');
    const buttons = el('div', null, 'ws-buttons');
    buttons.append(this.trainButton, this.pauseButton, this.stopButton);
    train.append(this.settingsBox, this.reasoning, buttons, this.plots, this.trainStatus);

    // 4. Build and keep.
    const keep = this.step('ws-build', '4. Build, explore, keep', 'Encodes every document, then computes feature statistics, the map, labels with their scores, and feature families; saves the bundle in this browser.');
    this.nameInput.size = 30;
    const nameLabel = el('label', 'name ');
    nameLabel.append(this.nameInput);
    keep.append(nameLabel, this.buildButton, this.buildBar, this.buildStatus);

    const saved = this.step('ws-saved', 'Saved in this browser', 'Bundles the workshop made. Open one in every view, download it as a zip (which `saescope inspect` reads and the page opens from a URL), or write it into a folder.');
    saved.append(this.savedList);
    this.update();
  }

  /** Enables what can be done now. */
  update() {
    const busy = !!this.embedding || this.training.running;
    this.embedButton.disabled = !this.summary || busy;
    this.cancelButton.disabled = !this.embedding;
    this.trainButton.disabled = !this.embedded || busy;
    this.pauseButton.disabled = !this.training.running;
    this.pauseButton.textContent = this.training.paused ? 'Resume' : 'Pause';
    this.stopButton.disabled = !this.training.running;
    this.buildButton.disabled = !this.embedded || this.sae === 'none' || busy;
    document.body.dataset.workshop = busy ? 'busy' : 'idle';
  }

  /**
   * Shows an error in a step's status line.
   * @param {HTMLElement} where
   * @param {string} message
   */
  fail(where, message) {
    where.replaceChildren(el('span', message, 'bad'));
    where.dataset.state = 'error';
  }

  /**
   * Reads dropped or picked files: the corpus first, then embeddings and an SAE.
   * @param {File[]} files
   */
  async bring(files) {
    const engine = this.app.engine;
    const status = this.dataStatus;
    status.dataset.state = 'reading';
    const corpus = files.find((f) => CORPUS.test(f.name) && !/^cfg\.json$/i.test(f.name));
    const npy = files.find((f) => /\.npy$/i.test(f.name));
    const cfg = files.find((f) => /^cfg\.json$/i.test(f.name));
    const weights = files.find((f) => /\.safetensors$/i.test(f.name));
    const pth = files.find((f) => /\.pth$/i.test(f.name));
    try {
      if (corpus) {
        status.replaceChildren(el('span', `reading ${corpus.name} (${fmt.mb(corpus.size)})…`));
        this.summary = null;
        this.embedded = false;
        this.imported = false;
        this.sae = 'none';
        this.points = [];
        this.plots.replaceChildren();
        // Refused before reading when it cannot fit in the tab.
        await engine.call('workshopCheck', { name: corpus.name, size: corpus.size });
        const bytes = new Uint8Array(await corpus.arrayBuffer());
        this.summary = await engine.call('workshopRead', { name: corpus.name, bytes });
        this.nameInput.value = corpus.name.replace(/\.gz$/i, '').replace(/\.[^.]+$/, '');
        const settings = await engine.call('workshopDefaults');
        this.showSettings(settings);
      }
      if (!this.summary) throw new Error('add a corpus file (.jsonl, .csv or .txt, plain or .gz) first');
      /** @type {HTMLElement[]} */
      const notes = [];
      if (npy) {
        const [rows, dim] = await engine.call('workshopImportEmbeddings', { name: npy.name, bytes: new Uint8Array(await npy.arrayBuffer()) });
        this.embedded = true;
        this.imported = true;
        notes.push(el('p', `Embeddings from ${npy.name}: ${fmt.int(rows)} × ${dim}. Embedding here is not needed. ` +
          'They may come from any model: the bundle carries the query embedder (typed queries, label scores) only if a sample of documents embedded here with all-MiniLM-L6-v2 matches these rows.', 'ok'));
      }
      if (pth || (cfg && weights)) {
        const shape = pth
          ? await engine.call('workshopImportSae', { pth: new Uint8Array(await pth.arrayBuffer()), k: Number(this.pthK.input.value) })
          : await engine.call('workshopImportSae', { cfg: new Uint8Array(await /** @type {File} */ (cfg).arrayBuffer()), weights: new Uint8Array(await /** @type {File} */ (weights).arrayBuffer()) });
        this.sae = 'imported';
        notes.push(el('p', `SAE from ${pth ? pth.name : 'cfg.json + safetensors'}: d_in ${shape[0]}, ${fmt.int(shape[1])} latents, k = ${shape[2]}. Training is not needed.`, 'ok'));
      } else if (cfg || weights) {
        notes.push(el('p', 'An SAELens SAE needs both cfg.json and its .safetensors file.', 'bad'));
      }
      this.showSummary(/** @type {CorpusSummary} */ (this.summary), notes);
      status.dataset.state = 'read';
    } catch (e) {
      this.fail(status, e.message);
    }
    this.update();
  }

  /**
   * What was read: counts, skipped records with reasons, a preview.
   * @param {CorpusSummary} s
   * @param {HTMLElement[]} notes
   */
  showSummary(s, notes) {
    /** @type {HTMLElement} */
    const head = el('p', `${s.name}: ${fmt.int(s.documents)} documents read from ${fmt.int(s.records)} records; ${fmt.int(s.skipped)} skipped.`);
    head.dataset.documents = String(s.documents);
    head.dataset.skipped = String(s.skipped);
    const parts = [head];
    if (s.skipped_examples.length) {
      const list = el('ul', null, 'ws-skipped');
      for (const k of s.skipped_examples) list.append(el('li', `record ${k.record} (line ${k.line}): ${k.reason}`));
      if (s.skipped > s.skipped_examples.length) list.append(el('li', `… and ${fmt.int(s.skipped - s.skipped_examples.length)} more`, 'muted'));
      parts.push(list);
    }
    const table = el('table', null, 'ws-preview');
    const header = el('tr');
    for (const h of ['id', 'title', 'text', 'categories']) header.append(el('th', h));
    table.append(header);
    for (const d of s.preview) {
      const row = el('tr');
      for (const v of [d.id, d.title, snippet(d.abstract, 160), d.categories.join(' ')]) row.append(el('td', v));
      table.append(row);
    }
    parts.push(table, ...notes);
    this.dataStatus.replaceChildren(...parts);
  }

  /**
   * The training settings' inputs, filled with the defaults for this corpus.
   * @param {TrainSettings} s
   */
  showSettings(s) {
    const fields = {
      k: numberField('k', 'k', s.k, '1'),
      latents: numberField('latents', 'latents', s.latents, '1'),
      epochs: numberField('epochs', 'epochs', s.epochs, '1'),
      lr: numberField('learning rate', 'lr', s.lr, 'any'),
      batch: numberField('batch', 'batch', s.batch, '1'),
    };
    this.fields = fields;
    const engine = el('select');
    engine.name = 'engine';
    const gpu = this.app.engineKind === 'WebGPU';
    for (const [value, label] of [['gpu', 'WebGPU'], ['cpu', 'CPU path']]) {
      const option = el('option', label);
      option.value = value;
      option.disabled = value === 'gpu' && !gpu;
      engine.append(option);
    }
    engine.value = s.engine;
    this.engineSelect = engine;
    const engineWrap = el('label', 'train on ');
    engineWrap.append(engine);
    this.settingsBox.replaceChildren(...Object.values(fields).map((f) => f.wrap), engineWrap);
    const why = !gpu
      ? 'It trains on the CPU path, as the page computes on the CPU (the badge at the top says why).'
      : s.engine === 'cpu'
        ? 'It trains on the CPU path: this browser\'s WebGPU is a software renderer (such as SwiftShader), which trained 2,000 abstracts in 372 s against 2 s on the CPU path (measured on a 2-core machine); choose WebGPU to use it anyway.'
        : 'It trains on WebGPU, the GPU of this machine.';
    this.reasoning.textContent =
      `Defaults for ${fmt.int(this.summary?.documents ?? 0)} documents: the paper trains 3,072 latents with k = 32 on hundreds of thousands of abstracts; ` +
      'on a small corpus that many latents would each fire on a handful of documents (or never), so the latents are about a quarter of the documents (at most 3,072), ' +
      `k is 8, batches are small so an epoch still takes several steps, and there are more epochs, each short, at a higher learning rate so the loss settles. ${why}`;
  }

  /** The settings as typed. */
  settings() {
    const f = /** @type {NonNullable<typeof this.fields>} */ (this.fields);
    /** @type {TrainSettings['engine']} */
    const engine = /** @type {HTMLSelectElement} */ (this.engineSelect).value === 'gpu' ? 'gpu' : 'cpu';
    return { k: Number(f.k.input.value), latents: Number(f.latents.input.value), epochs: Number(f.epochs.input.value), lr: Number(f.lr.input.value), batch: Number(f.batch.input.value), engine };
  }

  /** The query embedder at the model URL, loaded into the workshop (once). */
  async loadModel() {
    const url = new URL(this.modelUrl.value.trim() || DEFAULT_BUNDLE, location.href);
    this.model = await this.app.engine.call('workshopModel', { url: url.href.endsWith('/') ? url.href : `${url.href}/` });
    return this.model;
  }

  async embed() {
    const engine = this.app.engine;
    const status = this.embedStatus;
    this.embedding = new AbortController();
    this.update();
    status.dataset.state = 'running';
    try {
      status.replaceChildren(el('span', 'loading the model…'));
      const model = await this.loadModel();
      const texts = await engine.call('workshopTexts');
      const workers = Number(this.workers.value);
      const started = performance.now();
      const vectors = await embedAll(texts, {
        workers,
        model,
        dim: model.dim,
        signal: this.embedding.signal,
        onProgress: (p) => {
          this.embedBar.value = p.done / p.total;
          status.replaceChildren(el('span', `${fmt.int(p.done)} of ${fmt.int(p.total)} documents · ${p.perSecond.toFixed(1)} per second on ${p.workers} worker${p.workers > 1 ? 's' : ''} · about ${duration(p.secondsLeft)} left`));
        },
      });
      await engine.call('workshopSetEmbeddings', { data: vectors, dim: model.dim });
      const seconds = (performance.now() - started) / 1000;
      this.embedded = true;
      this.embedBar.value = 1;
      const done = el('span', `Embedded ${fmt.int(texts.length)} documents in ${seconds.toFixed(1)} s (${(texts.length / seconds).toFixed(1)} per second, ${workers} worker${workers > 1 ? 's' : ''}).`, 'ok');
      status.replaceChildren(done);
      status.dataset.state = 'done';
      status.dataset.perSecond = String(texts.length / seconds);
    } catch (e) {
      this.fail(status, e.name === 'AbortError' ? 'Embedding was cancelled; nothing was kept. Embed again to start over.' : e.message);
      if (e.name === 'AbortError') status.dataset.state = 'cancelled';
    }
    this.embedding = null;
    this.update();
  }

  async train() {
    const engine = this.app.engine;
    const status = this.trainStatus;
    this.training = { running: true, paused: false, stop: false, resume: () => {} };
    this.points = [];
    this.update();
    status.dataset.state = 'running';
    /** @type {string | null} */
    let problem = null;
    try {
      const plan = await engine.call('workshopBegin', { settings: this.settings() });
      this.totalSteps = plan.total_steps;
      status.replaceChildren(el('span', `training on ${fmt.int(plan.train_rows)} documents (${fmt.int(plan.validation_rows)} held out): ${fmt.int(plan.total_steps)} steps of ${plan.steps_per_epoch} per epoch, on ${this.app.engineKind}`));
      const started = performance.now();
      for (;;) {
        if (this.training.stop) break;
        if (this.training.paused) {
          status.dataset.state = 'paused';
          await new Promise((resolve) => (this.training.resume = () => resolve(undefined)));
          status.dataset.state = 'running';
          continue;
        }
        const p = await engine.call('workshopTrain', { maxSteps: 1000, budgetMs: 250 });
        this.points.push(...p.steps);
        this.draw();
        const last = p.steps.at(-1);
        const seconds = (performance.now() - started) / 1000;
        status.replaceChildren(el('span', `step ${fmt.int(p.steps_done)} of ${fmt.int(p.total_steps)}${last ? ` · epoch ${last.epoch}` : ''} · ${duration(seconds)} so far, about ${duration((seconds / Math.max(1, p.steps_done)) * (p.total_steps - p.steps_done))} left`));
        if (p.done) break;
      }
    } catch (e) {
      problem = e.message;
    }
    try {
      const result = await engine.call('workshopFinishTraining');
      this.sae = 'trained';
      const line = el('span', `${problem ? `${problem}. ` : this.training.stop ? 'Stopped. ' : ''}Held-out normalised MSE ${fmt.num(result.validation_nmse, 4)} after ${fmt.int(result.steps)} steps (${result.epochs} whole epochs).`, problem ? 'bad' : 'ok');
      line.dataset.nmse = String(result.validation_nmse);
      status.replaceChildren(line);
      status.dataset.state = problem ? 'diverged' : 'done';
    } catch (e) {
      this.fail(status, problem ?? e.message);
    }
    this.training.running = false;
    this.update();
  }

  pause() {
    this.training.paused = !this.training.paused;
    if (!this.training.paused) this.training.resume();
    this.update();
  }

  stop() {
    this.training.stop = true;
    if (this.training.paused) {
      this.training.paused = false;
      this.training.resume();
    }
  }

  /** The four live plots, from every step so far. */
  draw() {
    const xs = this.points.map((p) => p.step);
    /** @type {[keyof StepPoint, string, (v: number) => string][]} */
    const series = [
      ['nmse', 'normalised MSE', (v) => v.toFixed(3)],
      ['aux_loss', 'AuxK loss', (v) => v.toPrecision(3)],
      ['dead_fraction', 'dead latents', (v) => fmt.pct(v)],
      ['l0', 'L0 (active latents per document)', (v) => v.toFixed(1)],
    ];
    this.plots.replaceChildren(...series.map(([key, caption, format]) => {
      const chart = lineChart(xs, this.points.map((p) => p[key]), { caption, format, xMax: this.totalSteps });
      chart.dataset.series = key;
      chart.dataset.points = String(xs.length);
      return chart;
    }));
  }

  async buildBundle() {
    const engine = this.app.engine;
    const status = this.buildStatus;
    this.buildButton.disabled = true;
    status.dataset.state = 'running';
    document.body.dataset.workshop = 'busy';
    let modelProblem = '';
    try {
      if (this.imported && !this.model) {
        // Imported embeddings may be any model's: the build checks a sample against the query
        // embedder, so load it if it can be had; without it the bundle has no typed queries.
        status.replaceChildren(el('span', 'loading the query model to check the imported embeddings…'));
        await this.loadModel().catch((e) => (modelProblem = ` (the query model could not be loaded: ${e.message})`));
      }
      const started = performance.now();
      // Each stage's time (from its first report to the next stage's), for the benchmark.
      /** @type {Record<string, number>} */
      const stages = {};
      let stage = '';
      let stageStarted = started;
      const built = await engine.call('workshopBuild', { name: this.nameInput.value.trim() || 'my corpus' }, (p) => {
        if (p.type !== 'layout') return;
        if (p.stage !== stage) {
          const now = performance.now();
          if (stage) stages[stage] = (stages[stage] ?? 0) + now - stageStarted;
          [stage, stageStarted] = [p.stage, now];
        }
        this.buildBar.value = p.total ? p.done / p.total : 0;
        status.replaceChildren(el('span', `${p.stage}: ${fmt.int(p.done)} of ${fmt.int(p.total)}`));
      });
      if (stage) stages[stage] = (stages[stage] ?? 0) + performance.now() - stageStarted;
      status.dataset.stages = JSON.stringify(stages);
      this.buildBar.value = 1;
      const href = this.savedHref(built.name);
      const open = el('a', `Explore “${built.name}”`, 'button-link');
      open.href = href;
      open.id = 'ws-open';
      const model = built.queries
        ? `Embeddings of ${built.model}; typed queries and label scores use it.`
        : `Embeddings of model ${built.model}: it carries no query embedder, so documents, features and the map work but typed queries do not${modelProblem}.`;
      status.replaceChildren(el('p', `Built and saved “${built.name}”: ${built.files} files, ${fmt.mb(built.bytes)}, in ${((performance.now() - started) / 1000).toFixed(1)} s.`, 'ok'), el('p', model, built.queries ? 'muted' : 'bad'), open);
      status.dataset.state = 'done';
      status.dataset.name = built.name;
      status.dataset.ms = String(Math.round(performance.now() - started));
      await this.refreshSaved();
    } catch (e) {
      this.fail(status, e.message);
    }
    this.update();
  }

  /**
   * The page on a saved bundle, on the engine this page was asked for (`device`).
   * @param {string} name
   */
  savedHref(name) {
    const device = this.app.state.device;
    return `?bundle=${encodeURIComponent(`saved:${name}`)}${device ? `&device=${encodeURIComponent(device)}` : ''}`;
  }

  /** The list of saved bundles, each with open, download, folder and delete. */
  async refreshSaved() {
    let names;
    try {
      names = await this.app.engine.call('savedList');
    } catch (e) {
      this.savedList.replaceChildren(el('li', e.message, 'bad'));
      return;
    }
    if (!names.length) {
      this.savedList.replaceChildren(el('li', 'None yet.', 'muted'));
      return;
    }
    this.savedList.replaceChildren(...names.map((name) => {
      const li = el('li', null, '', { name });
      const open = el('a', name);
      open.href = this.savedHref(name);
      const zip = button('Download zip', async () => downloadFile(await this.app.engine.call('savedZip', { name }), `${name}.zip`, 'application/zip'));
      zip.className = 'ws-zip';
      li.append(open, ' ', zip);
      if ('showDirectoryPicker' in window) li.append(' ', button('Save to a folder', () => this.saveToFolder(name)));
      li.append(' ', button('Delete', async () => {
        if (!confirm(`Delete the saved bundle “${name}” from this browser?`)) return;
        await this.app.engine.call('savedDelete', { name });
        await this.refreshSaved();
      }));
      return li;
    }));
  }

  /**
   * Writes a saved bundle into a folder the visitor picks (File System Access API): the files,
   * then the manifest.
   * @param {string} name
   */
  async saveToFolder(name) {
    try {
      /** @type {FileSystemDirectoryHandle} */
      const dir = await /** @type {any} */ (window).showDirectoryPicker({ mode: 'readwrite' });
      const { manifest, paths, contents } = await this.app.engine.call('savedFiles', { name });
      const write = async (/** @type {string} */ path, /** @type {Uint8Array} */ bytes) => {
        let d = dir;
        const parts = path.split('/');
        for (const p of parts.slice(0, -1)) d = await d.getDirectoryHandle(p, { create: true });
        const out = await (await d.getFileHandle(/** @type {string} */ (parts.at(-1)), { create: true })).createWritable();
        await out.write(/** @type {Uint8Array<ArrayBuffer>} */ (bytes));
        await out.close();
      };
      for (let i = 0; i < paths.length; i++) await write(paths[i], contents[i]);
      await write('manifest.json', manifest);
      $('error').hidden = true;
    } catch (e) {
      if (e.name !== 'AbortError') this.app.showError(`Could not write the bundle into the folder: ${e.message}`);
    }
  }
}
