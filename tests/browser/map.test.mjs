// The map view in Debian's headless Chromium, on the synthetic fixture bundle whose layout is
// planted (`saescope synth`: each document beside its strongest atom's anchor; feature j of the
// fixture SAE is atom j). What the page draws and selects is checked against the bundle's own
// files, read here: layout.npy for where each document lies, codes/ for which features fire.
// With WebGPU (the map drawn on WebGPU, the engine on the GPU) and without (WebGL2 or a 2D
// canvas, device=cpu). Screenshots of each state go to target/screenshots/map-*.png.
//
// SAESCOPE_BIG (optional): a bundle of ~200k documents with a layout, served like the fixtures;
// without it the 200k test is skipped.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bothBrowsers } from './chromium.mjs';
import { BASE, FIXTURES } from './helpers.mjs';
import { bundleDocuments } from './documents.mjs';
import { readNpy } from './npy.mjs';

const ROOT = new URL('../../', import.meta.url);
const SHOTS = new URL('target/screenshots/', ROOT);
mkdirSync(SHOTS, { recursive: true });
const GOOD = `${FIXTURES}/bundle/`;
const NOLAYOUT = `${FIXTURES}/nolayout/`;
const read = (path) => readFileSync(new URL(path, ROOT));
const manifest = JSON.parse(read(`${GOOD}manifest.json`));
const layoutEntry = manifest.files.find((f) => f.role === 'layout');
const documents = bundleDocuments((p) => read(`${GOOD}${p}`));
const codes = { indices: readNpy(read(`${GOOD}codes/indices.npy`)), values: readNpy(read(`${GOOD}codes/values.npy`)) };
const N = codes.indices.shape[0];
const K = codes.indices.shape[1];
/** The planted layout, [N, 2]; null when the bundle has none (the tests then fail saying so). */
const layout = layoutEntry ? readNpy(read(`${GOOD}${layoutEntry.path}`)) : null;

