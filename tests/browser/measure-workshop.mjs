// Timings of the workshop in headless Chromium, for `cargo xtask bench --only workshop` (never
// asserted in tests): 2,000 real abstracts from file drop to explorable on the CPU path (split:
// reading, embedding, training, encoding, the map, labels, families, saving, opening), the same
// on SwiftShader WebGPU with the embeddings imported (the embedding pool runs on the CPU either
// way), and documents per second of embedding with 1 and with 2 workers. Prints one JSON object.
//
//   SAESCOPE_URL=http://127.0.0.1:PORT SAESCOPE_DEMO=path/to/bundle node tests/browser/measure-workshop.mjs

import { writeFileSync } from 'node:fs';
import { launch } from './chromium.mjs';
import { buildAndOpen, npyBytes, sharedPapers, stepState } from './workshop-helpers.mjs';

const BASE = process.env.SAESCOPE_URL;
const DEMO = process.env.SAESCOPE_DEMO;
if (!BASE || !DEMO) throw new Error('set SAESCOPE_URL and SAESCOPE_DEMO (cargo xtask bench does)');
const DOCUMENTS = Number(process.env.SAESCOPE_WORKSHOP_DOCUMENTS ?? 2000);

const { papers, embeddings, dim } = sharedPapers(DOCUMENTS / 2);
const corpus = { name: 'papers.jsonl', mimeType: 'application/json', buffer: Buffer.from(papers.map((p) => JSON.stringify(p)).join('\n')) };

async function open(browser, device) {
  const page = await browser.newPage();
  await page.goto(`${BASE}/?bundle=${DEMO}/&view=workshop${device}`);
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 300_000 });
  await page.waitForSelector('#ws-files', { state: 'attached' });
  return page;
}

/** Seconds `step` took. */
async function seconds(step) {
  const started = Date.now();
  await step();
  return (Date.now() - started) / 1000;
}

/** Drop to explorable, on one engine; with `npy`, the embeddings are imported, not computed. */
async function endToEnd(gpu, npy) {
  const browser = await launch({ webgpu: gpu });
  try {
    const page = await open(browser, gpu ? '' : '&device=cpu');
    const engine = await page.getAttribute('#engine', 'data-kind');
    const files = npy ? [corpus, { name: 'papers.npy', mimeType: 'application/octet-stream', buffer: npyBytes(embeddings, papers.length, dim) }] : [corpus];
    const times = {};
    times.read = await seconds(async () => {
      await page.setInputFiles('#ws-files', files);
      await stepState(page, 'ws-data-status', 'read');
    });
    if (!npy) {
      await page.selectOption('#ws-workers', '2');
      times.embed = await seconds(async () => {
        await page.click('#ws-embed-start');
        await stepState(page, 'ws-embed-status', 'done', 3_600_000);
      });
    }
    times.train = await seconds(async () => {
      await page.click('#ws-train-start');
      await stepState(page, 'ws-train-status', 'done', 1_800_000);
    });
    const nmse = Number(await page.getAttribute('#ws-train-status span', 'data-nmse'));
    // The defaults, as a visitor gets them: training on the CPU path where WebGPU is software.
    const settings = await page.$$eval('#ws-train input, #ws-train select', (fields) =>
      Object.fromEntries(fields.map((f) => [f.name, f.tagName === 'SELECT' ? f.value : Number(f.value)])),
    );
    let stages = {};
    times.build_and_open = await seconds(async () => {
      stages = (await buildAndOpen(page)).stages;
    });
    const total = Object.values(times).reduce((a, b) => a + b, 0);
    return { engine, documents: papers.length, embeddings: npy ? 'imported' : 'embedded here', times, stages, total, nmse, settings };
  } finally {
    await browser.close();
  }
}

/** Documents per second of the embedding pool on the first `n` papers. */
async function embedRate(workers, n) {
  const browser = await launch({ webgpu: false });
  try {
    const page = await open(browser, '&device=cpu');
    const few = { ...corpus, buffer: Buffer.from(papers.slice(0, n).map((p) => JSON.stringify(p)).join('\n')) };
    await page.setInputFiles('#ws-files', few);
    await stepState(page, 'ws-data-status', 'read');
    await page.selectOption('#ws-workers', String(workers));
    await page.click('#ws-embed-start');
    await stepState(page, 'ws-embed-status', 'done', 1_800_000);
    return Number(await page.getAttribute('#ws-embed-status', 'data-per-second'));
  } finally {
    await browser.close();
  }
}

const sample = 200;
// The same sample for the native embedder, which `cargo xtask bench` runs next.
if (process.env.SAESCOPE_SAMPLE) writeFileSync(`${process.env.SAESCOPE_SAMPLE}/sample.jsonl`, papers.slice(0, sample).map((p) => JSON.stringify(p)).join('\n'));
const rates = { documents: sample, one: await embedRate(1, sample), two: await embedRate(2, sample) };
const cpu = await endToEnd(false, false);
const webgpu = await endToEnd(true, true);
console.log(JSON.stringify({ rates, cpu, webgpu }));
