// The page under hostile bundles and engine faults, in Debian's headless Chromium. Each hostile
// bundle is made here from the fixture bundle (SAESCOPE_FIXTURES/bundle) into a folder the test
// server serves (SAESCOPE_FIXTURES/hostile), loaded by URL as a user would, and must give a clear
// message while nothing from it runs (no dialog, no injected element, no navigation); then the
// same page loads the good bundle and answers a query. Also: the page under its
// Content-Security-Policy, and the GPU device lost in the middle of a query.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, linkSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { bundleDocuments } from './documents.mjs';
import { bothBrowsers } from './chromium.mjs';
import { BASE, FIXTURES, assertReference, openPage, showDoc } from './helpers.mjs';

const ROOT = new URL('../../', import.meta.url);
const GOOD = `${FIXTURES}/bundle/`;
const HOSTILE = `${FIXTURES}/hostile`;
const good = JSON.parse(readFileSync(new URL(`${GOOD}manifest.json`, ROOT), 'utf8'));
const goodDocuments = bundleDocuments((p) => readFileSync(new URL(`${GOOD}${p}`, ROOT)));
const PER_SHARD = good.texts.documents_per_shard;

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
/** JSON nested `depth` levels deep: [[[...]]]. */
const nested = (depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const DEPTH = 100_000;

/**
 * A bundle folder `name` made from the good bundle: `replace` gives new bytes for some of its
 * files, `add` new files (entries `{path, role, bytes}`), `edit` changes the manifest object, and
 * `manifest` (a string) replaces manifest.json outright. Untouched files are hard links to the
 * good bundle's. Returns its URL path, as typed into the page.
 */
function makeBundle(name, { replace = {}, add = [], edit = (m) => m, manifest = null } = {}) {
  const dir = new URL(`${HOSTILE}/${name}/`, ROOT);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const m = structuredClone(good);
  const write = (path, bytes) => {
    mkdirSync(new URL('.', new URL(path, dir)), { recursive: true });
    writeFileSync(new URL(path, dir), bytes);
  };
  for (const entry of m.files) {
    const target = new URL(entry.path, dir);
    if (entry.path in replace) {
      const bytes = Buffer.from(replace[entry.path]);
      write(entry.path, bytes);
      Object.assign(entry, { bytes: bytes.length, sha256: sha256(bytes) });
    } else {
      mkdirSync(new URL('.', target), { recursive: true });
      try {
        linkSync(new URL(entry.path, new URL(GOOD, ROOT)), target);
      } catch {
        copyFileSync(new URL(entry.path, new URL(GOOD, ROOT)), target);
      }
    }
  }
  for (const { path, role, bytes } of add) {
    const data = Buffer.from(bytes);
    write(path, data);
    m.files.push({ path, role, bytes: data.length, sha256: sha256(data) });
  }
  writeFileSync(new URL('manifest.json', dir), manifest ?? JSON.stringify(edit(m), null, 1));
  return `${HOSTILE}/${name}/`;
}

/** The good bundle's manifest entry for `path`, in `m`. */
const entryOf = (m, path) => m.files.find((f) => f.path === path);

/** `docs` as a bundle stores them: heads in documents.jsonl.gz and texts shard 0 (the first documents). */
const documentsFiles = (docs) => ({
  'documents.jsonl.gz': gzipSync(docs.map(({ abstract, ...head }) => JSON.stringify(head)).join('\n') + '\n'),
  'texts/0000.jsonl.gz': gzipSync(docs.slice(0, PER_SHARD).map((d) => JSON.stringify(d.abstract)).join('\n') + '\n'),
});

const browsers = bothBrowsers();

before(async () => {
  mkdirSync(new URL(`${HOSTILE}/`, ROOT), { recursive: true });
});

after(async () => {
  rmSync(new URL(`${HOSTILE}/`, ROOT), { recursive: true, force: true });
});

/**
 * A page on the good bundle that watches for what a hostile bundle must never cause: dialogs
 * (alert, confirm, print...), navigation away from the page, and requests outside the bundles.
 */
async function watchedPage(browser = browsers.plain) {
  const { page, errors } = await openPage(browser, `bundle=${GOOD}`);
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  const dialogs = [];
  page.on('dialog', (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  const requests = [];
  page.context().on('request', (r) => requests.push(r.url()));
  // Survives only as long as this document does: a navigation or reload would drop it.
  await page.evaluate(() => (window.stillThisDocument = true));
  return { page, errors, dialogs, requests };
}

/** Types `url` into the bundle field, loads it, and waits until the page is ready or failed. */
async function loadBundle(page, url) {
  await page.evaluate(() => (document.body.dataset.state = 'submitted'));
  await page.fill('#bundle-url', url);
  await page.click('#bundle-form button[type=submit]');
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 120_000 });
  return { state: await page.getAttribute('body', 'data-state'), message: (await page.textContent('#error')) ?? '' };
}

/** Loads `url` and expects it refused, with a message matching `pattern`. */
async function assertRefused(page, url, pattern) {
  const { state, message } = await loadBundle(page, url);
  assert.equal(state, 'error', `${url} should be refused; the page says: ${message}`);
  assert.match(message, new RegExp(`Could not load the bundle at ${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(message, pattern);
  return message;
}

/**
 * Nothing from a hostile bundle ran or was injected, the page never navigated away, and it still
 * works: it loads the good bundle and answers a query with the CLI's reference results.
 */
async function assertUnharmedAndUsable({ page, errors, dialogs }, allowedErrors = /(?!)/) {
  assert.deepEqual(dialogs, [], 'no dialog was opened');
  const harm = await page.evaluate(() => ({
    stillThisDocument: window.stillThisDocument === true,
    origin: location.origin,
    pwned: window.pwned ?? null,
    injected: [...document.querySelectorAll('img, iframe, object, embed, frame, svg script, script')]
      .filter((e) => !(e.tagName === 'SCRIPT' && e.getAttribute('src') === 'web/main.js'))
      .map((e) => e.outerHTML),
    handlers: [...document.querySelectorAll('*')].flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${e.tagName} ${a.name}`)),
    links: [...document.querySelectorAll('a[href]')].map((a) => /** @type {HTMLAnchorElement} */ (a).href),
  }));
  assert.equal(harm.stillThisDocument, true, 'the page was not reloaded or navigated');
  assert.equal(harm.origin, new URL(BASE).origin);
  assert.equal(harm.pwned, null, 'no script from the bundle ran');
  assert.deepEqual(harm.injected, [], 'no element from the bundle was injected');
  assert.deepEqual(harm.handlers, [], 'no event-handler attribute exists');
  for (const href of harm.links) {
    const u = new URL(href);
    assert.ok(u.origin === new URL(BASE).origin || (u.protocol === 'https:' && u.hostname === 'arxiv.org'), `a link to ${href}`);
  }
  const { state, message } = await loadBundle(page, GOOD);
  assert.equal(state, 'ready', message);
  assertReference(5, await showDoc(page, 5));
  assert.deepEqual(errors.filter((e) => !allowedErrors.test(e)), []);
  await page.close();
}

