//! The engine subcommands: thin wrappers that move files in and out of `saescope-core` and the
//! chosen backend.

use crate::Device;
use anyhow::{bail, Context, Result};
use saescope_build::encode::{encode_chunks, CHUNK_ROWS};
use saescope_build::files::{load_bundle, progress, read, read_matrix, read_sae, write};
use saescope_core::kmeans::{KMeansConfig, Metric, Points};
use saescope_core::metrics::MetricsAccumulator;
use saescope_core::prelude::*;
use saescope_core::search::Corpus;
use saescope_core::SparseCodes;
use saescope_format::npy::{self, RowReader};
use saescope_format::prelude::*;
use std::path::Path;
use std::sync::Arc;

fn open_rows(path: &Path) -> Result<RowReader<std::io::BufReader<std::fs::File>>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    RowReader::new(std::io::BufReader::new(file)).with_context(|| format!("{}", path.display()))
}

/// Streams the `.npy` file `embeddings` through [`encode_chunks`], never holding it whole.
async fn stream_encode<B: EncodeOps>(
    backend: &B,
    sae: &Arc<saescope_core::Sae>,
    embeddings: &Path,
    decode: bool,
    each: impl FnMut(&saescope_core::Matrix, SparseCodes, Option<saescope_core::Matrix>),
) -> Result<()> {
    let mut rows = open_rows(embeddings)?;
    if rows.cols != sae.d_in {
        bail!("{} has dimension {}, but the SAE expects d_in={}", embeddings.display(), rows.cols, sae.d_in);
    }
    let total = rows.rows;
    let next = || rows.next_chunk(CHUNK_ROWS).with_context(|| format!("{}", embeddings.display()));
    encode_chunks(backend, sae, total, next, decode, each).await.with_context(|| format!("{}", embeddings.display()))
}

pub fn encode(sae: &Path, embeddings: &Path, out: &Path, device: Device) -> Result<()> {
    let sae = Arc::new(read_sae(sae)?);
    let mut all = SparseCodes::empty(sae.k, sae.d_sae);
    {
        let b = &crate::io::backend(device)?;
        pollster::block_on(stream_encode(b, &sae, embeddings, false, |_, c, _| all.extend(c)))
    }?;
    let (idx, val) = all.to_npy()?;
    write(&out.join("indices.npy"), &idx)?;
    write(&out.join("values.npy"), &val)?;
    eprintln!("encoded {} rows (k={}) into {}", all.rows(), all.k, out.display());
    Ok(())
}

pub fn search(corpus_paths: &[std::path::PathBuf], queries: &Path, k: usize, out: &Path, device: Device) -> Result<()> {
    let queries = read_matrix(queries)?;
    let mut corpus = Corpus::new(queries.cols);
    let bar = progress(corpus_paths.len() as u64, "load shards");
    for p in corpus_paths {
        corpus.push_npy(&p.display().to_string(), &read(p)?)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let corpus = Arc::new(corpus);
    let hits = {
        let b = &crate::io::backend(device)?;
        pollster::block_on(async {
            let dev = b.upload_corpus(&corpus).await?;
            b.search(&dev, &queries, k).await
        })
    }?;
    let shape = [hits.queries(), hits.k];
    let idx: Vec<i32> = hits.indices.iter().map(|&i| i as i32).collect();
    write(&out.join("indices.npy"), &npy::to_bytes(&shape, &idx)?)?;
    write(&out.join("scores.npy"), &npy::to_bytes(&shape, &hits.scores)?)?;
    eprintln!("searched {} queries over {} documents into {}", hits.queries(), corpus.rows(), out.display());
    Ok(())
}

pub fn kmeans(
    embeddings: &Path,
    clusters: usize,
    iters: usize,
    spherical: bool,
    seed: u64,
    out: &Path,
    device: Device,
) -> Result<()> {
    let x = read_matrix(embeddings)?;
    x.check_finite(&embeddings.display().to_string())?;
    let config = KMeansConfig {
        clusters,
        iterations: iters,
        metric: if spherical { Metric::Cosine } else { Metric::Euclidean },
        seed,
    };
    let spinner = progress(1, "k-means");
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let backend = crate::io::backend(device)?;
    let result = pollster::block_on(saescope_core::fit::kmeans(&backend, Points::Dense(&x), &config))?;
    spinner.finish_and_clear();
    let assignments: Vec<i32> = result.assignments.iter().map(|&a| a as i32).collect();
    write(&out.join("assignments.npy"), &npy::to_bytes(&[x.rows], &assignments)?)?;
    write(&out.join("centroids.npy"), &npy::to_bytes(&[clusters, x.cols], &result.centroids.data)?)?;
    let summary = serde_json::json!({ "inertia": result.inertia, "sizes": result.sizes, "device": backend.kind() });
    write(&out.join("inertia.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    saescope_build::out!(
        "{}",
        serde_json::json!({ "final_inertia": result.inertia.last(), "iterations": result.inertia.len() })
    )?;
    Ok(())
}

pub fn metrics(sae: &Path, embeddings: &Path, device: Device) -> Result<()> {
    let sae = Arc::new(read_sae(sae)?);
    let mut acc = MetricsAccumulator::new(sae.d_in, sae.d_sae);
    {
        let b = &crate::io::backend(device)?;
        pollster::block_on(stream_encode(b, &sae, embeddings, true, |x, c, r| {
            acc.add(x, r.as_ref().expect("decoded"), &c)
        }))
    }?;
    let report = serde_json::json!({ "metrics": acc.finish()?, "sae": sae.report() });
    saescope_build::out!("{}", serde_json::to_string_pretty(&report)?)?;
    Ok(())
}

pub fn inspect(bundle: &Path) -> Result<()> {
    let b = load_bundle(bundle)?;
    let summary = serde_json::json!({
        "name": b.manifest.name,
        "documents": b.corpus.rows(),
        "embedding": b.manifest.embedding,
        "sae": b.sae.report(),
        "shards": b.corpus.shards.len(),
        "has_codes": b.codes.is_some(),
        "has_labels": b.labels.is_some(),
        "has_families": b.families.is_some(),
        "coarse_saes": b.coarse.iter().map(|c| serde_json::json!({ "sae": c.sae.report(), "split": c.split.summary() })).collect::<Vec<_>>(),
        "files_verified": b.manifest.files.len(),
    });
    saescope_build::out!("{}", serde_json::to_string_pretty(&summary)?)?;
    Ok(())
}