const BIG = (() => {
  const big = process.env.SAESCOPE_BIG;
  if (!big) return null;
  // A path on disk inside the repository, or one relative to it, as the server serves it.
  const rel = isAbsolute(big) ? relative(fileURLToPath(ROOT), big) : big.replace(/^\.\//, '');
  return rel.endsWith('/') ? rel : `${rel}/`;
})();

/** Features firing in each document, from the bundle's codes. */
const firing = Array.from({ length: N }, (_, d) => {
  const out = new Map();
  for (let e = d * K; e < (d + 1) * K; e++) if (codes.values.data[e] > 0) out.set(codes.indices.data[e], codes.values.data[e]);
  return out;
});
/** How many documents each feature fires in. */
const featureCount = new Map();
for (const f of firing) for (const j of f.keys()) featureCount.set(j, (featureCount.get(j) ?? 0) + 1);

const xy = (d) => [layout.data[2 * d], layout.data[2 * d + 1]];

const browsers = bothBrowsers();

after(async () => {
  rmSync(new URL(NOLAYOUT, ROOT), { recursive: true, force: true });
});

/** The three ways to draw: [name, browser, URL parameters, the renderer expected (null: any fallback)]. */
const RENDERERS = [
  ['webgpu', () => browsers.gpu, '', 'webgpu'],
  ['cpu', () => browsers.plain, '&device=cpu', null],
  ['canvas', () => browsers.plain, '&device=cpu&renderer=canvas', 'canvas'],
];

/**
 * The page on `bundle` at `?query`, waited for until the map has painted (or the page failed).
 */
async function openMap(browser, query, { bundle = GOOD, paint = true, viewport = { width: 1280, height: 900 } } = {}) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${BASE}/?bundle=${bundle}${query ? `&${query}` : ''}`);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 180_000 });
  assert.equal(await page.getAttribute('body', 'data-state'), 'ready', await page.textContent('#error'));
  if (paint) await page.waitForFunction(() => document.querySelector('#map-plot')?.dataset.firstPaintMs !== undefined, null, { timeout: 120_000 });
  return { page, errors };
}

/** Waits until the map is coloured by `color` (the view says so once the colours are drawn). */
async function colored(page, color) {
  await page.waitForFunction((c) => document.querySelector('#view-map')?.dataset.color === c && document.body.dataset.busy === 'false', color, { timeout: 120_000 });
}

/** Waits for the selection panel to finish; its document count. */
async function selected(page) {
  await page.waitForFunction(() => ['done', 'failed'].includes(document.querySelector('#map-selection')?.dataset.state), null, { timeout: 120_000 });
  assert.equal(await page.getAttribute('#map-selection', 'data-state'), 'done', await page.textContent('#map-selection'));
  return Number(await page.getAttribute('#map-selection', 'data-count'));
}

/** The renderer's view: centre, scale (CSS pixels per layout unit), size. */
const transform = (page) => page.evaluate(() => window.saescope.views.map.scatter.transform);

/** Layout units -> CSS pixels in the map, by the view's transform. */
const toScreen = (t, [x, y]) => [t.width / 2 + (x - t.cx) * t.scale, t.height / 2 - (y - t.cy) * t.scale];

const inside = (t, [sx, sy], margin = 0) => sx >= margin && sy >= margin && sx < t.width - margin && sy < t.height - margin;

/** The map's pixels at `points` (CSS pixels in the map), read back from the renderer. */
const pixels = (page, points) => page.evaluate((p) => window.saescope.views.map.scatter.pixels(p), points);

const WHITE = [255, 255, 255];
const OFF = [208, 212, 219];
const PLAIN = [78, 121, 167];
const near = (px, c, tol = 3) => px && c.every((v, i) => Math.abs(px[i] - v) <= tol);
/** An activation's colour: the heat ramp runs from light orange to dark red (blue channel low). */
const isOn = (px) => px && px[2] <= 170 && px[0] >= 110 && !near(px, WHITE, 20);

/** Documents with no document of `others` within `px` CSS pixels on screen. */
function isolated(t, docs, others, px) {
  const screen = (d) => toScreen(t, xy(d));
  const points = others.map(screen);
  return docs.filter((d) => {
    const [x, y] = screen(d);
    return points.every(([ox, oy], i) => others[i] === d || Math.hypot(ox - x, oy - y) > px);
  });
}

/** `x` rounded to 4 significant digits, as the URL keeps a selection. */
const r4 = (x) => Number(x.toPrecision(4));

/** The documents inside an axis-aligned box, by the layout file. */
const docsInBox = ([x0, y0, x1, y1]) => {
  const out = [];
  for (let d = 0; d < N; d++) {
    const [x, y] = xy(d);
    if (x > x0 && x < x1 && y > y0 && y < y1) out.push(d);
  }
  return out;
};

/** Haldane-corrected log-odds and its lower 95% bound (Woolf), as the engine computes them. */
function lowerBound(a, inBox, total) {
  const b = inBox - a;
  const c = total - a;
  const d = N - inBox - c;
  const lo = Math.log(((a + 0.5) * (d + 0.5)) / ((b + 0.5) * (c + 0.5)));
  const se = Math.sqrt(1 / (a + 0.5) + 1 / (b + 0.5) + 1 / (c + 0.5) + 1 / (d + 0.5));
  return lo - 1.959964 * se;
}

/**
 * A box around one document's neighbourhood whose documents share a feature that is both the
 * most common in it and, clearly, the most over-represented; no document lies near its edges
 * (so pointer positions rounded to pixels select the same documents).
 */
let plantedCache = null;
function plantedBox() {
  plantedCache ??= findPlantedBox();
  return plantedCache;
}

function findPlantedBox() {
  for (let d0 = 0; d0 < N; d0++) {
    // Centred on the documents around d0 (those placed by one anchor lie within 1.5 of it).
    const around = docsInBox([xy(d0)[0] - 1.5, xy(d0)[1] - 1.5, xy(d0)[0] + 1.5, xy(d0)[1] + 1.5]);
    const cx = around.reduce((s, d) => s + xy(d)[0], 0) / around.length;
    const cy = around.reduce((s, d) => s + xy(d)[1], 0) / around.length;
    for (const half of [1.8, 2.2, 2.6]) {
      const box = [r4(cx - half), r4(cy - half), r4(cx + half), r4(cy + half)];
      const docs = docsInBox(box);
      if (docs.length < 3) continue;
      const edge = 0.2;
      const nearEdge = [...Array(N).keys()].some((d) => {
        const [x, y] = xy(d);
        const inOuter = x > box[0] - edge && x < box[2] + edge && y > box[1] - edge && y < box[3] + edge;
        const inInner = x > box[0] + edge && x < box[2] - edge && y > box[1] + edge && y < box[3] - edge;
        return inOuter && !inInner;
      });
      if (nearEdge) continue;
      const counts = new Map();
      for (const d of docs) for (const j of firing[d].keys()) counts.set(j, (counts.get(j) ?? 0) + 1);
      const byCount = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
      const [top, count] = byCount[0];
      if (count < 3 || count < 0.75 * docs.length || (byCount[1] && byCount[1][1] === count)) continue;
      const bounds = [...counts].map(([j, a]) => [j, lowerBound(a, docs.length, featureCount.get(j))]).sort((a, b) => b[1] - a[1]);
      if (bounds[0][0] !== top || (bounds[1] && bounds[0][1] - bounds[1][1] < 0.5)) continue;
      return { doc: d0, box, docs, feature: top, count };
    }
  }
  throw new Error('no document of the fixture has a clean planted neighbourhood');
}

const boxPolygon = ([x0, y0, x1, y1]) => `${x0},${y0};${x1},${y0};${x1},${y1};${x0},${y1}`;

/** Checks the enrichment table: the box's feature first, its counts as the codes say. */
async function assertEnrichment(page, planted) {
  const rows = await page.$$eval('#map-enrichment tbody tr', (trs) => trs.map((tr) => ({ feature: Number(tr.dataset.feature), inside: Number(tr.dataset.inside), outside: Number(tr.dataset.outside), significant: tr.dataset.significant === 'true' })));
  assert.ok(rows.length > 0, 'the enrichment table has rows');
  assert.equal(rows[0].feature, planted.feature, `first enriched feature: ${JSON.stringify(rows.slice(0, 3))}`);
  return rows;
}

async function shot(page, name, { fullPage = true } = {}) {
  // The map's last frame on the screen first (a frame read back from WebGPU arrives later).
  await page.evaluate(() => window.saescope?.views.map.scatter?.flush());
  await page.screenshot({ path: fileURLToPath(new URL(`map-${name}.png`, SHOTS)), fullPage });
}

test('the fixture bundle carries a planted layout', () => {
  assert.ok(layoutEntry, `the fixture manifest lists a layout (roles: ${manifest.files.map((f) => f.role).join(', ')})`);
  assert.deepEqual(layout.shape, [N, 2]);
});

test('the map is the first view, and draws every document where the layout puts it', async () => {
  for (const [name, browser, params, kind] of RENDERERS) {
    const { page, errors } = await openMap(browser(), `color=none${params}`);
    assert.equal(await page.isVisible('#view-map'), true, `${name}: the map is the first view`);
    assert.equal(await page.getAttribute('#tabs a[data-view="map"]', 'class'), 'active');
    await colored(page, 'none');
    const renderer = await page.getAttribute('#map-plot', 'data-renderer');
    if (kind) assert.equal(renderer, kind, `${name}: drawn with ${renderer}`);
    const first = Number(await page.getAttribute('#map-plot', 'data-first-paint-ms'));
    console.log(`# ${name}: drawn with ${renderer}; first paint ${first} ms after the bundle was ready`);
    const t = await transform(page);
    // Not blank: as many lit pixels as points could cover, roughly.
    const lit = await page.evaluate(async () => {
      const img = await window.saescope.views.map.scatter.snapshot();
      let n = 0;
      for (let i = 0; i < img.data.length; i += 4) if (img.data[i] !== 255 || img.data[i + 1] !== 255 || img.data[i + 2] !== 255) n++;
      return n;
    });
    assert.ok(lit > N, `${name}: ${lit} lit pixels for ${N} points`);
    // Every document's own pixel has the points' colour...
    const all = [...Array(N).keys()].filter((d) => inside(t, toScreen(t, xy(d)), 1));
    assert.ok(all.length > 0.98 * N, `${name}: ${all.length} of ${N} documents on screen at zoom 1`);
    const got = await pixels(page, all.map((d) => toScreen(t, xy(d))));
    const wrong = all.filter((d, i) => !near(got[i], PLAIN));
    assert.deepEqual(wrong.slice(0, 10).map((d) => [d, got[all.indexOf(d)]]), [], `${name}: ${wrong.length} documents not drawn where the layout puts them`);
    // ...and where no document lies, nothing is drawn.
    const screens = all.map((d) => toScreen(t, xy(d)));
    const empty = [];
    for (let sx = 5; sx < t.width; sx += 23) {
      for (let sy = 5; sy < t.height; sy += 23) {
        if (screens.every(([x, y]) => Math.hypot(x - sx, y - sy) > t.radius + 2.5)) empty.push([sx, sy]);
      }
    }
    const bg = await pixels(page, empty);
    const drawn = empty.filter((p, i) => !near(bg[i], WHITE, 1));
    assert.ok(empty.length > 100, `${empty.length} empty places probed`);
    assert.deepEqual(drawn.slice(0, 10), [], `${name}: drawn where no document lies`);
    await shot(page, `points-${name}`);
    assert.deepEqual(errors, []);
    await page.close();
  }
});

