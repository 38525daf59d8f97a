// @ts-check
// "How the SAE reads this text": the classroom explainer. One query (typed text or a document)
// taken through the top-k SAE step by step, every number computed by the engine
// (saescope_interp::explain, the same as `saescope explain`): the embedding, all pre-activations
// with the top-k cut, the kept features and their shares of the reconstruction, the
// reconstruction itself, a k slider that re-encodes live, and the two steering modes on the
// same query. The exact numbers ride along as data-value attributes for the tests.

import { el, fmt, appLink } from '../dom.js';
import { signedBars, cutCurve } from '../charts.js';

/** @import { App } from '../main.js' */
/** @import { Explanation, SteeredSearch } from '../types.js' */

/**
 * A number shown rounded, with its exact value in data-value.
 * @param {number} x
 * @param {number} digits
 * @param {string} name what it is (data-name, for the tests)
 */
function number(x, digits, name) {
  return el('span', fmt.num(x, digits), 'num', { name, value: x });
}

export class ExplainView {
  /**
   * @param {App} app
   * @param {HTMLElement} root
   */
  constructor(app, root) {
    this.app = app;
    this.root = root;
    /** The query vector the view was built for, and its key (text or document). */
    /** @type {{ key: string, vector: Float32Array } | null} */
    this.query = null;
    // Requests of the k slider overtake each other: only the newest one draws.
    this.generation = 0;
    /** The query key the skeleton was built for. */
    /** @type {string | undefined} */
    this.builtFor = undefined;
    /** @type {Record<'embedding' | 'pre' | 'code' | 'reconstruction' | 'steering', { node: HTMLElement, body: HTMLElement }> | null} */
    this.parts = null;
    this.slider = el('input');
    this.kText = el('span');
  }

  async show() {
    const app = this.app;
    const s = app.state;
    const key = s.q ? `q:${s.q}` : s.doc !== null ? `doc:${s.doc}` : null;
    if (!key) {
      this.query = null;
      this.root.replaceChildren(
        el('h2', 'How the SAE reads a text'),
        el('p', 'Type a query above, or open a document (from the map or a search): this page then takes its embedding through the sparse autoencoder one step at a time.', 'muted'),
      );
      return;
    }
    if (this.query?.key !== key) {
      const vector = await app.queryVector(s);
      if (!vector) return; // the status line says why
      this.query = { key, vector };
    }
    await this.render();
  }

  /** Explains the current query at the state's k and draws every step. */
  async render() {
    const app = this.app;
    const query = /** @type {{ key: string, vector: Float32Array }} */ (this.query);
    const generation = ++this.generation;
    const e = await app.engine.call('explain', { vector: query.vector, k: app.state.ek });
    if (generation !== this.generation) return;
    if (this.builtFor !== query.key || !this.root.contains(this.slider)) this.build(e);
    this.fill(e);
  }

