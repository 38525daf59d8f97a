//! The steering evaluation of arXiv 2408.00657 ("steering semantic search"), offline.
//!
//! For each query: a clean feature active in the query is steered *down*, a clean feature not
//! active is steered *up* (separate runs), and three other clean features not active are
//! distractors. A judge sees the query's top documents before and after and picks, among the
//! five features, the one that gained most (up) or lost most (down). Two judges:
//! - [`Judge::LabelEmbedding`]: the gain in mean cosine between a feature's embedded label and
//!   the top documents (an offline stand-in for the paper's LLM judge, which read the labels);
//! - [`Judge::Codes`]: the gain in how many of the top documents fire the feature.
//!
//! A steering method moves the query along a direction per feature, `q' = q +- s u`, with `s`
//! chosen so that the cosine between `q'` and `q` hits a target: methods are compared at equal
//! cosine (how far the query moved), over a sweep of targets and, query by query, at the
//! cosine of the rewrite baseline (the query text with the up feature's label appended, embedded
//! again; the paper asked an LLM to rewrite the query). Rewriting cannot steer down.

use crate::steer::{concept_direction, cosine, documents_direction, mean_unit_embedding, top_documents, unit};
use saescope_core::codes::SparseCodes;
use saescope_core::error::{Error, Result};
use saescope_core::matrix::{dot, Matrix};
use saescope_core::metrics::activations_by_feature;
use saescope_core::rng::SeededRng;
use saescope_core::search::{search, Corpus};
use saescope_core::Sae;
use serde::Serialize;

/// Where a steering method moves the query for a feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The feature's decoder row: the paper's method (editing the code, error kept).
    Decoder,
    /// The mean embedding of the feature's top documents.
    TopDocuments,
    /// The mean embedding of the feature's top documents minus the corpus mean: what sets the
    /// feature's documents apart, without the direction every document shares.
    TopDocumentsCentered,
    /// The feature's encoder column: the direction that raises its pre-activation fastest.
    Encoder,
    /// The mean embedding of the documents nearest the query among those the feature fires
    /// on: toward the feature, staying close to what the query asked.
    NearestDocuments,
    /// The embedding of the feature's label text (rewriting, in embedding space).
    Label,
    /// [`Direction::Label`] and [`Direction::TopDocumentsCentered`], each made orthogonal to
    /// the query and unit, summed ([`concept_direction`]): the page's default.
    Concept,
}

impl Direction {
    pub const ALL: [Direction; 7] = [
        Direction::Decoder,
        Direction::TopDocuments,
        Direction::TopDocumentsCentered,
        Direction::Encoder,
        Direction::NearestDocuments,
        Direction::Label,
        Direction::Concept,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Direction::Decoder => "decoder",
            Direction::TopDocuments => "top-documents",
            Direction::TopDocumentsCentered => "top-documents-centered",
            Direction::Encoder => "encoder",
            Direction::NearestDocuments => "nearest-documents",
            Direction::Label => "label",
            Direction::Concept => "concept",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Judge {
    LabelEmbedding,
    Codes,
}

impl Judge {
    pub fn name(self) -> &'static str {
        match self {
            Judge::LabelEmbedding => "label-embedding judge",
            Judge::Codes => "codes judge",
        }
    }
}

/// What the evaluation runs on. `clean` are the candidate features; `label_embeddings` holds
/// one embedded label per clean feature, in the same order.
pub struct EvalCorpus<'a> {
    pub sae: &'a Sae,
    pub corpus: &'a Corpus,
    pub codes: &'a SparseCodes,
    pub clean: &'a [u32],
    pub label_embeddings: &'a Matrix,
}

#[derive(Clone, Debug)]
pub struct EvalConfig {
    /// Documents the judges look at.
    pub top: usize,
    pub distractors: usize,
    /// Cosines to the query the sweep steers to.
    pub targets: Vec<f32>,
    /// Top documents whose mean is a feature's [`Direction::TopDocuments`].
    pub direction_documents: usize,
    /// Trials per query, each with its own draw of features (more trials, less noise).
    pub draws: usize,
    pub seed: u64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            top: 10,
            distractors: 3,
            targets: vec![0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6],
            direction_documents: crate::steer::DIRECTION_DOCUMENTS,
            draws: 3,
            seed: 0,
        }
    }
}

