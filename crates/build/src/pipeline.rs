//! The bundle pipeline (`saescope build`): corpus -> bundle. Reads the corpus (skipping bad
//! records with reasons), takes or computes embeddings, holds out a validation split, trains the SAE, encodes every
//! document, computes per-feature statistics and the 2D map, and writes the bundle with a manifest.
//! Finished stages are kept under `OUT/.stages/`, keyed by a fingerprint of their inputs, so a
//! re-run with the same inputs reuses them.

use crate::files::{progress, read, write, write_bundle, StageBars};
use crate::stages;
use anyhow::{bail, Context, Result};
use saescope_core::metrics::feature_stats;
use saescope_core::search::Precision;
use saescope_core::train::TrainConfig;
use saescope_core::{Matrix, Sae};
use saescope_format::corpus::{self, CorpusFormat};
use saescope_format::manifest::sha256_hex;
use saescope_format::npy;
use saescope_format::prelude::*;
use saescope_gpu::AnyBackend;
use saescope_interp::families::FamilyParams;
use saescope_interp::labels::{CleanFilter, LabelConfig};
use saescope_pipeline::analyse::encode_all;
use saescope_pipeline::assemble::{
    align_embeddings, assemble, description, documents_jsonl, layout_npy, stored_codes, stored_embeddings, BundleParts,
    EmbedderFiles,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct BuildArgs {
    pub corpus: PathBuf,
    pub out: PathBuf,
    pub embeddings: Option<PathBuf>,
    pub name: Option<String>,
    pub model: String,
    /// The query embedder's model folder.
    pub embedder: PathBuf,
    /// How the bundle stores the document embeddings (f16; int8 for a quarter of f32's bytes).
    pub storage: Precision,
    /// Latent counts of the smaller SAEs to train and map the main SAE's features onto.
    pub coarse_latents: Vec<usize>,
    pub train: TrainConfig,
    pub holdout: f64,
    pub clean: CleanFilter,
    /// The family algorithm's settings; its density cap is the clean filter's.
    pub family: FamilyParams,
}

/// Wall-clock time of each build stage, printed as each one ends.
struct StageTimes {
    last: std::time::Instant,
    times: Vec<(&'static str, f64)>,
}

impl StageTimes {
    fn new() -> Self {
        Self { last: std::time::Instant::now(), times: Vec::new() }
    }

    fn record(&mut self, stage: &'static str, seconds: f64) {
        eprintln!("stage {stage}: {seconds:.1} s");
        self.times.push((stage, seconds));
    }

    /// Ends the stage that began at the previous call.
    fn done(&mut self, stage: &'static str) {
        let seconds = self.last.elapsed().as_secs_f64();
        self.record(stage, seconds);
        self.last = std::time::Instant::now();
    }
}

/// A stage's output file: reused if present, else made by `make` and kept.
fn staged(path: &Path, what: &str, make: impl FnOnce() -> Result<Vec<u8>>) -> Result<Vec<u8>> {
    if path.exists() {
        eprintln!("reusing {what} in {}", path.display());
        return read(path);
    }
    let bytes = make()?;
    write(path, &bytes)?;
    Ok(bytes)
}

/// A stage directory under `OUT/.stages`, named by what it depends on.
fn stage_dir(out: &Path, name: &str, fingerprint: &str) -> PathBuf {
    out.join(".stages").join(format!("{name}-{}", &fingerprint[..16]))
}

fn train_stage(
    args: &BuildArgs,
    backend: &AnyBackend,
    config: &TrainConfig,
    embeddings: &Matrix,
    embeddings_hash: &str,
) -> Result<(Sae, Vec<u8>)> {
    let config_json = serde_json::to_string(config)?;
    let fingerprint = sha256_hex(format!("{embeddings_hash}{config_json}{}", args.holdout).as_bytes());
    let dir = stage_dir(&args.out, "sae", &fingerprint);
    let files = [dir.join("cfg.json"), dir.join("sae_weights.safetensors"), dir.join("training_log.json")];
    if files.iter().all(|f| f.exists()) {
        eprintln!("reusing the trained SAE in {}", dir.display());
    } else {
        crate::train::run_on(embeddings, &dir, config.clone(), args.holdout, backend)?;
    }
    let sae = crate::files::read_sae(&dir)?;
    Ok((sae, read(&files[2])?))
}

/// The query embedder (f16 weights), when it reproduces the model the documents were embedded
/// with; otherwise says why the bundle has no free-text search.
fn query_embedder(args: &BuildArgs, dim: usize) -> Result<Option<EmbedderFiles>> {
    if args.model != saescope_embed::MODEL_ID {
        eprintln!(
            "no query embedder bundled: the documents come from {}, the bundled embedder implements {}",
            args.model,
            saescope_embed::MODEL_ID
        );
        return Ok(None);
    }
    let dir = &args.embedder;
    let files = ["model.safetensors", "tokenizer.json", "config.json"].map(|f| dir.join(f));
    if !files.iter().all(|f| f.exists()) {
        eprintln!("no query embedder bundled: {} lacks the model files (run `cargo xtask setup` or pass --embedder DIR); free-text search will be off", dir.display());
        return Ok(None);
    }
    let [weights, tokenizer, config] = files.map(|f| read(&f));
    let (weights, tokenizer, config) = (weights?, tokenizer?, config?);
    // Loading it once proves the files are a working model of the right width.
    let embedder = saescope_embed::Embedder::from_bytes(&weights, &tokenizer, &config)
        .with_context(|| format!("the embedder in {}", dir.display()))?;
    if embedder.dim() != dim {
        bail!("the embedder in {} makes {}-d vectors, the embeddings are {dim}-d", dir.display(), embedder.dim());
    }
    let files = saescope_embed::bundle_files(&weights, &tokenizer, &config)?
        .into_iter()
        .map(|(path, role, bytes)| (path.to_string(), role, bytes))
        .collect();
    Ok(Some(EmbedderFiles { files, info: saescope_embed::embedder_info(dim) }))
}

/// Builds the bundle of `args` with the math on `backend`.
pub fn run(args: BuildArgs, backend: &AnyBackend) -> Result<()> {
    let started = std::time::Instant::now();
    let mut stages = StageTimes::new();
    // 1. Documents.
    let file = std::fs::File::open(&args.corpus).with_context(|| format!("cannot read {}", args.corpus.display()))?;
    let format = CorpusFormat::from_name(&args.corpus.display().to_string());
    let spinner = progress(1, "read corpus");
    let read_corpus = corpus::read(file, format).with_context(|| format!("{}", args.corpus.display()))?;
    spinner.finish_and_clear();
    let docs = read_corpus.documents;
    if docs.is_empty() {
        bail!("{} holds no usable documents ({} records skipped)", args.corpus.display(), read_corpus.skipped.len());
    }
    eprintln!("read {} documents; skipped {}", docs.len(), read_corpus.skipped.len());
    for s in read_corpus.skipped.iter().take(5) {
        eprintln!("  skipped record {} (line {}): {}", s.record, s.line, s.reason);
    }
    stages.done("read corpus");

    // 2. Embeddings: given, or computed here (a stage keyed by the corpus's bytes).
    let computed;
    let path = match &args.embeddings {
        Some(p) => p,
        None => {
            let fingerprint = sha256_hex(&read(&args.corpus)?);
            computed = stage_dir(&args.out, "embeddings", &fingerprint).join("embeddings.npy");
            if computed.exists() {
                eprintln!("reusing embeddings in {}", computed.display());
            } else {
                // Resumable: a stopped build continues the embedding from its last checkpoint.
                let embedder = crate::embed::load(&crate::embed::default_model_dir())?;
                crate::embed::embed_documents(&embedder, &docs, corpus::embedding_text, &computed)?;
            }
            &computed
        }
    };
    let raw = read(path)?;
    let embeddings_hash = sha256_hex(&raw);
    let embeddings = align_embeddings(
        npy::read_matrix(&raw).with_context(|| format!("{}", path.display()))?,
        &read_corpus.records,
        read_corpus.total_records,
        &path.display().to_string(),
    )?;
    drop(raw);
    embeddings.check_finite(&path.display().to_string())?;
    stages.done("embeddings");

    // 3. The SAE, and the smaller ones its features split from.
    let (sae, training_log) = train_stage(&args, backend, &args.train, &embeddings, &embeddings_hash)?;
    let sae = Arc::new(sae);
    stages.done("train");
    let mut coarse = Vec::new();
    for &latents in &args.coarse_latents {
        if latents >= sae.d_sae || latents <= sae.k {
            bail!("--coarse-latents {latents}: a coarse SAE needs fewer latents than the main SAE ({}) and more than k ({})", sae.d_sae, sae.k);
        }
        eprintln!("coarse SAE with {latents} latents:");
        let (small, _) =
            train_stage(&args, backend, &TrainConfig { latents, ..args.train.clone() }, &embeddings, &embeddings_hash)?;
        let split = saescope_core::splitting::split_features(&small, &sae)?;
        eprintln!("feature splitting: {}", split.summary());
        coarse.push((small, split));
    }
    if !coarse.is_empty() {
        stages.done("coarse SAEs + feature splitting");
    }

    // 4. Codes and feature statistics, on the embeddings as the bundle will carry them.
    let stored = stored_embeddings(&embeddings, args.storage);
    drop(embeddings);
    let as_read = stored.to_matrix();
    let mut bars = StageBars::default();
    let encoded = pollster::block_on(encode_all(backend, &sae, &as_read, &mut |p| bars.update(p)));
    bars.finish();
    let (codes, metrics) = encoded?;
    let codes = stored_codes(&codes)?;
    let stats = feature_stats(&codes, 20, 20);
    stages.done("encode + feature statistics");

    // 5. The map: a layout of the embeddings as the bundle carries them (what `saescope
    // layout` and the page lay out), a stage keyed by them and the seed.
    let storage_key = match args.storage {
        Precision::F16 => "", // the key f16 bundles had before there was a choice
        Precision::I8 => "i8",
        Precision::F32 => "f32",
    };
    let fingerprint =
        format!("{embeddings_hash}{}{}{storage_key}", saescope_core::layout::METHOD_VERSION, args.train.seed);
    let layout_path = stage_dir(&args.out, "layout", &sha256_hex(fingerprint.as_bytes())).join("layout.npy");
    let layout_npy = staged(&layout_path, "the map", || {
        layout_npy(&stages::compute_layout(&as_read, args.train.seed)?, as_read.rows)
    })?;
    drop(as_read);
    stages.done("map");

    // 6. Labels and their scores (a stage keyed by codes, documents and settings).
    let lines = documents_jsonl(&docs)?;
    let (idx, val) = codes.to_npy()?;
    let codes_hash = sha256_hex(&[sha256_hex(&idx), sha256_hex(&val)].concat().into_bytes());
    let model = stages::label_model(None);
    let label_config = LabelConfig { seed: args.train.seed, ..Default::default() };
    let clean = args.clean.clone();
    let fingerprint = format!(
        "{codes_hash}{}{}{}{}{}",
        saescope_interp::labels::METHOD_VERSION,
        sha256_hex(&lines),
        serde_json::to_string(&label_config)?,
        serde_json::to_string(&clean)?,
        model.is_some()
    );
    let labels_path = stage_dir(&args.out, "labels", &sha256_hex(fingerprint.as_bytes())).join("labels.json");
    let labels_json = staged(&labels_path, "labels", || {
        let labels = stages::compute_labels(&docs, &codes, &stored, model.as_deref(), label_config, &clean)?;
        Ok(serde_json::to_vec(&labels)?)
    })?;
    let labels = saescope_interp::labels::parse_labels(&labels_json)?;
    let label_embeddings = match model.as_deref() {
        Some(model) => {
            let fingerprint = format!("{}{}", sha256_hex(&labels_json), model.display());
            let path = stage_dir(&args.out, "label-embeddings", &sha256_hex(fingerprint.as_bytes()))
                .join("label-embeddings.npy");
            Some(staged(&path, "label embeddings", || stages::label_embeddings(&labels, sae.d_sae, sae.d_in, model))?)
        }
        None => None,
    };
    let label_summary = stages::label_summary(&labels);
    eprintln!("labels: {label_summary}");
    stages.done("labels");

    // 7. Co-occurrence and feature families.
    let params = FamilyParams { max_density: clean.max_density, ..args.family.clone() };
    let fingerprint = format!(
        "{codes_hash}{}{}{}",
        saescope_interp::families::METHOD_VERSION,
        sha256_hex(&labels_json),
        serde_json::to_string(&params)?
    );
    let families_path = stage_dir(&args.out, "families", &sha256_hex(fingerprint.as_bytes())).join("families.json");
    let mut cooccurrence_seconds = None;
    let families_json = staged(&families_path, "families", || {
        let (file, seconds) = stages::compute_families(&codes, &sae, &labels, params, backend)?;
        cooccurrence_seconds = Some(seconds);
        Ok(serde_json::to_vec(&file)?)
    })?;
    let families: saescope_interp::families::FamiliesFile = serde_json::from_slice(&families_json)?;
    let families_seconds = stages.last.elapsed().as_secs_f64();
    if let Some(s) = cooccurrence_seconds {
        stages.record("co-occurrence", s);
    }
    stages.record("families", families_seconds - cooccurrence_seconds.unwrap_or(0.0));
    stages.last = std::time::Instant::now();

    // 8. The bundle.
    let bar = progress(3, "write bundle");
    let source = args.corpus.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name = args.name.clone().unwrap_or_else(|| source.clone());
    let description = description(docs.len(), &source, &sae, &training_log, &metrics);
    let embedder = query_embedder(&args, sae.d_in)?;
    bar.inc(1);
    let bundle = assemble(BundleParts {
        name: &name,
        description: &description,
        model: &args.model,
        sae: &sae,
        training_log,
        coarse: &coarse,
        stored: &stored,
        codes: &codes,
        metrics: metrics.clone(),
        stats,
        labels_json,
        families_json,
        documents: &docs,
        layout: Some(layout_npy),
        label_embeddings,
        embedder,
    })?;
    bar.inc(1);
    write_bundle(&args.out, bundle)?;
    bar.finish_and_clear();
    stages.done("write bundle");
    let report = serde_json::json!({
        "documents": docs.len(),
        "skipped": read_corpus.skipped.len(),
        "normalized_mse": metrics.normalized_mse,
        "dead_fraction": metrics.dead_fraction,
        "l0": metrics.l0,
        "seconds": started.elapsed().as_secs_f64(),
        "stage_seconds": stages.times.iter().map(|(s, t)| (s.to_string(), serde_json::json!(t))).collect::<serde_json::Map<_, _>>(),
        "labels": label_summary,
        "families": { "count": families.families.len(), "stats": families.stats },
    });
    write(&args.out.join(".stages/build_report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    eprintln!("wrote the bundle to {} in {:.0} s", args.out.display(), started.elapsed().as_secs_f64());
    crate::out!("{report}")?;
    Ok(())
}
