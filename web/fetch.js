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
 * `bytes` for a message: exact below 1 MB, else in MB, with the binary unit a limit is given in.
 * @param {number} bytes
 */
export function sizeText(bytes) {
  if (bytes >= 2 ** 30 && bytes % 2 ** 29 === 0) return `${bytes / 2 ** 30} GiB`;
  if (bytes >= 2 ** 20 && bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20} MiB`;
  return bytes < 1e6 ? `${bytes} bytes` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * Fetches `url` into a Uint8Array, reporting received bytes to `onBytes`, and refuses to hold
 * more than `limit.bytes`: up front when the server's Content-Length is over it (with a little
 * slack, as a compressed transfer of incompressible bytes can be a bit larger than they are),
 * else as soon as the stream passes it, without reading the rest.
 * @param {string} url
 * @param {(bytes: number) => void} [onBytes]
 * @param {{ bytes: number, what: string } | null} [limit] `what` says what the limit is (in the message)
 * @returns {Promise<Uint8Array<ArrayBuffer>>}
 */
export async function fetchBytes(url, onBytes = () => {}, limit = null) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`could not fetch ${url}: ${e.message}`);
  }
  if (!response.ok) throw new Error(`could not fetch ${url}: HTTP ${response.status}`);
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (limit && declared > limit.bytes * 1.01 + 4096) {
    response.body?.cancel().catch(() => {});
    throw new Error(`${url} is ${sizeText(declared)}, over ${limit.what} (${sizeText(limit.bytes)}): refused before downloading it`);
  }
  /** The error of a download that passed the limit (then stopped). */
  const tooLarge = () => new Error(`${url} is larger than ${limit?.what} (${sizeText(limit?.bytes ?? 0)}): the download was stopped there`);
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (limit && bytes.length > limit.bytes) throw tooLarge();
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
    total += value.length;
    if (limit && total > limit.bytes) {
      reader.cancel().catch(() => {});
      throw tooLarge();
    }
    parts.push(value);
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
  // The engine refuses manifest paths that leave the bundle; this keeps the page from fetching
  // one even so.
  if (!url.startsWith(base.href)) throw new Error(`${entry.path}: not a path inside the bundle`);
  const key = `${url}?sha256=${entry.sha256}`;
  const hit = cache && (await cache.match(key));
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    onBytes(bytes.length);
    return { bytes, cached: true, remember: async () => {} };
  }
  // Never more than the manifest declares: a server sending more is wrong (and could fill the tab).
  const bytes = await fetchBytes(url, onBytes, { bytes: entry.bytes, what: 'the size its manifest entry declares' });
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