test('colouring by a feature lights exactly the documents that fire it', async () => {
  // A feature of middling frequency.
  const [j] = [...featureCount].filter(([, c]) => c >= 15 && c <= 60).sort((a, b) => b[1] - a[1] || a[0] - b[0])[0];
  const fires = [...Array(N).keys()].filter((d) => firing[d].has(j));
  const rest = [...Array(N).keys()].filter((d) => !firing[d].has(j));
  for (const [name, browser, params] of RENDERERS.slice(0, 2)) {
    const { page, errors } = await openMap(browser(), `view=map&color=feature:${j}${params}`);
    await colored(page, `feature:${j}`);
    assert.equal(await page.inputValue('#map-color'), 'feature');
    assert.match(await page.textContent('#map-legend'), new RegExp(`Fires in ${fires.length} of ${N.toLocaleString('en-US')} documents`));
    const t = await transform(page);
    // The firing documents are drawn on top: each one's pixel is lit.
    const on = fires.filter((d) => inside(t, toScreen(t, xy(d)), 1));
    const onPx = await pixels(page, on.map((d) => toScreen(t, xy(d))));
    const dark = on.filter((d, i) => !isOn(onPx[i]));
    assert.deepEqual(dark.map((d) => [d, onPx[on.indexOf(d)]]), [], `${name}: firing documents not lit`);
    // A document that does not fire it, with no firing one overlapping it, is grey.
    const off = isolated(t, rest, fires, 2 * t.radius + 2).filter((d) => inside(t, toScreen(t, xy(d)), 1));
    assert.ok(off.length > 0.9 * rest.length, `${off.length} isolated non-firing documents`);
    const offPx = await pixels(page, off.map((d) => toScreen(t, xy(d))));
    const lit = off.filter((d, i) => !near(offPx[i], OFF));
    assert.deepEqual(lit.slice(0, 10).map((d) => [d, offPx[off.indexOf(d)]]), [], `${name}: ${lit.length} non-firing documents not grey`);
    await shot(page, `feature-${name}`);
    assert.deepEqual(errors, []);
    await page.close();
  }
});

