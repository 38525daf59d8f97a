// The explorer on the real arXiv demo bundle (built by `cargo xtask test` from ../shared into
// SAESCOPE_DEMO), driven as a user would in Debian's headless Chromium: free-text search with
// the in-browser embedder, steering, reload, feature page, family tree, clustering. Each view
// is saved as a screenshot under target/browser-test/screenshots/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { bothBrowsers } from './chromium.mjs';
import { bundleDocuments } from './documents.mjs';
import { readNpy } from './npy.mjs';

const browsers = bothBrowsers();

const BASE = process.env.SAESCOPE_URL;
const DEMO = process.env.SAESCOPE_DEMO;
if (!BASE || !DEMO) throw new Error('run through `cargo xtask test` (SAESCOPE_URL and SAESCOPE_DEMO unset)');

const SHOTS = new URL('../../target/browser-test/screenshots/', import.meta.url);
mkdirSync(SHOTS, { recursive: true });

const file = (p) => readFileSync(new URL(`../../${DEMO}/${p}`, import.meta.url));
const documents = bundleDocuments(file);
const labels = JSON.parse(file('labels.json'));
const families = JSON.parse(file('families.json')).families;
const features = JSON.parse(file('features.json')).features;
const codes = { indices: readNpy(file('codes/indices.npy')), values: readNpy(file('codes/values.npy')) };
const coarse = JSON.parse(file('manifest.json')).coarse_saes ?? [];

/** Whether `feature` fires in document `doc`, from the bundle's codes. */
function fires(doc, feature) {
  const k = codes.indices.shape[1];
  for (let e = doc * k; e < (doc + 1) * k; e++) if (codes.indices.data[e] === feature && codes.values.data[e] > 0) return true;
  return false;
}

