// @ts-check
// Fetching bundle files with byte-level progress. Files are cached (Cache API) under their
// sha256, so a reload, or a visit offline, takes them from the cache instead of the network; a
// file whose hash changed is simply a different key. Used by the worker.

/** @import { FileEntry } from './types.js' */

const CACHE = 'saescope-bundles-v1';

/**
 * The bundle cache, or null where the Cache API is not available.
 * @returns {Promise<Cache | null>}
 */
export async function openCache() {
  try {
    return 'caches' in self ? await caches.open(CACHE) : null;
  } catch {
    return null; // e.g. an insecure context: no cache, still works
  }
}

/**
 * Fetches `url` into a Uint8Array, reporting received bytes to `onBytes`.
 * @param {string} url
 * @param {(bytes: number) => void} [onBytes]
 * @returns {Promise<Uint8Array<ArrayBuffer>>}
 */
export async function fetchBytes(url, onBytes = () => {}) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`could not fetch ${url}: ${e.message}`);
  }
  if (!response.ok) throw new Error(`could not fetch ${url}: HTTP ${response.status}`);
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onBytes(bytes.length);
    return bytes;
  }
  const reader = response.body.getReader();
  /** @type {Uint8Array[]} */
  const parts = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    total += value.length;
    onBytes(total);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * One bundle file (a manifest entry), from the cache when its hash is there, else from the
 * network (then cached). The caller verifies the bytes; `remember()` caches them once verified.
 * @param {Cache | null} cache
 * @param {URL} base the bundle folder
 * @param {FileEntry} entry
 * @param {(bytes: number) => void} onBytes
 * @returns {Promise<{ bytes: Uint8Array<ArrayBuffer>, cached: boolean, remember: () => Promise<void> }>}
 */
export async function fetchEntry(cache, base, entry, onBytes) {
  const url = new URL(entry.path, base).href;
  const key = `${url}?sha256=${entry.sha256}`;
  const hit = cache && (await cache.match(key));
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    onBytes(bytes.length);
    return { bytes, cached: true, remember: async () => {} };
  }
  const bytes = await fetchBytes(url, onBytes);
  const remember = async () => {
    if (cache) await cache.put(key, new Response(bytes)).catch(() => {});
  };
  return { bytes, cached: false, remember };
}

/**
 * Runs `task(item)` for every item with at most `limit` running at once.
 * @template T
 * @param {T[]} items
 * @param {number} limit
 * @param {(item: T) => Promise<void>} task
 */
export async function inParallel(items, limit, task) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
