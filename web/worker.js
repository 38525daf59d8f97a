// @ts-check
// The worker that owns the WebAssembly module, the compute engine (WebGPU device or CPU path)
// and the loaded bundle, so the page never freezes while the math runs. The page talks to it
// through `engine.js`: each request is `{id, method, args}`; the answer is `{id, result}` or
// `{id, error}`, with `{id, progress}` messages before it for long work. Requests run one at a
// time, in order (the wasm objects are not re-entrant), except those that use none (UNQUEUED).

import init, { Engine, QueryEmbedder, Workshop, shardTexts, unzipBundle, zipBundle } from '../pkg/saescope_wasm.js';
import { fetchEntry, fetchOrKept, forgetBundle, inParallel, openCache, shortOfSpace, sizeText, storageReport } from './fetch.js';
import { deleteSaved, freeName, listSaved, readSaved, saveBundle } from './store.js';

/** @import { Scope } from '../pkg/saescope_wasm.js' */
/** @import { EngineMethod, EngineMethods, EngineStatus, FileEntry, Manifest, Progress, Role } from './types.js' */

/**
 * What answers each request: its arguments and a progress callback in, its result out.
 * @typedef {{ [M in EngineMethod]: (args: EngineMethods[M]['args'], progress: (p: Progress) => void) => EngineMethods[M]['result'] | Promise<EngineMethods[M]['result']> }} Handlers
 */

/** @type {Role[]} */
const EMBEDDER_ROLES = ['embedder-weights', 'embedder-tokenizer', 'embedder-config'];

/** The role of texts shards: fetched when a text is shown (documentTexts), not with the bundle. */
/** @type {Role} */
const TEXTS_ROLE = 'document-texts';

/**
 * The largest manifest.json the page reads: the engine's own limit (MAX_MANIFEST_BYTES in
 * crates/format/src/manifest.rs), applied before downloading rather than after. A manifest lists
 * a bundle's files (a few hundred bytes each: a 20k-document bundle's is about 5 kB).
 */
const MANIFEST_LIMIT = 16 * 2 ** 20;

/**
 * The most a bundle's files (the query embedder's included) may add up to. A tab holds every
 * file as downloaded and the engine's parsed copy of it in a wasm32 memory of at most 4 GiB, so a
 * larger bundle would fail late, or take the tab down, after a long download.
 */
const BUNDLE_LIMIT = 1.5 * 2 ** 30;

/** @type {Engine | null} */
let engine = null;
/** @type {Scope | null} */
let scope = null;
/** @type {QueryEmbedder | null} */
let embedder = null;
/** @type {{ source: Source, manifestBytes: Uint8Array, manifest: Manifest } | null} */
let bundle = null;
/** @type {Workshop | null} */
let workshop = null;

/**
 * Where a bundle's files come from: a folder on a web server (files cached by hash), one zip on
 * a web server, or a bundle the workshop saved in this browser.
 * @typedef {object} Source
 * @property {string} what the source, for messages
 * @property {() => Promise<{ bytes: Uint8Array, kept: boolean, remember: () => Promise<number> }>} manifest the manifest's bytes, from the source as it is now; `kept`: the copy kept for offline use (the network did not answer); `remember()` keeps these bytes once the bundle loaded (resolving with the bytes not kept for lack of space)
 * @property {(entry: FileEntry, onBytes: (n: number) => void) => Promise<{ bytes: Uint8Array, cached: boolean, remember: () => Promise<number>, forget?: () => Promise<void> }>} file a file; `remember()` keeps it for offline use and resolves with the bytes it could not keep for lack of space; `forget()` drops a cached copy that turned out damaged
 */

/**
 * The source of a bundle URL: `saved:NAME` (kept by the workshop), an http(s) URL ending in
 * `.zip`, or an http(s) folder.
 * @param {string} url absolute, resolved by the page
 * @param {(p: Progress) => void} progress
 * @returns {Promise<Source>}
 */
