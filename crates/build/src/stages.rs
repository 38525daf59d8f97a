//! The interpretation stages of a build (and of `saescope label` / `families`): labels with
//! their scores, co-occurrence and feature families, with progress. The math is in
//! `saescope-interp`; this moves data, embeds label texts and shows progress.

use crate::files::progress;
use anyhow::Result;
use saescope_core::cooccurrence::Cooccurrence;
use saescope_core::prelude::*;
use saescope_core::search::Corpus;
use saescope_core::{Matrix, SparseCodes};
use saescope_format::corpus::embedding_text;
use saescope_format::documents::Document;
use saescope_gpu::AnyBackend;
use saescope_interp::families::{self, FamiliesFile, FamilyParams};
use saescope_interp::labels::{self, CleanFilter, FeatureLabel, LabelConfig, LabelEmbeddings, Labeller};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Embeds label texts with all-MiniLM-L6-v2, in batches, with progress.
fn embed_labels(model: &Path, texts: &[String]) -> Result<Matrix> {
    let embedder = crate::embed::load(model)?;
    let bar = progress(texts.len() as u64, "embed labels");
    let mut data = Vec::with_capacity(texts.len() * embedder.dim());
    for chunk in texts.chunks(64) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        data.extend(embedder.embed(&refs)?.data);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(Matrix::new(texts.len(), embedder.dim(), data)?)
}

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
    let texts: Vec<String> = docs.iter().map(embedding_text).collect();
    let bar = progress(texts.len() as u64, "index phrases");
    let labeller = Labeller::new(texts.iter().map(String::as_str), codes, config, || bar.inc(1))?;
    bar.finish_and_clear();
    let bar = progress(codes.d_sae as u64, "label");
    let drafts = labeller.draft_all(|| bar.inc(1));
    bar.finish_and_clear();
    let mut labels = match model {
        Some(dir) => {
            let texts: Vec<String> = drafts.iter().map(|d| d.label.clone()).collect();
            let embedded = embed_labels(dir, &texts)?;
            labeller.score(&drafts, Some(LabelEmbeddings { labels: &embedded, documents: corpus }))?
        }
        None => {
            eprintln!(
                "no embedding model at {}: scoring labels by keyphrase matches only",
                crate::embed::default_model_dir().display()
            );
            labeller.score(&drafts, None)?
        }
    };
    labels::mark_clean(&mut labels, clean);
    Ok(labels)
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
    labels: &[FeatureLabel],
    params: FamilyParams,
    backend: &AnyBackend,
) -> Result<(FamiliesFile, f64)> {
    let started = Instant::now();
    let cooc = cooccurrence(codes, backend)?;
    let cooccurrence_seconds = started.elapsed().as_secs_f64();
    let nodes = families::family_nodes(&cooc, labels, &params);
    let bar = progress(params.repeats as u64 + 1, "families");
    let mut found = families::find_families(&cooc, &nodes, &params, |_| bar.inc(1))?;
    bar.finish_and_clear();
    families::label_families(&mut found, labels, codes.d_sae);
    let stats = families::family_stats(&cooc, &nodes, &found, params.seed);
    Ok((FamiliesFile { params, families: found, stats }, cooccurrence_seconds))
}

/// The documents' 2D map (UMAP, `saescope_core::layout`), with a progress bar per stage.
pub fn compute_layout(points: &Matrix, seed: u64) -> Result<Matrix> {
    let params = saescope_core::layout::UmapParams { seed, ..Default::default() };
    let mut bar: Option<(&'static str, indicatif::ProgressBar)> = None;
    let started = Instant::now();
    let layout = saescope_core::layout::umap(points, &params, &mut |p| {
        if bar.as_ref().is_none_or(|(stage, _)| *stage != p.stage) {
            if let Some((_, old)) = bar.take() {
                old.finish_and_clear();
            }
            bar = Some((p.stage, progress(p.total as u64, &format!("map: {}", p.stage))));
        }
        if let Some((_, b)) = &bar {
            b.set_position(p.done as u64);
        }
    })?;
    if let Some((_, b)) = bar {
        b.finish_and_clear();
    }
    eprintln!("laid out {} documents in {:.1} s", points.rows, started.elapsed().as_secs_f64());
    Ok(layout)
}

/// A layout as the bundle stores it (`layout.npy`, `[documents, 2]` f32).
pub fn layout_npy(layout: &Matrix) -> Result<Vec<u8>> {
    Ok(saescope_format::npy::to_bytes(&[layout.rows, 2], &layout.data)?)
}

/// Puts `layout` into the bundle at `dir` as `layout.npy`, replacing any map it had: the file
/// first, then the manifest (so a failure leaves the old manifest, which never lists a file
/// that is not there).
pub fn add_layout_to_bundle(dir: &Path, manifest: &saescope_format::manifest::Manifest, layout: &Matrix) -> Result<()> {
    use saescope_format::manifest::{FileEntry, Role};
    saescope_core::layout::check_layout(layout, manifest.documents)?;
    let bytes = layout_npy(layout)?;
    let mut manifest = manifest.clone();
    manifest.files.retain(|f| f.role != Role::Layout && f.path != "layout.npy");
    manifest.files.push(FileEntry::describe("layout.npy", Role::Layout, &bytes));
    crate::files::write(&dir.join("layout.npy"), &bytes)?;
    crate::files::write(&dir.join("manifest.json"), &manifest.to_json())
}
