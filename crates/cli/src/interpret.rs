//! Interpretation subcommands (`label`, `families`, `split`, `diff`, `npmi`, `retrieve`,
//! `cluster`) and the label and family stages of `saescope build`. The math is in
//! `saescope-core` (`labels`, `cooccurrence`, `families`, `splitting`, `analysis`); this file
//! moves files, embeds label texts and shows progress.

use crate::Device;
use anyhow::{bail, Context, Result};
use saescope_build::files::{read, read_sae, write};
use saescope_build::stages::{compute_families, compute_labels, cooccurrence, label_model, label_summary};
use saescope_core::SparseCodes;
use saescope_format::bundle::Bundle;
use saescope_format::documents::Document;
use saescope_interp::analysis::{self, DiffOrder};
use saescope_interp::families::{self, FamiliesFile, FamilyParams, NodeSet};
use saescope_interp::labels::{self, CleanFilter, FeatureLabel, LabelConfig};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The clean-feature filter's thresholds (the paper's by default).
#[derive(clap::Args, Clone)]
pub struct CleanArgs {
    #[arg(long, default_value_t = 0.8)]
    min_f1: f64,
    #[arg(long, default_value_t = 0.8)]
    min_pearson: f64,
    #[arg(long, default_value_t = 0.2)]
    max_density: f64,
}

impl CleanArgs {
    pub fn filter(&self) -> CleanFilter {
        CleanFilter {
            min_f1: self.min_f1,
            min_pearson: self.min_pearson,
            max_density: self.max_density,
            drop_duplicates: true,
        }
    }
}

