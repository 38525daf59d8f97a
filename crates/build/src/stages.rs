//! The interpretation stages of a build (and of `saescope label` / `families`): labels with
//! their scores, co-occurrence and feature families, with progress. The math is in
//! `saescope-interp`; this moves data, embeds label texts and shows progress.

use crate::files::{progress, StageBars};
use anyhow::Result;
use saescope_core::cooccurrence::Cooccurrence;
use saescope_core::prelude::*;
use saescope_core::search::Corpus;
use saescope_core::{Matrix, Sae, SparseCodes};
use saescope_format::documents::Document;
use saescope_gpu::AnyBackend;
use saescope_interp::families::{FamiliesFile, FamilyParams};
use saescope_interp::labels::{self, CleanFilter, FeatureLabel, LabelConfig};
use saescope_pipeline::analyse;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The model folder to embed labels with, if it is there.
pub fn label_model(model: Option<&Path>) -> Option<PathBuf> {
    let dir = model.map(Path::to_path_buf).unwrap_or_else(crate::embed::default_model_dir);
    dir.join("model.safetensors").exists().then_some(dir)
}

/// Labels and scores every live feature. With `model`, labels are embedded and the embedding
/// predictor is scored too (and is the headline score).
pub fn compute_labels(
    docs: &[Document],
    codes: &SparseCodes,
    corpus: &Corpus,
    model: Option<&Path>,
    config: LabelConfig,
    clean: &CleanFilter,
) -> Result<Vec<FeatureLabel>> {
    let embedder = model.map(crate::embed::load).transpose()?;
    if embedder.is_none() {
        eprintln!(
            "no embedding model at {}: scoring labels by keyphrase matches only",
            crate::embed::default_model_dir().display()
        );
    }
    let mut embed = embedder.map(|embedder| {
        move |texts: &[String]| -> Result<Matrix> {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            Ok(embedder.embed(&refs)?)
        }
    });
    let mut bars = StageBars::default();
    let labels = analyse::compute_labels(
        docs,
        codes,
        corpus,
        embed.as_mut().map(|f| f as analyse::EmbedTexts),
        config,
        clean,
        &mut |p| bars.update(p),
    );
    bars.finish();
    labels
}

/// Each feature's label embedded with `model`, as `label-embeddings.npy` bytes.
pub fn label_embeddings(labels: &[FeatureLabel], d_sae: usize, dim: usize, model: &Path) -> Result<Vec<u8>> {
    let embedder = crate::embed::load(model)?;
    let mut embed = |texts: &[String]| -> Result<Matrix> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(embedder.embed(&refs)?)
    };
    let mut bars = StageBars::default();
    let embedded = analyse::label_embeddings(labels, d_sae, dim, &mut embed, &mut |p| bars.update(p));
    bars.finish();
    saescope_pipeline::assemble::label_embeddings_npy(&embedded?)
}

fn mean(values: impl Iterator<Item = f64>) -> Value {
    let v: Vec<f64> = values.collect();
    if v.is_empty() {
        Value::Null
    } else {
        json!((v.iter().sum::<f64>() / v.len() as f64 * 1e4).round() / 1e4)
    }
}

/// Counts and mean scores of a set of labels, per predictor.
pub fn label_summary(labels: &[FeatureLabel]) -> Value {
    let scored: Vec<_> = labels.iter().filter_map(|l| l.scores.as_ref()).collect();
    let per = |pick: &dyn Fn(&labels::ScoreDetail) -> Option<labels::Scores>| {
        let s: Vec<labels::Scores> = scored.iter().filter_map(|d| pick(d)).collect();
        json!({
            "features": s.len(),
            "mean_pearson": mean(s.iter().map(|x| x.pearson_correlation)),
            "mean_f1": mean(s.iter().map(|x| x.f1)),
            "mean_auroc": mean(s.iter().map(|x| x.auroc)),
            "pearson_at_least_0.5": s.iter().filter(|x| x.pearson_correlation >= 0.5).count(),
            "f1_at_least_0.8": s.iter().filter(|x| x.f1 >= 0.8).count(),
        })
    };
    json!({
        "labelled": labels.len(),
        "scored": scored.len(),
        "clean": labels.iter().filter(|l| l.clean).count(),
        "headline_predictor": scored.first().map(|d| d.predictor),
        "keyphrase": per(&|d| Some(d.keyphrase)),
        "embedding": per(&|d| d.embedding),
    })
}

/// Feature co-occurrence of `codes` on the backend, with a spinner.
pub fn cooccurrence(codes: &SparseCodes, backend: &AnyBackend) -> Result<Cooccurrence> {
    let spinner = progress(1, "co-occurrence");
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let cooc = pollster::block_on(backend.cooccurrence(codes))?;
    spinner.finish_and_clear();
    Ok(cooc)
}

/// Co-occurrence on the backend, families, their labels and statistics; and the seconds
/// the co-occurrence took.
pub fn compute_families(
    codes: &SparseCodes,
    sae: &Sae,
    labels: &[FeatureLabel],
    params: FamilyParams,
    backend: &AnyBackend,
) -> Result<(FamiliesFile, f64)> {
    let started = Instant::now();
    let cooc = cooccurrence(codes, backend)?;
    let cooccurrence_seconds = started.elapsed().as_secs_f64();
    let mut bars = StageBars::default();
    let file = analyse::compute_families(&cooc, labels, sae, params, &mut |p| bars.update(p));
    bars.finish();
    Ok((file?, cooccurrence_seconds))
}

/// The documents' 2D map (UMAP, `saescope_core::layout`), with a progress bar per stage.
pub fn compute_layout(points: &Matrix, seed: u64) -> Result<Matrix> {
    let started = Instant::now();
    let mut bars = StageBars::default();
    let layout = analyse::compute_layout(points, seed, &mut |p| bars.update(p));
    bars.finish();
    eprintln!("laid out {} documents in {:.1} s", points.rows, started.elapsed().as_secs_f64());
    layout
}

/// Puts `layout` into the bundle at `dir` as `layout.npy`, replacing any map it had: the file
/// first, then the manifest (so a failure leaves the old manifest, which never lists a file
/// that is not there).
pub fn add_layout_to_bundle(dir: &Path, manifest: &saescope_format::manifest::Manifest, layout: &Matrix) -> Result<()> {
    use saescope_format::manifest::{FileEntry, Role};
    let bytes = saescope_pipeline::assemble::layout_npy(layout, manifest.documents)?;
    let mut manifest = manifest.clone();
    manifest.files.retain(|f| f.role != Role::Layout && f.path != "layout.npy");
    manifest.files.push(FileEntry::describe("layout.npy", Role::Layout, &bytes));
    crate::files::write(&dir.join("layout.npy"), &bytes)?;
    crate::files::write(&dir.join("manifest.json"), &manifest.to_json())
}
