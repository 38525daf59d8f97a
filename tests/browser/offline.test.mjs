// Offline after the first visit (issue 15), on the static site `cargo xtask site` exported
// (the page, the packaged engine, the service worker and the demo bundle under bundle/; built by
// `cargo xtask test` into SAESCOPE_SITE), served from a sub-path by a plain static server with
// no special headers, visited once, then the server stopped: a reload still opens the page, the
// bundle, typed queries and the views, from the service worker's copy of the app and the
// worker's copy of the bundle. Back online with the bundle's manifest changed, the page offers
// the new version; the storage panel lists the kept bundle and frees it; a damaged cached file
// is fetched again.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { launch } from './chromium.mjs';
import { serveStatic, stopAllServers } from './static-server.mjs';

const SITE_DIR = process.env.SAESCOPE_SITE;
if (!SITE_DIR) throw new Error('run through `cargo xtask test` (SAESCOPE_SITE unset)');
const SITE = join(new URL('../../', import.meta.url).pathname, SITE_DIR);
const PREFIX = '/courses/saescope/';
const serve = (port, overrides) => serveStatic([[PREFIX, SITE]], { port, overrides });

let browser;
before(async () => (browser = await launch({ webgpu: false })));
after(async () => {
  await browser?.close();
  stopAllServers();
});

test('the site holds the app, its service worker and the bundle; the worker lists every file of the app', () => {
  assert.deepEqual(readdirSync(SITE).sort(), ['app.webmanifest', 'bundle', 'index.html', 'pkg', 'sw.js', 'web']);
  const listed = [...readFileSync(join(SITE, 'sw.js'), 'utf8').match(/const SHELL = \[([^\]]*)\]/)[1].matchAll(/'([^']+)'/g)].map((m) => m[1]);
  const walk = (dir) => readdirSync(join(SITE, dir)).flatMap((f) => (statSync(join(SITE, dir, f)).isDirectory() ? walk(`${dir}/${f}`) : [`${dir}/${f}`]));
  const files = [...walk('web'), ...walk('pkg'), 'index.html', 'app.webmanifest'];
  assert.deepEqual([...listed].sort(), files.sort());
  assert.match(readFileSync(join(SITE, 'index.html'), 'utf8'), /<meta name="saescope-bundle" content="bundle\/">/);
});

async function query(page, text) {
  await page.evaluate(() => window.saescope.update({ view: 'search' }));
  await page.fill('#query', text);
  await page.press('#query', 'Enter');
  await page.waitForFunction((q) => document.querySelector('#results')?.dataset.query === `q:${q}` && document.body.dataset.busy === 'false', text, { timeout: 120_000 });
  return page.getAttribute('#results li', 'data-doc');
}

const ready = (page) => page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 180_000 });

test('after one visit the site, its bundle and typed queries work offline, from a sub-path', { timeout: 600_000 }, async () => {
  let server = await serve(0);
  const port = server.port;
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const site = `http://127.0.0.1:${port}${PREFIX}`;
  await page.goto(`${site}?device=cpu`); // no bundle named: the site's own
  await ready(page);
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  await page.waitForFunction(() => document.body.dataset.offlineReady === 'true' && !!navigator.serviceWorker.controller, null, { timeout: 60_000 });
  assert.equal(await page.evaluate(() => navigator.serviceWorker.controller.scriptURL), `${site}sw.js`, 'the worker is scoped to the sub-path');
  await page.waitForFunction(() => document.body.dataset.embedder === 'ready', null, { timeout: 180_000 });
  const text = 'dark matter halos in galaxy clusters';
  const online = await query(page, text);

  // The storage panel lists the kept bundle.
  await page.click('#storage summary');
  const base = `${site}bundle/`;
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
  const manifest = JSON.parse(readFileSync(join(SITE, 'bundle/manifest.json'), 'utf8'));
  manifest.description += ' (updated)';
  server = await serve(port, new Map([[`${PREFIX}bundle/manifest.json`, Buffer.from(JSON.stringify(manifest))]]));
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