test('manifest paths that leave the bundle are refused and never fetched', async () => {
  const w = await watchedPage();
  for (const [name, path] of [['climbs', '../bundle/sae/cfg.json'], ['absolute', '/etc/passwd'], ['url', 'https://evil.example/x.npy'], ['backslash', '..\\..\\x']]) {
    const url = makeBundle(`path-${name}`, { edit: (m) => (entryOf(m, 'sae/cfg.json').path = path, m) });
    w.requests.length = 0;
    const message = await assertRefused(w.page, url, /not a plain relative path inside the bundle/);
    assert.ok(message.includes(JSON.stringify(path)), message);
    const outside = w.requests.filter((r) => /passwd|evil\.example|\/bundle\/sae\/|\\/.test(r));
    assert.deepEqual(outside, [], 'nothing outside the bundle was requested');
    assert.equal(await w.page.$$eval('#progress-files li', (l) => l.length), 0, 'no file was downloaded');
  }
  await assertUnharmedAndUsable(w);
});

test('a manifest that lists a file twice is refused', async () => {
  const w = await watchedPage();
  const url = makeBundle('duplicate', {
    edit: (m) => {
      const shard = entryOf(m, 'embeddings/001.npy');
      m.files.push({ ...shard, bytes: 12, sha256: '00'.repeat(32) });
      return m;
    },
  });
  await assertRefused(w.page, url, /embeddings\/001\.npy.* more than once/);
  await assertUnharmedAndUsable(w);
});