async function sourceOf(url, progress) {
  if (url.startsWith('saved:')) {
    const name = url.slice('saved:'.length);
    return {
      what: `the saved bundle "${name}"`,
      manifest: async () => ({ bytes: await readSaved(name, 'manifest.json'), kept: false, remember: async () => 0 }),
      file: async (entry, onBytes) => {
        const bytes = await readSaved(name, entry.path);
        onBytes(bytes.length);
        return { bytes, cached: true, remember: async () => 0 };
      },
    };
  }
  if (!URL.canParse(url)) throw new Error(`a bundle URL must be absolute, not "${url}": resolve it against the page first, new URL(url, location.href)`);
  const base = new URL(url);
  const cache = await openCache();
  if (base.pathname.endsWith('.zip')) {
    const fetchZip = async () => {
      const { bytes, kept, remember } = await fetchOrKept(cache, base.href, { bytes: BUNDLE_LIMIT, what: 'the limit for a bundle' });
      /** @type {{ manifest: Uint8Array, paths: string[], contents: Uint8Array[] }} */
      const unzipped = unzipBundle(bytes);
      return { unzipped, kept, remember };
    };
    const opened = await fetchZip();
    const files = new Map(opened.unzipped.paths.map((p, i) => [p, opened.unzipped.contents[i]]));
    let first = /** @type {typeof opened | null} */ (opened);
    return {
      what: base.href,
      // The zip is kept whole, as a folder's manifest is (once every file verified). Asked again
      // (has the bundle changed?), the zip is fetched again.
      manifest: async () => {
        const { unzipped, kept, remember } = first ?? (await fetchZip());
        first = null;
        return { bytes: unzipped.manifest, kept, remember };
      },
      file: async (entry, onBytes) => {
        const bytes = files.get(entry.path);
        if (!bytes) throw new Error(`${entry.path}: not in the zip`);
        onBytes(bytes.length);
        return { bytes, cached: false, remember: async () => 0 };
      },
    };
  }
  return {
    what: base.href,
    manifest: () => fetchOrKept(cache, new URL('manifest.json', base).href, { bytes: MANIFEST_LIMIT, what: 'the limit for a manifest' }),
    file: (entry, onBytes) => fetchEntry(cache, base, entry, onBytes),
  };
}

/**
 * Fetches `entries` from `source` (4 at a time), verifying each with `verify(entry, bytes)`.
 * @param {FileEntry[]} entries
 * @param {Source} source
 * @param {(entry: FileEntry, bytes: Uint8Array) => void | Promise<void>} verify throws (or rejects) when the bytes are wrong
 * @param {(p: Progress) => void} progress
 * @param {{ bytes: number }} [unkept] counts the bytes that could not be kept for lack of space
 * @returns {Promise<Map<string, Uint8Array>>} the bytes by path
 */
async function download(entries, source, verify, progress, unkept = { bytes: 0 }) {
  progress({ type: 'start', files: entries.map((e) => ({ path: e.path, bytes: e.bytes })) });
  /** @type {string[]} */
  const failures = [];
  /** @type {Map<string, Uint8Array>} */
  const got = new Map();
  await inParallel(entries, 4, async (entry) => {
    let last = 0;
    try {
      const onBytes = (/** @type {number} */ n) => {
        // At most ~50 progress messages per file.
        if (n - last >= entry.bytes / 50 || n === entry.bytes) {
          last = n;
          progress({ type: 'bytes', path: entry.path, bytes: n });
        }
      };
      let file = await source.file(entry, onBytes);
      try {
        await verify(entry, file.bytes); // throws, naming the file, on a size or sha256 mismatch
      } catch (e) {
        // A damaged copy in the cache (a disk error, a tampered entry): dropped, fetched afresh.
        if (!file.forget) throw e;
        await file.forget();
        last = 0;
        file = await source.file(entry, onBytes);
        await verify(entry, file.bytes);
      }
      const { bytes, cached, remember } = file;
      unkept.bytes += await remember();
      got.set(entry.path, bytes);
      progress({ type: 'done', path: entry.path, cached });
    } catch (e) {
      const message = e?.message ?? String(e);
      failures.push(message);
      progress({ type: 'done', path: entry.path, error: message });
    }
  });
  if (failures.length) {
    // One file: its own message (which names it) says it all.
    throw new Error(entries.length === 1 ? failures[0] : `${failures.length} of ${entries.length} files could not be used:\n${failures.join('\n')}`);
  }
  return got;
}

