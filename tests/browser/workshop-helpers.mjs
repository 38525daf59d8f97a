// What the workshop's test (workshop.test.mjs) and benchmark (measure-workshop.mjs) share: real
// abstracts from ../shared (read at run time, never committed), `.npy` bytes, and waiting for a
// workshop step.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { readNpy } from './npy.mjs';

const SHARED = new URL('../../../shared/data/arxiv/', import.meta.url);

/**
 * `half` astro-ph and `half` cs.LG papers of the shared demo corpus (its first 10k lines are
 * astro-ph), spread over it, with their rows of the sentence-transformers reference embeddings.
 */
export function sharedPapers(half) {
  const lines = gunzipSync(readFileSync(new URL('demo-20k.jsonl.gz', SHARED))).toString('utf8').split('\n').filter(Boolean);
  const reference = readNpy(readFileSync(new URL('demo-20k.minilm.f32.npy', SHARED)));
  const step = Math.floor(10_000 / half);
  const rows = [...Array.from({ length: half }, (_, i) => i * step), ...Array.from({ length: half }, (_, i) => 10_000 + i * step)];
  const dim = reference.shape[1];
  const embeddings = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => embeddings.set(reference.data.subarray(r * dim, (r + 1) * dim), i * dim));
  return { papers: rows.map((r) => JSON.parse(lines[r])), rows, embeddings, dim };
}

/** A little-endian f32 `.npy` of `[rows, dim]`. */
export function npyBytes(data, rows, dim) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${dim}), }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** Waits for a workshop step's status line to reach `state` (failing fast on an error). */
export async function stepState(page, id, state, timeout = 300_000) {
  await page.waitForFunction(([i, s]) => ['error', s].includes(document.getElementById(i)?.dataset.state ?? ''), [id, state], { timeout });
  const got = await page.getAttribute(`#${id}`, 'data-state');
  assert.equal(got, state, await page.textContent(`#${id}`));
}

/**
 * Builds the bundle and opens it in the explorer: its saved name, and the build's time in ms
 * and by stage.
 */
export async function buildAndOpen(page) {
  await page.click('#ws-build-start');
  await stepState(page, 'ws-build-status', 'done', 1_200_000);
  const name = await page.getAttribute('#ws-build-status', 'data-name');
  const ms = Number(await page.getAttribute('#ws-build-status', 'data-ms'));
  const stages = JSON.parse(await page.getAttribute('#ws-build-status', 'data-stages'));
  await page.click('#ws-open');
  await page.waitForFunction((n) => document.body.dataset.state === 'ready' && new URLSearchParams(location.search).get('bundle') === `saved:${n}`, name, { timeout: 300_000 });
  return { name, ms, stages };
}
