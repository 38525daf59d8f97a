// Small DOM helpers. Everything from a bundle (titles, abstracts, labels) goes in as text
// (textContent), never as HTML.

export const $ = (id) => document.getElementById(id);

/** An element with optional text, class and attributes (`data-*` via `dataset` keys). */
export function el(tag, text, className, dataset) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  if (dataset) Object.entries(dataset).forEach(([k, v]) => (node.dataset[k] = String(v)));
  return node;
}

/** A button that runs `onClick`. */
export function button(text, onClick, className) {
  const b = el('button', text, className);
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

/** A link that navigates inside the app (keeps the URL shareable, opens in place). */
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
  pct: (x) => (x >= 0.1 ? `${(100 * x).toFixed(0)}%` : x >= 0.001 ? `${(100 * x).toFixed(2)}%` : `${(100 * x).toPrecision(2)}%`),
  num: (x, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : '–'),
  int: (x) => Number(x).toLocaleString('en-US'),
  mb: (bytes) => `${(bytes / 1e6).toFixed(1)} MB`,
};

/** Shortens `text` to about `n` characters at a word boundary. */
export function snippet(text, n = 240) {
  if (!text || text.length <= n) return text ?? '';
  const cut = text.lastIndexOf(' ', n);
  return `${text.slice(0, cut > n / 2 ? cut : n)} …`;
}