/**
 * What a manifest must pass before anything is downloaded, besides what the engine checked (its
 * shape, paths inside the bundle, each listed once): all its files small enough for a tab.
 * @param {Manifest} manifest
 */
function checkManifest(manifest) {
  // Texts shards are fetched a few at a time, when shown, and are not held all at once.
  const loaded = manifest.files.filter((f) => f.role !== TEXTS_ROLE);
  const total = loaded.reduce((sum, f) => sum + f.bytes, 0);
  if (!(total <= BUNDLE_LIMIT)) {
    throw new Error(
      `this bundle's ${loaded.length} files add up to ${sizeText(total)}, over the ${sizeText(BUNDLE_LIMIT)} a browser tab can load; nothing was downloaded`,
    );
  }
}

/** @type {Handlers} */
const handlers = {
  async init({ device }) {
    await init();
    engine = await Engine.create(device);
    const now = status(engine);
    toldStatus = JSON.stringify(now);
    return now;
  },

  /** Loads a bundle's core files (everything but the query embedder) onto the engine. */
  async open({ url }, progress) {
    scope?.free();
    embedder?.free();
    scope = embedder = bundle = null;
    const source = await sourceOf(url, progress);
    const { bytes: manifestBytes, kept, remember } = await source.manifest();
    const loading = activeEngine().openBundle(manifestBytes);
    try {
      /** @type {Manifest} */
      const manifest = loading.manifest();
      checkManifest(manifest);
      // The query embedder loads next (loadEmbedder); texts when shown (documentTexts).
      const entries = manifest.files.filter((f) => !EMBEDDER_ROLES.includes(f.role) && f.role !== TEXTS_ROLE);
      const unkept = { bytes: 0 };
      await download(entries, source, (entry, bytes) => loading.add(entry.path, bytes), progress, unkept);
      progress({ type: 'finishing' });
      scope = await loading.finish();
      bundle = { source, manifestBytes, manifest };
      unkept.bytes += await remember(); // every file verified: this manifest is the one to open offline
      // Documents, feature statistics, labels and families, parsed by the engine.
      const catalog = scope.takeCatalog();
      const storage = unkept.bytes ? await shortOfSpace(unkept.bytes, 'Keeping this bundle for offline use') : null;
      return { manifest, info: scope.info(), splits: scope.splits(), catalog, embedderProblem: scope.embedderProblem() ?? null, offline: kept, storage };
    } finally {
      loading.free();
    }
  },

  /** Downloads, verifies and loads the bundle's query embedder. */
  async loadEmbedder(_args, progress) {
    if (!bundle) throw new Error('no bundle is loaded');
    const { manifest } = bundle;
    // Checked just below: every role is there.
    const entries = /** @type {FileEntry[]} */ (EMBEDDER_ROLES.map((role) => manifest.files.find((f) => f.role === role)));
    if (entries.some((e) => !e)) throw new Error('this bundle carries no query embedder');
    const expected = new Map(entries.map((e) => [e.path, e]));
    const unkept = { bytes: 0 };
    const got = await download(entries, bundle.source, (entry, bytes) => {
      // The full check (sha256 included) happens in QueryEmbedder.load; catch truncation early.
      if (bytes.length !== /** @type {FileEntry} */ (expected.get(entry.path)).bytes) {
        throw new Error(`${entry.path}: expected ${entry.bytes} bytes, got ${bytes.length}`);
      }
    }, progress, unkept);
    progress({ type: 'finishing' });
    // download() has every file (it throws otherwise).
    const [weights, tokenizer, config] = entries.map((e) => /** @type {Uint8Array} */ (got.get(e.path)));
    embedder?.free();
    embedder = QueryEmbedder.load(bundle.manifestBytes, weights, tokenizer, config);
    return { storage: unkept.bytes ? await shortOfSpace(unkept.bytes, 'Keeping the query embedder for offline use') : null };
  },

  async embed({ text }) {
    if (!embedder) throw new Error('the query embedder is not loaded yet');
    const started = performance.now();
    const vector = embedder.embed(text);
    return { vector, ms: performance.now() - started };
  },

  documentVector: ({ doc }) => current().documentVector(doc),

  /**
   * The texts of the documents of texts shard `shard`, fetched now (cached by hash), verified
   * and parsed once no engine request waits (see UNQUEUED and whenIdle): it uses no engine
   * object, and a shown text never holds up a search.
   */
  async documentTexts({ shard }) {
    if (!bundle) throw new Error('no bundle is loaded');
    const { manifest, manifestBytes, source } = bundle;
    const entry = manifest.files.filter((f) => f.role === TEXTS_ROLE)[shard];
    if (!entry) throw new Error(`this bundle has no texts shard ${shard}`);
    /** @type {string[]} */
    let texts = [];
    await download([entry], source, async (e, bytes) => {
      await whenIdle();
      texts = shardTexts(manifestBytes, e.path, bytes);
    }, () => {});
    return { texts };
  },

  async steeredSearch({ vector, features, values, families, strengths, mode, k }) {
    const started = performance.now();
    const result = await current().steeredSearch(
      vector, Uint32Array.from(features), Float32Array.from(values), Uint32Array.from(families), Float32Array.from(strengths), mode, k);
    result.ms = performance.now() - started;
    return result;
  },

  steeringActivations: ({ features, strength }) => current().steeringActivations(Uint32Array.from(features), strength),
  decoderNeighbors: ({ feature, n }) => current().decoderNeighbors(feature, n),
  coFiring: ({ feature, n }) => current().coFiring(feature, n),
  activationsIn: ({ feature, docs }) => current().activationsIn(feature, Uint32Array.from(docs)),

  async cluster({ space, clusters, features, iterations, seed }) {
    const started = performance.now();
    const result = await current().cluster(space, clusters, Uint32Array.from(features), iterations, seed);
    result.ms = performance.now() - started;
    return result;
  },

  /** The bundle's layout for the map, or why it has none. */
  layout() {
    const s = current();
    const xy = s.layout();
    return { xy: xy ?? null, problem: xy ? null : s.layoutProblem() ?? 'this bundle has no layout' };
  },

  /** Lays out the bundle's documents here (UMAP); the scope keeps the result for selections. */
  computeLayout({ seed }, progress) {
    const started = performance.now();
    let last = 0;
    const xy = current().computeLayout(seed, (/** @type {{ stage: string, done: number, total: number }} */ p) => {
      // At most ~20 messages a second.
      const now = performance.now();
      if (now - last < 50 && p.done < p.total) return;
      last = now;
      progress({ type: 'layout', stage: String(p.stage), done: Number(p.done), total: Number(p.total) });
    });
    return { xy, ms: performance.now() - started };
  },

  featureActivations: ({ feature }) => current().featureActivations(feature),
  familyActivations: ({ family }) => current().familyActivations(family),

  selectPolygon({ polygon }) {
    const started = performance.now();
    const docs = current().selectPolygon(Float32Array.from(polygon));
    return { docs, ms: performance.now() - started };
  },

  enrich({ docs, n }) {
    const started = performance.now();
    const result = current().enrich(Uint32Array.from(docs), n);
    result.ms = performance.now() - started;
    return result;
  },

  explain: ({ vector, k }) => current().explain(vector, k),

  /** Document `doc`'s own features, strongest first: its embedding encoded. */
  documentFeatures({ doc, n }) {
    const s = current();
    return s.explain(s.documentVector(doc), 0).kept.slice(0, n);
  },

  // ---- The workshop: a corpus of the visitor's own, on its way to a bundle ----

  /** Refuses, before the page reads it, a corpus file too large for a tab. */
  workshopCheck: ({ name, size }) => Workshop.checkFileSize(name, size),

  /** Reads a corpus file (after checking its size), starting a new workshop. */
  workshopRead({ name, bytes }) {
    Workshop.checkFileSize(name, bytes.length);
    workshop?.free();
    workshop = activeEngine().workshop();
    return workshop.readCorpus(name, bytes);
  },

  workshopTexts: () => currentWorkshop().texts(),
  workshopSetEmbeddings: ({ data, dim }) => currentWorkshop().setEmbeddings(data, dim),
  workshopImportEmbeddings: ({ name, bytes }) => Array.from(currentWorkshop().importEmbeddings(name, bytes)),

  workshopImportSae({ cfg, weights, pth, k }) {
    const w = currentWorkshop();
    if (pth) return Array.from(w.importPth(pth, k ?? 0));
    if (!cfg || !weights) throw new Error('an SAELens SAE needs both cfg.json and its .safetensors file');
    return Array.from(w.importSaelens(cfg, weights));
  },

  /**
   * The query embedder of the bundle at `url` (files verified, from the cache when seen), for the
   * workshop's labels and bundle; answers where the embedding pool finds the same files.
   */
  async workshopModel({ url }, progress) {
    const w = currentWorkshop();
    const source = await sourceOf(url, progress);
    const { bytes: manifestBytes } = await source.manifest();
    const manifest = parseManifest(manifestBytes);
    const entries = EMBEDDER_ROLES.map((role) => manifest.files.find((f) => f.role === role));
    if (entries.some((e) => !e)) throw new Error(`${source.what} carries no query embedder to embed documents with`);
    const files = /** @type {FileEntry[]} */ (entries);
    const got = await download(files, source, () => {}, progress);
    const [weights, tokenizer, config] = files.map((e) => /** @type {Uint8Array} */ (got.get(e.path)));
    w.setModel(manifestBytes, weights, tokenizer, config);
    return { base: url, manifest: manifestBytes, entries: files, dim: manifest.embedding.dim };
  },

  workshopDefaults: () => currentWorkshop().defaultSettings(),
  workshopBegin: ({ settings }) => currentWorkshop().beginTraining(settings),
  workshopTrain: ({ maxSteps, budgetMs }) => currentWorkshop().train(maxSteps, budgetMs),
  workshopFinishTraining: () => currentWorkshop().finishTraining(),

  /** Analyses the corpus with its SAE, assembles the bundle and saves it in this browser. */
  async workshopBuild({ name }, progress) {
    const w = currentWorkshop();
    const free = await freeName(name);
    const started = performance.now();
    /** @type {{ manifest: Uint8Array, paths: string[], contents: Uint8Array[] }} */
    const built = await w.build(free, (/** @type {{ stage: string, done: number, total: number }} */ p) =>
      progress({ type: 'layout', stage: String(p.stage), done: Number(p.done), total: Number(p.total) }));
    const builtMs = performance.now() - started;
    progress({ type: 'layout', stage: 'save', done: 0, total: 1 });
    await saveBundle(free, built.manifest, built.paths, built.contents);
    const bytes = built.contents.reduce((sum, c) => sum + c.length, built.manifest.length);
    const manifest = parseManifest(built.manifest);
    const queries = manifest.files.some((f) => f.role === EMBEDDER_ROLES[0]);
    return { name: free, files: built.paths.length + 1, bytes, model: manifest.embedding.model, queries, builtMs, savedMs: performance.now() - started - builtMs };
  },

  /**
   * Whether the open bundle's manifest on its server differs from the one it was opened with
   * (opened offline, now online): then the page offers the new version.
   */
  async bundleChanged() {
    if (!bundle) return false;
    const { bytes, kept } = await bundle.source.manifest();
    return !kept && (bytes.length !== bundle.manifestBytes.length || bytes.some((b, i) => b !== bundle?.manifestBytes[i]));
  },

  storageReport: () => storageReport(),
  storageForget: ({ base }) => forgetBundle(base),

  savedList: () => listSaved(),
  savedDelete: ({ name }) => deleteSaved(name),

  /** A saved bundle as one zip (what `saescope inspect` and the page open). */
  async savedZip({ name }) {
    const { manifest, paths, contents } = await savedFiles(name);
    return zipBundle(manifest, paths, contents);
  },

  /** A saved bundle's files, for writing into a folder the visitor picks. */
  savedFiles: ({ name }) => savedFiles(name),

  selfTest: () => activeEngine().selfTest(),
  // A deliberate panic inside the engine, for the test that the page survives engine faults.
  panicForTest: () => activeEngine().panicForTest(),
  // The GPU device lost after `submissions` more GPU submissions, for the test that queries fall
  // back to the CPU.
  loseDeviceForTest: ({ submissions }) => activeEngine().loseDeviceForTest(submissions),
};

