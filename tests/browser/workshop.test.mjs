// The workshop, driven as a visitor would in headless Chromium: a few hundred real arXiv
// abstracts (taken from ../shared at test time, never committed) embedded in the page on a pool
// of workers (checked against the sentence-transformers reference), trained on the CPU path with
// pause and resume, built, explored (a typed query finds its document first, labels on the
// features page), reloaded from the browser's storage, exported as a zip that `saescope
// inspect` reads and the page opens from a URL. With WebGPU: a planted corpus (plain text of
// four topics, embeddings imported as .npy, wrong ones refused; trained on WebGPU, chosen over
// the CPU path that is the default on a software GPU) whose labels name its topics.
// Screenshots of each step go to target/browser-test/screenshots/workshop-*.png.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { bothBrowsers } from './chromium.mjs';
import { buildAndOpen, npyBytes, sharedPapers, stepState } from './workshop-helpers.mjs';

const browsers = bothBrowsers();

const BASE = process.env.SAESCOPE_URL;
const DEMO = process.env.SAESCOPE_DEMO;
const CLI = process.env.SAESCOPE_CLI;
if (!BASE || !DEMO || !CLI) throw new Error('run through `cargo xtask test` (SAESCOPE_URL, SAESCOPE_DEMO or SAESCOPE_CLI unset)');

const OUT = new URL('../../target/browser-test/workshop/', import.meta.url);
const SHOTS = new URL('../../target/browser-test/screenshots/', import.meta.url);
mkdirSync(OUT, { recursive: true });
mkdirSync(SHOTS, { recursive: true });

/** 150 astro-ph and 150 cs.LG abstracts, and their reference embeddings (sentence-transformers). */
const { papers, embeddings: reference, dim } = sharedPapers(150);

async function shot(page, name) {
  await page.screenshot({ path: new URL(`workshop-${name}.png`, SHOTS).pathname, fullPage: true });
}