test('files whose size disagrees with the manifest are refused, never read past the declared size', async () => {
  const w = await watchedPage();
  const real = entryOf(good, 'embeddings/001.npy').bytes;
  // Declared far larger than the file: the download ends short and the page says so.
  let url = makeBundle('size-larger', { edit: (m) => ((entryOf(m, 'embeddings/001.npy').bytes = 500_000_000), m) });
  await assertRefused(w.page, url, new RegExp(`embeddings/001\\.npy: expected 500000000 bytes, got ${real} \\(truncated download\\?\\)`));
  // Declared far smaller: refused from the server's Content-Length, before downloading it.
  url = makeBundle('size-smaller', { edit: (m) => ((entryOf(m, 'embeddings/001.npy').bytes = 1000), m) });
  await assertRefused(w.page, url, new RegExp(`embeddings/001\\.npy is ${real} bytes, over the size its manifest entry declares \\(1000 bytes\\): refused before downloading it`));
  // Declared a little smaller (within the Content-Length slack): the stream is cut at the limit.
  url = makeBundle('size-slightly-smaller', { edit: (m) => ((entryOf(m, 'embeddings/001.npy').bytes = real - 100), m) });
  await assertRefused(w.page, url, new RegExp(`embeddings/001\\.npy is larger than the size its manifest entry declares \\(${real - 100} bytes\\): the download was stopped there`));
  assert.equal(await w.page.$$eval('#progress-files li.bad', (l) => l.length), 1);
  await assertUnharmedAndUsable(w);
});

test('a 200 MB manifest is refused up front, with the limit stated', async () => {
  const w = await watchedPage();
  const url = makeBundle('huge-manifest', { manifest: '' });
  truncateSync(new URL(`${url}manifest.json`, ROOT), 200_000_000); // sparse: costs no disk
  const started = Date.now();
  await assertRefused(w.page, url, /manifest\.json is 200\.0 MB, over the limit for a manifest \(16 MiB\): refused before downloading it/);
  assert.ok(Date.now() - started < 20_000, `refused in ${Date.now() - started} ms`);
  await assertUnharmedAndUsable(w);
});

test('a bundle too large for a tab is refused before any download, with the limit stated', async () => {
  const w = await watchedPage();
  const url = makeBundle('too-large', { edit: (m) => ((entryOf(m, 'embeddings/002.npy').bytes = 2_000_000_000), m) });
  w.requests.length = 0;
  await assertRefused(w.page, url, /this bundle's \d+ files add up to \d+\.\d MB, over the 1\.5 GiB a browser tab can load; nothing was downloaded/);
  assert.equal(await w.page.$$eval('#progress-files li', (l) => l.length), 0, 'no file was listed for download');
  assert.deepEqual(w.requests.filter((r) => r.includes('/too-large/') && !r.endsWith('/manifest.json')), [], 'only the manifest was fetched');
  await assertUnharmedAndUsable(w);
});

test('with the site\'s storage full the bundle still loads, and the page says how much space keeping it needs', async () => {
  const page = await browsers.plain.newPage(); // a fresh context: nothing cached yet
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(BASE).origin, quotaSize: 200_000 });
  await page.goto(`${BASE}/?bundle=${GOOD}`);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 120_000 });
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  const bundleBytes = good.files.reduce((sum, f) => sum + f.bytes, 0);
  const note = await page.textContent('#bundle-storage');
  const needed = Number(note.match(/^Keeping this bundle for offline use needs ([\d.]+) MB of storage, and the browser refused it: this site's storage is full \(.+ quota in use\)/)?.[1]);
  assert.ok(needed > 0 && needed * 1e6 <= bundleBytes * 1.001, `${note} (the bundle has ${bundleBytes} bytes)`);
  assertReference(7, await showDoc(page, 7));
  assert.deepEqual(errors, []);
  await page.close();
});

test('deeply nested JSON in the manifest, labels and documents gives a message, not a crash', async () => {
  const w = await watchedPage();
  const m = JSON.stringify(good);
  // Where a value is expected: refused with the file named.
  let url = makeBundle('deep-manifest', { manifest: m.replace(/"embedding":\{[^}]*\}/, `"embedding":${nested(DEPTH)}`) });
  await assertRefused(w.page, url, /manifest\.json: /);
  // In a field the manifest does not know: skipped, the bundle loads.
  url = makeBundle('deep-manifest-extra', { manifest: m.replace('{', `{"extra":${nested(DEPTH)},`) });
  let loaded = await loadBundle(w.page, url);
  assert.equal(loaded.state, 'ready', loaded.message);
  // Labels are optional: left out with the reason, the bundle loads.
  url = makeBundle('deep-labels', { add: [{ path: 'labels.json', role: 'labels', bytes: `[{"index":0,"label":${nested(DEPTH)}}]` }] });
  loaded = await loadBundle(w.page, url);
  assert.equal(loaded.state, 'ready', loaded.message);
  assert.match(loaded.message, /labels\.json could not be used \(labels file: .*\); the page goes on without it/);
  // Documents are not: refused, naming the line.
  const docs = goodDocuments.map(({ abstract, ...head }) => JSON.stringify(head));
  docs[0] = `{"id":"x","title":${nested(DEPTH)}}`;
  url = makeBundle('deep-documents', { replace: { 'documents.jsonl.gz': gzipSync(docs.join('\n')) } });
  await assertRefused(w.page, url, /documents line 1: /);
  await assertUnharmedAndUsable(w);
});

