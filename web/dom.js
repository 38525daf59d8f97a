// @ts-check
// Small DOM helpers. Everything from a bundle (titles, abstracts, labels) goes in as text
// (textContent), never as HTML.

/**
 * The elements of the page's own markup (index.html) whose type matters to the code; any other
 * id is an HTMLElement.
 * @typedef {{
 *   query: HTMLInputElement,
 *   'bundle-url': HTMLInputElement,
 *   'add-feature': HTMLInputElement,
 *   selftest: HTMLButtonElement,
 *   'progress-total': HTMLProgressElement,
 *   'map-pick': HTMLInputElement,
 *   'map-color': HTMLSelectElement,
 *   storage: HTMLDetailsElement,
 * }} PageElements
 */

/**
 * The element of the page's markup with id `id` (index.html has it: never null).
 * @template {string} K
 * @param {K} id
 * @returns {K extends keyof PageElements ? PageElements[K] : HTMLElement}
 */
export const $ = (id) => /** @type {any} */ (document.getElementById(id));

/**
 * An element with optional text, class and attributes (`data-*` via `dataset` keys).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string | number | null} [text]
 * @param {string} [className]
 * @param {Record<string, string | number | boolean>} [dataset]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, text, className, dataset) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  if (dataset) Object.entries(dataset).forEach(([k, v]) => (node.dataset[k] = String(v)));
  return node;
}

/**
 * A button that runs `onClick`.
 * @param {string} text
 * @param {(event: MouseEvent) => void} onClick
 * @param {string} [className]
 */
export function button(text, onClick, className) {
  const b = el('button', text, className);
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

/**
 * A link that navigates inside the app (keeps the URL shareable, opens in place).
 * @param {string} text
 * @param {string} href
 * @param {() => void} onClick
 * @param {string} [className]
 */
export function appLink(text, href, onClick, className) {
  const a = el('a', text, className);
  a.href = href;
  a.addEventListener('click', (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    onClick();
  });
  return a;
}

export const fmt = {
  /** @param {number} x a fraction */
  pct: (x) => (x >= 0.1 ? `${(100 * x).toFixed(0)}%` : x >= 0.001 ? `${(100 * x).toFixed(2)}%` : `${(100 * x).toPrecision(2)}%`),
  /**
   * `x` with `digits` decimals; a dash for a missing or non-finite number.
   * @param {number | null | undefined} x
   */
  num: (x, digits = 3) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '–'),
  /** @param {number} x */
  int: (x) => Number(x).toLocaleString('en-US'),
  /** @param {number} bytes */
  mb: (bytes) => `${(bytes / 1e6).toFixed(1)} MB`,
};

/**
 * Shortens `text` to about `n` characters at a word boundary.
 * @param {string | null | undefined} text
 */
export function snippet(text, n = 240) {
  if (!text || text.length <= n) return text ?? '';
  const cut = text.lastIndexOf(' ', n);
  return `${text.slice(0, cut > n / 2 ? cut : n)} …`;
}

/**
 * Starts a download of `contents` (text or bytes) named `name`.
 * @param {string | Uint8Array} contents
 * @param {string} name
 * @param {string} type
 */
export function downloadFile(contents, name, type) {
  const url = URL.createObjectURL(new Blob([/** @type {string | Uint8Array<ArrayBuffer>} */ (contents)], { type }));
  const a = el('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