test('the other colourings have legends: category with counts, year, clusters, the search\'s scores', async () => {
  const { page, errors } = await openMap(browsers.gpu, 'view=map');
  await colored(page, 'category');
  const counts = await page.$$eval('#map-legend li', (lis) => lis.map((li) => Number(li.dataset.count)));
  assert.equal(counts.reduce((a, b) => a + b, 0), N, 'the category swatches count every document');
  assert.ok(counts.length <= 14);
  await shot(page, 'category');
  // The k-means clusters: run from the legend.
  await page.selectOption('#map-color', 'cluster');
  await page.waitForSelector('#map-run-clusters');
  await page.click('#map-run-clusters');
  await page.waitForFunction(() => /^cluster\|.+/.test(document.querySelector('#view-map').dataset.color ?? '') && document.querySelector('#map-legend li'), null, { timeout: 120_000 });
  const clusterCounts = await page.$$eval('#map-legend li', (lis) => lis.map((li) => Number(li.dataset.count)));
  assert.equal(clusterCounts.reduce((a, b) => a + b, 0), N);
  await shot(page, 'clusters');
  // The search's scores: a document as the query. The GPU's top-k stops at its limit (the
  // legend says so); the CPU path shades the top 1000.
  await page.goto(`${BASE}/?bundle=${GOOD}&view=map&color=score&doc=5`);
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 120_000 });
  await page.waitForFunction(() => /^score\|.+/.test(document.querySelector('#view-map')?.dataset.color ?? ''), null, { timeout: 120_000 });
  assert.match(await page.textContent('#map-legend'), /top (1000 by score|\d+ by score .*gives at most \d+ hits)/);
  await shot(page, 'score-webgpu');
  assert.deepEqual(errors, []);
  await page.close();
  const cpu = await openMap(browsers.plain, 'view=map&color=score&doc=5&device=cpu');
  await cpu.page.waitForFunction(() => /^score\|.+/.test(document.querySelector('#view-map')?.dataset.color ?? ''), null, { timeout: 120_000 });
  assert.match(await cpu.page.textContent('#map-legend'), /top 1000 by score/);
  const shaded = await cpu.page.evaluate(() => window.saescope.views.map.query.hits.length);
  assert.equal(shaded, 1000);
  await shot(cpu.page, 'score');
  assert.deepEqual(cpu.errors, []);
  await cpu.page.close();
});