async function open(browser, query = '') {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${BASE}/?bundle=${DEMO}/${query}`);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 180_000 });
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  return { page, errors };
}

async function settled(page, key) {
  await page.waitForFunction((k) => document.querySelector('#results').dataset.query === k && document.body.dataset.busy === 'false', key, { timeout: 180_000 });
}

async function search(page, text) {
  await page.waitForFunction(() => document.body.dataset.embedder === 'ready', null, { timeout: 180_000 });
  await page.fill('#query', text);
  await page.press('#query', 'Enter');
  await settled(page, `q:${text}`);
  return page.$$eval('#results li', (lis) => lis.map((li) => ({ doc: Number(li.dataset.doc), score: Number(li.dataset.score), fires: li.dataset.fires.split(' ').filter(Boolean).map(Number) })));
}

// A document with a distinctive title, and a well-labelled feature of middling density.
const target = documents.findIndex((d, i) => i > 10000 && d.title.split(' ').length >= 8);
const boost = labels
  .filter((l) => l.density > 0.01 && l.density < 0.05 && l.pearson_correlation > 0.3)
  .sort((a, b) => b.pearson_correlation - a.pearson_correlation)[0];

test('a typed query is embedded in the browser and finds the document it describes', async () => {
  const { page, errors } = await open(browsers.gpu);
  const d = documents[target];
  // The document's own text embeds to (almost) its stored embedding: the browser's embedder
  // reproduces the reference embeddings the bundle was built from.
  const own = await search(page, `${d.title}. ${d.abstract}`);
  assert.equal(own[0].doc, target);
  assert.ok(own[0].score > 0.999, `score of the document for its own text: ${own[0].score}`);
  const byTitle = await search(page, d.title);
  assert.ok(byTitle.slice(0, 5).some((h) => h.doc === target), `doc ${target} not in the top 5 for its title: ${JSON.stringify(byTitle.slice(0, 5))}`);
  assert.match(await page.textContent('#query-status'), /Embedded in your browser/);
  assert.ok((await page.$$('#query-features li')).length > 0);
  await page.screenshot({ path: new URL('search.png', SHOTS).pathname, fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('boosting a feature raises the share of results that fire it, and a reload restores the steered search', async () => {
  assert.ok(boost, 'the demo bundle needs a labelled feature of density 1-5%');
  const { page, errors } = await open(browsers.gpu);
  const plain = await search(page, 'neural networks for time series forecasting');
  const before = plain.filter((h) => fires(h.doc, boost.index)).length / plain.length;
  // Add the feature by its label, as a user would.
  const word = boost.label.split(/[;,]/)[0].trim();
  await page.fill('#add-feature', word);
  await page.click(`#add-results button:has-text("(#${boost.index})")`);
  await page.waitForFunction((j) => document.querySelector(`#added-features li[data-feature="${j}"]`), boost.index);
  await page.waitForFunction((j) => document.querySelector('#results')?.dataset.steer?.split(',').some((e) => e.startsWith(`${j}:`)), boost.index);
  const steered = await page.$$eval('#results li', (lis) => lis.map((li) => ({ doc: Number(li.dataset.doc), fires: li.dataset.fires.split(' ').filter(Boolean).map(Number) })));
  const after = steered.filter((h) => h.fires.includes(boost.index)).length / steered.length;
  steered.forEach((h) => assert.equal(h.fires.includes(boost.index), fires(h.doc, boost.index), `doc ${h.doc}`));
  assert.ok(after > before, `share firing feature ${boost.index}: ${before} before, ${after} after`);
  const cosine = Number(await page.getAttribute('#moved', 'data-cosine'));
  assert.ok(cosine < 1 && cosine > 0, `the steered query moved (cosine ${cosine})`);

  // Move the slider further: the results re-rank without a button.
  const slider = `#added-features input[data-feature="${boost.index}"]`;
  const max = Number(await page.getAttribute(slider, 'max'));
  await page.$eval(slider, (input, v) => {
    input.value = String(v);
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }, max);
  await page.waitForFunction(([j, v]) => document.querySelector('#results')?.dataset.steer?.split(',').includes(`${j}:${Number(v.toFixed(3))}`), [boost.index, max]);
  const url = page.url();
  const stronger = await page.$$eval('#results li', (lis) => lis.map((li) => Number(li.dataset.doc)));
  const firingAtMax = stronger.filter((doc) => fires(doc, boost.index)).length / stronger.length;
  assert.ok(firingAtMax >= 0.8 && firingAtMax >= after, `at the slider's end ${firingAtMax} of the results fire feature ${boost.index}`);
  assert.match(url, new RegExp(`steer=${boost.index}%3A`));
  await page.screenshot({ path: new URL('steering.png', SHOTS).pathname, fullPage: true });

  // The whole state is in the URL.
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 180_000 });
  await settled(page, 'q:neural networks for time series forecasting');
  const restored = await page.$$eval('#results li', (lis) => lis.map((li) => Number(li.dataset.doc)));
  assert.deepEqual(restored, stronger);
  assert.equal(Number(await page.inputValue(slider)).toFixed(3), max.toFixed(3));
  assert.equal(await page.inputValue('#query'), 'neural networks for time series forecasting');
  assert.deepEqual(errors, []);
  await page.close();
});

test('saescope steer gives the page\'s results for the same URL', async () => {
  // One steered search with an explicit edit and a family, written as the page's URL state,
  // run by the CLI (native CPU) and by the page (CPU path): the same documents and scores.
  const cli = process.env.SAESCOPE_CLI;
  assert.ok(cli, 'SAESCOPE_CLI is set by cargo xtask test');
  const family = families.find((f) => f.children.length <= 10 && !f.children.includes(boost.index) && f.parent !== boost.index);
  assert.ok(family, 'the demo bundle has a small family');
  const query = 'dark matter halos of dwarf galaxies';
  const args = ['steer', '--bundle', DEMO, '--query', query, '--edit', `${boost.index}:0.5`, '--family', `${family.id}:1`, '--k', '20', '--json'];
  const fromCli = JSON.parse(execFileSync(cli, args, { cwd: new URL('../../', import.meta.url), encoding: 'utf8' }));
  const { page, errors } = await open(browsers.plain, `&q=${encodeURIComponent(query)}&steer=${boost.index}:0.5&fam=${family.id}:1`);
  await page.waitForFunction(() => document.body.dataset.embedder === 'ready', null, { timeout: 180_000 });
  const wanted = fromCli.edits.map(([j, v]) => `${j}:${Number(v.toFixed(3))}`).join(',');
  await page.waitForFunction((w) => document.querySelector('#results')?.dataset.steer === w && document.body.dataset.busy === 'false', wanted, { timeout: 180_000 });
  const fromPage = await page.$$eval('#results li', (lis) => lis.map((li) => ({ doc: Number(li.dataset.doc), score: Number(li.dataset.score) })));
  // Both ran their default steering: concept steering, which won the steering evaluation.
  assert.equal(await page.$eval('#mode input:checked', (i) => /** @type {HTMLInputElement} */ (i).value), 'concept');
  assert.deepEqual(fromPage.map((h) => h.doc), fromCli.hits.map((h) => h.doc));
  fromPage.forEach((h, i) => assert.ok(Math.abs(h.score - fromCli.hits[i].score) < 1e-4, `doc ${h.doc}: page ${h.score}, CLI ${fromCli.hits[i].score}`));
  assert.ok(Math.abs(Number(await page.getAttribute('#moved', 'data-cosine')) - fromCli.cosine) < 1e-4);
  assert.deepEqual(errors, []);
  await page.close();
});

