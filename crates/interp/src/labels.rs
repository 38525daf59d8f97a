//! Feature labels without an LLM, scored with the protocol of arXiv 2408.00657.
//!
//! **Labelling.** For each live feature, its top-activating documents (minus a held-out part)
//! are contrasted with the rest of the corpus by the log-odds ratio with an informative
//! Dirichlet prior (Monroe, Colaresi and Quinn 2008) over uni- and bi-grams ([`crate::phrases`]);
//! the candidates are the best phrases by z-score. The contrast group is every
//! document not used for the label and not held out (overwhelmingly non-activating: a feature
//! fires on `density x N` documents). It deliberately includes the feature's other active
//! documents: against non-activating documents only, a phrase that occurs *only* where the
//! feature fires has a zero count on the contrast side, where the log-odds variance
//! `1/(y + alpha)` explodes and the most specific phrases would rank lowest.
//!
//! **Choosing the label.** With an embedder, the label is the candidate phrases whose
//! embeddings together best predict the feature on training documents (Pearson r of cosine vs
//! activation, the scoring protocol's own measure, on documents the scoring never sees), found
//! greedily: a head phrase, then the phrases that add to it as detail, "head (detail, detail)"
//! ([`Labeller::choose_by_embedding`]). Without an embedder, the label is the best 2-4 phrases
//! by z-score, joined by "; ".
//!
//! **Scoring.** The paper's protocol on held-out documents: held-out top-activating documents
//! and random non-activating ones (10 + 10 by default, instead of the paper's 3 + 3), split
//! deterministically by seed. A predictor scores each document from the label alone: (a) how
//! many label phrases occur in it (singular or plural), (b) the cosine between the embedded
//! label text and the document's embedding (label embeddings come from the caller). Per
//! predictor: Pearson r
//! between prediction and actual activation, AUROC of active vs non-active, and F1 at a
//! threshold chosen on *separate* calibration documents (the labelling documents and as many
//! other random non-activating ones) as the one that maximises F1 there.

use crate::phrases::{singular_key, PhraseIndex};
use saescope_core::codes::SparseCodes;
use saescope_core::error::{Error, Result};
use saescope_core::matrix::{dot, norm, Matrix};
use saescope_core::metrics::activations_by_feature;
use saescope_core::rng::SeededRng;
use saescope_core::search::Corpus;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Version of the labelling and scoring method: part of cache keys, so labels made by an
/// earlier method are not reused. Bump it whenever the same inputs would give other labels.
pub const METHOD_VERSION: u32 = 4;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelConfig {
    /// Top-activating documents the label is made from (when the feature has enough).
    pub label_documents: usize,
    /// Top-activating documents held out for scoring (at most a third of those available).
    pub heldout_top: usize,
    /// Random non-activating documents held out for scoring.
    pub heldout_random: usize,
    /// Random non-activating documents (not held out) on which score thresholds are chosen.
    pub calibration_random: usize,
    /// Features active on fewer documents are labelled from all of them but not scored.
    pub min_active: usize,
    /// Phrases must occur in at least this many documents of the corpus.
    pub min_phrase_documents: u32,
    /// ... and in at least this many labelling documents (or all of them, if fewer).
    pub min_label_documents: u32,
    pub max_label_phrases: usize,
    /// The third and fourth phrase join the label only with a z-score at least this fraction
    /// of the best phrase's.
    pub extra_phrase_ratio: f64,
    /// Scored phrases kept per feature (the raw list in `phrases`).
    pub keep_phrases: usize,
    /// The best phrases by z-score that the embedding chooses the label among.
    pub label_candidates: usize,
    /// Active documents (strongest first, held-out ones excluded) a label is fitted on.
    pub fit_active: usize,
    /// A phrase joins the label only if it raises the fit's Pearson r by at least this much.
    pub min_gain: f64,
    pub seed: u64,
}

impl Default for LabelConfig {
    fn default() -> Self {
        Self {
            label_documents: 20,
            heldout_top: 10,
            heldout_random: 10,
            // As many as the labelling documents: F1 thresholds are chosen on balanced classes,
            // like the held-out set's.
            calibration_random: 20,
            min_active: 6,
            min_phrase_documents: 3,
            // A fifth of the labelling documents: phrases from two or three of them were often
            // generic ("algorithm outperforms"); 4 scored best of 2..5 on the demo corpus.
            min_label_documents: 4,
            max_label_phrases: 4,
            extra_phrase_ratio: 0.5,
            keep_phrases: 20,
            // 40 scored a little better than 20 (mean Pearson 0.607 vs 0.604 with the same
            // search); the search costs more with more.
            label_candidates: 40,
            fit_active: 60,
            min_gain: 0.005,
            seed: 0,
        }
    }
}

/// How well one predictor, given the label only, predicts a feature on held-out documents.
#[derive(ts_rs::TS, Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub f1: f64,
    /// Pearson r of prediction vs activation (0 where either is constant on the held-out set).
    pub pearson_correlation: f64,
    pub auroc: f64,
    /// Predict "active" at or above this value (chosen on the calibration documents).
    pub threshold: f64,
}

#[derive(ts_rs::TS, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Predictor {
    /// Number of label phrases occurring in the document.
    Keyphrase,
    /// Cosine between the embedded label and the document embedding.
    Embedding,
}

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreDetail {
    /// The predictor behind the top-level `f1`, `pearson_correlation` and `auroc`: the
    /// embedding predictor when label embeddings were given, else the keyphrase one.
    pub predictor: Predictor,
    pub keyphrase: Scores,
    pub embedding: Option<Scores>,
    pub heldout_top: usize,
    pub heldout_random: usize,
}

