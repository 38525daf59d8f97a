// End-to-end tests of the page in Debian's headless Chromium. The page's results are compared
// with the native CPU reference that `cargo xtask test` computed on the same bundle with the
// saescope CLI (SAESCOPE_FIXTURES), with WebGPU on (SwiftShader) and off.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { bothBrowsers } from './chromium.mjs';
import { FIXTURES, assertReference, openPage, showDoc } from './helpers.mjs';

const DOCS = [0, 5, 123, 999];

const browsers = bothBrowsers();

/** The page's results for `DOCS` must equal the CLI's CPU reference. */
async function assertMatchesReference(page) {
  for (const doc of DOCS) assertReference(doc, await showDoc(page, doc));
}

test('with WebGPU, the page runs on the GPU and matches the native CPU reference', async () => {
  const { page, errors } = await openPage(browsers.gpu, `bundle=${FIXTURES}/bundle/`);
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  assert.equal(await page.getAttribute('#engine', 'data-kind'), 'gpu', await page.getAttribute('#engine', 'title'));
  await assertMatchesReference(page);
  assert.deepEqual(errors, []);
  await page.close();
});

test('on its own the page takes the CPU path over a software WebGPU, and the badge says why', async () => {
  const { page: forced } = await openPage(browsers.gpu, `bundle=${FIXTURES}/bundle/`);
  const adapter = await forced.getAttribute('#engine', 'title');
  await forced.close();
  // No GPU device node: Chromium's WebGPU can only be SwiftShader here.
  const noGpu = !['/dev/dri/renderD128', '/dev/nvidia0'].some((d) => existsSync(d));
  // By name, or by type: Chromium flags SwiftShader as a fallback adapter, which wgpu reports as a CPU device.
  const software = /swiftshader|llvmpipe|lavapipe|, Cpu\)$/i.test(adapter);
  if (noGpu) assert.ok(software, `the adapter named as software: ${adapter}`);
  const { page, errors } = await openPage(browsers.gpu, `bundle=${FIXTURES}/bundle/&device=auto`);
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  assert.equal(await page.getAttribute('#engine', 'data-kind'), software ? 'cpu' : 'gpu');
  if (software) {
    assert.equal(await page.textContent('#engine'), 'CPU (faster here than software WebGPU)');
    assert.match(await page.getAttribute('#engine', 'title'), /emulated on the CPU and slower than the CPU path/);
  }
  await assertMatchesReference(page);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the self-test runs the shared backend suite in WebGPU and passes', async () => {
  const { page } = await openPage(browsers.gpu, `bundle=${FIXTURES}/bundle/`);
  assert.equal(await page.getAttribute('#engine', 'data-kind'), 'gpu');
  await page.click('#selftest');
  await page.waitForFunction(() => ['passed', 'failed'].includes(document.querySelector('#selftest-results').dataset.state), null, { timeout: 300_000 });
  const results = await page.$$eval('#selftest-results li', (lis) => lis.map((li) => li.textContent));
  assert.equal(await page.getAttribute('#selftest-results', 'data-state'), 'passed', results.join('\n'));
  assert.ok(results.length >= 6, results.join('\n'));
  await page.close();
});

test('without WebGPU the page says so, runs on the CPU and gives the same results', async () => {
  const { page, errors } = await openPage(browsers.plain, `bundle=${FIXTURES}/bundle/`);
  assert.equal(await page.getAttribute('#engine', 'data-kind'), 'cpu');
  assert.match(await page.getAttribute('#engine', 'title'), /WebGPU unavailable/);
  await assertMatchesReference(page);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a corrupt shard is named in the page, and a good bundle still loads afterwards', async () => {
  const { page } = await openPage(browsers.gpu, `bundle=${FIXTURES}/corrupt/`);
  assert.equal(await page.getAttribute('body', 'data-state'), 'error');
  const message = await page.textContent('#error');
  assert.match(message, /embeddings\/001\.npy/);
  assert.match(message, /checksum mismatch/);
  assert.equal(await page.$$eval('#progress-files li.bad', (l) => l.length), 1);
  await page.fill('#bundle-url', `${FIXTURES}/bundle/`);
  await page.click('#bundle-form button[type=submit]');
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 120_000 });
  assert.equal(await page.isHidden('#error'), true, await page.textContent('#error'));
  const { features } = await showDoc(page, 5);
  assert.ok(features.length > 0);
  await page.close();
});

test('a missing bundle gives a clear error, not a blank page', async () => {
  const { page } = await openPage(browsers.gpu, 'bundle=no/such/bundle/');
  assert.equal(await page.getAttribute('body', 'data-state'), 'error');
  assert.match(await page.textContent('#error'), /HTTP 404/);
  await page.close();
});

test('document text is rendered as text, never as HTML', async () => {
  const { page } = await openPage(browsers.gpu, `bundle=${FIXTURES}/bundle/`);
  await showDoc(page, 1); // its title holds <b>...</b> (see saescope synth)
  assert.match(await page.textContent('#doc-title'), /<b>markup is shown as text<\/b>/);
  assert.equal(await page.$$eval('#doc-title *, #results .title *', (nodes) => nodes.length), 0);
  await page.close();
});

test('a bundle without a query embedder says free-text search is off, and search by document works', async () => {
  const { page, errors } = await openPage(browsers.gpu, `bundle=${FIXTURES}/bundle/`);
  assert.equal(await page.isDisabled('#query'), true);
  assert.match(await page.textContent('#query-status'), /Free-text search is off: .*query embedder/);
  const { hits } = await showDoc(page, 3);
  assert.equal(hits[0][0], 3);
  assert.deepEqual(errors, []);
  await page.close();
});
