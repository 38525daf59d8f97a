// @ts-check
// Bundles the workshop made, kept in the browser (the Origin Private File System): one folder
// per bundle under `saescope-saved/`, its files at their manifest paths. The manifest is written
// last, so a save cut short (the tab closed mid-way) leaves a folder without one, which is not
// listed and is cleared by the next save of that name: nothing that was saved is ever damaged.
// Used by the worker (saving, opening, exporting) and the page (the list).

import { isQuotaError, shortOfSpace } from './fetch.js';

const ROOT = 'saescope-saved';

/** Whether this browser has the Origin Private File System. */
function hasStore() {
  return typeof navigator !== 'undefined' && !!navigator.storage?.getDirectory;
}

/**
 * The folder of saved bundles.
 * @param {boolean} create
 */
async function root(create) {
  if (!hasStore()) throw new Error('this browser cannot keep files (no Origin Private File System); export the bundle instead');
  const top = await navigator.storage.getDirectory();
  return top.getDirectoryHandle(ROOT, { create });
}

/**
 * A saved bundle's name as a folder name: the name the page shows, without path separators.
 * @param {string} name
 */
export function folderName(name) {
  const clean = name.replace(/[\\/:*?"<>|\u0000-\u001f]/g, '_').trim();
  if (!clean || clean === '.' || clean === '..') throw new Error(`"${name}" cannot name a saved bundle`);
  return clean;
}

/**
 * The file at `path` (slash-separated) under `dir`.
 * @param {FileSystemDirectoryHandle} dir
 * @param {string} path
 * @param {boolean} create
 */
async function fileAt(dir, path, create) {
  const parts = path.split('/');
  for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part, { create });
  return dir.getFileHandle(/** @type {string} */ (parts.at(-1)), { create });
}

/**
 * Writes `bytes` to `path` under `dir`.
 * @param {FileSystemDirectoryHandle} dir
 * @param {string} path
 * @param {Uint8Array} bytes
 */
async function writeFile(dir, path, bytes) {
  const handle = await fileAt(dir, path, true);
  const out = await handle.createWritable();
  await out.write(/** @type {Uint8Array<ArrayBuffer>} */ (bytes));
  await out.close();
}

/**
 * Saves a bundle under `name`: every file, then the manifest. A saved bundle of the same name is
 * not overwritten (the caller picks a free name with `freeName`); a folder left by a save cut
 * short is cleared first.
 * @param {string} name
 * @param {Uint8Array} manifest
 * @param {string[]} paths
 * @param {Uint8Array[]} contents
 */
export async function saveBundle(name, manifest, paths, contents) {
  const top = await root(true);
  const folder = folderName(name);
  if ((await listSaved()).includes(folder)) throw new Error(`a saved bundle is already called "${folder}"`);
  await top.removeEntry(folder, { recursive: true }).catch(() => {});
  const dir = await top.getDirectoryHandle(folder, { create: true });
  try {
    for (let i = 0; i < paths.length; i++) await writeFile(dir, paths[i], contents[i]);
    await writeFile(dir, 'manifest.json', manifest);
  } catch (e) {
    // Never half a bundle: what was written goes, and a full disk is said with the numbers.
    await top.removeEntry(folder, { recursive: true }).catch(() => {});
    if (!isQuotaError(e)) throw e;
    const bytes = contents.reduce((sum, c) => sum + c.length, manifest.length);
    throw new Error(await shortOfSpace(bytes, `Saving "${folder}" in this browser`));
  }
}

/** The names of the saved bundles (folders with a manifest), sorted. */
export async function listSaved() {
  if (!hasStore()) return [];
  const top = await root(true);
  /** @type {string[]} */
  const names = [];
  // @ts-ignore: FileSystemDirectoryHandle is async-iterable in every browser with OPFS.
  for await (const [name, handle] of top.entries()) {
    if (handle.kind !== 'directory') continue;
    const ok = await handle.getFileHandle('manifest.json').then(() => true, () => false);
    if (ok) names.push(name);
  }
  return names.sort();
}

/**
 * `base`, or `base (2)`, `base (3)`, ...: the first name no saved bundle has.
 * @param {string} base
 */
export async function freeName(base) {
  const taken = new Set(await listSaved());
  const folder = folderName(base);
  if (!taken.has(folder)) return folder;
  for (let i = 2; ; i++) if (!taken.has(`${folder} (${i})`)) return `${folder} (${i})`;
}

/**
 * One file of a saved bundle.
 * @param {string} name
 * @param {string} path
 * @returns {Promise<Uint8Array<ArrayBuffer>>}
 */
export async function readSaved(name, path) {
  const top = await root(false).catch(() => {
    throw new Error(`no saved bundle is called "${name}"`);
  });
  const dir = await top.getDirectoryHandle(folderName(name)).catch(() => {
    throw new Error(`no saved bundle is called "${name}"`);
  });
  const handle = await fileAt(dir, path, false).catch(() => {
    throw new Error(`the saved bundle "${name}" lacks ${path}`);
  });
  return new Uint8Array(await (await handle.getFile()).arrayBuffer());
}

/**
 * Deletes a saved bundle.
 * @param {string} name
 */
export async function deleteSaved(name) {
  await (await root(true)).removeEntry(folderName(name), { recursive: true });
}
