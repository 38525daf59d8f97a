//! `saescope steer`: the page's steered search from the command line, on the same bundle
//! files and the same code (`saescope_interp::explorer`), so both give the same documents.

use crate::Device;
use anyhow::{bail, Context, Result};
use saescope_build::files::read;
use saescope_format::manifest::Role;
use saescope_format::npy;
use saescope_interp::catalog::Catalog;
use saescope_interp::explain::explain;
use saescope_interp::explorer::{document_vector, Explorer, Steering};
use saescope_interp::steer::SteerMode;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Where the query comes from.
pub enum Query {
    /// Free text, embedded with the bundle's own query embedder (as the page does).
    Text(String),
    /// A `.npy` holding one embedding.
    Vector(PathBuf),
    /// A document of the bundle ("more like this").
    Doc(u32),
}

impl Query {
    /// From the `--query`, `--vector` and `--doc` options, of which clap lets exactly one through.
    pub fn from_args(text: Option<String>, vector: Option<PathBuf>, doc: Option<u32>) -> Self {
        match (text, vector, doc) {
            (Some(text), _, _) => Self::Text(text),
            (_, Some(path), _) => Self::Vector(path),
            (_, _, Some(doc)) => Self::Doc(doc),
            _ => unreachable!("clap requires one of --query, --vector, --doc"),
        }
    }
}

/// `F:V` pairs (feature or family, then a number), as the page's URL writes them.
pub fn parse_pair(text: &str) -> Result<(u32, f32), String> {
    let (a, b) = text.split_once(':').ok_or_else(|| format!("{text:?}: expected INDEX:VALUE, e.g. 889:1.5"))?;
    let index = a.trim().parse().map_err(|_| format!("{text:?}: {a:?} is not an index"))?;
    let value: f32 = b.trim().parse().map_err(|_| format!("{text:?}: {b:?} is not a number"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{text:?}: the value must be a finite number >= 0"));
    }
    Ok((index, value))
}

pub struct SteerArgs {
    pub bundle: PathBuf,
    pub query: Query,
    pub edits: Vec<(u32, f32)>,
    pub families: Vec<(u32, f32)>,
    pub mode: SteerMode,
    pub k: usize,
    pub json: bool,
    pub device: Device,
}

/// The bundle's own query embedder (what the page embeds queries with).
pub fn bundle_embedder(dir: &Path, bundle: &saescope_format::bundle::Bundle) -> Result<saescope_embed::Embedder> {
    let path = |role| -> Result<PathBuf> {
        let entry = bundle
            .manifest
            .file(role)
            .with_context(|| format!("{} carries no query embedder; pass --vector or --doc", dir.display()))?;
        Ok(dir.join(&entry.path))
    };
    let (weights, tokenizer, config) = (
        read(&path(Role::EmbedderWeights)?)?,
        read(&path(Role::EmbedderTokenizer)?)?,
        read(&path(Role::EmbedderConfig)?)?,
    );
    Ok(saescope_embed::Embedder::from_bundle(&bundle.manifest, &weights, &tokenizer, &config)?)
}

/// The query as one embedding: text through the bundle's embedder, a vector from a `.npy`, or a
/// document's stored embedding.
fn query_vector(dir: &Path, bundle: &saescope_format::bundle::Bundle, query: Query) -> Result<Vec<f32>> {
    Ok(match query {
        Query::Text(text) => bundle_embedder(dir, bundle)?.embed_query(&text)?,
        Query::Vector(path) => {
            let m = npy::read_matrix(&read(&path)?).with_context(|| format!("{}", path.display()))?;
            if m.rows != 1 {
                bail!("{} holds {} vectors; a query is one", path.display(), m.rows);
            }
            m.data
        }
        Query::Doc(doc) => document_vector(&bundle.corpus, doc)?,
    })
}

pub fn run(args: SteerArgs) -> Result<()> {
    let bundle = saescope_build::files::load_bundle(&args.bundle)?;
    let catalog = Catalog::of_bundle(&bundle)?;
    for problem in &catalog.problems {
        eprintln!("warning: {problem}");
    }
    let query = query_vector(&args.bundle, &bundle, args.query)?;
    let backend = Rc::new(crate::io::backend(args.device)?);
    let explorer =
        pollster::block_on(Explorer::with_catalog(backend, bundle.sae, bundle.corpus, bundle.codes, &catalog))?;
    let steering =
        Steering { edits: args.edits, families: args.families.into_iter().map(|(f, s)| (f as usize, s)).collect() };
    let result = pollster::block_on(explorer.steered_search(&query, &steering, args.mode, args.k))?;
    if args.json {
        saescope_build::out!("{}", serde_json::to_string(&result)?)?;
        return Ok(());
    }
    let label = |j| label_of(&catalog, j);
    if !result.edits.is_empty() {
        let edits: Vec<String> = result.edits.iter().map(|&(j, v)| format!("{j}:{v:.3} ({})", label(j))).collect();
        saescope_build::out!("steered: {} · cosine to the query {:.3}", edits.join(", "), result.cosine)?;
    }
    for (rank, hit) in result.hits.iter().enumerate() {
        let doc = catalog.documents.get(hit.doc as usize);
        let (id, title) = doc.map_or(("?", "(no documents in this bundle)"), |d| (d.id.as_str(), d.title.as_str()));
        saescope_build::out!("{:>3}. {:.4}  #{:<6} {id}  {title}", rank + 1, hit.score, hit.doc)?;
        if !hit.fires.is_empty() {
            saescope_build::out!(
                "       fires: {}",
                hit.fires.iter().map(|&j| label(j)).collect::<Vec<_>>().join(" · ")
            )?;
        }
    }
    Ok(())
}

pub fn label_of(catalog: &Catalog, j: u32) -> String {
    catalog.labels.iter().find(|l| l.index == j).map_or_else(|| format!("feature {j}"), |l| l.label.clone())
}

/// `saescope explain`: the classroom explainer's numbers for one query (the page's "How the SAE
/// reads this text" shows the same `Explanation`).
pub fn explain_query(dir: &Path, query: Query, k: Option<usize>, json: bool) -> Result<()> {
    let bundle = saescope_build::files::load_bundle(dir)?;
    let vector = query_vector(dir, &bundle, query)?;
    let e = explain(&bundle.sae, &vector, k)?;
    if json {
        saescope_build::out!("{}", serde_json::to_string(&e)?)?;
        return Ok(());
    }
    let catalog = Catalog::of_bundle(&bundle)?;
    let d_sae = e.sorted_pre_activations.len();
    saescope_build::out!(
        "{d_sae} latents, {} with a positive pre-activation; top-{} cut at {:.4} (trained with k = {})",
        e.positive,
        e.k,
        e.threshold,
        e.trained_k
    )?;
    saescope_build::out!(
        "reconstruction: cosine {:.4}, relative error {:.4} (decoder bias share of the cosine {:+.4})",
        e.cosine,
        e.relative_error,
        e.bias_cosine_share
    )?;
    if e.zeroed_by_relu > 0 {
        saescope_build::out!(
            "{} of the top {} had a pre-activation <= 0 and were zeroed by ReLU",
            e.zeroed_by_relu,
            e.k
        )?;
    }
    for f in &e.kept {
        saescope_build::out!(
            "{:>6}  activation {:>7.4}  moves {:>6.4}  cosine share {:>+7.4}  {}",
            f.feature,
            f.activation,
            f.magnitude,
            f.cosine_share,
            label_of(&catalog, f.feature)
        )?;
    }
    Ok(())
}
