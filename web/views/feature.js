// @ts-check
// One feature's page: label and scores, density, activation histogram (drawn), top documents,
// nearest and farthest features by decoder direction, the features it fires with, its family,
// how it splits from the bundle's smaller SAEs, and which of the current search results fire it.

import { el, button, fmt, appLink } from '../dom.js';
import { barChart } from '../charts.js';

/** @import { App } from '../main.js' */

export class FeatureView {
  /**
   * @param {App} app
   * @param {HTMLElement} root
   */
  constructor(app, root) {
    this.app = app;
    this.root = root;
  }

  /**
   * Document `doc` with the feature's activation `value` in it.
   * @param {number} doc
   * @param {number} value
   */
  docItem(doc, value) {
    const li = el('li', undefined, undefined, { doc });
    li.append(
      this.app.documentLink(doc),
      el('span', ` ${fmt.num(value, 3)}`, 'score'),
      this.app.texts.paragraph(doc, 160),
    );
    return li;
  }

  async show() {
    const app = this.app;
    const catalog = app.catalog;
    const j = app.state.f;
    const root = this.root;
    if (j === null || j >= app.info.d_sae) {
      root.replaceChildren(el('p', `There is no feature ${j ?? ''}; this SAE has ${fmt.int(app.info.d_sae)} (0 to ${app.info.d_sae - 1}).`, 'bad'));
      return;
    }
    const label = catalog.labels.get(j);
    const stats = catalog.stats.get(j);
    root.dataset.feature = String(j);
    const head = el('header', undefined, 'feature-head');
    head.append(el('h2', catalog.label(j), 'feature-label'), el('span', `feature ${j}`, 'muted'));
    head.append(button('Steer the search with this feature', () => app.steerWithFeature(j)));
    if (app.layout?.xy) {
      const onMap = appLink('Show on the map', app.href({ view: 'map', color: `feature:${j}` }), () => app.update({ view: 'map', color: `feature:${j}` }, { push: true }), 'map-link');
      onMap.id = 'feature-on-map';
      head.append(onMap);
    }
    const facts = el('dl', undefined, 'facts');
    /**
     * @param {string} k
     * @param {string} v
     */
    const fact = (k, v) => {
      const pair = el('div');
      pair.append(el('dt', k), el('dd', v));
      facts.append(pair);
    };
    fact('density', stats ? `${fmt.pct(stats.density)} of documents` : 'unknown');
    if (stats) fact('max activation', fmt.num(stats.max_activation, 3));
    if (label) {
      fact('Pearson r', fmt.num(label.pearson_correlation, 2));
      fact('F1', fmt.num(label.f1, 2));
      if (label.auroc !== null) fact('AUROC', fmt.num(label.auroc, 2));
      fact('clean', label.clean === undefined ? '–' : label.clean ? 'yes' : 'no');
    }
    /** @type {HTMLElement[]} */
    const children = [head, facts];
    if (label?.reasoning) children.push(el('p', label.reasoning, 'muted'));
    if (label?.phrases?.length) {
      children.push(el('p', `Keyphrases: ${label.phrases.slice(0, 12).map(([p]) => p).join(' · ')}`, 'phrases'));
    }
    if (stats?.histogram?.length) {
      const bins = stats.histogram.length;
      /** @param {number} i */
      const edge = (i) => fmt.num((i * stats.max_activation) / bins, 2);
      const chart = barChart(stats.histogram, {
        xLabel: edge,
        title: (i) => `${stats.histogram[i]} documents with activation ${edge(i)}–${edge(i + 1)}`,
        caption: `activation histogram of feature ${j}`,
      });
      const figure = el('figure', undefined, 'histogram');
      figure.append(chart, el('figcaption', 'Activation where the feature fires (documents per bin)', 'muted'));
      children.push(figure);
    }
    const columns = el('div', undefined, 'columns');
    const top = el('section');
    top.append(el('h3', 'Top documents'));
    const topList = el('ol', undefined, 'docs', { list: 'top' });
    topList.append(...(stats?.top_documents ?? []).map(([doc, a]) => this.docItem(doc, a)));
    top.append(topList);
    const side = el('section');
    columns.append(top, side);
    children.push(columns);
    root.replaceChildren(...children);

    // Live computations, in the worker.
    try {
      const [neighbors, co] = await Promise.all([
        app.engine.call('decoderNeighbors', { feature: j, n: 8 }),
        app.info.has_codes ? app.engine.call('coFiring', { feature: j, n: 10 }) : null,
      ]);
      /**
       * @template T
       * @param {T[]} items
       * @param {string} name
       * @param {(item: T) => HTMLElement} render
       */
      const list = (items, name, render) => {
        const ol = el('ol', undefined, 'features', { list: name });
        ol.append(...items.map(render));
        return ol;
      };
      /** @param {{ feature: number, cosine: number }} n */
      const neighbor = (n) => {
        const li = el('li');
        li.append(this.app.featureLink(n.feature), el('span', ` cos ${fmt.num(n.cosine, 2)}`, 'score'));
        return li;
      };
      side.append(el('h3', 'Nearest features (decoder cosine)'), list(neighbors.nearest, 'nearest', neighbor));
      side.append(el('h3', 'Farthest features'), list(neighbors.farthest, 'farthest', neighbor));
      if (co) {
        side.append(el('h3', `Fires most often with (of its ${fmt.int(co.documents)} documents)`));
        side.append(list(co.with, 'cofiring', (c) => {
          const li = el('li');
          li.append(this.app.featureLink(c.feature), el('span', ` ${fmt.pct(c.share)}`, 'score'));
          return li;
        }));
      }
      side.append(...this.familySection(j));
      side.append(...this.splitSection(j));
      side.append(...(await this.inResults(j)));
    } catch (e) {
      app.showError(e.message);
    }
  }

