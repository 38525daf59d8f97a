// @ts-check
// What the page knows about a bundle's documents and features: the documents, features.json
// (density, activation histogram, top documents), labels.json, families.json and the
// feature-splitting maps of the bundle's smaller SAEs, as the engine parsed them
// (saescope_interp::catalog; the page parses no bundle file). Lookups only; the math runs in the worker.

/** @import { CatalogData, Coherence, Document, Family, FamilyParams, FamilyStats, FeatureLabel, FeatureStats, Info, Manifest, Metrics, Split } from './types.js' */

import { snippet } from './dom.js';

/**
 * Words of a label search, lower-cased.
 * @param {string} text
 */
function words(text) {
  return text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

export class Catalog {
  /**
   * @param {Manifest} manifest
   * @param {Info} info
   * @param {CatalogData} catalog
   * @param {Split[]} [splits]
   */
  constructor(manifest, info, catalog, splits = []) {
    this.manifest = manifest;
    this.info = info;
    // Per smaller SAE: which coarse feature each main feature splits from, and the reverse.
    this.splits = splits.map((s) => {
      const members = Array.from({ length: s.d_sae }, () => /** @type {number[]} */ ([]));
      s.coarse_of.forEach((c, j) => members[c].push(j));
      for (const m of members) m.sort((a, b) => s.cosine[b] - s.cosine[a]);
      return { ...s, members };
    });
    this.problems = catalog.problems;
    // A document without a title (plain-text corpora: one document per line) is shown by the
    // start of its text.
    this.documents = catalog.documents.map((d) => (d.title ? d : { ...d, title: snippet(d.abstract, 90) }));
    /** @type {Metrics | null} */
    this.metrics = catalog.features?.metrics ?? null;
    /** @type {Map<number, FeatureStats>} */
    this.stats = new Map((catalog.features?.features ?? []).map((f) => [f.feature, f]));
    /** @type {Map<number, FeatureLabel>} */
    this.labels = new Map(catalog.labels.map((l) => [l.index, l]));
    /** @type {FamilyStats | null} */
    this.familyStats = catalog.families?.stats ?? null;
    /** @type {FamilyParams | null} */
    this.familyParams = catalog.families?.params ?? null;
    /** @type {Coherence | null} */
    this.familyCoherence = catalog.families?.coherence ?? null;
    /** @type {Family[]} */
    this.families = catalog.families?.families ?? [];
    /** @type {Map<number, Family>} */
    this.familyById = new Map(this.families.map((f) => [f.id, f]));
  }

  /**
   * Document `i` (a placeholder beyond the documents file).
   * @param {number} i
   * @returns {Document}
   */
  document(i) {
    return this.documents[i] ?? { id: String(i), title: `Document ${i}`, abstract: '', categories: [] };
  }

  /**
   * The arXiv page of `id`, or null when it is no arXiv id.
   * @param {string | null | undefined} id
   */
  static arxivUrl(id) {
    return /^(\d{4}\.\d{4,5}|[a-z-]+(\.[A-Z]{2})?\/\d{7})$/.test(id ?? '') ? `https://arxiv.org/abs/${id}` : null;
  }

  /**
   * Feature `j`'s label, or `feature j` where it has none.
   * @param {number} j
   */
  label(j) {
    return this.labels.get(j)?.label || `feature ${j}`;
  }

  /**
   * Feature `j` seen from each smaller SAE: the coarse feature it splits from, their decoder
   * cosine, and every main feature that splits from it as `{feature, cosine}` (closest
   * first, `j` among them).
   * @param {number} j
   */
  splitsOf(j) {
    return this.splits.map((s) => ({
      d_sae: s.d_sae,
      coarse: s.coarse_of[j],
      cosine: s.cosine[j],
      members: s.members[s.coarse_of[j]].map((m) => ({ feature: m, cosine: s.cosine[m] })),
    }));
  }

  /**
   * Families whose parent is `j`, and families that have `j` among their children.
   * @param {number} j
   */
  familiesOf(j) {
    return {
      asParent: this.families.filter((f) => f.parent === j),
      asChild: this.families.filter((f) => f.children.includes(j)),
    };
  }

  /**
   * The features of family `f`, parent first.
   * @param {Family} f
   */
  familyMembers(f) {
    return [f.parent, ...f.children];
  }

  /**
   * Features and families whose label holds every word of `text` (or whose index it is).
   * @param {string} text
   * @returns {{ features: number[], families: Family[] }}
   */
  searchLabels(text, n = 12) {
    const want = words(text);
    if (!want.length) return { features: [], families: [] };
    /** @param {string} label */
    const matches = (label) => {
      const have = label.toLowerCase();
      return want.every((w) => have.includes(w));
    };
    const asIndex = /^\d+$/.test(text.trim()) ? Number(text.trim()) : null;
    /** @type {number[]} */
    const features = [];
    if (asIndex !== null && asIndex < (this.info?.d_sae ?? 0)) features.push(asIndex);
    for (const [j, l] of this.labels) {
      if (features.length >= n) break;
      if (j !== asIndex && matches(l.label ?? '')) features.push(j);
    }
    const families = this.families.filter((f) => matches(f.label ?? this.label(f.parent))).slice(0, n);
    return { features, families };
  }
}