/// The family algorithm's settings (the paper's by default).
#[derive(clap::Args, Clone)]
pub struct FamilyArgs {
    /// `readable` (ours: one symmetric weight per pair, independent of feature numbering) or
    /// `paper` (a literal port of the paper's code, on clean features unless --nodes says otherwise)
    #[arg(long, value_enum, default_value = "readable")]
    method: Method,
    /// Family candidates: every live feature below the density cap, or only clean-labelled ones
    /// (default: clean, the paper's choice; live where no label is clean)
    #[arg(long, value_enum)]
    nodes: Option<Nodes>,
    #[arg(long, default_value_t = 0.1)]
    first_threshold: f64,
    #[arg(long, default_value_t = 0.07)]
    later_threshold: f64,
    /// Rounds after the first, each without the roots found before
    #[arg(long, default_value_t = 3)]
    repeats: usize,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Method {
    Readable,
    Paper,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Nodes {
    Live,
    Clean,
}

impl FamilyArgs {
    pub fn params(&self, max_density: f64) -> FamilyParams {
        let base = match self.method {
            Method::Readable => FamilyParams::default(),
            Method::Paper => FamilyParams::paper(),
        };
        FamilyParams {
            nodes: match self.nodes {
                Some(Nodes::Live) => NodeSet::Live,
                Some(Nodes::Clean) => NodeSet::Clean,
                None => base.nodes,
            },
            first_threshold: self.first_threshold,
            later_threshold: self.later_threshold,
            repeats: self.repeats,
            max_density,
            ..base
        }
    }
}

/// Writes JSON to `out`, or prints it.
fn emit(value: &impl serde::Serialize, out: Option<&Path>) -> Result<()> {
    match out {
        Some(path) => {
            write(path, &serde_json::to_vec_pretty(value)?)?;
            eprintln!("wrote {}", path.display());
        }
        None => saescope_build::out!("{}", serde_json::to_string_pretty(value)?)?,
    }
    Ok(())
}

/// A verified bundle with its codes and documents (which these analyses need).
pub struct Loaded {
    pub bundle: Bundle,
    pub codes: SparseCodes,
    pub documents: Vec<Document>,
}

pub fn load(dir: &Path) -> Result<Loaded> {
    let bundle = saescope_build::files::load_bundle(dir)?;
    let codes = bundle
        .codes
        .clone()
        .with_context(|| format!("{} has no codes (codes/indices.npy, codes/values.npy)", dir.display()))?;
    let documents = match bundle.read_documents()? {
        Some(documents) => documents,
        None => bail!("{} has no documents (documents.jsonl.gz)", dir.display()),
    };
    if documents.len() != codes.rows() {
        bail!("{} has {} documents but codes for {}", dir.display(), documents.len(), codes.rows());
    }
    Ok(Loaded { bundle, codes, documents })
}

impl Loaded {
    /// The bundle's labels, or those of `path` when given.
    fn labels(&self, path: Option<&Path>) -> Result<Vec<FeatureLabel>> {
        match (path, &self.bundle.labels) {
            (Some(p), _) => labels::parse_labels(&read(p)?).with_context(|| format!("{}", p.display())),
            (None, Some(bytes)) => Ok(labels::parse_labels(bytes)?),
            (None, None) => Ok(Vec::new()),
        }
    }
}

/// `label text or null` for every feature.
fn label_texts(labels: &[FeatureLabel], d_sae: usize) -> Vec<Option<String>> {
    labels::labels_by_feature(labels, d_sae).into_iter().map(|l| l.map(|l| l.label.clone())).collect()
}

pub struct LabelCommand {
    pub bundle: Option<PathBuf>,
    pub import: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub model: Option<PathBuf>,
    pub no_embed: bool,
    pub seed: u64,
    pub clean: CleanArgs,
}

pub fn label(cmd: LabelCommand) -> Result<()> {
    let mut labels = match (&cmd.import, &cmd.bundle) {
        (Some(path), _) => labels::parse_labels(&read(path)?).with_context(|| format!("{}", path.display()))?,
        (None, Some(dir)) => {
            let loaded = load(dir)?;
            let model = if cmd.no_embed { None } else { label_model(cmd.model.as_deref()) };
            if cmd.model.is_some() && model.is_none() {
                bail!("no model.safetensors in {}", cmd.model.as_deref().unwrap_or(Path::new("")).display());
            }
            let config = LabelConfig { seed: cmd.seed, ..Default::default() };
            compute_labels(
                &loaded.documents,
                &loaded.codes,
                &loaded.bundle.corpus,
                model.as_deref(),
                config,
                &cmd.clean.filter(),
            )?
        }
        (None, None) => bail!(
            "pass --bundle DIR to label a bundle's features, or --import LABELS.json to convert the paper's labels"
        ),
    };
    labels::mark_clean(&mut labels, &cmd.clean.filter());
    eprintln!("{}", label_summary(&labels));
    emit(&labels, cmd.out.as_deref())
}

pub struct FamiliesCommand {
    pub bundle: PathBuf,
    pub labels: Option<PathBuf>,
    pub import: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub paper_out: Option<PathBuf>,
    pub family: FamilyArgs,
    pub max_density: f64,
    pub device: Device,
}

pub fn families(cmd: FamiliesCommand) -> Result<()> {
    let loaded = load(&cmd.bundle)?;
    let labels = loaded.labels(cmd.labels.as_deref())?;
    let params = cmd.family.params(cmd.max_density);
    if params.nodes == NodeSet::Clean && !labels.iter().any(|l| l.clean) {
        if cmd.family.nodes.is_some() {
            bail!("--nodes clean needs labels with clean features (none in the labels given)");
        }
        eprintln!("no clean labels: every live feature is a candidate (--nodes live)");
    }
    let params = params.for_labels(&labels);
    let file = match &cmd.import {
        Some(path) => {
            let imported =
                families::from_paper_json(&read(path)?, &labels).with_context(|| format!("{}", path.display()))?;
            if let Some(f) = imported
                .iter()
                .find(|f| std::iter::once(&f.parent).chain(&f.children).any(|&m| m as usize >= loaded.codes.d_sae))
            {
                bail!(
                    "{}: family {:?} names features beyond this SAE's {} (is it the same SAE?)",
                    path.display(),
                    f.label,
                    loaded.codes.d_sae
                );
            }
            let cooc = cooccurrence(&loaded.codes, &crate::io::backend(cmd.device)?)?;
            let nodes = families::family_nodes(&cooc, &labels, &params);
            let stats = families::family_stats(&cooc, &nodes, &imported, params.seed);
            let sae = &loaded.bundle.sae;
            let coherence = families::family_coherence(&sae.w_dec, sae.d_in, &cooc, &nodes, &imported, params.seed);
            FamiliesFile { params, families: imported, stats, coherence }
        }
        None => {
            let backend = crate::io::backend(cmd.device)?;
            let (file, seconds) = compute_families(&loaded.codes, &loaded.bundle.sae, &labels, params, &backend)?;
            eprintln!("co-occurrence on the {}: {seconds:.2} s", backend.kind().to_uppercase());
            file
        }
    };
    eprintln!("{} families; {}", file.families.len(), serde_json::to_string(&file.stats)?);
    if let Some(c) = &file.coherence {
        eprintln!(
            "coherence: decoder cosine {:.3} inside families, {:.3} in random sets of the same sizes; co-occurrence {:.3} vs {:.3}",
            c.decoder_cosine, c.decoder_cosine_random, c.cooccurrence, c.cooccurrence_random
        );
    }
    if let Some(path) = &cmd.paper_out {
        write(
            path,
            &serde_json::to_vec_pretty(&families::to_paper_json(&file.families, &labels, loaded.codes.d_sae))?,
        )?;
    }
    emit(&file, cmd.out.as_deref())
}

pub fn split(small: &Path, large: &Path, out: Option<&Path>) -> Result<()> {
    let (small, large) = (read_sae(small)?, read_sae(large)?);
    if large.d_sae < small.d_sae {
        eprintln!("note: --large has fewer features ({}) than --small ({})", large.d_sae, small.d_sae);
    }
    let split = saescope_core::splitting::split_features(&small, &large)?;
    eprintln!("{}", split.summary());
    emit(&split.to_paper_json(), out)
}

/// A document set: `category=PREFIX` (any category starting with it), `ids=FILE` (document
/// ids, one per line), or `rest` (every document not in the other set).
fn document_set(spec: &str, docs: &[Document], other: Option<&[u32]>) -> Result<Vec<u32>> {
    let set: Vec<u32> = if let Some(prefix) = spec.strip_prefix("category=") {
        (0..docs.len() as u32).filter(|&d| docs[d as usize].categories.iter().any(|c| c.starts_with(prefix))).collect()
    } else if let Some(path) = spec.strip_prefix("ids=") {
        let text = String::from_utf8(read(Path::new(path))?).with_context(|| format!("{path} is not UTF-8"))?;
        let index: std::collections::HashMap<&str, u32> =
            docs.iter().enumerate().map(|(i, d)| (d.id.as_str(), i as u32)).collect();
        let mut set = Vec::new();
        for id in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            set.push(*index.get(id).with_context(|| format!("{path}: no document with id {id:?} in the bundle"))?);
        }
        set
    } else if spec == "rest" {
        let other = other.context("`rest` is only allowed for --b (the documents not in --a)")?;
        let mut taken = vec![false; docs.len()];
        other.iter().for_each(|&d| taken[d as usize] = true);
        (0..docs.len() as u32).filter(|&d| !taken[d as usize]).collect()
    } else {
        bail!("document set {spec:?}: use category=PREFIX, ids=FILE or rest");
    };
    if set.is_empty() {
        bail!("document set {spec:?} matches no documents");
    }
    Ok(set)
}

pub fn diff(bundle: &Path, a: &str, b: &str, min_difference: f64, order: DiffOrder, top: usize) -> Result<()> {
    let loaded = load(bundle)?;
    let set_a = document_set(a, &loaded.documents, None)?;
    let set_b = document_set(b, &loaded.documents, Some(&set_a))?;
    let texts = label_texts(&loaded.labels(None)?, loaded.codes.d_sae);
    let rows = analysis::diff(&loaded.codes, &set_a, &set_b, min_difference, order)?;
    let shown: Vec<Value> =
        rows.iter().take(top).map(|r| json!({ "label": texts[r.feature as usize], "row": r })).collect();
    emit(
        &json!({ "a": { "spec": a, "documents": set_a.len() }, "b": { "spec": b, "documents": set_b.len() }, "features": rows.len(), "top": shown }),
        None,
    )
}

pub fn npmi(bundle: &Path, features: &[u32], top: usize, min_count: u32, device: Device) -> Result<()> {
    let loaded = load(bundle)?;
    let cooc = cooccurrence(&loaded.codes, &crate::io::backend(device)?)?;
    let pairs = if features.is_empty() {
        analysis::top_npmi_pairs(&cooc, top, min_count)
    } else {
        analysis::npmi_among(&cooc, features)?
    };
    let texts = label_texts(&loaded.labels(None)?, loaded.codes.d_sae);
    let shown: Vec<Value> =
        pairs.iter().map(|p| json!({ "pair": p, "labels": [texts[p.a as usize], texts[p.b as usize]] })).collect();
    emit(&shown, None)
}

/// `FEATURE` or `FEATURE:WEIGHT`.
pub fn parse_weight(spec: &str) -> std::result::Result<(u32, f32), String> {
    let (feature, weight) = spec.split_once(':').unwrap_or((spec, "1"));
    let feature = feature.trim().parse::<u32>().map_err(|e| format!("feature {feature:?}: {e}"))?;
    let weight = weight.trim().parse::<f32>().map_err(|e| format!("weight {weight:?}: {e}"))?;
    Ok((feature, weight))
}

pub fn retrieve(bundle: &Path, weights: &[(u32, f32)], top: usize) -> Result<()> {
    let loaded = load(bundle)?;
    let hits = analysis::retrieve(&loaded.codes, weights, top)?;
    let shown: Vec<Value> =
        hits.iter().map(|&(d, score)| json!({ "document": d, "score": score, "id": loaded.documents[d as usize].id, "title": loaded.documents[d as usize].title })).collect();
    emit(&shown, None)
}

pub fn cluster(
    bundle: &Path,
    features: &[u32],
    clusters: usize,
    iters: usize,
    seed: u64,
    out: Option<&Path>,
    device: Device,
) -> Result<()> {
    let loaded = load(bundle)?;
    let result = {
        let b = &crate::io::backend(device)?;
        pollster::block_on(analysis::cluster_along(b, &loaded.codes, features, clusters, iters, seed))
    }?;
    let texts = label_texts(&loaded.labels(None)?, loaded.codes.d_sae);
    let examples: Vec<Vec<String>> = (0..clusters as i32)
        .map(|c| {
            result
                .assignments
                .iter()
                .enumerate()
                .filter(|(_, &a)| a == c)
                .take(3)
                .map(|(d, _)| loaded.documents[d].title.clone())
                .collect()
        })
        .collect();
    let features: Vec<Value> = features.iter().map(|&f| json!({ "feature": f, "label": texts[f as usize] })).collect();
    emit(&json!({ "features": features, "clusters": result, "example_titles": examples }), out)
}