/**
 * What runs the engine's math now, and why the CPU if it is the CPU.
 * @param {Engine} e
 * @returns {EngineStatus}
 */
function status(e) {
  return { kind: /** @type {'gpu' | 'cpu'} */ (e.kind()), describe: e.describe(), lost: e.deviceLost() ?? null, softwareSkipped: e.skippedSoftwareGpu() };
}

/** The status last told to the page (a reply carries it when it changed: the GPU device was lost). */
let toldStatus = '';

/** The engine's status if it changed since the page last heard it, else undefined. */
function changedStatus() {
  if (!engine) return undefined;
  const now = status(engine);
  const text = JSON.stringify(now);
  if (text === toldStatus) return undefined;
  toldStatus = text;
  return now;
}

/** The engine, once `init` made it. */
function activeEngine() {
  if (!engine) throw new Error('the engine is not started');
  return engine;
}

/**
 * Every file of a saved bundle: the manifest's bytes, and the files it lists.
 * @param {string} name
 */
async function savedFiles(name) {
  const manifest = await readSaved(name, 'manifest.json');
  const paths = parseManifest(manifest).files.map((f) => f.path);
  return { manifest, paths, contents: await Promise.all(paths.map((p) => readSaved(name, p))) };
}

/**
 * A manifest parsed and checked by the engine.
 * @param {Uint8Array} bytes
 * @returns {Manifest}
 */
