//! A bundle from a build's values: the SAE and its log, the documents, the embeddings as the
//! bundle stores them (f16 shards), codes, feature statistics, labels, families and the map.
//! `saescope build` writes the result to a folder; the workshop keeps it in the browser.

use anyhow::{bail, Result};
use saescope_core::metrics::{FeatureStats, Metrics};
use saescope_core::search::{Corpus, Precision, Storage};
use saescope_core::splitting::FeatureSplit;
use saescope_core::{Matrix, Sae, SparseCodes};
use saescope_format::bundle::{shard_rows, BundleBuilder, DEFAULT_BINDING_LIMIT};
use saescope_format::documents::Document;
use saescope_format::features::FeaturesFile;
use saescope_format::manifest::{EmbedderInfo, Role};
use saescope_format::npy;
use saescope_format::prelude::*;
use saescope_format::WeightDType;

/// Rows of `embeddings` for the documents kept: all rows if they match the kept documents, or
/// the kept records' rows if the file has one row per record (skipped ones included; what a
/// record is: `saescope_format::corpus::read`). `what` names the embeddings in the error.
pub fn align_embeddings(
    embeddings: Matrix,
    kept_records: &[usize],
    total_records: usize,
    what: &str,
) -> Result<Matrix> {
    if embeddings.rows == kept_records.len() {
        return Ok(embeddings);
    }
    if embeddings.rows == total_records {
        let mut out = Matrix::zeros(kept_records.len(), embeddings.cols);
        for (i, &r) in kept_records.iter().enumerate() {
            out.row_mut(i).copy_from_slice(embeddings.row(r));
        }
        return Ok(out);
    }
    bail!(
        "{what} has {} rows, but the corpus has {} usable documents ({} records in all)",
        embeddings.rows,
        kept_records.len(),
        total_records
    )
}

/// The embeddings as a bundle carries them, at `precision` (f16 by default; int8 for large
/// corpora), in shards that fit one GPU binding. Codes and statistics are computed on these
/// (`Corpus::to_matrix`), so the page sees what was measured.
pub fn stored_embeddings(embeddings: &Matrix, precision: Precision) -> Corpus {
    let rows = shard_rows(embeddings.cols, precision.bytes_per_value(), DEFAULT_BINDING_LIMIT);
    Corpus::from_matrix(embeddings, rows, precision)
}

/// The codes as a bundle carries them (`CodesFiles::to_compact_npy`: values in f16 where nothing
/// is lost). Feature statistics, labels and families are computed on these, so that what the
/// page and `saescope` recompute from the bundle's codes equals what the build wrote.
pub fn stored_codes(codes: &SparseCodes) -> Result<SparseCodes> {
    let (indices, values) = codes.to_compact_npy()?;
    Ok(SparseCodes::from_npy(&indices, &values, codes.d_sae)?)
}

/// `documents.jsonl` (one JSON document per line), before gzip.
pub fn documents_jsonl(docs: &[Document]) -> Result<Vec<u8>> {
    let mut lines = Vec::new();
    for d in docs {
        serde_json::to_writer(&mut lines, d)?;
        lines.push(b'\n');
    }
    Ok(lines)
}

/// The bundle's one-line description: the corpus, the SAE and how well it reconstructs (its
/// last epoch's validation NMSE from `training_log`; an SAE trained elsewhere has none, so its
/// NMSE on these documents).
pub fn description(documents: usize, source: &str, sae: &Sae, training_log: &[u8], metrics: &Metrics) -> String {
    let validation = serde_json::from_slice::<serde_json::Value>(training_log)
        .ok()
        .and_then(|log| log["epochs"].as_array()?.last()?["val_nmse"].as_f64());
    let origin = match validation {
        Some(v) => format!("trained with the recipe of arXiv 2408.00657: validation NMSE {v:.3}"),
        None => format!("trained elsewhere: NMSE {:.3} on these documents", metrics.normalized_mse),
    };
    format!(
        "{documents} documents from {source}; top-k SAE (k={}, {} latents) {origin}, {:.1}% of latents dead.",
        sae.k,
        sae.d_sae,
        100.0 * metrics.dead_fraction
    )
}

/// A map as the bundle stores it (`layout.npy`, `[documents, 2]` f32), checked first.
pub fn layout_npy(layout: &Matrix, documents: usize) -> Result<Vec<u8>> {
    saescope_core::layout::check_layout(layout, documents)?;
    Ok(npy::to_bytes(&[layout.rows, 2], &layout.data)?)
}