/// One labelled feature: a superset of the paper's published schema (`index`, `label`,
/// `reasoning`, `f1`, `pearson_correlation`, `density`), so the paper's files import as they are.
#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureLabel {
    pub index: u32,
    pub label: String,
    #[serde(default)]
    pub reasoning: String,
    #[serde(default)]
    pub f1: Option<f64>,
    #[serde(default)]
    pub pearson_correlation: Option<f64>,
    #[serde(default)]
    pub auroc: Option<f64>,
    #[serde(default)]
    pub density: Option<f64>,
    /// The scored phrases, best first: (phrase, log-odds z-score).
    #[serde(default)]
    pub phrases: Vec<(String, f64)>,
    /// The label's detail: the phrases after its head (the label reads "head (detail, ...)").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supporting: Vec<String>,
    /// Passes the clean-feature filter ([`mark_clean`]).
    #[serde(default)]
    pub clean: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<ScoreDetail>,
}

/// The documents one feature is labelled and scored on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    pub label: Vec<u32>,
    /// Held-out top-activating documents with their activations.
    pub heldout_top: Vec<(u32, f32)>,
    pub heldout_random: Vec<u32>,
    pub calibration_random: Vec<u32>,
}

/// A feature's label before scoring (scoring may need the label's embedding first).
#[derive(Clone, Debug)]
pub struct LabelDraft {
    pub index: u32,
    pub density: f64,
    pub label: String,
    pub phrases: Vec<(String, f64)>,
    pub supporting: Vec<String>,
    /// The phrases the keyphrase predictor looks for: the label's, then the supporting ones.
    label_phrases: Vec<u32>,
    /// The best `label_candidates` phrases by z-score, best first.
    scored: Vec<(u32, f64)>,
    candidates: usize,
    /// The Pearson r on its training documents of a label the embedding chose.
    pub fit: Option<f64>,
    pub selection: Selection,
}

/// Labels and scores the features of one set of codes over one set of documents.
pub struct Labeller {
    pub index: PhraseIndex,
    /// The phrases of each plural-folded key ("halo" and "halos"), for matching labels.
    variants: HashMap<String, Vec<u32>>,
    pub config: LabelConfig,
    by_feature: Vec<Vec<(u32, f32)>>,
    documents: usize,
}