function parseManifest(bytes) {
  const loading = activeEngine().openBundle(bytes);
  try {
    return loading.manifest();
  } finally {
    loading.free();
  }
}

/** The workshop, once a corpus was read. */
function currentWorkshop() {
  if (!workshop) throw new Error('read a corpus first');
  return workshop;
}

/** The loaded bundle's scope. */
function current() {
  if (!scope) throw new Error('no bundle is loaded');
  return scope;
}

let queue = Promise.resolve();

/**
 * Requests that use no engine object (so no wasm borrow can clash with a request in the queue):
 * they run at once, beside the queue, and a text fetched after a search never delays the next.
 * @type {Set<string>}
 */
const UNQUEUED = new Set(['documentTexts']);

/** Requests in the queue, waiting or running. */
let queued = 0;
/** @type {(() => void)[]} work that waits for an idle queue (whenIdle) */
const idleWaiters = [];

/**
 * Resolves once no queued request waits or runs; waiters go one at a time, each after a task
 * boundary, so that a request that arrives meanwhile (a slider moved) goes first.
 * @returns {Promise<void>}
 */
function whenIdle() {
  return new Promise((resolve) => {
    idleWaiters.push(resolve);
    wakeIdle();
  });
}

function wakeIdle() {
  if (!idleWaiters.length) return;
  setTimeout(() => {
    if (queued > 0 || !idleWaiters.length) return;
    /** @type {() => void} */ (idleWaiters.shift())();
    if (idleWaiters.length) wakeIdle();
  }, 0);
}

self.onmessage = (event) => {
  const { id, method, args } = event.data;
  const run = async () => {
    try {
      const handler = /** @type {Record<string, ((args: any, progress: (p: Progress) => void) => unknown) | undefined>} */ (handlers)[method];
      if (!handler) throw new Error(`unknown request ${method}`);
      const result = await handler(args ?? {}, (progress) => self.postMessage({ id, progress }));
      self.postMessage({ id, result, engine: changedStatus() });
    } catch (e) {
      // A trap (a Rust panic) leaves the wasm instance unusable: say so, and the page replaces
      // this worker with a fresh one.
      const fatal = e instanceof WebAssembly.RuntimeError;
      self.postMessage({ id, error: fatal ? `the engine crashed (${e.message})` : e?.message ?? String(e), fatal, engine: fatal ? undefined : changedStatus() });
    }
  };
  if (UNQUEUED.has(method)) {
    run();
    return;
  }
  queued += 1;
  queue = queue.then(run).finally(() => {
    queued -= 1;
    wakeIdle();
  });
};