test('a texts shard that fails its checksum is named where its texts would be, and the rest of the page works', async () => {
  const w = await watchedPage();
  const path = 'texts/0000.jsonl.gz';
  const damaged = Buffer.from(readFileSync(new URL(`${GOOD}${path}`, ROOT)));
  damaged[damaged.length - 12] ^= 0x55;
  const url = makeBundle('damaged-texts', {
    replace: { [path]: damaged },
    // The manifest keeps the good file's hash: the served bytes are the damaged ones.
    edit: (m) => (Object.assign(entryOf(m, path), { sha256: entryOf(good, path).sha256 }), m),
  });
  const loaded = await loadBundle(w.page, url);
  assert.equal(loaded.state, 'ready', `texts are not needed to open a bundle: ${loaded.message}`);
  assertReference(3, await showDoc(w.page, 3));
  await w.page.waitForFunction(() => !document.getElementById('doc-text')?.dataset.loading);
  assert.match(await w.page.textContent('#doc-text'), /^\(text not available: checksum mismatch for texts\/0000\.jsonl\.gz/);
  // A document of the next shard shows its text; its search results list with their titles.
  const other = PER_SHARD + 3;
  assertReference(other, await showDoc(w.page, other));
  await w.page.waitForFunction(() => !document.getElementById('doc-text')?.dataset.loading);
  assert.equal(await w.page.textContent('#doc-text'), goodDocuments[other].abstract);
  assert.ok((await w.page.$$('#results li a.title')).length > 0);
  await assertUnharmedAndUsable(w);
});

test('markup and javascript: URLs in titles, labels, ids and the manifest are shown as text and never run', async () => {
  const w = await watchedPage();
  const IMG = '<img src=x onerror="window.pwned=\'img\'">';
  const SCRIPT = '<script>window.pwned="script"</script>';
  const LINK = '<a href="javascript:window.pwned=\'link\'">click</a>';
  const docs = structuredClone(goodDocuments);
  Object.assign(docs[0], { id: 'javascript:alert(1)', title: `${IMG} title`, abstract: `${SCRIPT} ${LINK}`, categories: ['javascript:alert(2)', IMG] });
  Object.assign(docs[1], { id: 'https://evil.example/', title: SCRIPT });
  Object.assign(docs[2], { id: 'javascript:alert(3)//2403.01234', title: 'javascript:alert(4)' });
  Object.assign(docs[3], { id: '2403.01234' }); // a real arXiv id: the one external link allowed
  const payloads = [IMG, SCRIPT, LINK, 'javascript:alert(5)'];
  const labels = Array.from({ length: good.sae.d_sae }, (_, j) => ({ index: j, label: `${payloads[j % 4]} ${j}`, reasoning: payloads[(j + 1) % 4], phrases: [[payloads[(j + 2) % 4], 1.0]] }));
  const url = makeBundle('markup', {
    replace: documentsFiles(docs),
    add: [{ path: 'labels.json', role: 'labels', bytes: JSON.stringify(labels) }],
    edit: (m) => Object.assign(m, { name: IMG, description: `${SCRIPT} javascript:alert(6)` }),
  });
  const loaded = await loadBundle(w.page, url);
  assert.equal(loaded.state, 'ready', loaded.message);
  assert.match(await w.page.textContent('#bundle-info'), /<img src=x onerror=/);
  for (const doc of [0, 1, 2, 3]) {
    const { features, hits } = await showDoc(w.page, doc);
    assert.equal(hits[0][0], doc);
    assert.ok(features.length > 0);
  }
  await showDoc(w.page, 0);
  assert.equal(await w.page.textContent('#doc-title'), docs[0].title);
  // The text arrives from its shard after the title, as text too.
  await w.page.waitForFunction(() => !document.getElementById('doc-text')?.dataset.loading);
  assert.equal(await w.page.textContent('#doc-text'), docs[0].abstract);
  assert.match(await w.page.textContent('#doc-meta'), /^javascript:alert\(1\)/);
  assert.match(await w.page.textContent('#query-features'), /<img src=x onerror=|<script>|javascript:/);
  // The titles are in-page links to "more like this", whatever the ids say; clicking one stays here.
  const titleHrefs = await w.page.$$eval('#results a.title', (as) => as.map((a) => a.getAttribute('href')));
  assert.ok(titleHrefs.every((h) => h.startsWith('?')), titleHrefs.join(' '));
  await w.page.click('#results li:first-child a.title');
  await w.page.waitForFunction(() => document.body.dataset.busy === 'false');
  const arxiv = await w.page.$$eval('#results a.external', (as) => as.map((a) => a.href));
  assert.ok(arxiv.every((h) => h.startsWith('https://arxiv.org/abs/')), arxiv.join(' '));
  // The labels on the features list and a feature page.
  await w.page.click('#tabs a[data-view=features]');
  await w.page.waitForSelector('.features-table tr[data-feature]');
  assert.match(await w.page.textContent('.features-table'), /<script>window\.pwned="script"<\/script> 1/);
  await w.page.click('.features-table tr[data-feature="0"] a');
  await w.page.waitForSelector('#view-feature .feature-label');
  assert.equal(await w.page.textContent('#view-feature .feature-label'), `${IMG} 0`);
  // A bundle URL that is not http(s) is refused before anything is fetched.
  await assertRefused(w.page, 'javascript:alert(7)', /over http or https, not javascript:/);
  await assertUnharmedAndUsable(w);
});

test('under its Content-Security-Policy the page loads a bundle, answers queries and violates nothing', async () => {
  const page = await browsers.gpu.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(`${e.violatedDirective}: ${e.blockedURI}`));
  });
  const response = await page.goto(`${BASE}/?bundle=${GOOD}`);
  const header = response.headers()['content-security-policy'] ?? '';
  const meta = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content');
  for (const policy of [header, meta]) {
    assert.match(policy, /script-src 'self' 'wasm-unsafe-eval'(;|$)/);
    assert.match(policy, /default-src 'self'/);
    assert.match(policy, /object-src 'none'/);
    assert.match(policy, /base-uri 'none'/);
  }
  assert.equal(await page.$$eval('script:not([src])', (s) => s.length), 0, 'no inline script');
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 120_000 });
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  for (const doc of [0, 123]) assertReference(doc, await showDoc(page, doc));
  await page.click('#tabs a[data-view=features]');
  await page.waitForSelector('.features-table tr[data-feature]');
  assert.deepEqual(await page.evaluate(() => window.cspViolations), []);
  assert.deepEqual(errors, []);
  // The policy is enforced, and the listener hears it: an inline script is not run.
  const ran = await page.evaluate(async () => {
    const script = document.createElement('script');
    script.textContent = 'window.inlineRan = true';
    document.head.append(script);
    await new Promise((resolve) => setTimeout(resolve, 100));
    script.remove();
    return window.inlineRan === true;
  });
  assert.equal(ran, false);
  await page.waitForFunction(() => window.cspViolations.length > 0);
  assert.match((await page.evaluate(() => window.cspViolations)).join('\n'), /script-src/);
  await page.close();
});