test('a query is ringed on the map, and the search view\'s small map follows a steering slider', async () => {
  const { page, errors } = await openMap(browsers.gpu, 'view=search&doc=5', { paint: false });
  await page.waitForFunction(() => document.querySelector('#results')?.dataset.query === 'doc:5' && document.querySelector('#results-map')?.dataset.hits, null, { timeout: 120_000 });
  const hits = await page.$$eval('#results li', (lis) => lis.map((li) => ({ doc: Number(li.dataset.doc), score: Number(li.dataset.score) })));
  assert.equal(await page.getAttribute('#results-map', 'data-hits'), hits.map((h) => h.doc).join(' '));
  // The star: the score-weighted mean of the top 15 hits' positions.
  const top = hits.slice(0, 15);
  const w = top.reduce((s, h) => s + Math.max(0, h.score), 0);
  const want = [0, 1].map((c) => top.reduce((s, h) => s + Math.max(0, h.score) * xy(h.doc)[c], 0) / w);
  const star = [Number(await page.getAttribute('#results-map', 'data-query-x')), Number(await page.getAttribute('#results-map', 'data-query-y'))];
  assert.ok(Math.hypot(star[0] - want[0], star[1] - want[1]) < 1e-3, `star at ${star}, expected ${want}`);
  await shot(page, 'search-minimap');
  // A slider moves: the small map moves with the results.
  const before = await page.getAttribute('#results-map', 'data-hits');
  const edit = await page.$eval('#query-features li:first-child input', (input) => {
    input.value = '0';
    input.dispatchEvent(new Event('input', { bubbles: true }));
    return `${input.dataset.feature}:0`;
  });
  await page.waitForFunction((e) => document.querySelector('#results').dataset.steer === e, edit, { timeout: 60_000 });
  await page.waitForFunction((b) => document.querySelector('#results-map').dataset.hits !== b, before, { timeout: 60_000 });
  const steered = await page.$$eval('#results li', (lis) => lis.map((li) => Number(li.dataset.doc)).join(' '));
  await page.waitForFunction((s) => document.querySelector('#results-map').dataset.hits === s, steered, { timeout: 60_000 });
  // The map view shows the same query: its top 10 ringed, the star where the search's top 15 lie.
  await page.click('#tabs a[data-view="map"]');
  await page.waitForFunction(() => document.querySelector('#view-map')?.dataset.query && document.querySelector('#map-plot')?.dataset.firstPaintMs, null, { timeout: 120_000 });
  const rings = await page.evaluate(() => window.saescope.views.map.scatter.highlight.rings);
  assert.deepEqual(rings, steered.split(' ').slice(0, 10).map(Number));
  assert.match(await page.textContent('#map-query-note'), /top 10 results are ringed/);
  await shot(page, 'query');
  assert.deepEqual(errors, []);
  await page.close();
});

test('hovering a point names its document, and a click opens it', async () => {
  const { page, errors } = await openMap(browsers.gpu, 'view=map');
  await colored(page, 'category');
  const t = await transform(page);
  const all = [...Array(N).keys()];
  const [doc] = isolated(t, all, all, 2 * t.radius + 6).filter((d) => inside(t, toScreen(t, xy(d)), 40) && toScreen(t, xy(d))[1] < t.height / 2);
  await page.evaluate(() => document.querySelector('#map-toolbar').scrollIntoView());
  const box = await page.locator('#map-plot').boundingBox();
  const [sx, sy] = toScreen(t, xy(doc));
  await page.mouse.move(box.x + sx, box.y + sy);
  await page.waitForFunction((d) => document.querySelector('#map-tooltip')?.dataset.doc === String(d) && !document.querySelector('#map-tooltip').hidden, doc);
  assert.equal(await page.textContent('#map-tooltip strong'), documents[doc].title);
  await page.waitForFunction(() => /Top features|No features/.test(document.querySelector('#map-tooltip .features')?.textContent ?? ''), null, { timeout: 60_000 });
  // The viewport only: a full-page capture resizes the page, and the pointer leaves the map.
  await shot(page, 'hover', { fullPage: false });
  await page.mouse.click(box.x + sx, box.y + sy);
  await page.waitForFunction((d) => new URL(location.href).searchParams.get('doc') === String(d) && !document.querySelector('#view-search').hidden, doc);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a selection around a planted neighbourhood puts its shared feature first in the enrichment', async () => {
  const planted = plantedBox();
  for (const [name, browser, params] of RENDERERS.slice(0, 2)) {
    const { page, errors } = await openMap(browser(), `view=map&sel=${boxPolygon(planted.box)}${params}`);
    const count = await selected(page);
    assert.equal(count, planted.docs.length, `${name}: the documents inside the box`);
    const rows = await assertEnrichment(page, planted);
    assert.equal(rows[0].inside, planted.count);
    assert.equal(rows[0].outside, featureCount.get(planted.feature) - planted.count);
    const sample = await page.$$eval('#map-sample li', (lis) => lis.map((li) => Number(li.dataset.doc)));
    assert.ok(sample.length === Math.min(10, count) && sample.every((d) => planted.docs.includes(d)));
    await shot(page, `selection-${name}`);
    assert.deepEqual(errors, []);
    await page.close();
  }
});

