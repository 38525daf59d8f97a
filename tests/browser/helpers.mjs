// Helpers shared by the browser tests on the synthetic fixture bundle (page.test.mjs,
// hostile.test.mjs): opening the page, making a document the query, and the native CPU
// reference that `cargo xtask test` computed for it with the saescope CLI (SAESCOPE_FIXTURES).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readNpy } from './npy.mjs';

export const BASE = process.env.SAESCOPE_URL;
export const FIXTURES = process.env.SAESCOPE_FIXTURES;
if (!BASE || !FIXTURES) throw new Error('run through `cargo xtask test` (SAESCOPE_URL and SAESCOPE_FIXTURES unset)');

/** Scores may differ by this much between the page (WebGPU or the CPU path) and the CLI. */
export const TOLERANCE = 1e-4;

const fixture = (p) => readFileSync(new URL(`../../${FIXTURES}/${p}`, import.meta.url));
let reference = null;
/** The CLI's encode and search answers for every document of the fixture bundle. */
function cpuReference() {
  reference ??= {
    encode: { indices: readNpy(fixture('expected/encode/indices.npy')), values: readNpy(fixture('expected/encode/values.npy')) },
    search: { indices: readNpy(fixture('expected/search/indices.npy')), scores: readNpy(fixture('expected/search/scores.npy')) },
  };
  return reference;
}

/**
 * Opens the page at `?query` in a new page of `browser` and waits until it is ready or failed;
 * `errors` collects the page's uncaught errors and console errors.
 */
export async function openPage(browser, query) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${BASE}/?${query}`);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 120_000 });
  return { page, errors };
}

/** Makes document `doc` the query, as the browser's back/forward buttons would: its features and hits. */
export async function showDoc(page, doc) {
  await page.evaluate((d) => {
    const url = new URL(location.href);
    url.searchParams.delete('q');
    url.searchParams.set('doc', String(d));
    history.pushState(null, '', url);
    dispatchEvent(new PopStateEvent('popstate'));
  }, doc);
  await page.waitForFunction((d) => document.querySelector('#results').dataset.query === `doc:${d}` && document.body.dataset.busy === 'false', doc);
  const features = await page.$$eval('#query-features li', (lis) => lis.map((li) => [Number(li.dataset.feature), Number(li.dataset.activation)]));
  const hits = await page.$$eval('#results li', (lis) => lis.map((li) => [Number(li.dataset.doc), Number(li.dataset.score)]));
  return { features, hits };
}

/** The page's features and hits for document `doc` (of showDoc) must equal the CLI's CPU reference. */
export function assertReference(doc, { features, hits }) {
  const { encode, search } = cpuReference();
  const k = encode.indices.shape[1];
  const want = [];
  for (let e = 0; e < k; e++) {
    const v = encode.values.data[doc * k + e];
    if (v > 0) want.push([encode.indices.data[doc * k + e], v]);
  }
  assert.equal(features.length, want.length, `doc ${doc}: ${features.length} active features, reference has ${want.length}`);
  features.forEach(([f, a], i) => {
    assert.equal(f, want[i][0], `doc ${doc}: feature at rank ${i}`);
    assert.ok(Math.abs(a - want[i][1]) < TOLERANCE, `doc ${doc}: activation ${a} vs ${want[i][1]}`);
  });
  const kq = search.indices.shape[1];
  assert.ok(hits.length >= kq, `${hits.length} results`);
  hits.slice(0, kq).forEach(([d, s], i) => {
    assert.ok(Math.abs(s - search.scores.data[doc * kq + i]) < TOLERANCE, `doc ${doc}: score at rank ${i}`);
    assert.equal(d, search.indices.data[doc * kq + i], `doc ${doc}: hit at rank ${i}`);
  });
}
