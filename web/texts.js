// @ts-check
// The documents' texts (abstracts). A bundle built since format version 2 keeps them in shards
// of a few hundred documents (`texts/NNNN.jsonl.gz`, the manifest's `texts`), which the worker
// fetches, verifies and parses when a text is first shown: a 190k-document bundle's page then
// downloads the texts it shows, not 93 MB of them. Older bundles carry the texts in their
// documents file; then every text is at hand.

/** @import { Catalog } from './catalog.js' */
/** @import { Manifest } from './types.js' */

import { el, snippet } from './dom.js';

/** Shards kept parsed in the page (about 0.5 MB each for arXiv abstracts); the oldest go first. */
const KEPT_SHARDS = 64;

export class Texts {
  /**
   * @param {Manifest} manifest
   * @param {Catalog} catalog
   * @param {(shard: number) => Promise<string[]>} fetchShard the texts of shard `shard`, in order
   */
  constructor(manifest, catalog, fetchShard) {
    this.perShard = manifest.texts?.documents_per_shard ?? 0;
    this.catalog = catalog;
    this.fetchShard = fetchShard;
    /** @type {Map<number, Promise<string[]>>} by shard, oldest first */
    this.shards = new Map();
    /** @type {Map<number, string[]>} the shards that arrived */
    this.ready = new Map();
  }

  /**
   * Document `doc`'s text if it is at hand now, else undefined.
   * @param {number} doc
   */
  now(doc) {
    if (!this.perShard) return this.catalog.document(doc).abstract ?? '';
    return this.ready.get(Math.floor(doc / this.perShard))?.[doc % this.perShard];
  }

  /**
   * Document `doc`'s text; rejects, naming the shard's file, when it cannot be fetched or fails
   * its checksum.
   * @param {number} doc
   * @returns {Promise<string>}
   */
  async text(doc) {
    const at = this.now(doc);
    if (at !== undefined) return at;
    const shard = Math.floor(doc / this.perShard);
    let pending = this.shards.get(shard);
    if (!pending) {
      pending = this.fetchShard(shard).then((texts) => {
        this.ready.set(shard, texts);
        return texts;
      });
      // A failed shard is asked for again next time (the network may be back).
      pending.catch(() => this.shards.get(shard) === pending && this.shards.delete(shard));
      this.shards.set(shard, pending);
      while (this.shards.size > KEPT_SHARDS) {
        const oldest = /** @type {number} */ (this.shards.keys().next().value);
        this.shards.delete(oldest);
        this.ready.delete(oldest);
      }
    }
    return (await pending)[doc % this.perShard] ?? '';
  }

  /**
   * A paragraph with document `doc`'s text (cut to `chars` characters, whole when null), filled
   * now when the text is at hand, else when it arrives; a text that cannot be fetched says why,
   * and nothing else on the page waits for it.
   * @param {number} doc
   * @param {number | null} chars
   * @param {HTMLElement} [into] the element to fill (a new `p.snippet` when absent)
   */
  paragraph(doc, chars, into = el('p', undefined, 'snippet')) {
    const show = (/** @type {string} */ text) => {
      into.textContent = chars === null ? text : snippet(text, chars);
      delete into.dataset.loading;
    };
    into.dataset.doc = String(doc);
    delete into.dataset.error;
    const at = this.now(doc);
    if (at !== undefined) {
      show(at);
      return into;
    }
    into.textContent = '…';
    into.dataset.loading = 'true';
    this.text(doc).then(
      (text) => into.dataset.doc === String(doc) && show(text),
      (e) => {
        if (into.dataset.doc !== String(doc)) return;
        into.textContent = `(text not available: ${e?.message ?? e})`;
        into.dataset.error = 'true';
        delete into.dataset.loading;
      },
    );
    return into;
  }
}