test('rectangle and lasso drawn with the pointer select the same neighbourhood', async () => {
  const planted = plantedBox();
  const [x0, y0, x1, y1] = planted.box;
  const centre = [(x0 + x1) / 2, (y0 + y1) / 2];
  const { page, errors } = await openMap(browsers.gpu, `view=map&mapview=${centre[0]},${centre[1]},4`);
  await colored(page, 'category');
  const t = await transform(page);
  let box = await page.locator('#map-plot').boundingBox();
  const at = (p) => {
    const [sx, sy] = toScreen(t, p);
    return [box.x + sx, box.y + sy];
  };
  // The rectangle tool.
  await page.click('#map-tool-box');
  await page.mouse.move(...at([x0, y1]));
  await page.mouse.down();
  await page.mouse.move(...at([x1, y0]), { steps: 12 });
  await page.mouse.up();
  assert.equal(await selected(page), planted.docs.length);
  await assertEnrichment(page, planted);
  assert.match(page.url(), /sel=/);
  await shot(page, 'rectangle');
  // Shift-drag in pan mode: a freehand lasso along the box's edges.
  await page.click('#map-tool-pan');
  await page.click('#map-clear-selection');
  await page.waitForFunction(() => document.querySelector('#map-selection').hidden);
  // The click scrolled to the button: back to the map.
  await page.evaluate(() => window.scrollTo(0, 0));
  box = await page.locator('#map-plot').boundingBox();
  const corners = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]];
  await page.keyboard.down('Shift');
  await page.mouse.move(...at(corners[0]));
  await page.mouse.down();
  for (let c = 1; c < corners.length; c++) {
    for (let s = 1; s <= 8; s++) {
      const f = s / 8;
      await page.mouse.move(...at([corners[c - 1][0] + f * (corners[c][0] - corners[c - 1][0]), corners[c - 1][1] + f * (corners[c][1] - corners[c - 1][1])]));
    }
  }
  await page.mouse.up();
  await page.keyboard.up('Shift');
  assert.equal(await selected(page), planted.docs.length);
  await assertEnrichment(page, planted);
  await shot(page, 'lasso');
  // Export: CSV with a header and one quoted row per document.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#map-export-csv')]);
  const csv = readFileSync(await download.path(), 'utf8');
  const lines = csv.trim().split('\r\n');
  assert.equal(lines[0], '"doc","id","title","categories","year","top_features"');
  assert.equal(lines.length, planted.docs.length + 1);
  assert.deepEqual(lines.slice(1).map((l) => Number(JSON.parse(l.split(',')[0]))), planted.docs);
  const [json] = await Promise.all([page.waitForEvent('download'), page.click('#map-export-json')]);
  const exported = JSON.parse(readFileSync(await json.path(), 'utf8'));
  assert.deepEqual(exported.documents.map((d) => d.doc), planted.docs);
  const withIt = exported.documents.filter((d) => firing[d.doc].has(planted.feature));
  assert.equal(withIt.length, planted.count);
  assert.ok(withIt.every((d) => d.top_features.some((f) => f.feature === planted.feature)));
  // Steering toward it: the search view with its top features added.
  await page.click('#map-steer');
  await page.waitForFunction(() => !document.querySelector('#view-search').hidden && document.querySelector('#results')?.dataset.steer);
  assert.ok((await page.getAttribute('#results', 'data-steer')).split(',').some((e) => e.startsWith(`${planted.feature}:`)));
  assert.deepEqual(errors, []);
  await page.close();
});