/// One query's features: `features[0]` is steered up, `features[1]` down, the rest distract.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trial {
    pub query: usize,
    pub features: Vec<u32>,
}

impl Trial {
    pub fn up(&self) -> u32 {
        self.features[0]
    }
    pub fn down(&self) -> u32 {
        self.features[1]
    }
}

/// Picks each query's features (`draws` times), reproducibly. Queries without an active clean feature, or
/// with too few inactive ones, get no trial.
pub fn trials(setup: &EvalCorpus, queries: &Matrix, config: &EvalConfig) -> Result<Vec<Trial>> {
    let codes = setup.sae.encode(queries)?;
    let mut out = Vec::new();
    for q in 0..queries.rows {
        let active: Vec<u32> = codes.active(q).map(|a| a.0).collect();
        let (on, off): (Vec<u32>, Vec<u32>) = setup.clean.iter().partition(|f| active.contains(f));
        if on.is_empty() || off.len() < 1 + config.distractors {
            continue;
        }
        let mut rng = SeededRng::new(config.seed ^ (q as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for _ in 0..config.draws {
            let down = on[rng.below(on.len())];
            let picked = rng.distinct(off.len(), 1 + config.distractors);
            let mut features = vec![off[picked[0]], down];
            features.extend(picked[1..].iter().map(|&i| off[i]));
            out.push(Trial { query: q, features });
        }
    }
    Ok(out)
}

/// One point of a curve: a method steered up or down at one target, over all trials.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub method: String,
    /// "up" or "down".
    pub steer: &'static str,
    /// The cosine asked for; `None`: each query at its rewrite's cosine.
    pub target: Option<f32>,
    pub mean_cosine: f64,
    pub accuracy_label_embedding: f64,
    pub accuracy_codes: f64,
}

impl Point {
    pub fn accuracy(&self, judge: Judge) -> f64 {
        match judge {
            Judge::LabelEmbedding => self.accuracy_label_embedding,
            Judge::Codes => self.accuracy_codes,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct SteeringEval {
    pub queries: usize,
    pub trials: Vec<Trial>,
    pub points: Vec<Point>,
}

impl SteeringEval {
    /// The point of `method` steering `steer` matched to the rewrite's cosines.
    pub fn matched(&self, method: &str, steer: &str) -> Option<&Point> {
        self.points.iter().find(|p| p.method == method && p.steer == steer && p.target.is_none())
    }
}

/// The step `s >= 0` for which `q + sign * s * u` (q, u unit) has cosine `target` to `q`; the
/// cosine falls monotonically with `s`, so bisection finds it, or the largest step tried when
/// the target lies beyond what the direction can reach.
pub fn step_for_cosine(q: &[f32], u: &[f32], sign: f32, target: f32) -> f32 {
    let along = sign * dot(q, u);
    let cos = |s: f32| (1.0 + s * along) / (1.0 + 2.0 * s * along + s * s).max(f32::MIN_POSITIVE).sqrt();
    let (mut lo, mut hi) = (0.0f32, 64.0f32);
    if cos(hi) > target {
        return hi;
    }
    for _ in 0..48 {
        let mid = 0.5 * (lo + hi);
        if cos(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// The steering direction (unit) of each `(feature, unit query)`.
pub fn directions(
    setup: &EvalCorpus,
    direction: Direction,
    features: &[(u32, Vec<f32>)],
    config: &EvalConfig,
) -> Result<Vec<Vec<f32>>> {
    let by_feature = activations_by_feature(setup.codes);
    let corpus_mean = mean_unit_embedding(setup.corpus, 0..setup.corpus.rows());
    let label = |f: u32| -> Result<&[f32]> {
        let i = setup
            .clean
            .iter()
            .position(|&c| c == f)
            .ok_or_else(|| Error::Invalid(format!("feature {f} is not among the clean features")))?;
        Ok(setup.label_embeddings.row(i))
    };
    let top = |f: u32| top_documents(setup.codes, f, config.direction_documents);
    features
        .iter()
        .map(|(f, query)| {
            let f = *f;
            Ok(match direction {
                Direction::Decoder => unit(setup.sae.decoder_row(f as usize)),
                Direction::Encoder => {
                    let sae = setup.sae;
                    unit(&(0..sae.d_in).map(|i| sae.w_enc[i * sae.d_sae + f as usize]).collect::<Vec<_>>())
                }
                Direction::Label => unit(label(f)?),
                Direction::TopDocuments => {
                    unit(&mean_unit_embedding(setup.corpus, top(f).into_iter().map(|d| d as usize)))
                }
                Direction::TopDocumentsCentered => documents_direction(setup.corpus, &top(f), &corpus_mean),
                Direction::NearestDocuments => {
                    let firing: Vec<(u32, f32)> = by_feature[f as usize]
                        .iter()
                        .map(|&(d, _)| (d, dot(query, &unit(&setup.corpus.row(d as usize).unwrap_or_default()))))
                        .collect();
                    let nearest = saescope_core::topk::merge([firing], config.direction_documents);
                    unit(&mean_unit_embedding(setup.corpus, nearest.iter().map(|a| a.0 as usize)))
                }
                Direction::Concept => {
                    concept_direction(query, Some(label(f)?), &documents_direction(setup.corpus, &top(f), &corpus_mean))
                }
            })
        })
        .collect()
}

/// Rows of length `dim` as one matrix.
fn stack(rows: impl IntoIterator<Item = Vec<f32>>, dim: usize) -> Result<Matrix> {
    let data: Vec<f32> = rows.into_iter().flatten().collect();
    Matrix::new(data.len() / dim.max(1), dim, data)
}

/// Runs the protocol. `queries` are the embedded queries, `trials` from [`trials`],
/// `rewrites` one embedded rewrite (query text + up label) per trial.
pub fn evaluate(
    setup: &EvalCorpus,
    queries: &Matrix,
    trials: &[Trial],
    rewrites: &Matrix,
    methods: &[Direction],
    config: &EvalConfig,
) -> Result<SteeringEval> {
    if rewrites.rows != trials.len() || rewrites.cols != setup.corpus.dim || queries.cols != setup.corpus.dim {
        return Err(Error::Shape(format!(
            "{} rewrites of dimension {} for {} trials; queries of dimension {}, documents {}",
            rewrites.rows,
            rewrites.cols,
            trials.len(),
            queries.cols,
            setup.corpus.dim
        )));
    }
    if setup.label_embeddings.rows != setup.clean.len() {
        return Err(Error::Shape(format!(
            "{} label embeddings for {} clean features",
            setup.label_embeddings.rows,
            setup.clean.len()
        )));
    }
    let query = |t: &Trial| unit(queries.row(t.query));
    let judge = Judges::new(setup, config.top);
    let originals = judge.top_documents(&stack(trials.iter().map(query), setup.corpus.dim)?)?;
    let rewrite_rows: Vec<Vec<f32>> = (0..trials.len()).map(|i| unit(rewrites.row(i))).collect();
    let rewrite_cosines: Vec<f32> = trials.iter().zip(&rewrite_rows).map(|(t, r)| cosine(&query(t), r)).collect();
    let mut points = Vec::new();
    points.push(judge.point(
        "rewrite",
        "up",
        None,
        trials,
        &originals,
        &stack(rewrite_rows.iter().cloned(), setup.corpus.dim)?,
        &rewrite_cosines,
    )?);
    let targets: Vec<Option<f32>> = config.targets.iter().map(|&t| Some(t)).chain([None]).collect();
    for &method in methods {
        let with_query = |f: fn(&Trial) -> u32| trials.iter().map(|t| (f(t), query(t))).collect::<Vec<_>>();
        let up_dirs = directions(setup, method, &with_query(Trial::up), config)?;
        let down_dirs = directions(setup, method, &with_query(Trial::down), config)?;
        for (steer, sign, dirs) in [("up", 1.0f32, &up_dirs), ("down", -1.0, &down_dirs)] {
            for &target in &targets {
                let steered: Vec<Vec<f32>> = trials
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let q = query(t);
                        let s = step_for_cosine(&q, &dirs[i], sign, target.unwrap_or(rewrite_cosines[i]));
                        q.iter().zip(&dirs[i]).map(|(a, u)| a + sign * s * u).collect()
                    })
                    .collect();
                let cosines: Vec<f32> = trials.iter().zip(&steered).map(|(t, s)| cosine(&query(t), s)).collect();
                let matrix = stack(steered, setup.corpus.dim)?;
                points.push(judge.point(method.name(), steer, target, trials, &originals, &matrix, &cosines)?);
            }
        }
    }
    Ok(SteeringEval { queries: queries.rows, trials: trials.to_vec(), points })
}

/// What both judges need: the corpus, the codes and the embedded labels.
struct Judges<'a> {
    setup: &'a EvalCorpus<'a>,
    top: usize,
}

impl<'a> Judges<'a> {
    fn new(setup: &'a EvalCorpus<'a>, top: usize) -> Self {
        Self { setup, top }
    }

    fn top_documents(&self, queries: &Matrix) -> Result<Vec<Vec<u32>>> {
        let hits = search(self.setup.corpus, queries, self.top)?;
        Ok((0..queries.rows).map(|q| hits.row(q).0.to_vec()).collect())
    }

    /// Per feature of the trial, its score over `docs` under `judge`.
    fn scores(&self, judge: Judge, features: &[u32], docs: &[u32]) -> Vec<f64> {
        let s = self.setup;
        features
            .iter()
            .map(|&f| match judge {
                Judge::Codes => docs.iter().filter(|&&d| s.codes.active(d as usize).any(|a| a.0 == f)).count() as f64,
                Judge::LabelEmbedding => {
                    let i = s.clean.iter().position(|&c| c == f).unwrap_or(0);
                    let label = unit(s.label_embeddings.row(i));
                    let total: f32 =
                        docs.iter().map(|&d| dot(&label, &unit(&s.corpus.row(d as usize).unwrap_or_default()))).sum();
                    total as f64 / docs.len().max(1) as f64
                }
            })
            .collect()
    }

    /// Whether `judge` picks the steered feature: the one whose score rose most (up) or fell
    /// most (down), strictly (a tie is a miss).
    fn picks(&self, judge: Judge, trial: &Trial, steer: &str, before: &[u32], after: &[u32]) -> bool {
        let (b, a) = (self.scores(judge, &trial.features, before), self.scores(judge, &trial.features, after));
        let gain: Vec<f64> = a.iter().zip(&b).map(|(a, b)| if steer == "up" { a - b } else { b - a }).collect();
        let target = if steer == "up" { 0 } else { 1 };
        gain.iter().enumerate().all(|(i, g)| i == target || *g < gain[target])
    }

    #[allow(clippy::too_many_arguments)]
    fn point(
        &self,
        method: &str,
        steer: &'static str,
        target: Option<f32>,
        trials: &[Trial],
        originals: &[Vec<u32>],
        steered: &Matrix,
        cosines: &[f32],
    ) -> Result<Point> {
        let after = self.top_documents(steered)?;
        let n = trials.len().max(1) as f64;
        let accuracy = |judge| {
            trials.iter().enumerate().filter(|(i, t)| self.picks(judge, t, steer, &originals[*i], &after[*i])).count()
                as f64
                / n
        };
        Ok(Point {
            method: method.to_owned(),
            steer,
            target,
            mean_cosine: cosines.iter().map(|&c| c as f64).sum::<f64>() / n,
            accuracy_label_embedding: accuracy(Judge::LabelEmbedding),
            accuracy_codes: accuracy(Judge::Codes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saescope_core::synth::PlantedData;

    #[test]
    fn the_step_reaches_the_cosine_asked_for() {
        let q = unit(&[1.0, 0.2, 0.0]);
        let u = unit(&[0.1, 1.0, 0.3]);
        for (sign, target) in [(1.0, 0.8), (-1.0, 0.8), (1.0, 0.95)] {
            let s = step_for_cosine(&q, &u, sign, target);
            let moved: Vec<f32> = q.iter().zip(&u).map(|(a, b)| a + sign * s * b).collect();
            assert!((cosine(&moved, &q) - target).abs() < 1e-4, "{sign} {target}: {}", cosine(&moved, &q));
        }
        // Beyond reach: towards u the cosine never falls below cos(q, u) ~ 0.3.
        assert_eq!(step_for_cosine(&q, &u, 1.0, 0.1), 64.0);
    }

    #[test]
    fn on_planted_data_steering_brings_the_feature_and_the_judges_see_it() {
        // Corpus documents made of planted atoms; the SAE is the planted dictionary, so a
        // feature's documents are exactly those containing its atom.
        let planted = PlantedData::generate(32, 48, 3, 600, 5);
        let corpus = Corpus::from_matrix(&planted.embeddings, 256, saescope_core::search::Precision::F32);
        let codes = planted.sae.encode(&planted.embeddings).unwrap();
        let clean: Vec<u32> = (0..48).collect();
        let labels = stack(clean.iter().map(|&f| planted.sae.decoder_row(f as usize).to_vec()), 32).unwrap();
        let setup =
            EvalCorpus { sae: &planted.sae, corpus: &corpus, codes: &codes, clean: &clean, label_embeddings: &labels };
        let queries = planted.embeddings.slice_rows(0, 40);
        let config = EvalConfig { targets: vec![0.9, 0.6], ..Default::default() };
        let trials = trials(&setup, &queries, &config).unwrap();
        assert!(trials.len() > 30, "{}", trials.len());
        let query_codes = planted.sae.encode(&queries).unwrap();
        for t in &trials {
            let active: Vec<u32> = query_codes.active(t.query).map(|a| a.0).collect();
            assert!(!active.contains(&t.up()) && active.contains(&t.down()));
            let mut f = t.features.clone();
            f.sort_unstable();
            f.dedup();
            assert_eq!(f.len(), 5);
        }
        // Rewrites here: the query moved halfway to the label.
        let rewrites = stack(
            trials.iter().map(|t| {
                let (q, l) = (queries.row(t.query), labels.row(t.up() as usize));
                q.iter().zip(l).map(|(a, b)| a + 0.5 * b).collect::<Vec<f32>>()
            }),
            32,
        )
        .unwrap();
        let eval = evaluate(&setup, &queries, &trials, &rewrites, &[Direction::Decoder], &config).unwrap();
        let at = |steer, target: f32| {
            eval.points.iter().find(|p| p.method == "decoder" && p.steer == steer && p.target == Some(target)).unwrap()
        };
        assert!((at("up", 0.6).mean_cosine - 0.6).abs() < 0.01);
        assert!(at("up", 0.6).accuracy_codes > 0.8, "{:?}", at("up", 0.6));
        assert!(at("up", 0.6).accuracy_label_embedding > 0.8, "{:?}", at("up", 0.6));
        assert!(at("down", 0.6).accuracy_codes > 0.8, "{:?}", at("down", 0.6));
        assert!(at("up", 0.9).accuracy_codes <= at("up", 0.6).accuracy_codes);
        let matched = eval.matched("decoder", "up").unwrap();
        let rewrite = eval.points.iter().find(|p| p.method == "rewrite").unwrap();
        assert!((matched.mean_cosine - rewrite.mean_cosine).abs() < 1e-3, "{matched:?} {rewrite:?}");
        let wrong = Matrix::zeros(trials.len() + 1, 32);
        assert!(evaluate(&setup, &queries, &trials, &wrong, &[Direction::Decoder], &config).is_err());
    }
}