test('the GPU device lost in the middle of a query: the query completes on the CPU with the same results, and the badge says why', async (t) => {
  const { page, errors } = await openPage(browsers.gpu, `bundle=${GOOD}`);
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  if ((await page.getAttribute('#engine', 'data-kind')) !== 'gpu') {
    t.skip(`this Chromium offers no WebGPU (${await page.getAttribute('#engine', 'title')}): the device-loss fallback is not tested`);
    await page.close();
    return;
  }
  assertReference(5, await showDoc(page, 5));
  // A query of a document runs two GPU submissions: the encoding, then the search. The device
  // is destroyed right after the second is submitted, before its results are read back.
  await page.evaluate(() => window.saescope.engine.call('loseDeviceForTest', { submissions: 2 }));
  assert.equal(await page.getAttribute('#engine', 'data-kind'), 'gpu', 'the hook only arms the loss');
  assertReference(123, await showDoc(page, 123));
  assert.equal(await page.getAttribute('#engine', 'data-kind'), 'cpu');
  const badge = await page.textContent('#engine');
  assert.match(badge, /^CPU \(GPU device lost: .+\)$/);
  assert.match(await page.getAttribute('#engine', 'title'), /CPU .*since the GPU device was lost/);
  // Every later query runs on the CPU, from the data uploaded to the GPU before.
  for (const doc of [0, 999]) assertReference(doc, await showDoc(page, doc));
  assert.equal(await page.isHidden('#error'), true, await page.textContent('#error'));
  assert.deepEqual(errors.filter((e) => !/destroyed|lost/i.test(e)), []);
  await page.close();
});
