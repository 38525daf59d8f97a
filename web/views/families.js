// @ts-check
// Feature families (arXiv 2408.00657) as a browsable tree: each family's parent feature, its
// children, and the sub-families nested under the child that is their parent; with the
// family statistics and a drawing of the family sizes.

import { el, button, fmt, appLink } from '../dom.js';
import { barChart } from '../charts.js';

/** @import { App } from '../main.js' */
/** @import { Family } from '../types.js' */

/** @typedef {Map<number, Family[]>} Nested families by the id of the family they nest under */

export class FamiliesView {
  /**
   * @param {App} app
   * @param {HTMLElement} root
   */
  constructor(app, root) {
    this.app = app;
    this.root = root;
  }

  show() {
    const catalog = this.app.catalog;
    const root = this.root;
    const families = catalog.families;
    if (!families.length) {
      root.replaceChildren(el('h2', 'Feature families'), el('p', 'This bundle has no feature families (families.json).', 'muted'));
      return;
    }
    /** @type {HTMLElement[]} */
    const children = [el('h2', 'Feature families'), this.summary()];
    // A family nests under the family one of whose members is its parent.
    /** @type {Nested} */
    const nested = new Map();
    const tops = [];
    for (const f of families) {
      if (f.parent_family !== null && f.parent_family !== undefined && catalog.familyById.has(f.parent_family)) {
        if (!nested.has(f.parent_family)) nested.set(f.parent_family, []);
        /** @type {Family[]} */ (nested.get(f.parent_family)).push(f);
      } else {
        tops.push(f);
      }
    }
    tops.sort((a, b) => b.children.length - a.children.length || a.id - b.id);
    const tree = el('ul', undefined, 'tree');
    tree.id = 'family-tree';
    tree.append(...tops.map((f) => this.familyNode(f, nested, new Set())));
    children.push(tree);
    root.replaceChildren(...children);
  }

  summary() {
    const catalog = this.app.catalog;
    const s = catalog.familyStats;
    const box = el('div', undefined, 'family-summary');
    const sizes = catalog.families.map((f) => f.children.length + 1);
    const parts = [`${catalog.families.length} families`, `median size ${median(sizes)}`, `largest ${Math.max(...sizes)}`];
    const p = catalog.familyParams;
    if (p && s) {
      const method = p.method === 'paper' ? 'the paper’s code, ported literally' : 'the readable method (independent of how features are numbered)';
      const candidates = p.nodes === 'clean' ? 'clean features, as the paper ran it' : 'live features';
      box.append(el('p', `Found by ${method} on ${fmt.int(s.candidates)} ${candidates}.`, 'muted'));
    }
    const c = catalog.familyCoherence;
    if (c) parts.push(`members’ decoder cosine ${fmt.num(c.decoder_cosine, 3)} (random sets of the same sizes: ${fmt.num(c.decoder_cosine_random, 3)})`);
    if (s) {
      // The ratios are null where there is nothing to divide (see FamilyStats in types.js).
      if (s.membership_fraction !== undefined) parts.push(`${fmt.pct(s.membership_fraction)} of the candidates in a family`);
      if (s.cooccurrence_ratio !== null) parts.push(`parent–child vs child–child co-occurrence ×${fmt.num(s.cooccurrence_ratio, 2)}`);
      if (s.block_diagonal_ratio !== null) parts.push(`block-diagonal ratio ${fmt.num(s.block_diagonal_ratio, 3)} (random permutation ${fmt.num(s.block_diagonal_ratio_random, 3)})`);
    }
    box.append(el('p', `${parts.join(' · ')}.`, 'muted'));
    const max = Math.max(...sizes);
    const counts = Array.from({ length: max + 1 }, (_, i) => sizes.filter((x) => x === i).length).slice(2);
    box.append(barChart(counts, { xLabel: (i) => String(i + 2), title: (i) => `${counts[i]} families of ${i + 2} features`, caption: 'family sizes', height: 110 }));
    box.append(el('p', 'Families by size (features, parent included)', 'muted'));
    return box;
  }

  /**
   * Member `j` of `family`, with the families nested under it.
   * @param {number} j
   * @param {Nested} nested
   * @param {Family} family
   * @param {Set<number>} seen families already drawn
   */
  featureItem(j, nested, family, seen) {
    const li = el('li', undefined, 'member', { feature: j });
    li.append(this.app.featureLink(j), el('span', ` #${j}`, 'muted'));
    // Sub-families whose parent is this child.
    const subs = (nested.get(family.id) ?? []).filter((f) => f.parent === j);
    if (subs.length) {
      const ul = el('ul');
      ul.append(...subs.map((f) => this.familyNode(f, nested, seen)));
      li.append(ul);
    }
    return li;
  }

  /**
   * Family `f` as a node of the tree, its members and nested families under it.
   * @param {Family} f
   * @param {Nested} nested
   * @param {Set<number>} seen families already drawn
   * @returns {HTMLLIElement}
   */
  familyNode(f, nested, seen) {
    const catalog = this.app.catalog;
    const li = el('li', undefined, 'family', { family: f.id });
    if (seen.has(f.id)) return li; // a malformed file with a cycle stops here
    seen.add(f.id);
    const details = el('details');
    const summary = el('summary');
    summary.append(el('strong', f.label ?? catalog.label(f.parent)), el('span', ` · ${f.children.length} children · parent #${f.parent}`, 'muted'));
    details.append(summary);
    const actions = el('p');
    actions.append(
      'parent: ', this.app.featureLink(f.parent),
      ' · ',
      button('steer the search with this family', () => this.app.update({ view: 'search', fam: new Map(this.app.state.fam).set(f.id, 1) }, { push: true }), 'link'),
    );
    if (this.app.layout?.xy) {
      const color = `family:${f.id}`;
      actions.append(' · ', appLink('show on the map', this.app.href({ view: 'map', color }), () => this.app.update({ view: 'map', color }, { push: true }), 'map-link'));
    }
    const ul = el('ul');
    ul.append(...f.children.map((c) => this.featureItem(c, nested, f, seen)));
    // Sub-families whose parent is the family's parent itself (a later round) go last.
    const own = (nested.get(f.id) ?? []).filter((g) => !f.children.includes(g.parent));
    ul.append(...own.map((g) => this.familyNode(g, nested, seen)));
    details.append(actions, ul);
    li.append(details);
    return li;
  }
}

/** @param {number[]} values */
function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
}
