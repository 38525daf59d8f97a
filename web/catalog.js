// What the page knows about a bundle's documents and features: the parsed documents.jsonl,
// features.json (density, activation histogram, top documents), labels.json, families.json and
// the feature-splitting maps of the bundle's smaller SAEs. Lookups only; the math runs in the worker.

function parseJsonLines(buffer) {
  const text = new TextDecoder().decode(buffer);
  const docs = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      docs.push(JSON.parse(line));
    } catch {
      docs.push({ id: '?', title: '(unreadable document line)', abstract: '' });
    }
  }
  return docs;
}

function parseJson(buffer, what, problems) {
  if (!buffer) return null;
  try {
    return JSON.parse(new TextDecoder().decode(buffer));
  } catch (e) {
    problems.push(`${what} is not valid JSON (${e.message}); the page goes on without it`);
    return null;
  }
}

/** Words of a label search, lower-cased. */
function words(text) {
  return text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

export class Catalog {
  constructor(manifest, info, files, splits = []) {
    this.manifest = manifest;
    this.info = info;
    // Per smaller SAE: which coarse feature each main feature splits from, and the reverse.
    this.splits = splits.map((s) => {
      const members = Array.from({ length: s.d_sae }, () => []);
      s.coarse_of.forEach((c, j) => members[c].push(j));
      for (const m of members) m.sort((a, b) => s.cosine[b] - s.cosine[a]);
      return { ...s, members };
    });
    this.problems = [];
    this.documents = files.documents ? parseJsonLines(files.documents) : [];
    const features = parseJson(files.features, 'features.json', this.problems);
    this.metrics = features?.metrics ?? null;
    this.stats = new Map((features?.features ?? []).map((f) => [f.feature, f]));
    const labels = parseJson(files.labels, 'labels.json', this.problems);
    this.labels = new Map((Array.isArray(labels) ? labels : []).filter((l) => Number.isInteger(l?.index)).map((l) => [l.index, l]));
    const families = parseJson(files.families, 'families.json', this.problems);
    this.familyStats = families?.stats ?? null;
    this.familyParams = families?.params ?? null;
    this.families = (families?.families ?? []).filter((f) => Number.isInteger(f?.parent) && Array.isArray(f.children));
    this.familyById = new Map(this.families.map((f) => [f.id, f]));
  }

  document(i) {
    return this.documents[i] ?? { id: String(i), title: `Document ${i}`, abstract: '', categories: [] };
  }

  /** `arXiv id → year` (YYMM ids: 2403.01234 is 2024); null for other ids. */
  static year(id) {
    const m = /^(\d{2})(\d{2})\.\d{4,5}/.exec(id ?? '');
    return m ? 2000 + Number(m[1]) : null;
  }

  static arxivUrl(id) {
    return /^(\d{4}\.\d{4,5}|[a-z-]+(\.[A-Z]{2})?\/\d{7})$/.test(id ?? '') ? `https://arxiv.org/abs/${id}` : null;
  }

  label(j) {
    return this.labels.get(j)?.label || `feature ${j}`;
  }

  /**
   * Feature `j` seen from each smaller SAE: the coarse feature it splits from, their decoder
   * cosine, and every main feature that splits from it as `{feature, cosine}` (closest
   * first, `j` among them).
   */
  splitsOf(j) {
    return this.splits.map((s) => ({
      d_sae: s.d_sae,
      coarse: s.coarse_of[j],
      cosine: s.cosine[j],
      members: s.members[s.coarse_of[j]].map((m) => ({ feature: m, cosine: s.cosine[m] })),
    }));
  }

  /** Families whose parent is `j`, and families that have `j` among their children. */
  familiesOf(j) {
    return {
      asParent: this.families.filter((f) => f.parent === j),
      asChild: this.families.filter((f) => f.children.includes(j)),
    };
  }

  familyMembers(f) {
    return [f.parent, ...f.children];
  }

  /** Features and families whose label holds every word of `text` (or whose index it is). */
  searchLabels(text, n = 12) {
    const want = words(text);
    if (!want.length) return { features: [], families: [] };
    const matches = (label) => {
      const have = label.toLowerCase();
      return want.every((w) => have.includes(w));
    };
    const asIndex = /^\d+$/.test(text.trim()) ? Number(text.trim()) : null;
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
