// Offline after the first visit (issue 15): the site served from a sub-path by a plain static
// server (no special headers), visited once, then the server stopped: a reload still opens the
// page, the demo bundle, typed queries and the views, from the service worker's copy of the app
// and the worker's copy of the bundle. Back online with the bundle's manifest changed, the page
// offers the new version; the storage panel lists the kept bundle and frees it; a damaged cached
// file is fetched again.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { launch } from './chromium.mjs';

const DEMO = process.env.SAESCOPE_DEMO;
if (!DEMO) throw new Error('run through `cargo xtask test` (SAESCOPE_DEMO unset)');

const ROOT = new URL('../../', import.meta.url).pathname;
const PREFIX = '/courses/saescope/';
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json', '.svg': 'image/svg+xml', '.webmanifest': 'application/manifest+json' };

/** The servers not stopped yet: a failed test must not leave one holding the process open. */
const running = new Set();

/**
 * A plain static server of the repository under PREFIX, on `port` (0: any). `overrides` maps a
 * path below PREFIX to the bytes to send instead of the file's.
 */
function serve(port, overrides = new Map()) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (!path.startsWith(PREFIX)) return res.writeHead(404).end();
    let relative = normalize(path.slice(PREFIX.length));
    if (relative.startsWith('..')) return res.writeHead(403).end();
    if (relative === '.' || relative.endsWith('/')) relative = join(relative, 'index.html');
    try {
      const body = overrides.get(relative) ?? readFileSync(join(ROOT, relative));
      res.writeHead(200, { 'content-type': TYPES[extname(relative)] ?? 'application/octet-stream', 'content-length': body.length }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  running.add(server);
  const sockets = new Set();
  server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () =>
      resolve({
        port: server.address().port,
        // Closed for good, open connections included: the browser finds nobody there.
        stop: () => new Promise((done) => (running.delete(server), sockets.forEach((s) => s.destroy()), server.close(done))),
      }),
    ),
  );
}

let browser;
before(async () => (browser = await launch({ webgpu: false })));
after(async () => {
  await browser?.close();
  for (const server of running) server.closeAllConnections(), server.close();
});

test('the service worker lists every file of the app', () => {
  const listed = [...readFileSync(join(ROOT, 'sw.js'), 'utf8').match(/const SHELL = \[([^\]]*)\]/)[1].matchAll(/'([^']+)'/g)].map((m) => m[1]);
  const walk = (dir) => readdirSync(join(ROOT, dir)).flatMap((f) => (statSync(join(ROOT, dir, f)).isDirectory() ? walk(`${dir}/${f}`) : [`${dir}/${f}`]));
  const files = [...walk('web').filter((f) => !f.endsWith('.d.ts')), 'pkg/saescope_wasm.js', 'pkg/saescope_wasm_bg.wasm', 'index.html', 'app.webmanifest'];
  assert.deepEqual([...listed].sort(), files.sort());
});

async function query(page, text) {
  await page.evaluate(() => window.saescope.update({ view: 'search' }));
  await page.fill('#query', text);
  await page.press('#query', 'Enter');
  await page.waitForFunction((q) => document.querySelector('#results')?.dataset.query === `q:${q}` && document.body.dataset.busy === 'false', text, { timeout: 120_000 });
  return page.getAttribute('#results li', 'data-doc');
}

const ready = (page) => page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 180_000 });