  /**
   * The page's skeleton for one query: the parts that do not change with k (the embedding's
   * chart waits for fill), and the k slider, which must survive re-encoding while it is dragged.
   * @param {Explanation} e
   */
  build(e) {
    const app = this.app;
    const s = app.state;
    this.builtFor = this.query?.key;
    const what = s.q ? `the query “${s.q}”` : `document #${s.doc}: ${app.catalog.document(/** @type {number} */ (s.doc)).title}`;
    const d_sae = e.sorted_pre_activations.length;
    /** @param {string} step @param {string} title @param {string} [note] */
    const section = (step, title, note) => {
      const node = el('section', undefined, 'explain-step', { step });
      node.append(el('h3', title));
      if (note) node.append(el('p', note, 'muted'));
      const body = el('div', undefined, 'explain-body');
      node.append(body);
      return { node, body };
    };
    this.parts = {
      embedding: section('embedding', `1. The embedding x: ${e.embedding.length} numbers`, 'The sentence-embedding model turns the text into one vector. The bars are its values; the line is the SAE’s reconstruction x̂ (step 4), drawn over them.'),
      pre: section('pre', '2. Pre-activations, largest first, and the top-k cut'),
      code: section('code', '3. The code z'),
      reconstruction: section('reconstruction', '4. The reconstruction'),
      steering: section('steering', '5. Steering, three ways'),
    };
    this.slider = el('input');
    Object.assign(this.slider, { type: 'range', min: '1', max: String(Math.min(d_sae, 4 * e.trained_k, 512)), id: 'explain-k' });
    this.kText = el('span');
    const kLabel = el('label', undefined, 'explain-k');
    kLabel.append(this.kText, this.slider, el('span', ` (the SAE was trained with k = ${e.trained_k}; move to re-encode)`, 'muted'));
    this.slider.addEventListener('input', () => {
      const k = Number(this.slider.value);
      this.kText.textContent = `k = ${k} `;
      app.remember({ ek: k });
      this.render().catch((err) => app.showError(err.message));
    });
    this.parts.code.node.insertBefore(kLabel, this.parts.code.body);
    // The strongest feature is the largest pre-activation whatever k is, and steered searches
    // encode with the SAE's own k: the two searches belong to the query, not to the slider.
    const strongest = e.kept[0];
    if (strongest) {
      const columns = el('div', undefined, 'columns explain-modes');
      this.parts.steering.body.append(el('p', 'Steering edits the code and searches with the result. Here the strongest feature is removed (set to 0) in both modes:', 'muted'), columns);
      this.steering(columns, strongest.feature).catch((err) => columns.replaceChildren(el('p', err.message, 'error')));
    } else {
      this.parts.steering.body.append(el('p', 'No feature is active: there is nothing to steer.', 'muted'));
    }
    this.root.replaceChildren(
      el('h2', 'How the SAE reads this text'),
      el('p', `Reading ${what}.`, 'explain-what'),
      ...Object.values(this.parts).map((p) => p.node),
    );
  }

  /**
   * Every number and drawing of explanation `e`.
   * @param {Explanation} e
   */
  fill(e) {
    const app = this.app;
    const parts = /** @type {NonNullable<ExplainView['parts']>} */ (this.parts);
    const d_sae = e.sorted_pre_activations.length;
    this.slider.value = String(e.k);
    this.kText.textContent = `k = ${e.k} `;

    parts.embedding.body.replaceChildren(signedBars(e.embedding, { overlay: e.reconstruction, caption: `the ${e.embedding.length} values of the embedding, and the reconstruction` }));

    const cut = el('p');
    cut.append(
      'Every latent j scores the text: h = (x − b_dec) W_enc + b_enc, ',
      number(d_sae, 0, 'd_sae'),
      ' scores, ',
      number(e.positive, 0, 'positive'),
      ' of them positive. Top-k keeps the k largest; the cut, the k-th largest score, is ',
      number(e.threshold, 4, 'threshold'),
      '. Everything right of the marker becomes 0.',
    );
    parts.pre.body.replaceChildren(cut, cutCurve(e.sorted_pre_activations, e.k, { caption: `all ${d_sae} pre-activations sorted, the cut after the ${e.k}-th` }));

    const maxShare = Math.max(1e-9, ...e.kept.map((f) => Math.abs(f.cosine_share)));
    const table = el('table', undefined, 'explain-kept');
    const head = el('tr');
    for (const h of ['feature', 'activation z_j', 'moves x̂ by z_j‖d_j‖', 'share of the cosine', '']) head.append(el('th', h));
    table.append(head);
    for (const f of e.kept) {
      const row = el('tr', undefined, 'kept', { feature: f.feature });
      const name = el('td');
      name.append(app.featureLink(f.feature));
      row.append(name);
      for (const [x, key] of /** @type {[number, string][]} */ ([[f.activation, 'activation'], [f.magnitude, 'magnitude'], [f.cosine_share, 'cosine_share']])) {
        const cell = el('td');
        cell.append(number(x, 4, key));
        row.append(cell);
      }
      const bar = el('span', undefined, f.cosine_share >= 0 ? 'share' : 'share negative');
      bar.style.width = `${(100 * Math.abs(f.cosine_share)) / maxShare}%`;
      const barCell = el('td', undefined, 'share-bar');
      barCell.append(bar);
      row.append(barCell);
      table.append(row);
    }
    const relu = e.zeroed_by_relu
      ? el('p', `${e.zeroed_by_relu} of the top ${e.k} scores were ≤ 0: ReLU sets them to 0, so they are not listed.`, 'muted')
      : el('p', `z = ReLU(TopK(h)): the ${e.kept.length} kept scores are the features’ activations; every other latent is 0.`, 'muted');
    parts.code.body.replaceChildren(relu, table);

    const recon = el('p');
    recon.append(
      'x̂ = z W_dec + b_dec. Cosine(x, x̂) = ',
      number(e.cosine, 4, 'cosine'),
      '; the code misses ‖x̂ − x‖² / ‖x‖² = ',
      number(e.relative_error, 4, 'relative_error'),
      ' of the embedding. Each feature’s share above is z_j (d_j · x) / (‖x‖ ‖x̂‖); with the decoder bias’s share, ',
      number(e.bias_cosine_share, 4, 'bias_cosine_share'),
      ', they add up to the cosine exactly.',
    );
    parts.reconstruction.body.replaceChildren(recon);
  }

