// @ts-check
// The service worker: keeps the app itself (the page, its modules, the wasm engine) so that after
// one visit the page opens offline. Bundle files are not its business: the engine's worker caches
// them under their sha256 (web/fetch.js) and keeps each bundle's last manifest. It lives at the
// site's root (beside index.html) so its scope is the folder the site is served from, a sub-path
// such as /courses/saescope/ included; every path here is relative to that scope.

/// <reference lib="webworker" />
const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

/** A new name when the list or the strategy changes; older caches are deleted on activation. */
const SHELL_CACHE = 'saescope-shell-v1';

/**
 * Everything the page loads besides bundles. A test compares it with the files under web/ and
 * pkg/, so a new module cannot be forgotten here.
 */
const SHELL = [
  'index.html',
  'app.webmanifest',
  'web/catalog.js',
  'web/charts.js',
  'web/dom.js',
  'web/embed-pool.js',
  'web/embed-worker.js',
  'web/engine.js',
  'web/fetch.js',
  'web/icon.svg',
  'web/main.js',
  'web/scatter.js',
  'web/state.js',
  'web/store.js',
  'web/texts.js',
  'web/style.css',
  'web/types.js',
  'web/worker.js',
  'web/views/clusters.js',
  'web/views/explain.js',
  'web/views/families.js',
  'web/views/feature.js',
  'web/views/features.js',
  'web/views/map.js',
  'web/views/search.js',
  'web/views/workshop.js',
  'pkg/saescope_wasm.js',
  'pkg/saescope_wasm_bg.wasm',
];

/** The shell's URLs, without query strings, for matching requests. */
const shellUrls = () => new Set(SHELL.map((p) => new URL(p, sw.registration.scope).href));

sw.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      // `reload`: past the HTTP cache, so the shell is what the server has now.
      await cache.addAll(SHELL.map((p) => new Request(new URL(p, sw.registration.scope), { cache: 'reload' })));
      await sw.skipWaiting();
    })(),
  );
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith('saescope-shell-') && name !== SHELL_CACHE) await caches.delete(name);
      }
      await sw.clients.claim();
    })(),
  );
});

sw.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  url.search = '';
  url.hash = '';
  // The page at any of its URLs (?bundle=…&view=…) is index.html.
  const key = request.mode === 'navigate' && url.href === sw.registration.scope ? new URL('index.html', sw.registration.scope).href : url.href;
  if (!shellUrls().has(key)) return; // bundles, and anything else: the network as usual
  event.respondWith(networkFirst(request, key));
});

/**
 * The shell from the network when it answers (so an updated site is seen at once), kept for
 * later; from the cache when it does not (offline, or the server is down).
 * @param {Request} request
 * @param {string} key
 */
async function networkFirst(request, key) {
  const cache = await caches.open(SHELL_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(key, response.clone()).catch(() => {});
    return response;
  } catch (e) {
    const kept = await cache.match(key);
    if (kept) return kept;
    throw e;
  }
}