test('after one visit the page, the demo bundle and typed queries work offline, from a sub-path', { timeout: 600_000 }, async () => {
  let server = await serve(0);
  const port = server.port;
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const site = `http://127.0.0.1:${port}${PREFIX}`;
  await page.goto(`${site}?bundle=${DEMO}/&device=cpu`);
  await ready(page);
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  await page.waitForFunction(() => document.body.dataset.offlineReady === 'true' && !!navigator.serviceWorker.controller, null, { timeout: 60_000 });
  assert.equal(await page.evaluate(() => navigator.serviceWorker.controller.scriptURL), `${site}sw.js`, 'the worker is scoped to the sub-path');
  await page.waitForFunction(() => document.body.dataset.embedder === 'ready', null, { timeout: 180_000 });
  const text = 'dark matter halos in galaxy clusters';
  const online = await query(page, text);

  // The storage panel lists the kept bundle.
  await page.click('#storage summary');
  const base = `${site}${DEMO}/`;
  await page.waitForSelector(`#storage-bundles li[data-base="${base}"]`);
  assert.match(await page.textContent('#storage-use'), /This site stores [\d.]+ MB/);
  assert.match(await page.textContent(`#storage-bundles li[data-base="${base}"]`), /[1-9][\d.]* MB in \d+ files/);
  await page.screenshot({ path: new URL('../../target/browser-test/screenshots/offline-storage.png', import.meta.url).pathname, clip: { x: 0, y: 0, width: 1280, height: 450 } });

  // A damaged copy in the cache (one byte of an embeddings shard flipped) is dropped and fetched
  // again, not a failed load.
  const shard = await page.evaluate(async () => {
    const cache = await caches.open('saescope-bundles-v1');
    const key = (await cache.keys()).find((r) => /\/embeddings\/000\.npy\?sha256=/.test(r.url));
    const good = new Uint8Array(await (await cache.match(key)).arrayBuffer());
    const bad = good.slice();
    bad[bad.length - 1] ^= 0xff;
    await cache.put(key, new Response(bad));
    return { url: key.url, last: good[good.length - 1] };
  });
  await page.reload();
  await ready(page);
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  const repaired = await page.evaluate(async (url) => {
    const bytes = new Uint8Array(await (await (await caches.open('saescope-bundles-v1')).match(url)).arrayBuffer());
    return bytes[bytes.length - 1];
  }, shard.url);
  assert.equal(repaired, shard.last, 'the cache holds the good copy again');

  // Offline: nobody answers at that address any more.
  await server.stop();
  await page.reload();
  await ready(page);
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  assert.equal(await page.getAttribute('body', 'data-offline'), 'true');
  assert.match(await page.textContent('#bundle-offline'), /Offline: opened from the copy kept in this browser/);
  await page.waitForFunction(() => document.body.dataset.embedder === 'ready', null, { timeout: 180_000 });
  assert.equal(await query(page, text), online, 'the same first result offline');
  for (const view of ['map', 'features', 'families']) {
    await page.evaluate((v) => window.saescope.update({ view: v }), view);
    await page.waitForFunction(() => document.body.dataset.busy === 'false');
  }
  await page.screenshot({ path: new URL('../../target/browser-test/screenshots/offline-reload.png', import.meta.url).pathname, fullPage: false });

  // Online again, with the bundle's manifest changed on the server: the page offers it.
  const manifestPath = join(DEMO, 'manifest.json');
  const manifest = JSON.parse(readFileSync(join(ROOT, manifestPath), 'utf8'));
  manifest.description += ' (updated)';
  server = await serve(port, new Map([[manifestPath, Buffer.from(JSON.stringify(manifest))]]));
  await page.evaluate(() => window.dispatchEvent(new Event('online')));
  await page.waitForSelector('#bundle-offline[data-update=offered]');
  await page.click('#bundle-offline button');
  await page.waitForFunction(() => document.body.dataset.state === 'ready' && document.body.dataset.offline === 'false', null, { timeout: 180_000 });
  assert.match(await page.textContent('#bundle-info'), /\(updated\)/);

  // Freeing the kept bundle: offline, the page still opens but the bundle is gone.
  await page.$eval('#storage', (d) => (d.open = false)); // closed by the reload; opening lists afresh
  await page.click('#storage summary');
  await page.click(`#storage-bundles li[data-base="${base}"] button`);
  await page.waitForFunction((b) => !document.querySelector(`#storage-bundles li[data-base="${b}"]`), base);
  await server.stop();
  await page.reload();
  await ready(page);
  assert.equal(await page.getAttribute('body', 'data-state'), 'error');
  assert.match(await page.textContent('#error'), /could not fetch .*manifest\.json.*the server did not answer/);
  assert.deepEqual(errors, []);
  await page.close();
});