test('an empty selection says so, a one-document selection works, and bad URL values are ignored', async () => {
  const { page, errors } = await openMap(browsers.plain, 'view=map&device=cpu&sel=-500,-500;-499,-500;-499,-499');
  assert.equal(await selected(page), 0);
  assert.match(await page.textContent('#map-selection'), /No documents inside the selection/);
  await shot(page, 'empty-selection');
  // One document: a small box around an isolated one.
  const d = [...Array(N).keys()].find((i) => docsInBox([xy(i)[0] - 0.3, xy(i)[1] - 0.3, xy(i)[0] + 0.3, xy(i)[1] + 0.3]).length === 1);
  const [x, y] = xy(d);
  const one = [r4(x - 0.2), r4(y - 0.2), r4(x + 0.2), r4(y + 0.2)];
  await page.goto(`${BASE}/?bundle=${GOOD}&view=map&device=cpu&sel=${boxPolygon(one)}`);
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 120_000 });
  assert.equal(await selected(page), 1);
  const rows = await page.$$eval('#map-enrichment tbody tr', (trs) => trs.map((tr) => Number(tr.dataset.feature)));
  assert.ok(rows.length > 0 && rows.every((j) => firing[d].has(j)), `the features of document ${d}: ${rows}`);
  await shot(page, 'one-document');
  // Malformed values: ignored, the map as by default.
  await page.goto(`${BASE}/?bundle=${GOOD}&view=map&color=bogus&sel=1,2;3&mapview=a,b,c`);
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 120_000 });
  await colored(page, 'category');
  assert.equal(await page.isHidden('#map-selection'), true);
  assert.equal((await transform(page)).cx !== undefined, true);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a reload restores the view, the colouring, the selection and the pan and zoom', async () => {
  const planted = plantedBox();
  const [j] = [...featureCount].filter(([, c]) => c >= 15).sort((a, b) => a[0] - b[0])[0];
  const { page, errors } = await openMap(browsers.gpu, `view=map&color=feature:${j}&sel=${boxPolygon(planted.box)}`);
  await colored(page, `feature:${j}`);
  const count = await selected(page);
  // Zoom with the wheel over the map: the URL keeps the view.
  const box = await page.locator('#map-plot').boundingBox();
  await page.mouse.move(box.x + box.width / 3, box.y + box.height / 3);
  await page.mouse.wheel(0, -400);
  await page.waitForFunction(() => new URL(location.href).searchParams.has('mapview'));
  await page.waitForTimeout(400);
  const before = await transform(page);
  const url = page.url();
  // The map is the first view: the URL says so by saying nothing, or `view=map`.
  assert.ok(!/[?&]view=/.test(url) || /[?&]view=map/.test(url), url);
  assert.match(url, new RegExp(`color=feature%3A${j}`));
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 120_000 });
  await colored(page, `feature:${j}`);
  assert.equal(await page.isVisible('#view-map'), true);
  assert.equal(await page.inputValue('#map-color'), 'feature');
  assert.equal(await selected(page), count);
  await assertEnrichment(page, planted);
  const after = await transform(page);
  assert.ok(Math.abs(after.scale / before.scale - 1) < 2e-3, `scale ${before.scale} -> ${after.scale}`);
  assert.ok(Math.abs(after.cx - before.cx) * before.scale < 1 && Math.abs(after.cy - before.cy) * before.scale < 1, 'the same centre, within a pixel');
  await shot(page, 'reloaded');
  // The feature page links to the map coloured by it.
  await page.goto(`${BASE}/?bundle=${GOOD}&view=feature&f=${j}`);
  await page.waitForSelector('#feature-on-map');
  await page.click('#feature-on-map');
  await colored(page, `feature:${j}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a bundle without a layout says why, opens on the search, and lays out here on request', async () => {
  // The fixture bundle less its layout.
  const dir = new URL(NOLAYOUT, ROOT);
  rmSync(dir, { recursive: true, force: true });
  const m = structuredClone(manifest);
  m.files = m.files.filter((f) => f.role !== 'layout');
  for (const f of m.files) {
    const target = new URL(f.path, dir);
    mkdirSync(new URL('.', target), { recursive: true });
    try {
      linkSync(new URL(`${GOOD}${f.path}`, ROOT), target);
    } catch {
      copyFileSync(new URL(`${GOOD}${f.path}`, ROOT), target);
    }
  }
  writeFileSync(new URL('manifest.json', dir), JSON.stringify(m, null, 1));
  const { page, errors } = await openMap(browsers.plain, 'device=cpu', { bundle: NOLAYOUT, paint: false });
  assert.equal(await page.isVisible('#view-search'), true, 'without a layout the search is the first view');
  await page.click('#tabs a[data-view="map"]');
  await page.waitForSelector('#map-layout-here');
  assert.match(await page.textContent('#map-problem'), /layout/);
  await page.click('#map-layout-here');
  await page.waitForFunction(() => document.querySelector('#map-plot')?.dataset.firstPaintMs !== undefined, null, { timeout: 600_000 });
  const ms = Number(await page.getAttribute('#view-map', 'data-layout-ms'));
  console.log(`# laid out ${N} documents in the browser in ${ms} ms`);
  assert.match(await page.textContent('#map-status'), /a layout made here in/);
  await shot(page, 'laid-out-here');
  // Selections use the layout made here.
  await page.click('#map-tool-box');
  const box = await page.locator('#map-plot').boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.7, { steps: 8 });
  await page.mouse.up();
  assert.ok((await selected(page)) > 0);
  // The layout is not saved: a reload asks again.
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 120_000 });
  await page.waitForSelector('#map-layout-here');
  await shot(page, 'no-layout');
  assert.deepEqual(errors, []);
  await page.close();
});

