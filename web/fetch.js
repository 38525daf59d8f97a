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
    // No answer at all (offline, server down, CORS refused), unlike an HTTP error status.
    const elsewhere = new URL(url, self.location.href).origin !== self.location.origin;
    const why = elsewhere
      ? 'its server did not answer, or it does not let other sites read its files (CORS: it must send Access-Control-Allow-Origin)'
      : 'the server did not answer (offline?)';
    throw Object.assign(new Error(`could not fetch ${url}: ${e.message}; ${why}`), { unreachable: true });
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
 * network (then cached). The caller verifies the bytes; `remember()` caches them once verified
 * and resolves with the bytes it could not keep for lack of storage space (0 when kept).
 * @param {Cache | null} cache
 * @param {URL} base the bundle folder
 * @param {FileEntry} entry
 * @param {(bytes: number) => void} onBytes
 * @returns {Promise<{ bytes: Uint8Array<ArrayBuffer>, cached: boolean, remember: () => Promise<number>, forget?: () => Promise<void> }>}
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
    const forget = async () => {
      await cache.delete(key);
    };
    return { bytes, cached: true, remember: async () => 0, forget };
  }
  // Never more than the manifest declares: a server sending more is wrong (and could fill the tab).
  const bytes = await fetchBytes(url, onBytes, { bytes: entry.bytes, what: 'the size its manifest entry declares' });
  return { bytes, cached: false, remember: () => keep(cache, key, bytes) };
}

/**
 * Puts `bytes` into `cache` under `key`; resolves with the bytes not kept for lack of space (0
 * when kept). Any other failure leaves them uncached, which costs a download next time, no more.
 * @param {Cache | null} cache
 * @param {string} key
 * @param {Uint8Array<ArrayBuffer>} bytes
 */
async function keep(cache, key, bytes) {
  if (!cache) return 0;
  try {
    await cache.put(key, new Response(bytes));
    return 0;
  } catch (e) {
    return isQuotaError(e) ? bytes.length : 0;
  }
}

/** Whether `e` is the browser refusing a write because this site's storage is full. */
export const isQuotaError = (/** @type {any} */ e) => e?.name === 'QuotaExceededError';

/**
 * Says that `what` needs `bytes` of storage the browser refused (the site's storage is full),
 * with the site's use and quota as the browser reports them, and what to do about it.
 * @param {number} bytes
 * @param {string} what
 */
export async function shortOfSpace(bytes, what) {
  const estimate = await navigator.storage?.estimate?.().catch(() => null);
  const use = estimate?.usage != null && estimate?.quota != null ? ` (${sizeText(estimate.usage)} of its ${sizeText(estimate.quota)} quota in use)` : '';
  return `${what} needs ${sizeText(bytes)} of storage, and the browser refused it: this site's storage is full${use}. Free kept bundles under “Kept in this browser”, or allow the site more storage.`;
}

/** Where a bundle's manifest (or a zipped bundle) is kept once the bundle loaded, beside its files. */
const keptKey = (/** @type {string} */ url) => `${url}?kept`;

/**
 * A bundle's manifest, or a whole bundle zipped, from the network; when the network does not
 * answer at all (offline), the copy kept when the bundle last loaded (`kept` is then true), so a
 * bundle seen once opens offline. An HTTP error is not papered over: a bundle taken down is gone.
 * `remember()` keeps these bytes, once the bundle they hold has loaded, and resolves with the
 * bytes it could not keep for lack of space.
 * @param {Cache | null} cache
 * @param {string} url
 * @param {{ bytes: number, what: string }} limit
 * @returns {Promise<{ bytes: Uint8Array<ArrayBuffer>, kept: boolean, remember: () => Promise<number> }>}
 */
export async function fetchOrKept(cache, url, limit) {
  try {
    const bytes = await fetchBytes(url, undefined, limit);
    return { bytes, kept: false, remember: () => keep(cache, keptKey(url), bytes) };
  } catch (e) {
    const hit = e.unreachable && cache && (await cache.match(keptKey(url)));
    if (!hit) throw e;
    return { bytes: new Uint8Array(await hit.arrayBuffer()), kept: true, remember: async () => 0 };
  }
}

/**
 * The cached bundle files grouped by bundle: a file belongs to the bundle whose kept manifest's
 * folder holds it (files sit in subfolders such as embeddings/), else to its own folder.
 * @param {Cache} cache
 * @returns {Promise<Map<string, Request[]>>} the requests by bundle folder
 */
async function cachedByBundle(cache) {
  const requests = await cache.keys();
  const plain = (/** @type {Request} */ r) => {
    const url = new URL(r.url);
    url.search = '';
    return url;
  };
  const bases = requests.filter((r) => r.url.endsWith('/manifest.json?kept')).map((r) => new URL('.', plain(r)).href);
  // A zipped bundle is one file, its own bundle.
  const zips = requests.filter((r) => r.url.endsWith('.zip?kept')).map((r) => plain(r).href);
  /** @type {Map<string, Request[]>} */
  const byBundle = new Map();
  for (const request of requests) {
    const url = plain(request).href;
    const base = zips.includes(url) ? url : (bases.filter((b) => url.startsWith(b)).sort((a, b) => b.length - a.length)[0] ?? new URL('.', url).href);
    byBundle.set(base, [...(byBundle.get(base) ?? []), request]);
  }
  return byBundle;
}

/**
 * What this site keeps in the browser: the origin's use and quota (all its storage: bundle
 * files, the app, saved workshop bundles), and the bundle files cached for offline use, by
 * bundle, largest first.
 * @returns {Promise<{ usage: number | null, quota: number | null, bundles: { base: string, bytes: number, files: number }[] }>}
 */
export async function storageReport() {
  const estimate = await navigator.storage?.estimate?.().catch(() => null);
  const cache = await openCache();
  const bundles = [];
  for (const [base, requests] of cache ? await cachedByBundle(cache) : []) {
    let bytes = 0;
    for (const request of requests) bytes += (await (await cache?.match(request))?.blob())?.size ?? 0;
    bundles.push({ base, bytes, files: requests.length });
  }
  return { usage: estimate?.usage ?? null, quota: estimate?.quota ?? null, bundles: bundles.sort((a, b) => b.bytes - a.bytes) };
}

/**
 * Deletes every cached file of the bundle at `base`, its kept manifest too: it is downloaded
 * again when next opened. Returns how many entries went.
 * @param {string} base
 */
export async function forgetBundle(base) {
  const cache = await openCache();
  let deleted = 0;
  for (const request of (cache && (await cachedByBundle(cache)).get(base)) || []) {
    if (await /** @type {Cache} */ (cache).delete(request)) deleted += 1;
  }
  return deleted;
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
