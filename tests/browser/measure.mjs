// Timings of the explorer in headless Chromium, for `cargo xtask bench` (never asserted in
// tests): time to the first result when the page opens on a query URL (cold: empty cache;
// warm: a reload, files from the Cache API), the latency of a typed query (embedding + steered
// search), and of a slider move, with WebGPU and on the CPU path, each also as the page's own
// breakdown (embed, search, transfer, render, and its in-page total). Prints one JSON object.
//
//   SAESCOPE_URL=http://127.0.0.1:PORT SAESCOPE_DEMO=path/to/bundle node tests/browser/measure.mjs

import { execFileSync } from 'node:child_process';
import { launch } from './chromium.mjs';

const BASE = process.env.SAESCOPE_URL;
const DEMO = process.env.SAESCOPE_DEMO;
if (!BASE || !DEMO) throw new Error('set SAESCOPE_URL and SAESCOPE_DEMO (cargo xtask bench does)');
const QUERIES = ['dark matter halos in galaxy clusters', 'graph neural networks for molecules', 'exoplanet atmospheres with JWST', 'reinforcement learning from human feedback', 'fast radio bursts', 'diffusion models for image generation', 'stellar streams in the Milky Way'];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

/**
 * Resident memory of Chromium's renderer processes, in MB: the tab with its workers and their
 * wasm memories (the only renderers running while the bench measures). Linux `ps`.
 */
const rendererMegabytes = () => {
  const lines = execFileSync('ps', ['-eo', 'rss=,args='], { encoding: 'utf8' }).split('\n');
  const kilobytes = lines.filter((l) => l.includes('chromium') && l.includes('--type=renderer')).reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[0]), 0);
  return Math.round(kilobytes / 1024);
};

/** The median of each stage over the page's own timings (`#results[data-timings]`, in ms). */
const stageMedians = (timings) => Object.fromEntries(Object.keys(timings[0] ?? {}).map((stage) => [stage, median(timings.map((t) => t[stage]))]));
const pageTimings = async (page) => JSON.parse((await page.getAttribute('#results', 'data-timings')) ?? '{}');

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
    const queryStages = [];
    for (const q of QUERIES.slice(1)) {
      await page.fill('#query', q);
      const started = Date.now();
      await page.press('#query', 'Enter');
      await page.waitForFunction((t) => document.querySelector('#results').dataset.query === `q:${t}` && document.body.dataset.busy === 'false', q, { timeout: 120_000 });
      queries.push(Date.now() - started);
      queryStages.push(await pageTimings(page));
      // "Embedded in your browser in N ms." (the embedding's share of the query, timed in the worker)
      const embedded = /in ([\d,.]+) ms/.exec(await page.textContent('#query-status'));
      if (embedded) embeddings.push(Number(embedded[1].replace(/,/g, '')));
    }
    const sliders = [];
    const sliderStages = [];
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
      sliderStages.push(await pageTimings(page));
    }
    const tab_mb = rendererMegabytes();
    return { engine, tab_mb, cold_ms: cold, warm_ms: warm, query_ms: median(queries), embed_ms: embeddings.length ? median(embeddings) : null, slider_ms: median(sliders), queries: queries.length, slider_moves: sliders.length, query_stages: stageMedians(queryStages), slider_stages: stageMedians(sliderStages) };
  } finally {
    await browser.close();
  }
}

// `SAESCOPE_ENGINES=cpu` measures the CPU path alone (a large bundle on a software WebGPU would
// take minutes per query).
const engines = (process.env.SAESCOPE_ENGINES ?? 'webgpu,cpu').split(',');
const results = {};
for (const engine of engines) results[engine] = await measure(engine === 'webgpu');
console.log(JSON.stringify(results));
