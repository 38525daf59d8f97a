// The npm package (issue 15): the tarball `cargo xtask package` packed (SAESCOPE_PACKAGE),
// installed into a scratch folder as a user would, type-checked against its declarations, and
// imported by a plain page as ES modules (an import map, no bundler): the README's example runs
// a typed query on the demo bundle and steers it, with the same documents as `saescope steer`.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch } from './chromium.mjs';
import { serveStatic, stopAllServers } from './static-server.mjs';

const { SAESCOPE_PACKAGE: TARBALL, SAESCOPE_DEMO: DEMO, SAESCOPE_CLI: CLI } = process.env;
if (!TARBALL || !DEMO || !CLI) throw new Error('run through `cargo xtask test` (SAESCOPE_PACKAGE, SAESCOPE_DEMO or SAESCOPE_CLI unset)');
const ROOT = new URL('../../', import.meta.url).pathname;
const SCRATCH = join(ROOT, 'target/browser-test/package-scratch');
const QUERY = 'dark matter halos in galaxy clusters';

after(stopAllServers);

/** A scratch project with the tarball installed from the file (no registry). */
function install() {
  rmSync(SCRATCH, { recursive: true, force: true });
  mkdirSync(SCRATCH, { recursive: true });
  writeFileSync(join(SCRATCH, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', join(ROOT, TARBALL)], { cwd: SCRATCH, stdio: 'inherit' });
}

test('the packed tarball installs and its declarations type the whole API', () => {
  install();
  // If the types were `any`, the expected errors below would not happen and tsc would fail on
  // the unused directives.
  writeFileSync(
    join(SCRATCH, 'check.ts'),
    `import init, { Engine } from 'saescope';
import { EngineClient } from 'saescope/client';
import type { SteeredSearch, OpenedBundle } from 'saescope/types';
export async function use(): Promise<number> {
  await init();
  const raw: Engine = await Engine.create('cpu');
  const described: string = raw.describe();
  const engine = new EngineClient();
  const opened: OpenedBundle = await engine.call('open', { url: 'bundle/' });
  const { vector } = await engine.call('embed', { text: 'query' });
  const found: SteeredSearch = await engine.call('steeredSearch', { vector, features: [], values: [], families: [], strengths: [], mode: 'keep-error', k: 10 });
  // @ts-expect-error: embed takes { text }
  await engine.call('embed', { txt: 'query' });
  // @ts-expect-error: there is no such method
  await engine.call('noSuchMethod', {});
  return found.hits[0].doc + opened.info.documents + described.length;
}
`,
  );
  const tsc = join(ROOT, 'tests/browser/node_modules/typescript/bin/tsc');
  const args = ['--noEmit', '--strict', '--target', 'ES2022', '--module', 'ES2022', '--moduleResolution', 'bundler', '--lib', 'ES2022,ESNext.Disposable,DOM,DOM.Iterable', 'check.ts'];
  execFileSync('node', [tsc, ...args], { cwd: SCRATCH, stdio: 'inherit' });
});

const PAGE = `<!doctype html>
<meta charset="utf-8">
<script type="importmap">{ "imports": { "saescope": "./node_modules/saescope/pkg/saescope_wasm.js", "saescope/client": "./node_modules/saescope/web/engine.js" } }</script>
<script type="module" src="main.js"></script>
`;

// The package README's example, run as written, with its answers put on the page.
const MAIN = `import init, { Engine } from 'saescope';
import { EngineClient } from 'saescope/client';

async function run() {
  await init();
  const raw = await Engine.create('cpu');
  const engine = new EngineClient();
  const status = await engine.call('init', { device: 'cpu' });
  const { info, catalog } = await engine.call('open', { url: new URL('bundle/', location.href).href });
  await engine.call('loadEmbedder', {});
  const { vector } = await engine.call('embed', { text: ${JSON.stringify(QUERY)} });
  const search = { vector, features: [], values: [], families: [], strengths: [], mode: 'keep-error', k: 10 };
  const plain = await engine.call('steeredSearch', search);
  const j = plain.features[0].feature;
  const steered = await engine.call('steeredSearch', { ...search, features: [j], values: [0] });
  return { raw: raw.kind(), status: status.kind, documents: info.documents, titles: catalog.documents.length, plain, steered, removed: j };
}
run().then((r) => (window.answer = r), (e) => (window.answer = { error: String(e) }));
`;

test('a plain page imports the package as ES modules and runs the README example: the CLI\'s answer', { timeout: 300_000 }, async () => {
  writeFileSync(join(SCRATCH, 'index.html'), PAGE);
  writeFileSync(join(SCRATCH, 'main.js'), MAIN);
  const server = await serveStatic([['/', SCRATCH], ['/bundle/', join(ROOT, DEMO)]]);
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${server.port}/`);
    await page.waitForFunction(() => window.answer, null, { timeout: 240_000 });
    const answer = await page.evaluate(() => window.answer);
    assert.equal(answer.error, undefined, answer.error);
    assert.equal(answer.raw, 'cpu');
    assert.equal(answer.status, 'cpu');
    assert.equal(answer.titles, answer.documents);
    const cli = (...edits) =>
      JSON.parse(execFileSync(CLI, ['steer', '--bundle', DEMO, '--query', QUERY, ...edits, '--k', '10', '--json'], { cwd: ROOT, encoding: 'utf8' }));
    const plain = cli();
    assert.deepEqual(answer.plain.hits.map((h) => h.doc), plain.hits.map((h) => h.doc));
    answer.plain.hits.forEach((h, i) => assert.ok(Math.abs(h.score - plain.hits[i].score) < 1e-4));
    assert.equal(answer.removed, plain.features[0].feature);
    const steered = cli('--edit', `${answer.removed}:0`);
    assert.deepEqual(answer.steered.hits.map((h) => h.doc), steered.hits.map((h) => h.doc));
    assert.ok(Math.abs(answer.steered.cosine - steered.cosine) < 1e-4);
    assert.ok(steered.cosine < 0.999, 'removing the strongest feature moved the query');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