test('200k points render, pan, and a lasso completes', { skip: BIG ? false : 'SAESCOPE_BIG is unset (a bundle of ~200k documents with a layout)' }, async () => {
  for (const [name, browser, params] of RENDERERS.slice(0, 2)) {
    const { page, errors } = await openMap(browser(), `view=map&color=none${params}`, { bundle: BIG });
    await colored(page, 'none');
    const n = await page.evaluate(() => window.saescope.views.map.scatter.n);
    const first = Number(await page.getAttribute('#map-plot', 'data-first-paint-ms'));
    const lit = await page.evaluate(async () => {
      const img = await window.saescope.views.map.scatter.snapshot();
      let c = 0;
      for (let i = 0; i < img.data.length; i += 4) if (img.data[i] !== 255) c++;
      return c;
    });
    assert.ok(lit > 10_000, `${name}: ${lit} lit pixels`);
    const pan = await page.evaluate(() => window.saescope.views.map.scatter.measurePan(20));
    // A rectangle through the middle, with the pointer.
    await page.click('#map-tool-box');
    const box = await page.locator('#map-plot').boundingBox();
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.4);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.6, { steps: 8 });
    await page.mouse.up();
    const count = await selected(page);
    assert.ok(count > 0, `${name}: the lasso selected ${count} documents`);
    const note = await page.textContent('#map-selection');
    const timing = /Selection ([\d.]+) ms, enrichment ([\d.]+) ms/.exec(note);
    console.log(`# 200k (${name}): ${n} points, renderer ${pan.renderer}, first paint ${first} ms, pan frame ${pan.mean.toFixed(1)} ms mean (${pan.max.toFixed(1)} max), selection of ${count}: ${timing?.[1]} ms, enrichment ${timing?.[2]} ms`);
    await shot(page, `200k-${name}`);
    assert.deepEqual(errors, []);
    await page.close();
  }
});

const DEMO = process.env.SAESCOPE_DEMO;
const demoLayout = DEMO && (() => {
  try {
    return JSON.parse(read(`${DEMO}/manifest.json`)).files.some((f) => f.role === 'layout');
  } catch {
    return false;
  }
})();

test('the demo bundle opens on its map: categories, a feature, a document\'s neighbourhood, a selection', { skip: demoLayout ? false : 'no demo bundle with a layout (SAESCOPE_DEMO)' }, async () => {
  const labels = JSON.parse(read(`${DEMO}/labels.json`));
  const feature = labels.filter((l) => l.density > 0.01 && l.density < 0.05).sort((a, b) => b.pearson_correlation - a.pearson_correlation)[0];
  const { page, errors } = await openMap(browsers.gpu, '', { bundle: `${DEMO}/` });
  assert.equal(await page.isVisible('#view-map'), true);
  await colored(page, 'category');
  await shot(page, 'demo-category');
  // A feature, from the picker.
  await page.selectOption('#map-color', 'feature');
  await page.fill('#map-pick', String(feature.index));
  await page.click(`#map-picks button[data-color="feature:${feature.index}"]`);
  await colored(page, `feature:${feature.index}`);
  await shot(page, 'demo-feature');
  // A rectangle through the densest part of the feature: its label's feature leads the enrichment.
  const t = await transform(page);
  const xy2 = readNpy(read(`${DEMO}/layout.npy`));
  const acts = await page.evaluate((j) => window.saescope.engine.call('featureActivations', { feature: j }).then((a) => Array.from(a)), feature.index);
  const firing = acts.map((a, d) => [a, d]).filter(([a]) => a > 0).sort((a, b) => b[0] - a[0]).slice(0, 50).map(([, d]) => d);
  const cx = firing.reduce((s, d) => s + xy2.data[2 * d], 0) / firing.length;
  const cy = firing.reduce((s, d) => s + xy2.data[2 * d + 1], 0) / firing.length;
  const [sx, sy] = toScreen(t, [cx, cy]);
  await page.click('#map-tool-box');
  await page.evaluate(() => window.scrollTo(0, 0));
  const box = await page.locator('#map-plot').boundingBox();
  await page.mouse.move(box.x + sx - 25, box.y + sy - 25);
  await page.mouse.down();
  await page.mouse.move(box.x + sx + 25, box.y + sy + 25, { steps: 8 });
  await page.mouse.up();
  const count = await selected(page);
  assert.ok(count > 0);
  const top = await page.$$eval('#map-enrichment tbody tr', (trs) => trs.slice(0, 5).map((tr) => Number(tr.dataset.feature)));
  console.log(`# demo: ${count} documents selected around feature ${feature.index} (${feature.label}); top enriched ${top.join(', ')}`);
  await shot(page, 'demo-selection');
  // A document as the query: its neighbourhood ringed.
  const doc = firing[0];
  await page.goto(`${BASE}/?bundle=${DEMO}/&view=map&doc=${doc}`);
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 180_000 });
  await page.waitForFunction(() => document.querySelector('#view-map')?.dataset.query && document.querySelector('#view-map')?.dataset.color, null, { timeout: 180_000 });
  await shot(page, 'demo-query');
  assert.deepEqual(errors, []);
  await page.close();
});
