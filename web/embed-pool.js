// @ts-check
// The workshop's embedding pool: documents embedded by several workers at once (web/
// embed-worker.js, one wasm instance each), with progress, speed, time left and cancel. Batches
// go to whichever worker is free, so a slower worker never holds up the rest; texts of similar
// length are batched together, since a batch is padded to its longest text.

/** @import { FileEntry } from './types.js' */

/** Texts per message: large enough to keep a worker busy, small enough for smooth progress. */
const BATCH = 16;

/**
 * Where the model comes from: a bundle folder that carries the query embedder.
 * @typedef {{ base: string, manifest: Uint8Array, entries: FileEntry[] }} ModelSource
 */

/**
 * How far an embedding run is.
 * @typedef {{ done: number, total: number, perSecond: number, secondsLeft: number, workers: number }} EmbedProgress
 */

/**
 * A worker and its one pending request.
 * @param {Worker} worker
 * @param {object} message
 * @param {Transferable[]} [transfer]
 * @returns {Promise<any>}
 */
function ask(worker, message, transfer = []) {
  return new Promise((resolve, reject) => {
    worker.onmessage = (event) => (event.data.error !== undefined ? reject(new Error(event.data.error)) : resolve(event.data.result));
    worker.onerror = (event) => reject(new Error(event.message || 'an embedding worker failed to start'));
    worker.postMessage({ id: 0, ...message }, transfer);
  });
}

/**
 * Embeds `texts` with `workers` workers: the rows in order, `dim` values each.
 * @param {string[]} texts
 * @param {object} options
 * @param {number} options.workers
 * @param {ModelSource} options.model
 * @param {number} options.dim
 * @param {(p: EmbedProgress) => void} options.onProgress
 * @param {AbortSignal} options.signal aborting stops every worker at once
 * @returns {Promise<Float32Array>}
 */
export async function embedAll(texts, { workers, model, dim, onProgress, signal }) {
  const pool = Array.from({ length: Math.max(1, Math.min(workers, Math.ceil(texts.length / BATCH))) }, () =>
    new Worker(new URL('./embed-worker.js', import.meta.url), { type: 'module' }));
  const stop = () => pool.forEach((w) => w.terminate());
  /** @type {Promise<never>} */
  const aborted = new Promise((_, reject) => {
    const fail = () => reject(new DOMException('embedding was cancelled', 'AbortError'));
    if (signal.aborted) fail();
    signal.addEventListener('abort', fail, { once: true });
  });
  try {
    await Promise.race([Promise.all(pool.map((w) => ask(w, { type: 'load', base: model.base, manifest: model.manifest, entries: model.entries }))), aborted]);
    const out = new Float32Array(texts.length * dim);
    const order = texts.map((_, i) => i).sort((a, b) => texts[a].length - texts[b].length);
    let next = 0;
    let done = 0;
    const started = performance.now();
    const work = async (/** @type {Worker} */ worker) => {
      while (next < texts.length) {
        const start = next;
        const end = Math.min(texts.length, start + BATCH);
        next = end;
        const rows = order.slice(start, end);
        /** @type {Float32Array} */
        const vectors = await ask(worker, { type: 'embed', texts: rows.map((r) => texts[r]) });
        if (vectors.length !== rows.length * dim) {
          throw new Error(`the embedder returned ${vectors.length} values for ${rows.length} texts of ${dim} dimensions`);
        }
        rows.forEach((r, i) => out.set(vectors.subarray(i * dim, (i + 1) * dim), r * dim));
        done += vectors.length / dim;
        const seconds = (performance.now() - started) / 1000;
        const perSecond = done / Math.max(seconds, 1e-3);
        onProgress({ done, total: texts.length, perSecond, secondsLeft: (texts.length - done) / perSecond, workers: pool.length });
      }
    };
    await Promise.race([Promise.all(pool.map(work)), aborted]);
    return out;
  } finally {
    stop();
  }
}
