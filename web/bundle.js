// Loading a bundle: the manifest, then every file with byte-level progress, each verified by
// the wasm loader (size and sha256) as it arrives. Files are cached by their hash, so a reload
// (or a visit offline) takes them from the Cache API instead of the network.

const CACHE = 'saescope-bundles-v1';

async function openCache() {
  try {
    return 'caches' in self ? await caches.open(CACHE) : null;
  } catch {
    return null; // e.g. an insecure context: no cache, still works
  }
}

/** Fetches `url` into a Uint8Array, reporting received bytes to `onBytes`. */
async function fetchBytes(url, onBytes) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not fetch ${url}: HTTP ${response.status}`);
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onBytes(bytes.length);
    return bytes;
  }
  const reader = response.body.getReader();
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

/** One bundle file, from the cache when its hash is there, else from the network. */
async function fetchFile(cache, base, entry, onBytes) {
  const url = new URL(entry.path, base).href;
  const key = `${url}?sha256=${entry.sha256}`;
  const hit = cache && (await cache.match(key));
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    onBytes(bytes.length);
    return { bytes, cached: true, key };
  }
  return { bytes: await fetchBytes(url, onBytes), cached: false, key };
}

/**
 * Loads the bundle at `baseUrl` through `engine`. `ui` receives progress:
 * `ui.start(files)`, `ui.progress(path, bytes)`, `ui.fileDone(path, error|null, cached)`.
 * Returns `{ scope, manifest, documents }`; throws an Error naming every file that failed.
 */
export async function loadBundle(engine, baseUrl, ui) {
  const base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`, location.href);
  const manifestBytes = await fetchBytes(new URL('manifest.json', base).href, () => {});
  const loading = engine.openBundle(manifestBytes);
  const manifest = loading.manifest();
  ui.start(manifest.files);
  const cache = await openCache();
  const failures = [];
  let documentsBytes = null;
  for (const entry of manifest.files) {
    try {
      const { bytes, cached, key } = await fetchFile(cache, base, entry, (n) => ui.progress(entry.path, n));
      loading.add(entry.path, bytes); // verifies size and sha256; throws naming the file
      if (!cached && cache) {
        await cache.put(key, new Response(bytes)).catch(() => {});
      }
      if (entry.role === 'documents') documentsBytes = bytes;
      ui.fileDone(entry.path, null, cached);
    } catch (e) {
      failures.push(e.message);
      ui.fileDone(entry.path, e.message, false);
    }
  }
  if (failures.length) {
    loading.free();
    throw new Error(`${failures.length} of ${manifest.files.length} files could not be used:\n${failures.join('\n')}`);
  }
  const scope = await loading.finish();
  loading.free();
  const documents = documentsBytes ? parseJsonLines(documentsBytes) : [];
  return { scope, manifest, documents };
}

function parseJsonLines(bytes) {
  const text = new TextDecoder().decode(bytes);
  const docs = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      docs.push(JSON.parse(line));
    } catch {
      docs.push({ id: '?', title: '(unreadable document line)', abstract: '' });
    }
  }
  return docs;
}
