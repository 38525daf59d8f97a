// Timings of the explorer in headless Chromium, for `cargo xtask bench` (never asserted in
// tests): time to the first result when the page opens on a query URL (cold: empty cache;
// warm: a reload, files from the Cache API), the latency of a typed query (embedding + steered
// search), and of a slider move, with WebGPU and on the CPU path. Prints one JSON object.
//
//   SAESCOPE_URL=http://127.0.0.1:PORT SAESCOPE_DEMO=path/to/bundle node tests/browser/measure.mjs

import { launch } from './chromium.mjs';

const BASE = process.env.SAESCOPE_URL;
const DEMO = process.env.SAESCOPE_DEMO;
if (!BASE || !DEMO) throw new Error('set SAESCOPE_URL and SAESCOPE_DEMO (cargo xtask bench does)');
const QUERIES = ['dark matter halos in galaxy clusters', 'graph neural networks for molecules', 'exoplanet atmospheres with JWST', 'reinforcement learning from human feedback', 'fast radio bursts', 'diffusion models for image generation', 'stellar streams in the Milky Way'];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function firstResult(page, query, device) {
  const started = Date.now();
  // Not waiting for "load": the worker's downloads share the static server with the page's own files.
  await page.goto(`${BASE}/?bundle=${DEMO}/&device=${device}&q=${encodeURIComponent(query)}`, { waitUntil: 'commit', timeout: 300_000 });
  await page.waitForFunction((q) => document.querySelector('#results')?.dataset.query === `q:${q}` && document.body.dataset.busy === 'false', query, { timeout: 300_000 });
  return Date.now() - started;
}

async function measure(gpu) {
  const browser = await launch({ webgpu: gpu });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    // WebGPU forced: on a software adapter the page would take the CPU path on its own.
    const device = gpu ? 'gpu' : 'cpu';
    const cold = await firstResult(page, QUERIES[0], device);
    const warm = await firstResult(page, QUERIES[0], device);
    const engine = await page.getAttribute('#engine', 'data-kind');
    const queries = [];
    const embeddings = [];
    for (const q of QUERIES.slice(1)) {
      await page.fill('#query', q);
      const started = Date.now();
      await page.press('#query', 'Enter');
      await page.waitForFunction((t) => document.querySelector('#results').dataset.query === `q:${t}` && document.body.dataset.busy === 'false', q, { timeout: 120_000 });
      queries.push(Date.now() - started);
      // "Embedded in your browser in N ms." (the embedding's share of the query, timed in the worker)
      const embedded = /in ([\d,.]+) ms/.exec(await page.textContent('#query-status'));
      if (embedded) embeddings.push(Number(embedded[1].replace(/,/g, '')));
    }
    const sliders = [];
    for (let i = 1; i <= 6; i++) {
      const started = Date.now();
      const edit = await page.$eval('#query-features li:first-child input', (input, f) => {
        input.value = String(Number(input.max) * f);
        input.dispatchEvent(new Event('input', { bubbles: true }));
        return `${input.dataset.feature}:${Number(Number(input.value).toFixed(3))}`;
      }, i / 7);
      // The results say which edits they answer.
      await page.waitForFunction((e) => document.querySelector('#results').dataset.steer?.split(',').includes(e), edit, { timeout: 120_000 });
      sliders.push(Date.now() - started);
    }
    return { engine, cold_ms: cold, warm_ms: warm, query_ms: median(queries), embed_ms: embeddings.length ? median(embeddings) : null, slider_ms: median(sliders), queries: queries.length, slider_moves: sliders.length };
  } finally {
    await browser.close();
  }
}

console.log(JSON.stringify({ webgpu: await measure(true), cpu: await measure(false) }));
