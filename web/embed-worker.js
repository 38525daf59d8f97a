// @ts-check
// One member of the workshop's embedding pool (web/embed-pool.js): its own wasm instance with
// all-MiniLM-L6-v2 loaded from a bundle's embedder files (from the Cache API when the page has
// seen them), embedding batches of texts. No shared memory: the pool only passes messages, so it
// works on any static host.

import init, { QueryEmbedder } from '../pkg/saescope_wasm.js';
import { fetchEntry, openCache } from './fetch.js';

/** @import { FileEntry } from './types.js' */

/** @type {QueryEmbedder | null} */
let embedder = null;

/**
 * `load`: `{base, manifest, entries}` (the bundle folder, its manifest's bytes, and the weights,
 * tokenizer and config entries); `embed`: `{texts}`, answered with a Float32Array (transferred).
 * @param {MessageEvent} event
 */
self.onmessage = async (event) => {
  const { id, type } = event.data;
  try {
    if (type === 'load') {
      await init();
      const { base, manifest, entries } = event.data;
      const cache = await openCache();
      const files = await Promise.all(entries.map((/** @type {FileEntry} */ e) => fetchEntry(cache, new URL(base), e, () => {})));
      // QueryEmbedder.load verifies every file against the manifest (size and sha256).
      embedder = QueryEmbedder.load(manifest, files[0].bytes, files[1].bytes, files[2].bytes);
      await Promise.all(files.map((f) => f.remember()));
      self.postMessage({ id, result: true });
    } else if (type === 'embed') {
      if (!embedder) throw new Error('the embedder is not loaded');
      const vectors = embedder.embedBatch(event.data.texts);
      self.postMessage({ id, result: vectors }, { transfer: [vectors.buffer] });
    } else {
      throw new Error(`unknown request ${type}`);
    }
  } catch (e) {
    self.postMessage({ id, error: e instanceof WebAssembly.RuntimeError ? `the embedder crashed (${e.message})` : e?.message ?? String(e) });
  }
};