async function openWorkshop(browser, query) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${BASE}/?bundle=${DEMO}/&view=workshop${query}`);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 180_000 });
  await page.waitForSelector('#ws-files', { state: 'attached' });
  return { page, errors };
}

test('real abstracts go through the whole workshop on the CPU path, and the result is kept and exported', { timeout: 1_200_000 }, async () => {
  const { page, errors } = await openWorkshop(browsers.plain, '&device=cpu');
  // 1. Bring data: 300 papers and one record without a title or abstract (skipped, with why).
  const jsonl = [...papers.slice(0, 100), { id: 'broken' }, ...papers.slice(100)].map((p) => JSON.stringify(p)).join('\n');
  await page.setInputFiles('#ws-files', { name: 'my-papers.jsonl', mimeType: 'application/json', buffer: Buffer.from(jsonl) });
  await stepState(page, 'ws-data-status', 'read');
  assert.equal(await page.getAttribute('#ws-data-status p[data-documents]', 'data-documents'), '300');
  assert.equal(await page.getAttribute('#ws-data-status p[data-documents]', 'data-skipped'), '1');
  assert.match(await page.textContent('#ws-data-status .ws-skipped'), /record 101 \(line 101\): no title and no abstract/);
  assert.equal(await page.locator('.ws-preview tr').count(), 6, 'a header and five documents');
  await shot(page, '1-data');

  // 2. Embed on two workers, with the model of the loaded bundle.
  await page.fill('#ws-model', `${DEMO}/`);
  await page.selectOption('#ws-workers', '2');
  await page.click('#ws-embed-start');
  await stepState(page, 'ws-embed-status', 'done', 600_000);
  console.log(`workshop embedding: ${Number(await page.getAttribute('#ws-embed-status', 'data-per-second')).toFixed(1)} documents per second on 2 workers`);
  await shot(page, '2-embedded');

  // 3. Train, pausing on the way: no step runs while paused, and it resumes where it stopped.
  await page.fill('#ws-train input[name=epochs]', '300');
  await page.click('#ws-train-start');
  await page.waitForFunction(() => Number(document.querySelector('#ws-plots svg')?.dataset.points ?? 0) > 0, null, { timeout: 120_000 });
  await page.click('#ws-train-pause');
  await stepState(page, 'ws-train-status', 'paused');
  const steps = () => page.evaluate(() => document.querySelector('#ws-plots svg')?.dataset.points ?? '0');
  const pausedAt = await steps();
  await page.waitForTimeout(1000);
  assert.equal(await steps(), pausedAt, 'no steps while paused');
  await shot(page, '3-paused');
  await page.click('#ws-train-pause');
  await stepState(page, 'ws-train-status', 'done');
  const nmse = Number(await page.getAttribute('#ws-train-status span', 'data-nmse'));
  assert.ok(nmse > 0 && nmse < 0.9, `held-out normalised MSE ${nmse}`);
  assert.equal(await page.locator('#ws-plots svg').count(), 4, 'NMSE, AuxK, dead fraction and L0 plotted');
  assert.equal(await page.getAttribute('#ws-plots svg', 'data-points'), String(300 * 5), '5 steps an epoch (270 rows, batches of 64)');
  await shot(page, '4-trained');

  // 4. Build, then explore it as any bundle.
  const { name, ms } = await buildAndOpen(page);
  console.log(`workshop build: ${ms} ms`);
  assert.equal(name, 'my-papers');
  assert.equal(await page.evaluate(() => window.saescope.info.documents), 300);
  // The documents' embeddings equal the reference: embedded here by the demo bundle's query
  // embedder, whose weights are int8 (within cosine 0.9996 of the f32 model, crates/embed/tests/reference.rs),
  // then stored as f16.
  for (const doc of [0, 57, 149, 150, 299]) {
    const v = await page.evaluate((d) => window.saescope.engine.call('documentVector', { doc: d }).then((x) => Array.from(x)), doc);
    const want = reference.subarray(doc * dim, (doc + 1) * dim);
    let dot = 0, a = 0, b = 0;
    for (let i = 0; i < dim; i++) (dot += v[i] * want[i]), (a += v[i] * v[i]), (b += want[i] * want[i]);
    const cosine = dot / Math.sqrt(a * b);
    assert.ok(cosine >= 0.999, `document ${doc}: cosine ${cosine} to the reference embedding`);
  }
  // A typed query (a paper's title) finds that paper first.
  await page.waitForFunction(() => document.body.dataset.embedder === 'ready', null, { timeout: 180_000 });
  const target = 42;
  await page.evaluate(() => window.saescope.update({ view: 'search' }));
  await page.fill('#query', papers[target].title);
  await page.press('#query', 'Enter');
  await page.waitForFunction((q) => document.querySelector('#results')?.dataset.query === `q:${q}` && document.body.dataset.busy === 'false', papers[target].title, { timeout: 120_000 });
  assert.equal(await page.getAttribute('#results li', 'data-doc'), String(target));
  await shot(page, '5-search');
  // The features page lists labelled features.
  await page.evaluate(() => window.saescope.update({ view: 'features' }));
  const labelled = await page.evaluate(() => [...window.saescope.catalog.labels.values()].filter((l) => l.label).length);
  assert.ok(labelled >= 10, `${labelled} labelled features`);
  await shot(page, '6-features');

  // A reload finds the saved bundle.
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 180_000 });
  assert.equal(await page.evaluate(() => window.saescope.info.documents), 300);

  // Export as a zip: `saescope inspect` reads it, and the page opens it from a URL.
  await page.evaluate(() => window.saescope.update({ view: 'workshop' }));
  await page.waitForSelector(`#ws-saved-list li[data-name="${name}"] .ws-zip`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(`#ws-saved-list li[data-name="${name}"] .ws-zip`)]);
  const zip = new URL('my-papers.zip', OUT).pathname;
  await download.saveAs(zip);
  const inspected = JSON.parse(execFileSync(CLI, ['inspect', zip], { encoding: 'utf8' }));
  assert.equal(inspected.documents, 300);
  assert.ok(inspected.has_labels && inspected.has_families && inspected.has_codes, JSON.stringify(inspected));
  const served = new URL('../../target/browser-test/workshop/served.zip', import.meta.url);
  copyFileSync(zip, served);
  await page.goto(`${BASE}/?bundle=/target/browser-test/workshop/served.zip`);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 180_000 });
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  assert.equal(await page.evaluate(() => window.saescope.info.documents), 300);
  // Offline, the zip opens again from the copy kept in this browser.
  await page.context().setOffline(true);
  await page.evaluate(() => (document.body.dataset.state = 'submitted'));
  await page.click('#bundle-form button[type=submit]');
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 180_000 });
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  assert.equal(await page.getAttribute('body', 'data-offline'), 'true');
  assert.equal(await page.evaluate(() => window.saescope.info.documents), 300);
  await page.context().setOffline(false);
  assert.deepEqual(errors, []);
  await page.close();
});