/// The query embedder a bundle carries: its files (path, role, bytes) and what it is.
pub struct EmbedderFiles {
    pub files: Vec<(String, Role, Vec<u8>)>,
    pub info: EmbedderInfo,
}

/// Everything a bundle holds, as values.
pub struct BundleParts<'a> {
    pub name: &'a str,
    pub description: &'a str,
    /// The model the documents were embedded with.
    pub model: &'a str,
    pub sae: &'a Sae,
    pub training_log: Vec<u8>,
    /// Smaller SAEs and their split maps onto `sae`.
    pub coarse: &'a [(Sae, FeatureSplit)],
    pub stored: &'a Corpus,
    pub codes: &'a SparseCodes,
    pub metrics: Metrics,
    pub stats: Vec<FeatureStats>,
    pub labels_json: Vec<u8>,
    pub families_json: Vec<u8>,
    /// In embedding order (stored as `documents.jsonl.gz` and text shards, see
    /// `BundleBuilder::add_documents`).
    pub documents: &'a [Document],
    /// `layout.npy` ([`layout_npy`]).
    pub layout: Option<Vec<u8>>,
    /// `label-embeddings.npy` ([`label_embeddings_npy`]).
    pub label_embeddings: Option<Vec<u8>>,
    pub embedder: Option<EmbedderFiles>,
}

/// Label embeddings as the bundle stores them (`label-embeddings.npy`, f16), checked first.
pub fn label_embeddings_npy(embedded: &Matrix) -> Result<Vec<u8>> {
    embedded.check_finite("the label embeddings")?;
    let half: Vec<half::f16> = embedded.data.iter().map(|&v| half::f16::from_f32(v)).collect();
    Ok(npy::to_bytes(&[embedded.rows, embedded.cols], &half)?)
}

/// The bundle of `parts`: every file and the manifest that lists them.
pub fn assemble(parts: BundleParts) -> Result<BundleBuilder> {
    let BundleParts { name, description, model, sae, stored, codes, .. } = parts;
    if stored.rows() != codes.rows() {
        bail!("{} stored embeddings but codes for {} documents", stored.rows(), codes.rows());
    }
    let mut bundle = BundleBuilder::new(name, description, model, sae, codes.rows());
    let (cfg, weights) = sae.to_saelens(WeightDType::F16, Some(model))?;
    bundle.add("sae/cfg.json", Role::SaeConfig, cfg);
    bundle.add("sae/sae_weights.safetensors", Role::SaeWeights, weights);
    bundle.add("sae/training_log.json", Role::TrainingLog, parts.training_log);
    for (small, split) in parts.coarse {
        bundle.add_coarse_sae(small, split, WeightDType::F16, Some(model))?;
    }
    for (i, shard) in stored.shards.iter().enumerate() {
        let (path, shape) = (format!("embeddings/{i:03}.npy"), [shard.rows, stored.dim]);
        let bytes = match &shard.storage {
            Storage::F32(values) => npy::to_bytes(&shape, values)?,
            Storage::F16(values) => npy::to_bytes(&shape, values)?,
            Storage::I8(q) => {
                let scale: Vec<f32> = q.scale.iter().chain(&q.offset).copied().collect();
                bundle.add(
                    &format!("embeddings/{i:03}.scale.npy"),
                    Role::EmbeddingsScale,
                    npy::to_bytes(&[2, stored.dim], &scale)?,
                );
                npy::to_bytes(&shape, &q.values)?
            }
        };
        bundle.add(&path, Role::Embeddings, bytes);
    }
    let (idx, val) = codes.to_compact_npy()?;
    bundle.add("codes/indices.npy", Role::CodesIndices, idx);
    bundle.add("codes/values.npy", Role::CodesValues, val);
    let features = FeaturesFile { metrics: parts.metrics, features: parts.stats };
    bundle.add("features.json", Role::Features, features.to_json());
    bundle.add("labels.json", Role::Labels, parts.labels_json);
    bundle.add("families.json", Role::Families, parts.families_json);
    bundle.add_documents(parts.documents)?;
    if let Some(layout) = parts.layout {
        bundle.add("layout.npy", Role::Layout, layout);
    }
    if let Some(embedded) = parts.label_embeddings {
        bundle.add("label-embeddings.npy", Role::LabelEmbeddings, embedded);
    }
    if let Some(embedder) = parts.embedder {
        for (path, role, bytes) in embedder.files {
            bundle.add(&path, role, bytes);
        }
        bundle.set_embedder(embedder.info);
    }
    Ok(bundle)
}