fn feature_rng(seed: u64, feature: u32) -> SeededRng {
    SeededRng::new(seed ^ (feature as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

impl Labeller {
    /// Indexes the documents' phrases (`texts` in code row order).
    pub fn new<'a>(
        texts: impl IntoIterator<Item = &'a str>,
        codes: &SparseCodes,
        config: LabelConfig,
        progress: impl FnMut(),
    ) -> Result<Self> {
        let index = PhraseIndex::build(texts, config.min_phrase_documents, progress);
        if index.documents.len() != codes.rows() {
            return Err(Error::Shape(format!("{} documents but codes for {}", index.documents.len(), codes.rows())));
        }
        let mut variants: HashMap<String, Vec<u32>> = HashMap::new();
        index
            .phrases
            .iter()
            .enumerate()
            .for_each(|(p, text)| variants.entry(singular_key(text)).or_default().push(p as u32));
        Ok(Self { index, variants, config, by_feature: activations_by_feature(codes), documents: codes.rows() })
    }

    /// Picks the labelling, held-out and calibration documents of `feature`, reproducibly.
    pub fn select(&self, feature: u32) -> Selection {
        let c = &self.config;
        let active = &self.by_feature[feature as usize];
        let mut ranked = active.clone();
        ranked.sort_by(saescope_core::topk::rank_order);
        ranked.truncate(c.label_documents + c.heldout_top);
        let mut rng = feature_rng(c.seed, feature);
        if active.len() < c.min_active {
            return Selection { label: ranked.iter().map(|a| a.0).collect(), ..Default::default() };
        }
        let held = c.heldout_top.min(ranked.len() / 3);
        let order = rng.distinct(ranked.len(), ranked.len());
        let mut heldout_top: Vec<(u32, f32)> = order[..held].iter().map(|&i| ranked[i]).collect();
        heldout_top.sort_by(saescope_core::topk::rank_order);
        let mut label: Vec<u32> = order[held..].iter().map(|&i| ranked[i].0).collect();
        label.sort_unstable();
        let mut random = self.non_activating(active, c.heldout_random + c.calibration_random, &mut rng);
        let calibration_random = random.split_off(c.heldout_random.min(random.len()));
        Selection { label, heldout_top, heldout_random: random, calibration_random }
    }

    /// `count` distinct random documents where the feature is inactive (fewer if there are not
    /// that many). `active` is sorted by document.
    fn non_activating(&self, active: &[(u32, f32)], count: usize, rng: &mut SeededRng) -> Vec<u32> {
        let is_active = |d: u32| active.binary_search_by_key(&d, |a| a.0).is_ok();
        let n = self.documents;
        if active.len() * 2 <= n {
            // Rejection sampling: at least half the documents qualify.
            let mut out: Vec<u32> = Vec::with_capacity(count);
            let want = count.min(n - active.len());
            while out.len() < want {
                let d = rng.below(n) as u32;
                if !is_active(d) && !out.contains(&d) {
                    out.push(d);
                }
            }
            out
        } else {
            let pool: Vec<u32> = (0..n as u32).filter(|&d| !is_active(d)).collect();
            rng.distinct(pool.len(), count).into_iter().map(|i| pool[i]).collect()
        }
    }

    /// Log-odds z-scores (informative Dirichlet prior) of the phrases of the labelling documents
    /// against every other document that is not held out; positive scores only, best first.
    pub fn phrase_scores(&self, selection: &Selection) -> Vec<(u32, f64)> {
        let index = &self.index;
        let mut in_label: HashMap<u32, u32> = HashMap::new();
        let mut n_label = 0.0;
        for &d in &selection.label {
            for &p in &index.documents[d as usize] {
                *in_label.entry(p).or_default() += 1;
            }
            n_label += index.documents[d as usize].len() as f64;
        }
        let held: Vec<u32> =
            selection.heldout_top.iter().map(|a| a.0).chain(selection.heldout_random.iter().copied()).collect();
        let n_held: f64 = held.iter().map(|&d| index.documents[d as usize].len() as f64).sum();
        let total = index.total() as f64;
        let n_rest = total - n_label - n_held;
        // The prior weighs as much as the labelling group, spread by corpus frequency: a
        // background-sized prior would swamp a group of 20 documents.
        let alpha0 = n_label;
        let min_count = self.config.min_label_documents.min(selection.label.len() as u32).max(1);
        let mut scored: Vec<(u32, f64)> = in_label
            .into_iter()
            .filter(|&(_, y)| y >= min_count)
            .map(|(p, y_label)| {
                let df = index.document_frequency[p as usize] as f64;
                let y_held = held.iter().filter(|&&d| index.contains(d as usize, p)).count() as f64;
                let (y_a, y_b) = (y_label as f64, (df - y_label as f64 - y_held).max(0.0));
                let alpha = alpha0 * df / total;
                let log_odds = |y: f64, n: f64| ((y + alpha) / (n + alpha0 - y - alpha)).ln();
                let delta = log_odds(y_a, n_label) - log_odds(y_b, n_rest);
                let variance = 1.0 / (y_a + alpha) + 1.0 / (y_b + alpha);
                (p, delta / variance.sqrt())
            })
            .filter(|&(_, z)| z > 0.0 && z.is_finite())
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored
    }

    /// The label's phrases from the scored list, best first: a phrase containing every word of
    /// chosen ones replaces them ("dark" -> "dark matter"); a phrase sharing a word with a chosen
    /// one, plurals folded, is skipped ("comets" after "comet"); two phrases, then up to
    /// `max_label_phrases` while they score at least `extra_phrase_ratio` of the best.
    fn choose_label(&self, scored: &[(u32, f64)]) -> Vec<u32> {
        let c = &self.config;
        let best = scored.first().map_or(0.0, |s| s.1);
        let mut chosen: Vec<(u32, Vec<String>)> = Vec::new();
        for &(p, z) in scored {
            if chosen.len() >= c.max_label_phrases || (chosen.len() >= 2 && z < c.extra_phrase_ratio * best) {
                break;
            }
            let words = self.stems(p);
            let covered = |q: &Vec<String>| q.iter().all(|w| words.contains(w));
            if chosen.iter().any(|(_, q)| !covered(q) && q.iter().any(|w| words.contains(w))) {
                continue;
            }
            chosen.retain(|(_, q)| !covered(q));
            chosen.push((p, words));
        }
        chosen.into_iter().map(|(p, _)| p).collect()
    }

    /// The label of one feature, or `None` for a dead feature.
    pub fn draft(&self, feature: u32) -> Option<LabelDraft> {
        let active = &self.by_feature[feature as usize];
        if active.is_empty() {
            return None;
        }
        let selection = self.select(feature);
        let scored = self.phrase_scores(&selection);
        let label_phrases = self.choose_label(&scored);
        let text = |p: &u32| self.index.phrases[*p as usize].clone();
        let label = if label_phrases.is_empty() {
            format!("feature {feature} (no distinctive phrases)")
        } else {
            label_phrases.iter().map(text).collect::<Vec<_>>().join("; ")
        };
        let candidates = scored.len();
        let scored: Vec<(u32, f64)> = scored.into_iter().take(self.config.label_candidates).collect();
        Some(LabelDraft {
            index: feature,
            density: active.len() as f64 / self.documents.max(1) as f64,
            label,
            phrases: scored.iter().take(self.config.keep_phrases).map(|(p, z)| (text(p), *z)).collect(),
            supporting: Vec::new(),
            label_phrases,
            scored,
            candidates,
            fit: None,
            selection,
        })
    }

    /// The phrases [`Labeller::choose_by_embedding`] chooses among (every draft's scored
    /// phrases, each once), to be embedded by the caller.
    pub fn candidate_phrases(&self, drafts: &[LabelDraft]) -> Vec<u32> {
        let mut seen = vec![false; self.index.phrases.len()];
        let mut out = Vec::new();
        for &(p, _) in drafts.iter().flat_map(|d| &d.scored) {
            if !std::mem::replace(&mut seen[p as usize], true) {
                out.push(p);
            }
        }
        out
    }

    /// Relabels each draft from its candidate phrases ([`Labeller::candidate_phrases`], one row
    /// of `embedded` each): a greedy search adds, one at a time, the phrase that most raises the
    /// Pearson r of (cosine to the document, activation) over training documents, while r rises
    /// by at least `min_gain` (at most `max_label_phrases`). The first phrase is the label's
    /// head, the others its detail: "head (detail, detail)". A combination is scored by the
    /// normalised sum of its phrases' unit embeddings, a cheap stand-in for embedding each
    /// combination; the chosen text is embedded as it is for scoring.
    ///
    /// The training documents are the feature's strongest active documents that are not held
    /// out (up to `fit_active`) and as many random non-activating ones (the calibration
    /// documents first): the held-out documents are never looked at, so the scores stay
    /// honest. Drafts without calibration documents (too few active ones to score) keep their
    /// z-score label.
    pub fn choose_by_embedding(
        &self,
        drafts: &mut [LabelDraft],
        candidates: &[u32],
        embedded: &Matrix,
        documents: &Corpus,
    ) -> Result<()> {
        if embedded.rows != candidates.len() || embedded.cols != documents.dim || documents.rows() != self.documents {
            return Err(Error::Shape(format!(
                "{} phrase embeddings of dimension {} for {} phrases, documents {} x {}",
                embedded.rows,
                embedded.cols,
                candidates.len(),
                documents.rows(),
                documents.dim
            )));
        }
        let row_of: HashMap<u32, usize> = candidates.iter().enumerate().map(|(i, &p)| (p, i)).collect();
        for draft in drafts.iter_mut() {
            if draft.selection.calibration_random.is_empty() || draft.scored.is_empty() {
                continue;
            }
            let training = self.training_documents(draft);
            let docs: Vec<Vec<f32>> =
                training.iter().map(|&(d, _)| unit(&documents.row(d as usize).unwrap_or_default())).collect();
            let mut phrases = Vec::with_capacity(draft.scored.len());
            for &(p, _) in &draft.scored {
                let row = *row_of
                    .get(&p)
                    .ok_or_else(|| Error::Invalid(format!("phrase {p} is not among the embedded candidates")))?;
                phrases.push((p, unit(embedded.row(row))));
            }
            // Each phrase's cosines to the training documents, summed as phrases are chosen.
            let cosines: Vec<Vec<f32>> =
                phrases.iter().map(|(_, e)| docs.iter().map(|d| dot(e, d)).collect()).collect();
            let (mut chosen, mut sum, mut sum_cos) =
                (Vec::<usize>::new(), vec![0.0f32; documents.dim], vec![0.0f32; training.len()]);
            let mut fit = f64::NEG_INFINITY;
            while chosen.len() < self.config.max_label_phrases {
                let mut best: Option<(usize, f64)> = None;
                for (c, (_, e)) in phrases.iter().enumerate().filter(|(c, _)| !chosen.contains(c)) {
                    let length = sum.iter().zip(e).map(|(a, b)| (a + b) * (a + b)).sum::<f32>().sqrt();
                    let pairs: Vec<(f64, f64)> = training
                        .iter()
                        .enumerate()
                        .map(|(i, &(_, a))| (((sum_cos[i] + cosines[c][i]) / length) as f64, a))
                        .collect();
                    let r = pearson(&pairs);
                    // Strictly better only: among equal fits the higher z-score (earlier) wins.
                    if best.is_none_or(|b| r > b.1) {
                        best = Some((c, r));
                    }
                }
                match best {
                    Some((c, r)) if r >= fit + self.config.min_gain => {
                        fit = r;
                        chosen.push(c);
                        sum.iter_mut().zip(&phrases[c].1).for_each(|(a, b)| *a += b);
                        sum_cos.iter_mut().zip(&cosines[c]).for_each(|(a, b)| *a += b);
                    }
                    _ => break,
                }
            }
            let text = |c: &usize| self.index.phrases[phrases[*c].0 as usize].clone();
            let (head, detail) = (text(&chosen[0]), chosen[1..].iter().map(text).collect::<Vec<_>>());
            draft.label = if detail.is_empty() { head } else { format!("{head} ({})", detail.join(", ")) };
            draft.supporting = detail;
            draft.label_phrases = chosen.iter().map(|&c| phrases[c].0).collect();
            draft.fit = Some(fit);
        }
        Ok(())
    }

    /// The documents a label is fitted on, with activations: the strongest active documents
    /// that are not held out, and as many non-activating ones that are not held out either
    /// (the calibration documents, then random ones).
    fn training_documents(&self, draft: &LabelDraft) -> Vec<(u32, f64)> {
        let s = &draft.selection;
        let active = &self.by_feature[draft.index as usize];
        let held_top: Vec<u32> = s.heldout_top.iter().map(|a| a.0).collect();
        let mut ranked: Vec<(u32, f32)> = active.iter().filter(|a| !held_top.contains(&a.0)).copied().collect();
        ranked.sort_by(saescope_core::topk::rank_order);
        ranked.truncate(self.config.fit_active);
        let mut out: Vec<(u32, f64)> = ranked.iter().map(|&(d, a)| (d, a as f64)).collect();
        let want = out.len();
        out.extend(s.calibration_random.iter().take(want).map(|&d| (d, 0.0)));
        let missing = want.saturating_sub(s.calibration_random.len());
        if missing > 0 {
            let mut rng = feature_rng(self.config.seed ^ 0x5EED, draft.index);
            let taken: Vec<u32> = out.iter().map(|o| o.0).chain(s.heldout_random.iter().copied()).collect();
            let extra = self.non_activating(active, missing + taken.len(), &mut rng);
            out.extend(extra.into_iter().filter(|d| !taken.contains(d)).take(missing).map(|d| (d, 0.0)));
        }
        out
    }

    /// The words of a phrase, plurals folded.
    fn stems(&self, phrase: u32) -> Vec<String> {
        singular_key(&self.index.phrases[phrase as usize]).split(' ').map(str::to_owned).collect()
    }

    /// Labels of every live feature, by feature index.
    pub fn draft_all(&self, mut progress: impl FnMut()) -> Vec<LabelDraft> {
        (0..self.by_feature.len() as u32)
            .filter_map(|f| {
                progress();
                self.draft(f)
            })
            .collect()
    }

    /// How many label phrases occur in the document, in singular or plural.
    fn keyphrase_matches(&self, draft: &LabelDraft, document: u32) -> f64 {
        let occurs = |p: u32| {
            self.variants[&singular_key(&self.index.phrases[p as usize])]
                .iter()
                .any(|&v| self.index.contains(document as usize, v))
        };
        draft.label_phrases.iter().filter(|&&p| occurs(p)).count() as f64
    }

    /// Scores every draft on its held-out documents. `embeddings`, when given, holds one
    /// embedded label per draft (same order) and the documents' embeddings.
    pub fn score(&self, drafts: &[LabelDraft], embeddings: Option<LabelEmbeddings>) -> Result<Vec<FeatureLabel>> {
        if let Some(e) = &embeddings {
            if e.labels.rows != drafts.len() || e.labels.cols != e.documents.dim || e.documents.rows() != self.documents
            {
                return Err(Error::Shape(format!(
                    "{} label embeddings of dimension {} for {} labels, documents {} x {}",
                    e.labels.rows,
                    e.labels.cols,
                    drafts.len(),
                    e.documents.rows(),
                    e.documents.dim
                )));
            }
        }
        let mut out = Vec::with_capacity(drafts.len());
        for (i, draft) in drafts.iter().enumerate() {
            let s = &draft.selection;
            let scored = !s.heldout_top.is_empty() && !s.heldout_random.is_empty();
            let keyphrase = scored.then(|| evaluate(s, |d| self.keyphrase_matches(draft, d)));
            let embedding = match (&embeddings, scored) {
                (Some(e), true) => {
                    let label = e.labels.row(i);
                    let label_norm = norm(label).max(f32::MIN_POSITIVE);
                    Some(evaluate(s, |d| {
                        let doc = e.documents.row(d as usize).unwrap_or_default();
                        (dot(label, &doc) / (label_norm * norm(&doc).max(f32::MIN_POSITIVE))) as f64
                    }))
                }
                _ => None,
            };
            let detail = keyphrase.map(|keyphrase| ScoreDetail {
                predictor: if embedding.is_some() { Predictor::Embedding } else { Predictor::Keyphrase },
                keyphrase,
                embedding,
                heldout_top: s.heldout_top.len(),
                heldout_random: s.heldout_random.len(),
            });
            let headline = detail.as_ref().map(|d| d.embedding.unwrap_or(d.keyphrase));
            out.push(FeatureLabel {
                index: draft.index,
                label: draft.label.clone(),
                reasoning: self.reasoning(draft),
                f1: headline.map(|h| h.f1),
                pearson_correlation: headline.map(|h| h.pearson_correlation),
                auroc: headline.map(|h| h.auroc),
                density: Some(draft.density),
                phrases: draft.phrases.clone(),
                supporting: draft.supporting.clone(),
                clean: false,
                scores: detail,
            });
        }
        Ok(out)
    }

    fn reasoning(&self, draft: &LabelDraft) -> String {
        let s = &draft.selection;
        let contrast = self.documents - s.label.len() - s.heldout_top.len() - s.heldout_random.len();
        let scoring = if s.heldout_top.is_empty() {
            format!("not scored: active on fewer than {} documents", self.config.min_active)
        } else {
            format!(
                "scored on {} held-out top-activating and {} held-out non-activating documents",
                s.heldout_top.len(),
                s.heldout_random.len()
            )
        };
        let chosen = match draft.fit {
            Some(r) => format!(
                "Among the best {} phrases by log-odds z-score (informative Dirichlet prior), the {} whose embeddings together best predict the feature on {} training documents (its strongest active ones and as many non-activating ones, none held out; Pearson r {r:.2})",
                draft.scored.len(),
                draft.label_phrases.len(),
                self.training_documents(draft).len(),
            ),
            None => format!(
                "Best {} of {} phrases by log-odds z-score (informative Dirichlet prior)",
                draft.label_phrases.len(),
                draft.candidates
            ),
        };
        format!(
            "{chosen}; phrases from the {} top-activating documents against the other {contrast} documents; {scoring}.",
            s.label.len()
        )
    }
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = norm(v).max(f32::MIN_POSITIVE);
    v.iter().map(|x| x / n).collect()
}

/// Embedded label texts (one row per draft) and the documents' embeddings.
pub struct LabelEmbeddings<'a> {
    pub labels: &'a Matrix,
    pub documents: &'a Corpus,
}

/// The paper's protocol for one predictor: threshold from the calibration documents (labelling
/// documents positive, calibration ones negative), then F1, Pearson and AUROC on the held-out ones.
fn evaluate(s: &Selection, predict: impl Fn(u32) -> f64) -> Scores {
    let calibration: Vec<(f64, bool)> = s
        .label
        .iter()
        .map(|&d| (predict(d), true))
        .chain(s.calibration_random.iter().map(|&d| (predict(d), false)))
        .collect();
    let threshold = best_threshold(&calibration);
    let heldout: Vec<(f64, f64)> = s
        .heldout_top
        .iter()
        .map(|&(d, a)| (predict(d), a as f64))
        .chain(s.heldout_random.iter().map(|&d| (predict(d), 0.0)))
        .collect();
    let predicted: Vec<(bool, bool)> = heldout.iter().map(|&(p, a)| (p >= threshold, a > 0.0)).collect();
    let ranked: Vec<(f64, bool)> = heldout.iter().map(|&(p, a)| (p, a > 0.0)).collect();
    Scores { f1: f1(&predicted), pearson_correlation: pearson(&heldout), auroc: auroc(&ranked), threshold }
}

/// Pearson correlation of pairs; 0 when either side is constant (undefined).
pub fn pearson(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for &(x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// Area under the ROC curve of scores for (score, is_positive): the probability that a random
/// positive outscores a random negative, ties counting half. 0.5 without both classes.
pub fn auroc(scored: &[(f64, bool)]) -> f64 {
    let positives: Vec<f64> = scored.iter().filter(|s| s.1).map(|s| s.0).collect();
    let negatives: Vec<f64> = scored.iter().filter(|s| !s.1).map(|s| s.0).collect();
    if positives.is_empty() || negatives.is_empty() {
        return 0.5;
    }
    let mut wins = 0.0;
    for &p in &positives {
        for &n in &negatives {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (positives.len() * negatives.len()) as f64
}

/// F1 of (predicted, actual) pairs; 0 when nothing is predicted or nothing is positive.
pub fn f1(pairs: &[(bool, bool)]) -> f64 {
    let tp = pairs.iter().filter(|&&(p, a)| p && a).count() as f64;
    let predicted = pairs.iter().filter(|p| p.0).count() as f64;
    let actual = pairs.iter().filter(|p| p.1).count() as f64;
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (predicted + actual)
    }
}

/// The threshold (one of the observed scores) maximising F1 of `score >= threshold`; among
/// equal F1s the highest threshold. `+inf` when there is nothing to calibrate on.
pub fn best_threshold(scored: &[(f64, bool)]) -> f64 {
    let mut candidates: Vec<f64> = scored.iter().map(|s| s.0).collect();
    candidates.sort_by(|a, b| b.total_cmp(a));
    candidates.dedup();
    let mut best = (f64::NEG_INFINITY, f64::INFINITY);
    for t in candidates {
        let pairs: Vec<(bool, bool)> = scored.iter().map(|&(s, a)| (s >= t, a)).collect();
        let score = f1(&pairs);
        if score > best.0 {
            best = (score, t);
        }
    }
    best.1
}

/// The paper's clean-feature filter. Defaults are those of the paper's code
/// (`get_clean_labels`: f1 >= 0.8, Pearson >= 0.8, density < 0.2, one feature per label).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CleanFilter {
    pub min_f1: f64,
    pub min_pearson: f64,
    pub max_density: f64,
    /// Among features with the same label (case-folded), keep the one with the highest
    /// f1 + Pearson (the lower index on a tie).
    pub drop_duplicates: bool,
}

impl Default for CleanFilter {
    fn default() -> Self {
        Self { min_f1: 0.8, min_pearson: 0.8, max_density: 0.2, drop_duplicates: true }
    }
}

/// Sets `clean` on every label by `filter`. Labels missing a score or density are not clean.
pub fn mark_clean(labels: &mut [FeatureLabel], filter: &CleanFilter) {
    for l in labels.iter_mut() {
        l.clean = matches!((l.f1, l.pearson_correlation, l.density), (Some(f), Some(p), Some(d))
            if f >= filter.min_f1 && p >= filter.min_pearson && d < filter.max_density);
    }
    if !filter.drop_duplicates {
        return;
    }
    let mut best: HashMap<String, usize> = HashMap::new();
    let strength = |l: &FeatureLabel| l.f1.unwrap_or(0.0) + l.pearson_correlation.unwrap_or(0.0);
    for (i, l) in labels.iter().enumerate().filter(|(_, l)| l.clean) {
        let key = l.label.trim().to_lowercase();
        match best.get(&key) {
            Some(&j)
                if strength(&labels[j]) > strength(l)
                    || (strength(&labels[j]) == strength(l) && labels[j].index < l.index) => {}
            _ => {
                best.insert(key, i);
            }
        }
    }
    let keep: std::collections::HashSet<usize> = best.into_values().collect();
    labels.iter_mut().enumerate().for_each(|(i, l)| l.clean &= keep.contains(&i));
}

/// Replaces the bare `NaN`, `Infinity` and `-Infinity` that Python's `json.dump` writes for
/// non-finite floats with `null`, outside strings, so such files parse as standard JSON.
pub fn python_json_to_standard(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c == '"' {
            in_string = true;
        } else if let Some(token) = ["-Infinity", "Infinity", "NaN"].into_iter().find(|t| rest.starts_with(t)) {
            out.push_str("null");
            rest = &rest[token.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Reads a labels file: ours, or the paper's list of `{index, label, reasoning, f1,
/// pearson_correlation, density}` (missing fields allowed, Python's NaN read as missing).
pub fn parse_labels(bytes: &[u8]) -> Result<Vec<FeatureLabel>> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::Format("labels file is not UTF-8".into()))?;
    let mut labels: Vec<FeatureLabel> = serde_json::from_str(&python_json_to_standard(text)).map_err(|e| {
        Error::Format(format!("labels file: {e} (expected a JSON list of {{\"index\", \"label\", ...}})"))
    })?;
    labels.sort_by_key(|l| l.index);
    if let Some(w) = labels.windows(2).find(|w| w[0].index == w[1].index) {
        return Err(Error::Format(format!("labels file: feature {} is labelled twice", w[0].index)));
    }
    Ok(labels)
}

/// Labels by feature index (`None` for unlabelled features) over `d_sae` features.
pub fn labels_by_feature(labels: &[FeatureLabel], d_sae: usize) -> Vec<Option<&FeatureLabel>> {
    let mut out = vec![None; d_sae];
    for l in labels.iter().filter(|l| (l.index as usize) < d_sae) {
        out[l.index as usize] = Some(l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents about one of three planted topics; feature t fires on topic t's documents,
    /// with activations decreasing along the documents.
    fn planted() -> (Vec<String>, SparseCodes) {
        let topics = [
            ("dark matter halo", "galaxy"),
            ("graph neural network", "message passing"),
            ("quantum error correction", "qubit"),
        ];
        let filler = ["observations suggest", "experiments indicate", "simulations reveal", "data confirm"];
        let mut texts = Vec::new();
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        for r in 0..300 {
            let t = r % 3;
            let (main, second) = topics[t];
            let extra = if r % 2 == 0 { second } else { "" };
            texts.push(format!("On {main} models. The {} of {main} {extra}; $x^2$ \\cite{{a}}.", filler[r % 4]));
            idx.extend([t as u32, 3]);
            val.extend([1.0 + (r as f32 / 300.0), if r % 5 == 0 { 0.5 } else { 0.0 }]);
        }
        (texts, SparseCodes::new(2, 5, idx, val).unwrap())
    }

    #[test]
    fn planted_topics_get_their_phrases_and_high_scores() {
        let (texts, codes) = planted();
        let labeller = Labeller::new(texts.iter().map(String::as_str), &codes, LabelConfig::default(), || {}).unwrap();
        let drafts = labeller.draft_all(|| {});
        assert_eq!(drafts.iter().map(|d| d.index).collect::<Vec<_>>(), vec![0, 1, 2, 3]); // feature 4 is dead
        assert!(
            drafts[0].label.contains("dark matter") || drafts[0].label.contains("matter halo"),
            "{}",
            drafts[0].label
        );
        assert!(
            drafts[1].label.contains("graph neural") || drafts[1].label.contains("neural network"),
            "{}",
            drafts[1].label
        );
        assert!(
            drafts[2].label.contains("error correction") || drafts[2].label.contains("quantum error"),
            "{}",
            drafts[2].label
        );
        assert!(
            !drafts[0].label.split("; ").any(|p| p == "models"),
            "shared words are not distinctive: {}",
            drafts[0].label
        );
        let phrases = drafts[0].label.split("; ").count();
        assert!((2..=4).contains(&phrases), "{}", drafts[0].label);
        let labels = labeller.score(&drafts, None).unwrap();
        for l in &labels[..3] {
            let s = l.scores.as_ref().unwrap();
            assert_eq!((s.heldout_top, s.heldout_random, s.predictor), (10, 10, Predictor::Keyphrase));
            assert_eq!(l.f1, Some(1.0), "{l:?}");
            assert_eq!(l.auroc, Some(1.0));
            assert!(l.pearson_correlation.unwrap() > 0.9, "{l:?}");
            assert!((l.density.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        }
        // Feature 3 fires on every fifth document whatever its topic: no phrase predicts it.
        assert!(labels[3].pearson_correlation.unwrap() < 0.5, "{:?}", labels[3]);
    }

    #[test]
    fn label_phrases_replace_what_they_contain_and_skip_overlaps() {
        let texts = ["dark matter comets comet oort cloud"; 3];
        let codes = SparseCodes::new(1, 1, vec![0; 3], vec![1.0; 3]).unwrap();
        let labeller =
            Labeller::new(texts, &codes, LabelConfig { min_phrase_documents: 1, ..Default::default() }, || {}).unwrap();
        let id = |p: &str| labeller.index.phrases.binary_search(&p.to_owned()).unwrap() as u32;
        let scored: Vec<(u32, f64)> = [
            ("dark", 10.0),
            ("dark matter", 9.0),
            ("matter", 8.0),
            ("comets", 7.0),
            ("comet", 6.0),
            ("oort cloud", 5.5),
            ("cloud", 5.2),
            ("oort", 4.0),
        ]
        .map(|(p, z)| (id(p), z))
        .to_vec();
        let chosen: Vec<&str> =
            labeller.choose_label(&scored).iter().map(|&p| labeller.index.phrases[p as usize].as_str()).collect();
        assert_eq!(chosen, vec!["dark matter", "comet", "oort cloud"], "4.0 is below half the best score");
    }

    #[test]
    fn heldout_documents_never_make_the_label() {
        let (texts, codes) = planted();
        let labeller = Labeller::new(texts.iter().map(String::as_str), &codes, LabelConfig::default(), || {}).unwrap();
        let s = labeller.select(1);
        assert_eq!(
            (s.label.len(), s.heldout_top.len(), s.heldout_random.len(), s.calibration_random.len()),
            (20, 10, 10, 20)
        );
        let mut all: Vec<u32> = s
            .label
            .iter()
            .copied()
            .chain(s.heldout_top.iter().map(|a| a.0))
            .chain(s.heldout_random.clone())
            .chain(s.calibration_random.clone())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "the four sets are disjoint");
        assert!(
            s.heldout_random.iter().chain(&s.calibration_random).all(|&d| d % 3 != 1),
            "random documents are non-activating"
        );
        assert_eq!(s, labeller.select(1), "deterministic");
        let other = Labeller::new(
            texts.iter().map(String::as_str),
            &codes,
            LabelConfig { seed: 9, ..Default::default() },
            || {},
        )
        .unwrap();
        assert_ne!(s, other.select(1), "the seed changes the split");
    }

    #[test]
    fn embedding_predictor_is_used_when_label_embeddings_are_given() {
        let (texts, codes) = planted();
        let labeller = Labeller::new(texts.iter().map(String::as_str), &codes, LabelConfig::default(), || {}).unwrap();
        let drafts = labeller.draft_all(|| {});
        // Documents embed as their topic's one-hot; labels as their feature's topic.
        let docs = Matrix::new(300, 4, (0..300).flat_map(|r| (0..4).map(move |c| (c == r % 3) as u8 as f32)).collect())
            .unwrap();
        let corpus = Corpus::from_matrix(&docs, 128, saescope_core::search::Precision::F32);
        let labels =
            Matrix::new(4, 4, (0..4).flat_map(|l| (0..4).map(move |c| (c == l) as u8 as f32)).collect()).unwrap();
        let scored = labeller.score(&drafts, Some(LabelEmbeddings { labels: &labels, documents: &corpus })).unwrap();
        let s = scored[1].scores.as_ref().unwrap();
        assert_eq!(s.predictor, Predictor::Embedding);
        assert_eq!(s.embedding.unwrap().auroc, 1.0);
        assert_eq!(scored[1].auroc, Some(1.0));
        let wrong = Matrix::zeros(3, 4);
        assert!(labeller.score(&drafts, Some(LabelEmbeddings { labels: &wrong, documents: &corpus })).is_err());
    }

    #[test]
    fn the_embedding_chooses_the_phrases_that_predict_the_feature() {
        let (texts, codes) = planted();
        let labeller = Labeller::new(texts.iter().map(String::as_str), &codes, LabelConfig::default(), || {}).unwrap();
        let mut drafts = labeller.draft_all(|| {});
        // Documents embed as their topic's one-hot (plus a shared direction); a phrase embeds
        // as the topic whose main words it contains, anything else as the shared direction.
        let topic_words =
            [["dark", "matter", "halo"], ["graph", "neural", "network"], ["quantum", "error", "correction"]];
        let embed = |text: &str| -> Vec<f32> {
            let t = topic_words.iter().position(|w| w.iter().any(|w| text.split(' ').any(|p| p == *w)));
            (0..4)
                .map(|c| {
                    if Some(c) == t {
                        1.0
                    } else if c == 3 {
                        0.2
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let docs = Matrix::new(300, 4, (0..300).flat_map(|r| embed(topic_words[r % 3][0])).collect()).unwrap();
        let corpus = Corpus::from_matrix(&docs, 128, saescope_core::search::Precision::F32);
        let candidates = labeller.candidate_phrases(&drafts);
        let data = candidates.iter().flat_map(|&p| embed(&labeller.index.phrases[p as usize])).collect();
        let embedded = Matrix::new(candidates.len(), 4, data).unwrap();
        labeller.choose_by_embedding(&mut drafts, &candidates, &embedded, &corpus).unwrap();
        for t in 0..3 {
            let head = drafts[t].label.split(" (").next().unwrap();
            assert!(topic_words[t].iter().any(|w| head.split(' ').any(|p| p == *w)), "{}", drafts[t].label);
            assert!(drafts[t].fit.unwrap() > 0.9, "{:?}", drafts[t].fit);
        }
        let wrong = Matrix::zeros(candidates.len(), 3);
        assert!(labeller.choose_by_embedding(&mut drafts, &candidates, &wrong, &corpus).is_err());
    }

    #[test]
    fn score_functions_on_known_cases() {
        assert!((pearson(&[(1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]) - 1.0).abs() < 1e-12);
        assert_eq!(pearson(&[(1.0, 2.0), (1.0, 4.0)]), 0.0);
        assert_eq!(auroc(&[(0.9, true), (0.1, false), (0.5, true), (0.5, false)]), 0.875);
        assert_eq!(f1(&[(true, true), (true, false), (false, true), (false, false)]), 0.5);
        assert_eq!(best_threshold(&[(3.0, true), (2.0, true), (1.0, false), (2.0, false)]), 2.0);
        assert_eq!(best_threshold(&[]), f64::INFINITY);
    }

    #[test]
    fn paper_files_import_and_the_clean_filter_follows_the_paper() {
        let paper = r#"[
            {"index": 3, "label": "Dark matter halos", "reasoning": "r", "f1": 0.9, "pearson_correlation": 0.85, "density": 0.01},
            {"index": 1, "label": "dark matter halos", "f1": 0.95, "pearson_correlation": 0.9, "density": 0.02},
            {"index": 7, "label": "Very common", "f1": 0.9, "pearson_correlation": 0.9, "density": 0.3},
            {"index": 9, "label": "Weak \"NaN\" label", "f1": NaN, "pearson_correlation": 0.1, "density": 0.001},
            {"index": 11, "label": "No scores"}
        ]"#;
        let mut labels = parse_labels(paper.as_bytes()).unwrap();
        assert_eq!(labels.iter().map(|l| l.index).collect::<Vec<_>>(), vec![1, 3, 7, 9, 11]);
        assert_eq!(labels[3].label, "Weak \"NaN\" label");
        assert_eq!(labels[3].f1, None);
        mark_clean(&mut labels, &CleanFilter::default());
        assert_eq!(labels.iter().map(|l| l.clean).collect::<Vec<_>>(), vec![true, false, false, false, false]);
        assert!(parse_labels(b"[{\"index\": 1, \"label\": \"a\"}, {\"index\": 1, \"label\": \"b\"}]")
            .unwrap_err()
            .to_string()
            .contains("twice"));
        assert!(parse_labels(b"{\"not\": \"a list\"}").is_err());
        let ours = serde_json::to_string(&labels).unwrap();
        assert_eq!(parse_labels(ours.as_bytes()).unwrap(), labels);
    }
}