/** Four planted topics: each document is words of its topic among common words. */
const TOPICS = [
  ['galaxy', 'telescope', 'nebula', 'redshift', 'quasar', 'stellar'],
  ['protein', 'enzyme', 'molecule', 'genome', 'receptor', 'cellular'],
  ['football', 'league', 'goalkeeper', 'striker', 'stadium', 'referee'],
  ['guitar', 'melody', 'concert', 'chord', 'orchestra', 'rhythm'],
];
const COMMON = ['study', 'result', 'approach', 'report', 'analysis', 'observed', 'recent', 'new'];

function planted() {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = (words) => words[Math.floor(random() * words.length)];
  const texts = [];
  const topic = [];
  for (let i = 0; i < 240; i++) {
    const t = i % 4;
    const words = Array.from({ length: 10 }, (_, j) => (j % 2 ? pick(COMMON) : pick(TOPICS[t])));
    texts.push(words.join(' '));
    topic.push(t);
  }
  // Embeddings: a direction per topic plus noise, unit length.
  const dim = 384;
  const directions = TOPICS.map(() => Array.from({ length: dim }, () => random() * 2 - 1));
  const data = new Float32Array(texts.length * dim);
  topic.forEach((t, r) => {
    let norm = 0;
    for (let c = 0; c < dim; c++) {
      const v = directions[t][c] + 0.6 * (random() * 2 - 1);
      data[r * dim + c] = v;
      norm += v * v;
    }
    for (let c = 0; c < dim; c++) data[r * dim + c] /= Math.sqrt(norm);
  });
  return { text: texts.join('\n') + '\n', data, rows: texts.length, dim };
}

test('a planted corpus trained on WebGPU yields features whose labels name its topics; bad embeddings are refused', { timeout: 600_000 }, async () => {
  const { page, errors } = await openWorkshop(browsers.gpu, '');
  const p = planted();
  const corpus = { name: 'topics.txt', mimeType: 'text/plain', buffer: Buffer.from(p.text) };
  // Embeddings with a row missing are refused with both numbers, and nothing is kept.
  await page.setInputFiles('#ws-files', [corpus, { name: 'short.npy', mimeType: 'application/octet-stream', buffer: npyBytes(p.data.subarray(0, (p.rows - 1) * p.dim), p.rows - 1, p.dim) }]);
  await stepState(page, 'ws-data-status', 'error');
  assert.match(await page.textContent('#ws-data-status'), /short\.npy has 239 rows, but the corpus has 240 usable documents/);
  assert.ok(await page.isDisabled('#ws-train-start'), 'no training without embeddings');
  await page.setInputFiles('#ws-files', [corpus, { name: 'topics.npy', mimeType: 'application/octet-stream', buffer: npyBytes(p.data, p.rows, p.dim) }]);
  await stepState(page, 'ws-data-status', 'read');
  await page.fill('#ws-train input[name=latents]', '16');
  await page.fill('#ws-train input[name=k]', '2');
  await page.fill('#ws-train input[name=epochs]', '30');
  // SwiftShader is a software GPU: training defaults to the CPU path, and says why; WebGPU is
  // chosen here to cover it.
  assert.equal(await page.inputValue('#ws-train select[name=engine]'), 'cpu');
  assert.match(await page.textContent('#ws-train'), /software renderer/);
  await page.selectOption('#ws-train select[name=engine]', 'gpu');
  await page.click('#ws-train-start');
  await stepState(page, 'ws-train-status', 'done');
  await buildAndOpen(page);
  await shot(page, '7-planted-map');
  // Embeddings of unknown origin and no query model: the bundle says so and carries no embedder.
  const manifest = await page.evaluate(() => window.saescope.catalog.manifest);
  assert.equal(manifest.embedding.model, 'unknown (embeddings imported from topics.npy)');
  assert.ok(!manifest.files.some((f) => f.role.startsWith('embedder-')), 'no query embedder');
  assert.match(manifest.description, /validation NMSE/);
  const labels = await page.evaluate(() => [...window.saescope.catalog.labels.values()].map((l) => l.label));
  for (const words of TOPICS) {
    assert.ok(labels.some((l) => words.some((w) => l.includes(w))), `a label names the topic of ${words.join(', ')}: ${JSON.stringify(labels)}`);
  }
  assert.deepEqual(errors, []);
  await page.close();
});