  /**
   * The three steering modes with feature `j` removed: the query each mode searches with, and its
   * first results.
   * @param {HTMLElement} columns
   * @param {number} j
   */
  async steering(columns, j) {
    const app = this.app;
    const query = /** @type {{ vector: Float32Array }} */ (this.query);
    const modes = /** @type {const} */ ([
      ['concept', 'Toward the concept (the page’s default)', 'q′ = x + Σ (z′ − z) u: each edit moves the query along the feature’s concept direction u (its label’s embedding and what its top documents share, orthogonal to the query).'],
      ['keep-error', 'Keep the error (the paper’s evaluation)', 'q′ = x + W_dec (z′ − z): only the edit moves the query; with no edit it is the query itself.'],
      ['rebuild', 'Rebuild from the code (the paper’s app)', 'q′ = z′ W_dec + b_dec: the query becomes what the SAE can express, so even with no edit it moves to x̂.'],
    ]);
    /** @type {SteeredSearch[]} */
    const results = [];
    for (const [mode] of modes) {
      results.push(await app.engine.call('steeredSearch', { vector: query.vector, features: [j], values: [0], families: [], strengths: [], mode, k: 5 }));
    }
    // Another query may have rebuilt the view meanwhile.
    if (!this.root.contains(columns)) return;
    columns.replaceChildren();
    modes.forEach(([mode, title, formula], i) => {
      const r = results[i];
      const col = el('div', undefined, 'explain-mode', { mode });
      const cosine = el('p');
      cosine.append('Cosine of the steered query to the original: ', number(r.cosine, 4, 'steered_cosine'));
      const list = el('ol');
      for (const hit of r.hits) {
        const li = el('li');
        li.append(app.documentLink(hit.doc), el('span', ` ${fmt.num(hit.score, 3)}`, 'muted'));
        list.append(li);
      }
      const remove = el('p');
      remove.append('Removing ', app.featureLink(j), ':');
      col.append(el('h4', title), el('p', formula, 'muted'), remove, cosine, list);
      const open = appLink('Open this steered search', app.href({ view: 'search', steer: new Map([[j, 0]]), fam: new Map(), mode }), () => app.update({ view: 'search', steer: new Map([[j, 0]]), fam: new Map(), mode }, { push: true }));
      col.append(open);
      columns.append(col);
    });
  }
}