test('after an engine crash the worker is replaced, the bundle reloads and the page keeps working', async () => {
  const { page, errors } = await open(browsers.plain);
  const before = await search(page, 'gravitational waves from binary black holes');
  assert.equal(before.length, 20);
  // A Rust panic traps the wasm instance for good; the page must replace its worker.
  const answer = await page.evaluate(() => window.saescope.engine.call('panicForTest').then(() => 'no error', (e) => e.message));
  assert.match(answer, /crashed/);
  await page.waitForFunction(() => document.body.dataset.engineRestarts === '1' && /restarted/.test(document.querySelector('#error').textContent), null, { timeout: 180_000 });
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 180_000 });
  const after = await search(page, 'reinforcement learning for robot control');
  assert.equal(after.length, 20);
  assert.ok(after[0].score > 0.3, `a real answer after the restart: ${JSON.stringify(after[0])}`);
  // The panic itself is reported on the console (the panic hook); nothing else went wrong.
  assert.deepEqual(errors.filter((e) => !/panic|unreachable|crashed|RuntimeError/i.test(e)), []);
  await page.close();
});

test('the feature page shows the label, the histogram, top documents and related features', async () => {
  const j = boost.index;
  const { page, errors } = await open(browsers.gpu, `&view=feature&f=${j}`);
  await page.waitForSelector('ol[data-list="nearest"] li');
  assert.equal(await page.textContent('.feature-label'), boost.label);
  const stats = features.find((f) => f.feature === j);
  assert.equal(await page.$$eval('figure.histogram rect.bar', (r) => r.length), stats.histogram.length);
  const top = await page.$$eval('ol[data-list="top"] li', (lis) => lis.map((li) => Number(li.dataset.doc)));
  assert.deepEqual(top, stats.top_documents.map(([d]) => d));
  assert.equal(await page.$$eval('ol[data-list="nearest"] li', (l) => l.length), 8);
  const cofiring = await page.$$eval('ol[data-list="cofiring"] a', (as) => as.map((a) => Number(a.dataset.feature)));
  assert.ok(cofiring.length > 0 && cofiring.every((c) => c !== j));
  // Feature splitting: the page names the coarse feature j splits from and all its siblings,
  // exactly as the bundle's split map says.
  assert.ok(coarse.length > 0, 'the demo bundle carries a smaller SAE');
  for (const { d_sae: n, split } of coarse) {
    const [from, members] = Object.entries(JSON.parse(file(split))).find(([, large]) => large.includes(j));
    assert.equal(await page.getAttribute(`p.split[data-sae="${n}"]`, 'data-coarse'), from);
    if (members.length > 1) {
      const shown = await page.$$eval(`ol[data-list="split-${n}"] li`, (lis) => lis.map((li) => Number(li.dataset.feature)));
      assert.deepEqual([...shown].sort((a, b) => a - b), [...members].sort((a, b) => a - b));
    }
  }
  await page.screenshot({ path: new URL('feature.png', SHOTS).pathname, fullPage: true });
  // A related feature opens its own page.
  await page.click('ol[data-list="nearest"] li:first-child a');
  await page.waitForFunction((k) => new URL(location.href).searchParams.get('f') !== String(k), j);
  assert.notEqual(await page.textContent('.feature-label'), '');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the families view draws the family tree of the bundle', async () => {
  const { page, errors } = await open(browsers.gpu);
  await page.click('#tabs a[data-view="families"]');
  await page.waitForSelector('#family-tree li.family');
  const shown = await page.$$eval('#family-tree li.family', (lis) => lis.map((li) => Number(li.dataset.family)));
  assert.deepEqual([...new Set(shown)].sort((a, b) => a - b), families.map((f) => f.id).sort((a, b) => a - b), 'every family appears once');
  // How they were found, and how alike their members are, as families.json says.
  const familiesFile = JSON.parse(file('families.json'));
  const summary = await page.textContent('.family-summary');
  assert.match(summary, new RegExp(`Found by the readable method .* on ${familiesFile.stats.candidates.toLocaleString('en-US')} clean features`));
  assert.ok(summary.includes(`decoder cosine ${familiesFile.coherence.decoder_cosine.toFixed(3)}`), summary);
  const first = await page.$('#family-tree > li.family');
  await first.$eval('summary', (s) => s.click());
  const firstId = Number(await first.getAttribute('data-family'));
  const family = families.find((f) => f.id === firstId);
  const members = await first.$$eval(':scope > details > ul > li.member', (lis) => lis.map((li) => Number(li.dataset.feature)));
  assert.deepEqual(members, family.children);
  await page.screenshot({ path: new URL('families.png', SHOTS).pathname, fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('clustering runs on the engine and names each cluster by its over-represented features', async () => {
  const { page, errors } = await open(browsers.gpu, '&view=clusters&k=6&space=codes');
  await page.waitForSelector('#clusters li.cluster', { timeout: 300_000 });
  const sizes = await page.$$eval('#clusters li.cluster', (lis) => lis.map((li) => Number(li.dataset.size)));
  assert.equal(sizes.length, 6);
  assert.equal(sizes.reduce((a, b) => a + b, 0), documents.length);
  const names = await page.$$eval('#clusters li.cluster h3 a', (as) => as.length);
  assert.ok(names >= 6, 'each cluster is named by features');
  await page.screenshot({ path: new URL('clusters.png', SHOTS).pathname, fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('without WebGPU the same query gives the same results on the CPU path', async () => {
  const text = 'gravitational waves from binary black hole mergers';
  const { page: gpu } = await open(browsers.gpu);
  const { page: cpu } = await open(browsers.plain);
  assert.equal(await cpu.getAttribute('#engine', 'data-kind'), 'cpu');
  const [a, b] = [await search(gpu, text), await search(cpu, text)];
  assert.deepEqual(a.map((h) => h.doc), b.map((h) => h.doc));
  a.forEach((h, i) => assert.ok(Math.abs(h.score - b[i].score) < 1e-4));
  await gpu.close();
  await cpu.close();
});

/** Every number the explainer shows, by name, and its kept features: [feature, activation, magnitude, cosine_share]. */
async function explainerNumbers(page) {
  return page.evaluate(() => {
    const root = /** @type {HTMLElement} */ (document.querySelector('#view-explain'));
    const named = {};
    for (const span of root.querySelectorAll('[data-step] > .explain-body > p > [data-name]')) named[span.dataset.name] = Number(span.dataset.value);
    const kept = [...root.querySelectorAll('tr.kept')].map((tr) => [Number(tr.dataset.feature), ...['activation', 'magnitude', 'cosine_share'].map((n) => Number(tr.querySelector(`[data-name="${n}"]`).dataset.value))]);
    const steered = Object.fromEntries([...root.querySelectorAll('.explain-mode')].map((col) => [col.dataset.mode, Number(col.querySelector('[data-name="steered_cosine"]')?.dataset.value)]));
    return { named, kept, steered, k: Number(root.querySelector('#explain-k')?.value), charts: root.querySelectorAll('svg.chart').length };
  });
}

/** The page's explainer must show the CLI's numbers (`saescope explain`, native CPU). */
function assertExplains(fromPage, fromCli, tolerance = 1e-4) {
  const near = (a, b, what) => assert.ok(Math.abs(a - b) <= tolerance, `${what}: page ${a}, CLI ${b}`);
  assert.equal(fromPage.k, fromCli.k);
  for (const name of ['threshold', 'cosine', 'relative_error', 'bias_cosine_share']) near(fromPage.named[name], fromCli[name], name);
  assert.equal(fromPage.named.positive, fromCli.positive);
  assert.equal(fromPage.named.d_sae, fromCli.sorted_pre_activations.length);
  assert.deepEqual(fromPage.kept.map((f) => f[0]), fromCli.kept.map((f) => f.feature));
  fromPage.kept.forEach(([j, activation, magnitude, share], i) => {
    near(activation, fromCli.kept[i].activation, `feature ${j} activation`);
    near(magnitude, fromCli.kept[i].magnitude, `feature ${j} magnitude`);
    near(share, fromCli.kept[i].cosine_share, `feature ${j} share`);
  });
}

test('the explainer shows the CLI\'s numbers for a document, re-encodes with the k slider and compares the three steering modes', async () => {
  const cli = process.env.SAESCOPE_CLI;
  assert.ok(cli, 'SAESCOPE_CLI is set by cargo xtask test');
  const run = (...args) => JSON.parse(execFileSync(cli, args, { cwd: new URL('../../', import.meta.url), encoding: 'utf8' }));
  const fromCli = run('explain', '--bundle', DEMO, '--doc', String(target), '--json');
  const { page, errors } = await open(browsers.plain, `&view=explain&doc=${target}`);
  await page.waitForSelector('#view-explain .explain-mode [data-name="steered_cosine"]', { timeout: 180_000 });
  const shown = await explainerNumbers(page);
  assertExplains(shown, fromCli);
  assert.equal(shown.charts, 2, 'the embedding and the pre-activation curve are drawn');
  assert.ok(await page.isVisible('#view-explain svg.chart.signed path.overlay'), 'the reconstruction is drawn over the embedding');
  // The three modes, with the strongest feature removed, as `saescope steer` computes them.
  const strongest = fromCli.kept[0].feature;
  for (const mode of ['concept', 'keep-error', 'rebuild']) {
    const steered = run('steer', '--bundle', DEMO, '--doc', String(target), '--edit', `${strongest}:0`, '--mode', mode, '--k', '5', '--json');
    assert.ok(Math.abs(shown.steered[mode] - steered.cosine) < 1e-4, `${mode}: page ${shown.steered[mode]}, CLI ${steered.cosine}`);
  }
  await page.screenshot({ path: new URL('explain.png', SHOTS).pathname, fullPage: true });

  // The slider re-encodes live, and the URL keeps its k.
  const k = Math.max(1, Math.floor(fromCli.k / 4));
  await page.$eval('#explain-k', (input, v) => {
    input.value = String(v);
    input.dispatchEvent(new Event('input'));
  }, k);
  await page.waitForFunction((v) => document.querySelectorAll('#view-explain tr.kept').length <= v && document.querySelector('#view-explain [data-name="threshold"]') && document.querySelector('.cut text')?.textContent === `k = ${v}`, k);
  assertExplains(await explainerNumbers(page), run('explain', '--bundle', DEMO, '--doc', String(target), '--k', String(k), '--json'));
  assert.equal(new URL(page.url()).searchParams.get('ek'), String(k));
  assert.deepEqual(errors, []);
  await page.close();
});

test('the explainer reads a typed query as the CLI does, on WebGPU', async () => {
  const cli = process.env.SAESCOPE_CLI;
  const query = 'gravitational lensing by galaxy clusters';
  const fromCli = JSON.parse(execFileSync(cli, ['explain', '--bundle', DEMO, '--query', query, '--json'], { cwd: new URL('../../', import.meta.url), encoding: 'utf8' }));
  const { page, errors } = await open(browsers.gpu, `&view=explain&q=${encodeURIComponent(query)}`);
  await page.waitForSelector('#view-explain tr.kept', { timeout: 180_000 });
  const shown = await explainerNumbers(page);
  // The query is embedded in the browser (cosine >= 0.9999 to the native embedder), so the
  // numbers agree to a looser tolerance; the strongest features are the same.
  assert.deepEqual(shown.kept.slice(0, 3).map((f) => f[0]), fromCli.kept.slice(0, 3).map((f) => f.feature));
  assert.ok(Math.abs(shown.named.cosine - fromCli.cosine) < 2e-3, `cosine: page ${shown.named.cosine}, CLI ${fromCli.cosine}`);
  // The labels are shown as text.
  const label = await page.textContent('#view-explain tr.kept .feature-link');
  assert.ok(label && label.length > 0);
  assert.deepEqual(errors, []);
  await page.close();
});
