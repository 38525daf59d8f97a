// @ts-check
// k-means over the documents, on the engine (WebGPU or CPU): over the embeddings, over the
// sparse codes, or along chosen features only (arXiv 2512.10092's "clustering along an axis").
// Each cluster is named by its most over-represented features.

import { el, button, fmt, appLink } from '../dom.js';
import { barChart } from '../charts.js';

/** @import { App } from '../main.js' */
/** @import { NamedClusters } from '../types.js' */

export class ClustersView {
  /**
   * @param {App} app
   * @param {HTMLElement} root
   */
  constructor(app, root) {
    this.app = app;
    this.root = root;
    /** @type {string | null} */
    this.lastKey = null;
    /** @type {NamedClusters | null} */
    this.result = null;
    this.output = el('div'); // where results go; show() makes a new one each time
  }

  show() {
    const app = this.app;
    const s = app.state;
    const form = el('form', undefined, 'cluster-form');
    form.id = 'cluster-form';
    const k = el('input');
    Object.assign(k, { type: 'number', min: '2', max: '200', value: String(s.k), id: 'cluster-k' });
    const space = el('select');
    space.id = 'cluster-space';
    for (const [value, text] of [['codes', 'SAE codes'], ['embeddings', 'embeddings']]) {
      const o = el('option', text);
      o.value = value;
      o.selected = value === s.space;
      space.append(o);
    }
    form.append(el('label', 'clusters'), k, el('label', 'over'), space, el('button', 'Cluster'));
    const along = el('p', undefined, 'along');
    along.id = 'cluster-along';
    if (s.along.length) {
      along.append(`Along ${s.along.length} features only: `);
      s.along.forEach((j, i) => along.append(i ? ', ' : '', this.app.featureLink(j)));
      along.append(' ', button('use all features', () => app.update({ along: [] }), 'link'));
    } else {
      along.append('Over all features. To cluster along chosen features, add them below (or pick a family).');
    }
    const picker = el('input');
    Object.assign(picker, { type: 'search', placeholder: 'add a feature or family by label', id: 'cluster-pick' });
    const picks = el('ul', undefined, 'picks');
    picker.addEventListener('input', () => {
      const { features, families } = app.catalog.searchLabels(picker.value, 8);
      /**
       * @param {string} text
       * @param {number[]} members
       */
      const item = (text, members) => {
        const li = el('li');
        li.append(button(text, () => app.update({ along: [...new Set([...app.state.along, ...members])], space: 'codes' }), 'add'));
        return li;
      };
      picks.replaceChildren(
        ...features.map((j) => item(`${app.catalog.label(j)} (#${j})`, [j])),
        ...families.map((f) => item(`family: ${f.label ?? app.catalog.label(f.parent)}`, app.catalog.familyMembers(f))),
      );
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const clusters = Math.max(2, Math.min(200, Number(k.value) || 8));
      app.update({ k: clusters, space: /** @type {'codes' | 'embeddings'} */ (space.value) }, { push: true });
    });
    this.output = el('div');
    this.output.id = 'clusters';
    this.root.replaceChildren(el('h2', 'Clusters'), form, along, picker, picks, this.output);
    const key = JSON.stringify([s.k, s.space, s.along]);
    if (this.result && key === this.lastKey) this.render(this.result);
    else this.run(key);
  }

  /** @param {string} key what `this.result` will be for: the clustering's parameters */
  async run(key) {
    const app = this.app;
    const s = app.state;
    if (s.along.length && s.space !== 'codes') {
      this.output.replaceChildren(el('p', 'Clustering along chosen features works on the SAE codes.', 'bad'));
      return;
    }
    this.output.replaceChildren(el('p', 'clustering…', 'muted'));
    app.setBusy(true);
    try {
      const result = await app.engine.call('cluster', { clusters: s.k, space: s.space, features: s.along, iterations: 20, seed: 0 });
      this.remember(key, result);
      if (app.state.view === 'clusters') this.render(result);
    } catch (e) {
      this.output.replaceChildren(el('p', e.message, 'bad'));
    } finally {
      app.setBusy(false);
    }
  }

  /**
   * Keeps `result` (made for `key`) for this view, and its assignments for the map.
   * @param {string} key
   * @param {NamedClusters} result
   */
  remember(key, result) {
    this.lastKey = key;
    this.result = result;
    if (!result.assignments) return;
    const [k, space, along] = JSON.parse(key);
    this.app.clusters = {
      key,
      assignments: result.assignments,
      names: result.clusters.map((c) => c.features[0]?.feature ?? null),
      description: `over ${space === 'codes' ? 'the SAE codes' : 'the embeddings'}${along.length ? ` along ${along.length} features` : ''}, k = ${k}`,
    };
  }

  /** @param {NamedClusters} result */
  render(result) {
    const catalog = this.app.catalog;
    const sizes = result.clusters.map((c) => c.size);
    const chart = barChart(sizes, { xLabel: (i) => String(i), title: (i) => `cluster ${i}: ${sizes[i]} documents`, caption: 'cluster sizes', height: 120 });
    const note = el('p', `${result.clusters.length} clusters of ${fmt.int(sizes.reduce((a, b) => a + b, 0))} documents · ${result.iterations} iterations · inertia ${fmt.num(result.inertia, 1)} · ${fmt.num(result.ms, 0)} ms on ${this.app.engineKind}`, 'muted');
    const list = el('ol', undefined, 'cluster-list');
    list.append(
      ...result.clusters.map((c, i) => {
        const li = el('li', undefined, 'cluster', { cluster: i, size: c.size });
        const name = el('h3');
        name.append(`${c.size} documents: `);
        c.features.slice(0, 3).forEach((f, n) => {
          name.append(n ? ' · ' : '', this.app.featureLink(f.feature));
        });
        const over = el('p', c.features.map((f) => `${catalog.label(f.feature)}: ${fmt.pct(f.rate)} here vs ${fmt.pct(f.rest_rate)} elsewhere`).join(' · '), 'muted');
        const examples = el('ul', undefined, 'docs');
        examples.append(
          ...c.examples.map((doc) => {
            const d = catalog.document(doc);
            const item = el('li', undefined, undefined, { doc });
            item.append(
              this.app.documentLink(doc),
              el('span', ` ${d.categories?.[0] ?? ''}`, 'muted'),
              this.app.texts.paragraph(doc, 140),
            );
            return item;
          }),
        );
        li.append(name, over, examples);
        return li;
      }),
    );
    /** @type {HTMLElement[]} */
    const onMap = [];
    if (this.app.layout?.xy && result.assignments) {
      const p = el('p', undefined, 'map-link');
      const a = appLink('Colour the map by these clusters', this.app.href({ view: 'map', color: 'cluster' }), () => this.app.update({ view: 'map', color: 'cluster' }, { push: true }));
      a.id = 'clusters-on-map';
      p.append(a);
      onMap.push(p);
    }
    this.output.replaceChildren(note, ...onMap, chart, list);
  }
}