  /**
   * The families feature `j` is the parent or a child of.
   * @param {number} j
   */
  familySection(j) {
    const catalog = this.app.catalog;
    const { asParent, asChild } = catalog.familiesOf(j);
    if (!asParent.length && !asChild.length) return [el('h3', 'Family'), el('p', 'Not in any feature family.', 'muted')];
    /** @type {HTMLElement[]} */
    const out = [el('h3', 'Family')];
    for (const f of asParent) {
      const p = el('p', `Parent of family ${f.id} (“${f.label ?? catalog.label(f.parent)}”), children: `, 'family', { family: f.id });
      f.children.forEach((c, i) => p.append(i ? ', ' : '', this.app.featureLink(c)));
      out.push(p);
    }
    for (const f of asChild) {
      const p = el('p', 'Child of ', 'family', { family: f.id });
      p.append(this.app.featureLink(f.parent), ` (family ${f.id}); siblings: `);
      f.children.filter((c) => c !== j).slice(0, 12).forEach((c, i) => p.append(i ? ', ' : '', this.app.featureLink(c)));
      out.push(p);
    }
    return out;
  }

  /**
   * Feature splitting: the coarse feature `j` comes from in each smaller SAE, and its siblings.
   * @param {number} j
   */
  splitSection(j) {
    /** @type {HTMLElement[]} */
    const out = [];
    for (const s of this.app.catalog.splitsOf(j)) {
      out.push(el('h3', `In the ${fmt.int(s.d_sae)}-feature SAE`));
      const p = el('p', undefined, 'split', { coarse: s.coarse, sae: s.d_sae });
      // Independently trained SAEs only partly share directions; say when the match is loose.
      const match = `decoder cosine ${fmt.num(s.cosine, 2)}${s.cosine < 0.5 ? ', a loose match' : ''}`;
      if (s.members.length === 1) {
        p.append(`Feature ${s.coarse} there is this feature alone (${match}): it does not split.`);
        out.push(p);
        continue;
      }
      p.append(`Part of feature ${s.coarse} there (${match}), which splits here into ${s.members.length} features:`);
      const ol = el('ol', undefined, 'features', { list: `split-${s.d_sae}` });
      ol.append(...s.members.map((m) => {
        const li = el('li', undefined, m.feature === j ? 'current' : undefined, { feature: m.feature });
        const name = m.feature === j ? el('strong', `${this.app.catalog.label(j)} (this feature)`) : this.app.featureLink(m.feature);
        li.append(name, el('span', ` cos ${fmt.num(m.cosine, 2)}`, 'score'));
        return li;
      }));
      out.push(p, ol);
    }
    return out;
  }

  /**
   * The current search results that fire feature `j`.
   * @param {number} j
   */
  async inResults(j) {
    const hits = this.app.search.hits;
    if (!hits.length || !this.app.info.has_codes) return [];
    const acts = await this.app.engine.call('activationsIn', { feature: j, docs: hits.map((h) => h.doc) });
    const firing = hits.map((h, i) => [h.doc, acts[i]]).filter(([, a]) => a > 0);
    const ol = el('ol', undefined, 'docs', { list: 'results' });
    ol.append(...firing.map(([doc, a]) => this.docItem(doc, a)));
    return [el('h3', `In the current results (${firing.length} of ${hits.length} fire it)`), ol];
  }
}
