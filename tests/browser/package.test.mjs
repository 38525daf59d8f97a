// The npm package (issue 15): the tarball `cargo xtask package` packed (SAESCOPE_PACKAGE),
// installed into a scratch folder as a user would, type-checked against its declarations, and
// imported by a plain page as ES modules (the README's import map, no bundler): the README's
// examples, run as written, query the demo bundle and steer it, with the documents of `saescope steer`.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

// The package README's two examples, run as written: only the bundle's URL is this server's.
const README = readFileSync(join(ROOT, 'crates/wasm/npm/README.md'), 'utf8');
const [IMPORT_MAP] = [...README.matchAll(/```html\n([\s\S]*?)```/g)].map((m) => m[1]);
const [CLIENT_EXAMPLE, RAW_EXAMPLE] = [...README.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
const EXAMPLE_URL = "'https://example.org/bundles/demo/'";

const PAGE = `<!doctype html>
<meta charset="utf-8">
${IMPORT_MAP}
<script type="module" src="raw.js"></script>
<script type="module" src="client.js"></script>
`;

test('a plain page imports the package as ES modules and runs the README example: the CLI\'s answer', { timeout: 300_000 }, async () => {
  assert.ok(IMPORT_MAP && CLIENT_EXAMPLE?.includes(EXAMPLE_URL) && CLIENT_EXAMPLE.includes(QUERY) && RAW_EXAMPLE, 'the README has its import map and two examples');
  writeFileSync(join(SCRATCH, 'index.html'), PAGE);
  writeFileSync(join(SCRATCH, 'raw.js'), `${RAW_EXAMPLE}\nwindow.rawKind = engine.kind();\n`);
  writeFileSync(
    join(SCRATCH, 'client.js'),
    `${CLIENT_EXAMPLE.replace(EXAMPLE_URL, "new URL('bundle/', location.href).href")}
window.answer = { kind: status.kind, documents: info.documents, titles: catalog.documents.length, plain, steered, removed: j, label };
`,
  );
  const server = await serveStatic([['/', SCRATCH], ['/bundle/', join(ROOT, DEMO)]]);
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Either both examples finish, or one of them throws (a page error).
    const failed = new Promise((_, reject) => page.on('pageerror', (e) => reject(e)));
    await page.goto(`http://127.0.0.1:${server.port}/`);
    await Promise.race([page.waitForFunction(() => window.answer && window.rawKind, null, { timeout: 240_000 }), failed]);
    const answer = await page.evaluate(() => ({ ...window.answer, raw: window.rawKind }));
    assert.equal(answer.raw, 'cpu');
    assert.equal(answer.kind, 'cpu', "'auto' without WebGPU");
    assert.equal(answer.titles, answer.documents);
    const labels = JSON.parse(readFileSync(join(ROOT, DEMO, 'labels.json'), 'utf8'));
    const labelOf = (j) => labels.find((l) => l.index === j)?.label;
    assert.equal(answer.label, labelOf(answer.removed) ?? `feature ${answer.removed}`);
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
