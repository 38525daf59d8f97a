// @ts-check
// All features as a filterable, sortable table: label, density, scores.

import { el, fmt } from '../dom.js';

/** @import { App } from '../main.js' */
/** @import { FeatureLabel } from '../types.js' */

/**
 * One row of the table.
 * @typedef {{ j: number, label: FeatureLabel | undefined, density: number }} Row
 */

/** @typedef {'score' | 'density' | 'index'} SortOrder */

const PAGE = 100;

export class FeaturesView {
  /**
   * @param {App} app
   * @param {HTMLElement} root
   */
  constructor(app, root) {
    this.app = app;
    this.root = root;
    this.filter = '';
    /** @type {SortOrder} */
    this.sort = 'score';
    this.shown = PAGE;
    // The table and its "show more" line; show() makes new ones each time.
    this.table = el('table', undefined, 'features-table');
    this.more = el('p');
  }

  /** The live features that pass the filter, in the chosen order. */
  rows() {
    const catalog = this.app.catalog;
    /** @type {Row[]} */
    const all = [];
    for (let j = 0; j < this.app.info.d_sae; j++) {
      const stats = catalog.stats.get(j);
      if (stats && stats.density === 0) continue; // dead
      all.push({ j, label: catalog.labels.get(j), density: stats?.density ?? 0 });
    }
    const want = this.filter.toLowerCase();
    const kept = want ? all.filter((r) => String(r.j) === want || (r.label?.label ?? '').toLowerCase().includes(want)) : all;
    /** @param {Row} r */
    const score = (r) => r.label?.pearson_correlation ?? -Infinity;
    const by = /** @type {Record<SortOrder, (a: Row, b: Row) => number>} */ ({ score: (a, b) => score(b) - score(a), density: (a, b) => b.density - a.density, index: (a, b) => a.j - b.j })[this.sort];
    return kept.sort((a, b) => by(a, b) || a.j - b.j);
  }

  show() {
    const root = this.root;
    const form = el('form', undefined, 'filter');
    const input = el('input');
    Object.assign(input, { type: 'search', value: this.filter, placeholder: 'filter by label or number', id: 'features-filter' });
    const select = el('select');
    select.id = 'features-sort';
    for (const [value, text] of [['score', 'by label score'], ['density', 'by density'], ['index', 'by number']]) {
      const o = el('option', text);
      o.value = value;
      o.selected = value === this.sort;
      select.append(o);
    }
    form.append(input, select);
    form.addEventListener('submit', (e) => e.preventDefault());
    input.addEventListener('input', () => {
      this.filter = input.value;
      this.shown = PAGE;
      this.renderTable();
    });
    select.addEventListener('change', () => {
      this.sort = /** @type {SortOrder} */ (select.value);
      this.renderTable();
    });
    this.table = el('table', undefined, 'features-table');
    this.more = el('p');
    const m = this.app.catalog.metrics;
    const summary = m
      ? `${fmt.int(this.app.info.d_sae)} features, k = ${this.app.info.k}; normalised MSE ${fmt.num(m.normalized_mse, 3)}, ${fmt.pct(m.dead_fraction)} dead, ${this.app.catalog.labels.size} labelled.`
      : `${fmt.int(this.app.info.d_sae)} features.`;
    root.replaceChildren(el('h2', 'Features'), el('p', summary, 'muted'), form, this.table, this.more);
    this.renderTable();
  }

  renderTable() {
    const rows = this.rows();
    const head = el('tr');
    for (const h of ['#', 'label', 'density', 'Pearson r', 'F1']) head.append(el('th', h));
    const body = rows.slice(0, this.shown).map((r) => {
      const tr = el('tr', undefined, undefined, { feature: r.j });
      const link = this.app.featureLink(r.j);
      const label = el('td');
      label.append(link);
      tr.append(el('td', r.j), label, el('td', fmt.pct(r.density)), el('td', fmt.num(r.label?.pearson_correlation, 2)), el('td', fmt.num(r.label?.f1, 2)));
      return tr;
    });
    this.table.replaceChildren(head, ...body);
    this.more.replaceChildren();
    if (rows.length > this.shown) {
      const b = el('button', `show more (${fmt.int(rows.length - this.shown)} left)`);
      b.type = 'button';
      b.addEventListener('click', () => {
        this.shown += PAGE;
        this.renderTable();
      });
      this.more.append(b);
    }
  }
}
