//! `saescope-bench`: saescope's hot paths and its 2D map layout, timed on inputs that it also
//! writes as `.npy`, so that the peers (numpy, faiss, scikit-learn, networkx, umap-learn:
//! `xtask/bench/peers.py`) time the same work on the same data (`--only layout`: the layout
//! cases alone). Writes `ours.json` (every case: its shape, its files, our timings and
//! results) into the output folder; `cargo xtask bench` runs the peers and writes the tables.
//! Timings live here and in BENCHMARKS.md, never in tests.

use anyhow::{bail, Context, Result};
use saescope_build::files::{read_matrix, write};
use saescope_conformance::random_sae;
use saescope_core::codes::SparseCodes;
use saescope_core::fit::lloyd;
use saescope_core::fit::Trainer;
use saescope_core::kmeans::{kmeans_plus_plus, Metric, Points};
use saescope_core::knn;
use saescope_core::layout::{quality, umap, UmapParams};
use saescope_core::matrix::{gemm, normalize};
use saescope_core::prelude::*;
use saescope_core::rng::SeededRng;
use saescope_core::search::{Corpus, Hits, Precision};
use saescope_core::synth::unit_atoms;
use saescope_core::train::TrainConfig;
use saescope_core::{Backend, CpuBackend, Matrix};
use saescope_format::bundle::{shard_rows, DEFAULT_BINDING_LIMIT};
use saescope_format::npy::{self, Element};
use saescope_gpu::GpuBackend;
use saescope_interp::families::{self, FamilyParams};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub struct BenchArgs {
    pub quick: bool,
    /// Folder for the shared inputs and `ours.json`.
    pub out: PathBuf,
    /// Real corpus embeddings (the demo's `[20000, 384]` MiniLM vectors).
    pub embeddings: PathBuf,
    /// A bundle whose codes the co-occurrence and families case runs on (the demo bundle).
    pub bundle: Option<PathBuf>,
    /// The MiniLM model folder, for the query-embedding case.
    pub embedder: Option<PathBuf>,
    /// Only these cases (no GPU, no other case); all of them when `None`.
    pub only: Option<Only>,
}

/// The case groups that run alone (`--only`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// The map layout (UMAP) cases.
    Layout,
    /// The map's lasso and enrichment at 200k documents.
    Selection,
    /// Exact search at each storage, over 20k and 190k documents (with the GPU path).
    Search,
}

/// How many times each measurement runs: after one warm-up run, timed runs until `budget_s`
/// has passed, at least `min_runs` (unless one run alone took longer than the budget) and at
/// most `max_runs`. The peers follow the same policy (it is written into `ours.json`).
#[derive(Clone, Copy, Serialize)]
struct RunPolicy {
    max_runs: usize,
    min_runs: usize,
    budget_s: f64,
}

#[derive(Clone, Copy, Serialize)]
struct Timing {
    median_ms: f64,
    runs: usize,
}

impl RunPolicy {
    fn time(&self, mut f: impl FnMut() -> Result<()>) -> Result<Timing> {
        f()?;
        self.repeat(f)
    }

    /// The timed runs alone, for callers that warm up in their own way.
    fn repeat(&self, mut f: impl FnMut() -> Result<()>) -> Result<Timing> {
        let budget_ms = self.budget_s * 1e3;
        let mut times: Vec<f64> = Vec::with_capacity(self.max_runs);
        let started = Instant::now();
        while times.len() < self.max_runs {
            let enough = times.len() >= self.min_runs || times.iter().any(|&t| t > budget_ms);
            if enough && started.elapsed().as_secs_f64() * 1e3 >= budget_ms {
                break;
            }
            let t = Instant::now();
            f()?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        Ok(Timing { median_ms: times[times.len() / 2], runs: times.len() })
    }
}

/// A software GPU adapter runs about 2 GFLOP/s: cases above this much work per run would take
/// minutes each there, and say nothing about GPU speed, so they are left out on one.
const SOFTWARE_GPU_MAX_GFLOP: f64 = 120.0;

/// Our GPU path on one case: its timing, or why it was not run.
#[derive(Serialize)]
struct GpuTiming {
    #[serde(flatten)]
    timing: Option<Timing>,
    skipped: Option<String>,
}

struct Bench {
    out: PathBuf,
    policy: RunPolicy,
    gpu: GpuBackend,
}

/// Writes `data` as `name` (an `.npy` in the folder `out`) and returns the name.
fn write_npy<T: Element>(out: &Path, name: &str, shape: &[usize], data: &[T]) -> Result<String> {
    write(&out.join(name), &npy::to_bytes(shape, data)?)?;
    Ok(name.to_owned())
}

fn write_matrix(out: &Path, name: &str, m: &Matrix) -> Result<String> {
    write_npy(out, name, &[m.rows, m.cols], &m.data)
}

impl Bench {
    fn write_npy<T: Element>(&self, name: &str, shape: &[usize], data: &[T]) -> Result<String> {
        write_npy(&self.out, name, shape, data)
    }

    fn write_matrix(&self, name: &str, m: &Matrix) -> Result<String> {
        write_matrix(&self.out, name, m)
    }

    /// Times `f` on the GPU, unless the adapter is a software one and the case too large.
    fn time_gpu(&self, gflop_per_run: f64, f: impl FnMut() -> Result<()>) -> Result<GpuTiming> {
        if self.gpu.gpu.is_software() && gflop_per_run > SOFTWARE_GPU_MAX_GFLOP {
            let skipped = format!("{gflop_per_run:.0} GFLOP per run is too much for a software adapter");
            return Ok(GpuTiming { timing: None, skipped: Some(skipped) });
        }
        Ok(GpuTiming { timing: Some(self.policy.time(f)?), skipped: None })
    }
}

#[derive(Serialize)]
struct Machine {
    cpu: String,
    cores: usize,
    /// None when no case ran on the GPU (`--only layout`).
    gpu_adapter: Option<String>,
    gpu_is_software: bool,
}

fn machine(gpu: Option<&GpuBackend>) -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    Machine {
        cpu,
        cores,
        gpu_adapter: gpu.map(|g| g.describe()),
        gpu_is_software: gpu.is_some_and(|g| g.gpu.is_software()),
    }
}

/// `rows` random unit vectors of width `cols` (core's synthetic dictionary atoms).
fn unit_rows(rows: usize, cols: usize, seed: u64) -> Matrix {
    unit_atoms(cols, rows, &mut SeededRng::new(seed))
}

/// `rows` unit vectors made from the real ones: the real rows first, then each real row again
/// with Gaussian noise of norm ~0.5 (cosine ~0.9 to its source), so that a large corpus keeps
/// the real one's neighbourhoods and score distribution.
fn grow_corpus(real: &Matrix, rows: usize, seed: u64) -> Matrix {
    let mut rng = SeededRng::new(seed);
    let scale = 0.5 / (real.cols as f32).sqrt();
    let mut m = Matrix::zeros(rows, real.cols);
    for r in 0..rows {
        let source = real.row(r % real.rows);
        let row = m.row_mut(r);
        row.copy_from_slice(source);
        if r >= real.rows {
            row.iter_mut().for_each(|v| *v += scale * rng.normal());
            normalize(row);
        }
    }
    m
}

/// The largest single-precision matrix product we time, to know the machine's peak.
#[derive(Serialize)]
struct SgemmCase {
    n: usize,
    files: serde_json::Value,
    cpu: Timing,
}

fn sgemm_case(bench: &Bench, n: usize) -> Result<SgemmCase> {
    let a = unit_rows(n, n, 11);
    let b = unit_rows(n, n, 12);
    let mut c = vec![0.0f32; n * n];
    let cpu = bench.policy.time(|| {
        gemm(n, n, n, &a.data, false, &b.data, false, 0.0, &mut c);
        Ok(())
    })?;
    let files =
        serde_json::json!({ "a": bench.write_matrix("sgemm-a.npy", &a)?, "b": bench.write_matrix("sgemm-b.npy", &b)? });
    Ok(SgemmCase { n, files, cpu })
}

#[derive(Serialize)]
struct EncodeCase {
    id: String,
    data: String,
    rows: usize,
    d_in: usize,
    d_sae: usize,
    k: usize,
    gflop: f64,
    files: serde_json::Value,
    cpu: Timing,
    gpu: GpuTiming,
    /// Fraction of rows whose GPU top-k index set equals the CPU's.
    gpu_agreement: Option<f64>,
}

/// Fraction of rows whose selected index sets are equal (order within a row aside).
fn same_sets(a: &[u32], b: &[u32], k: usize) -> f64 {
    let rows = a.len() / k.max(1);
    let same = a
        .chunks(k)
        .zip(b.chunks(k))
        .filter(|(x, y)| {
            let (mut x, mut y) = (x.to_vec(), y.to_vec());
            x.sort_unstable();
            y.sort_unstable();
            x == y
        })
        .count();
    same as f64 / rows.max(1) as f64
}

fn encode_case(bench: &Bench, x: &Matrix, x_file: &str, data: &str, d_sae: usize, k: usize) -> Result<EncodeCase> {
    let d_in = x.cols;
    let id = format!("encode-{}x{d_in}-{d_sae}-k{k}", x.rows);
    eprintln!("{id}");
    let sae = Arc::new(random_sae(d_in, d_sae, k, 1));
    let mut codes = None;
    let cpu = bench.policy.time(|| {
        codes = Some(sae.encode(x)?);
        Ok(())
    })?;
    let codes: SparseCodes = codes.context("encode ran")?;
    let gflop = 2.0 * (x.rows * d_in * d_sae) as f64 / 1e9;
    let resident = pollster::block_on(bench.gpu.upload_sae(&sae))?;
    let mut gpu_codes = None;
    let gpu = bench.time_gpu(gflop, || {
        gpu_codes = Some(pollster::block_on(bench.gpu.encode(&resident, x))?);
        Ok(())
    })?;
    let gpu_agreement = gpu_codes.map(|g| same_sets(&g.indices, &codes.indices, k));
    let files = serde_json::json!({
        "x": x_file,
        "w_enc": bench.write_npy(&format!("{id}-w_enc.npy"), &[d_in, d_sae], &sae.w_enc)?,
        "b_enc": bench.write_npy(&format!("{id}-b_enc.npy"), &[d_sae], &sae.b_enc)?,
        "b_dec": bench.write_npy(&format!("{id}-b_dec.npy"), &[d_in], &sae.b_dec)?,
        "cpu_indices": bench.write_npy(&format!("{id}-cpu-indices.npy"), &[x.rows, k], &codes.indices)?,
    });
    Ok(EncodeCase { id, data: data.into(), rows: x.rows, d_in, d_sae, k, gflop, files, cpu, gpu, gpu_agreement })
}

#[derive(Serialize)]
struct SearchCase {
    id: String,
    data: String,
    docs: usize,
    dim: usize,
    queries: usize,
    k: usize,
    storage: &'static str,
    files: serde_json::Value,
    cpu: Timing,
    gpu: GpuTiming,
}

const SEARCH_K: usize = 10;

/// Top-10 search of the first `queries` documents over `corpus` (written as `corpus_file` in
/// f32) stored at `precision`; the f16 and int8 cases also write the values they store (f16, or
/// int8 widened back to f32), so the peer can check the search is exact over them.
fn search_case(
    bench: &Bench,
    corpus: &Matrix,
    corpus_file: &str,
    data: &str,
    queries: usize,
    precision: Precision,
) -> Result<SearchCase> {
    let storage = match precision {
        Precision::F32 => "f32",
        Precision::F16 => "f16",
        Precision::I8 => "i8",
    };
    let id = format!("search-{}-{storage}-q{queries}", corpus.rows);
    eprintln!("{id}");
    let stored = Arc::new(Corpus::from_matrix(
        corpus,
        shard_rows(corpus.cols, precision.bytes_per_value(), DEFAULT_BINDING_LIMIT),
        precision,
    ));
    let q = corpus.slice_rows(0, queries);
    let resident = pollster::block_on(CpuBackend.upload_corpus(&stored))?;
    let mut hits = None;
    let cpu = bench.policy.time(|| {
        hits = Some(pollster::block_on(CpuBackend.search(&resident, &q, SEARCH_K))?);
        Ok(())
    })?;
    let gflop = 2.0 * (corpus.rows * corpus.cols * queries) as f64 / 1e9;
    let on_gpu = pollster::block_on(bench.gpu.upload_corpus(&stored))?;
    let mut gpu_hits = None;
    let gpu = bench.time_gpu(gflop, || {
        gpu_hits = Some(pollster::block_on(bench.gpu.search(&on_gpu, &q, SEARCH_K))?);
        Ok(())
    })?;
    let write_hits = |who: &str, hits: Option<Hits>| -> Result<Option<String>> {
        hits.map(|h| bench.write_npy(&format!("{id}-{who}-indices.npy"), &[queries, h.k], &h.indices)).transpose()
    };
    let stored_file = match precision {
        Precision::F32 => corpus_file.to_owned(),
        Precision::F16 => {
            let halves: Vec<half::f16> = corpus.data.iter().map(|&v| half::f16::from_f32(v)).collect();
            bench.write_npy(&format!("search-{}-f16.npy", corpus.rows), &[corpus.rows, corpus.cols], &halves)?
        }
        Precision::I8 => bench.write_matrix(&format!("search-{}-i8-widened.npy", corpus.rows), &stored.to_matrix())?,
    };
    let files = serde_json::json!({
        "corpus": stored_file,
        "original": corpus_file,
        "cpu_indices": write_hits("cpu", hits)?,
        "gpu_indices": write_hits("gpu", gpu_hits)?,
    });
    Ok(SearchCase {
        id,
        data: data.into(),
        docs: corpus.rows,
        dim: corpus.cols,
        queries,
        k: SEARCH_K,
        storage,
        files,
        cpu,
        gpu,
    })
}

#[derive(Serialize)]
struct KMeansCase {
    id: String,
    data: String,
    points: usize,
    dim: usize,
    clusters: usize,
    /// Assignment steps, with a centroid update between each two.
    iterations: usize,
    files: serde_json::Value,
    /// One whole run of Lloyd's iterations from the shared k-means++ centroids.
    cpu: Timing,
    cpu_inertia: f64,
    gpu: GpuTiming,
    gpu_inertia: Option<f64>,
}

fn kmeans_case(
    bench: &Bench,
    points: &Matrix,
    points_file: &str,
    data: &str,
    clusters: usize,
    iterations: usize,
) -> Result<KMeansCase> {
    let id = format!("kmeans-{}-c{clusters}", points.rows);
    eprintln!("{id}");
    let dense = Points::Dense(points);
    let start = kmeans_plus_plus(dense, clusters, Metric::Euclidean, &mut SeededRng::new(clusters as u64));
    let final_inertia = |r: saescope_core::kmeans::KMeansResult| r.inertia.last().copied().unwrap_or(f64::NAN);
    let mut cpu_inertia = f64::NAN;
    let cpu = bench.policy.time(|| {
        cpu_inertia =
            final_inertia(pollster::block_on(lloyd(&CpuBackend, dense, start.clone(), iterations, Metric::Euclidean))?);
        Ok(())
    })?;
    let gflop = 2.0 * (points.rows * points.cols * clusters * iterations) as f64 / 1e9;
    let mut gpu_inertia = None;
    let gpu = bench.time_gpu(gflop, || {
        gpu_inertia = Some(final_inertia(pollster::block_on(lloyd(
            &bench.gpu,
            dense,
            start.clone(),
            iterations,
            Metric::Euclidean,
        ))?));
        Ok(())
    })?;
    let files =
        serde_json::json!({ "points": points_file, "init": bench.write_matrix(&format!("{id}-init.npy"), &start)? });
    Ok(KMeansCase {
        id,
        data: data.into(),
        points: points.rows,
        dim: points.cols,
        clusters,
        iterations,
        files,
        cpu,
        cpu_inertia,
        gpu,
        gpu_inertia,
    })
}

#[derive(Serialize)]
struct TrainCase {
    data: String,
    rows: usize,
    config: TrainConfig,
    steps_per_epoch: usize,
    /// One epoch each (after a warm-up step), from the same initialisation.
    cpu: Timing,
    /// Mean normalised MSE of the last epoch timed.
    cpu_nmse: f64,
    gpu: Timing,
    gpu_nmse: f64,
}

/// Times epochs of training on `backend` after one warm-up step (first-use costs such as
/// compiling kernels; a whole warm-up epoch takes minutes on a software GPU), returning the
/// last epoch's mean NMSE too.
fn time_epochs<B: Backend>(
    policy: &RunPolicy,
    backend: &B,
    data: &Matrix,
    config: &TrainConfig,
) -> Result<(Timing, f64)> {
    let mut trainer = pollster::block_on(Trainer::new(backend, data, config.clone()))?;
    pollster::block_on(trainer.step(&data.slice_rows(0, config.batch.min(data.rows))))?;
    let mut nmse = f64::NAN;
    let timing = policy.repeat(|| {
        nmse = pollster::block_on(trainer.epoch(data, |_| {}))?.nmse;
        Ok(())
    })?;
    Ok((timing, nmse))
}

fn train_case(bench: &Bench, data: &Matrix, description: &str) -> Result<TrainCase> {
    eprintln!("train-{}", data.rows);
    let config = TrainConfig { k: 32, latents: 3072, batch: 1024, lr: 1e-3, epochs: 1, seed: 0, ..Default::default() };
    let (cpu, cpu_nmse) = time_epochs(&bench.policy, &CpuBackend, data, &config)?;
    let steps_per_epoch = data.rows.div_ceil(config.batch);
    // Training runs on any adapter, software ones too: one epoch is the unit in question.
    let (gpu, gpu_nmse) = time_epochs(&bench.policy, &bench.gpu, data, &config)?;
    Ok(TrainCase { data: description.into(), rows: data.rows, config, steps_per_epoch, cpu, cpu_nmse, gpu, gpu_nmse })
}

/// Typed queries of the kind the page gets (also in tests/browser/measure.mjs).
const QUERIES: [&str; 6] = [
    "graph neural networks for molecules",
    "exoplanet atmospheres with JWST",
    "reinforcement learning from human feedback",
    "fast radio bursts",
    "diffusion models for image generation",
    "stellar streams in the Milky Way",
];

#[derive(Serialize)]
struct EmbedCase {
    model: String,
    /// One query at a time, as the page embeds them (median over the queries' runs).
    per_query: Timing,
}

fn embed_case(bench: &Bench, model: &std::path::Path) -> Result<EmbedCase> {
    eprintln!("embed");
    let embedder = saescope_build::embed::load(model)?;
    let mut per_query = Vec::new();
    for query in QUERIES {
        per_query.push(bench.policy.time(|| embedder.embed(&[query]).map(drop).map_err(Into::into))?);
    }
    per_query.sort_by(|a, b| a.median_ms.total_cmp(&b.median_ms));
    Ok(EmbedCase { model: model.display().to_string(), per_query: per_query[per_query.len() / 2] })
}

#[derive(Serialize)]
struct FamiliesCase {
    data: String,
    documents: usize,
    d_sae: usize,
    k: usize,
    params: FamilyParams,
    files: std::collections::BTreeMap<&'static str, String>,
    /// `C = A^T A` of the binarised codes.
    cooccurrence_cpu: Timing,
    cooccurrence_gpu: GpuTiming,
    /// Candidates, the rounds of spanning forests, merging: from the co-occurrence.
    families: Timing,
    count: usize,
}

/// Co-occurrence (CPU and GPU, which must agree) and the families algorithm on a bundle's
/// codes; its codes and our families are written for the networkx peer to redo and compare.
fn families_case(bench: &Bench, bundle: &std::path::Path) -> Result<FamiliesCase> {
    eprintln!("families");
    let codes = saescope_build::files::load_bundle(bundle)?
        .codes
        .with_context(|| format!("{} has no codes", bundle.display()))?;
    let params = FamilyParams::default();
    let mut cooc = None;
    let cooccurrence_cpu = bench.policy.time(|| {
        cooc = Some(pollster::block_on(CpuBackend.cooccurrence(&codes))?);
        Ok(())
    })?;
    let cooc = cooc.expect("timed at least once");
    let work = codes.rows() as f64 * (codes.k * codes.k) as f64 / 1e9;
    let cooccurrence_gpu = bench.time_gpu(work, || {
        let gpu = pollster::block_on(bench.gpu.cooccurrence(&codes))?;
        if gpu != cooc {
            bail!("the GPU co-occurrence differs from the CPU one");
        }
        Ok(())
    })?;
    let nodes = families::family_nodes(&cooc, &[], &params);
    let mut found = Vec::new();
    let timing = bench.policy.time(|| {
        found = families::find_families(&cooc, &nodes, &params, |_| {})?;
        Ok(())
    })?;
    let ours: Vec<(u32, Vec<u32>)> = found.iter().map(|f| (f.parent, f.children.clone())).collect();
    let mut files = std::collections::BTreeMap::new();
    files.insert("indices", bench.write_npy("families-codes-indices.npy", &[codes.rows(), codes.k], &codes.indices)?);
    files.insert("values", bench.write_npy("families-codes-values.npy", &[codes.rows(), codes.k], &codes.values)?);
    write(&bench.out.join("families-ours.json"), &serde_json::to_vec(&ours)?)?;
    files.insert("ours", "families-ours.json".into());
    let data = format!("the codes of {} (the demo SAE on the demo embeddings)", bundle.display());
    Ok(FamiliesCase {
        data,
        documents: codes.rows(),
        d_sae: codes.d_sae,
        k: codes.k,
        params,
        files,
        cooccurrence_cpu,
        cooccurrence_gpu,
        families: timing,
        count: found.len(),
    })
}

/// UMAP's neighbourhood (counting the point itself, as umap-learn's `n_neighbors`), which is
/// also the k of the map's quality measures.
const LAYOUT_NEIGHBORS: usize = 15;
const LAYOUT_SEED: u64 = 0;
/// The points of the quality sample, and of the sample's seed.
const LAYOUT_SAMPLE: usize = 5000;
const LAYOUT_SAMPLE_QUICK: usize = 1000;
const LAYOUT_SAMPLE_SEED: u64 = 5;

/// umap-learn's defaults (min_dist 0.1, spread 1, 5 negative samples, learning rate 1), k = 15,
/// its epochs (200 above 10k points, 500 up to), seed 0.
fn layout_params() -> UmapParams {
    UmapParams { neighbors: LAYOUT_NEIGHBORS, seed: LAYOUT_SEED, ..Default::default() }
}

/// One map: `layout::umap` end to end, and the time of each of its stages.
#[derive(Serialize)]
struct LayoutRun {
    id: String,
    data: String,
    rows: usize,
    dim: usize,
    epochs: usize,
    /// How the neighbours were found: "exact" (up to `knn::EXACT_LIMIT` points) or "NN-descent".
    knn_method: &'static str,
    files: serde_json::Value,
    /// End to end (no warm-up run: one run is tens of seconds, with nothing to compile).
    total: Timing,
    /// Milliseconds per stage ("neighbours", "graph", "start", "optimise"), median over the runs.
    stages_ms: BTreeMap<&'static str, f64>,
}

/// Times `layout::umap` on `points` and writes the map (of the last run) as
/// `layout-ours-<rows>.npy`.
fn layout_run(
    out: &Path,
    policy: &RunPolicy,
    points: &Matrix,
    points_file: &str,
    data: &str,
) -> Result<(LayoutRun, Matrix)> {
    let id = format!("layout-{}", points.rows);
    eprintln!("{id}");
    let params = layout_params();
    let mut runs: Vec<Vec<(&'static str, f64)>> = Vec::new();
    let mut last = None;
    let total = policy.repeat(|| {
        let mut stages = Vec::new();
        let (mut stage, mut since) = ("neighbours", Instant::now());
        let layout = umap(points, &params, &mut |p| {
            if p.stage != stage {
                stages.push((stage, since.elapsed().as_secs_f64() * 1e3));
                (stage, since) = (p.stage, Instant::now());
            }
        })?;
        stages.push((stage, since.elapsed().as_secs_f64() * 1e3));
        runs.push(stages);
        last = Some(layout);
        Ok(())
    })?;
    let layout = last.context("the layout ran")?;
    let mut stages_ms = BTreeMap::new();
    for (stage, _) in &runs[0] {
        let mut times: Vec<f64> =
            runs.iter().flat_map(|r| r.iter().filter(|(s, _)| s == stage).map(|(_, t)| *t)).collect();
        times.sort_by(f64::total_cmp);
        stages_ms.insert(*stage, times[times.len() / 2]);
    }
    let files = serde_json::json!({
        "points": points_file,
        "layout": write_matrix(out, &format!("layout-ours-{}.npy", points.rows), &layout)?,
    });
    let run = LayoutRun {
        id,
        data: data.into(),
        rows: points.rows,
        dim: points.cols,
        epochs: params.epochs_for(points.rows),
        knn_method: if points.rows <= knn::EXACT_LIMIT { "exact" } else { "NN-descent" },
        files,
        total,
        stages_ms,
    };
    Ok((run, layout))
}

/// The neighbour graph the map uses, both ways on the same points: exact and NN-descent, and
/// the share of the exact neighbours that NN-descent finds.
#[derive(Serialize)]
struct KnnCase {
    data: String,
    rows: usize,
    /// Neighbours per point, the point itself not counted (UMAP's 15 less one).
    k: usize,
    exact: Timing,
    nn_descent: Timing,
    /// recall@k of NN-descent against exact.
    recall: f64,
}

fn knn_case(policy: &RunPolicy, points: &Matrix, data: &str) -> Result<KnnCase> {
    eprintln!("knn-{}", points.rows);
    let k = LAYOUT_NEIGHBORS - 1;
    let (mut exact, mut approx) = (None, None);
    let exact_timing = policy.repeat(|| {
        exact = Some(knn::exact_knn(points, k, &mut |_, _| {})?);
        Ok(())
    })?;
    let nn_descent = policy.repeat(|| {
        approx = Some(knn::nn_descent(points, k, LAYOUT_SEED, &mut |_, _| {})?);
        Ok(())
    })?;
    let recall = knn::recall(&approx.context("NN-descent ran")?, &exact.context("the exact search ran")?);
    Ok(KnnCase { data: data.into(), rows: points.rows, k, exact: exact_timing, nn_descent, recall })
}

/// How well our map of `points` keeps their neighbours, on a fixed random sample of them
/// (neighbours among the sample): the peer measures its map and ours on the same sample.
#[derive(Serialize)]
struct LayoutQuality {
    data: String,
    /// The points the sample is drawn from.
    of: usize,
    rows: usize,
    k: usize,
    /// `sample`: the sample's row numbers (u32, ascending); `points` and `ours`: the files of
    /// the points and of our map, all rows.
    files: serde_json::Value,
    /// Ours, computed here (`layout::quality`): cosine in the data, Euclidean on the map.
    trustworthiness: f64,
    recall: f64,
}

fn layout_quality(
    out: &Path,
    run: &LayoutRun,
    points: &Matrix,
    layout: &Matrix,
    sample_rows: usize,
) -> Result<LayoutQuality> {
    eprintln!("layout-quality-{sample_rows}-of-{}", points.rows);
    let mut ids = SeededRng::new(LAYOUT_SAMPLE_SEED).distinct(points.rows, sample_rows);
    ids.sort_unstable();
    let gather =
        |m: &Matrix| Matrix::new(ids.len(), m.cols, ids.iter().flat_map(|&i| m.row(i).iter().copied()).collect());
    let (high, low) = (gather(points)?, gather(layout)?);
    let k = LAYOUT_NEIGHBORS;
    let trustworthiness = quality::trustworthiness(&high, &low, k)?;
    let recall = quality::neighbour_recall(&high, &low, k)?;
    let sample: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
    let files = serde_json::json!({
        "sample": write_npy(out, &format!("layout-sample-{}.npy", ids.len()), &[ids.len()], &sample)?,
        "points": run.files["points"],
        "ours": run.files["layout"],
    });
    Ok(LayoutQuality { data: run.data.clone(), of: points.rows, rows: ids.len(), k, files, trustworthiness, recall })
}

/// The map's lasso at 200k documents, on the CPU (what the page runs in its worker): the
/// documents inside a polygon, then the features over-represented in them.
#[derive(Serialize)]
struct SelectionCase {
    data: String,
    rows: usize,
    latents: usize,
    k: usize,
    /// Corners of the lasso (a circle around one document, holding about `SELECTED_SHARE`).
    corners: usize,
    selected: usize,
    /// `layout`, `polygon` ([corners, 2] f32), `indices` and `values` (the codes).
    files: serde_json::Value,
    inside: Timing,
    enrich: Timing,
    /// The most over-represented feature (the peer must find the same).
    top_feature: u32,
}

/// Share of the documents the benchmark's lasso holds (a selection a person would draw).
const SELECTED_SHARE: f64 = 0.06;

/// Planted documents (`rows`, each `k` of `latents` atoms) placed on a planted map: each
/// document near its strongest atom's anchor, as the page's 200k browser test draws them. Their
/// codes are the planted atoms, the demo's shape (k = 32 of 3,072).
fn selection_case(out: &Path, policy: &RunPolicy, rows: usize) -> Result<SelectionCase> {
    use saescope_interp::selection::{enrich, inside_polygon};
    let (latents, k) = (3072, 32);
    eprintln!("selection-{rows}");
    let planted = saescope_core::synth::PlantedData::generate(32, latents, k, rows, LAYOUT_SEED + 11);
    let layout = planted.planted_layout(LAYOUT_SEED);
    let codes = SparseCodes::new(k, latents, planted.atoms, planted.weights)?;
    // A 64-corner circle around document 0's point, as wide as the SELECTED_SHARE-quantile of
    // the distances from it.
    let (cx, cy) = (layout.data[0], layout.data[1]);
    let mut distances: Vec<f32> =
        layout.data.chunks_exact(2).map(|p| ((p[0] - cx).powi(2) + (p[1] - cy).powi(2)).sqrt()).collect();
    let at = ((rows as f64 * SELECTED_SHARE) as usize).min(rows - 1);
    let radius = *distances.select_nth_unstable_by(at, f32::total_cmp).1;
    let corners = 64;
    let polygon: Vec<[f32; 2]> = (0..corners)
        .map(|i| {
            let a = std::f32::consts::TAU * i as f32 / corners as f32;
            [cx + radius * a.cos(), cy + radius * a.sin()]
        })
        .collect();
    let mut selected = Vec::new();
    let inside = policy.time(|| {
        selected = inside_polygon(&layout, &polygon)?;
        Ok(())
    })?;
    let mut top_feature = 0;
    let enrich_timing = policy.time(|| {
        top_feature = enrich(&codes, &selected, 20)?.features.first().context("an over-represented feature")?.feature;
        Ok(())
    })?;
    let flat: Vec<f32> = polygon.iter().flatten().copied().collect();
    let files = serde_json::json!({
        "layout": write_matrix(out, &format!("selection-layout-{rows}.npy"), &layout)?,
        "polygon": write_npy(out, "selection-polygon.npy", &[corners, 2], &flat)?,
        "indices": write_npy(out, "selection-indices.npy", &[rows, k], &codes.indices)?,
        "values": write_npy(out, "selection-values.npy", &[rows, k], &codes.values)?,
    });
    Ok(SelectionCase {
        data: format!("planted: {rows} documents, each {k} of {latents} atoms, on a planted map"),
        rows,
        latents,
        k,
        corners,
        selected: selected.len(),
        files,
        inside,
        enrich: enrich_timing,
        top_feature,
    })
}

/// The map layout: our UMAP on the real corpus and the grown one (timed), NN-descent against
/// exact neighbours on the real one, and our map's quality on a sample of the real one.
#[derive(Serialize)]
struct LayoutCases {
    neighbors: usize,
    min_dist: f32,
    seed: u64,
    /// Up to this many points our neighbour graph is exact, above it NN-descent.
    exact_limit: usize,
    runs: Vec<LayoutRun>,
    knn: KnnCase,
    quality: LayoutQuality,
}

fn layout_cases(
    out: &Path,
    policy: &RunPolicy,
    corpora: [(&Matrix, &String, &String); 2],
    quick: bool,
) -> Result<LayoutCases> {
    let [(small, small_file, small_data), (large, large_file, large_data)] = corpora;
    let (small_run, small_layout) = layout_run(out, policy, small, small_file, small_data)?;
    let sample = if quick { LAYOUT_SAMPLE_QUICK } else { LAYOUT_SAMPLE };
    let quality = layout_quality(out, &small_run, small, &small_layout, sample)?;
    let knn = knn_case(policy, small, small_data)?;
    let (large_run, _) = layout_run(out, policy, large, large_file, large_data)?;
    let params = layout_params();
    Ok(LayoutCases {
        neighbors: params.neighbors,
        min_dist: params.min_dist,
        seed: params.seed,
        exact_limit: knn::EXACT_LIMIT,
        runs: vec![small_run, large_run],
        knn,
        quality,
    })
}

/// Every case but the layout: the GPU and CPU hot paths against numpy, faiss, scikit-learn.
#[derive(Serialize)]
struct HotPaths {
    sgemm: SgemmCase,
    encode: Vec<EncodeCase>,
    search: Vec<SearchCase>,
    kmeans: Vec<KMeansCase>,
    families: Option<FamiliesCase>,
    embed: Option<EmbedCase>,
    train: TrainCase,
}

#[derive(Serialize)]
struct Report {
    quick: bool,
    machine: Machine,
    policy: RunPolicy,
    /// Absent with `--only`.
    #[serde(flatten)]
    hot_paths: Option<HotPaths>,
    /// `--only search`: the search cases alone (with all cases they are in `hot_paths`).
    #[serde(skip_serializing_if = "Option::is_none", rename = "search")]
    search_only: Option<Vec<SearchCase>>,
    layout: Option<LayoutCases>,
    selection: Option<SelectionCase>,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let real = read_matrix(&args.embeddings).context("saescope-bench needs real corpus embeddings (--embeddings)")?;
    if real.rows < 2048 || real.cols != 384 {
        bail!(
            "{} is [{}, {}]; the benchmark needs at least 2048 rows of 384-d embeddings",
            args.embeddings.display(),
            real.rows,
            real.cols
        );
    }
    let gpu = if args.only.is_some() && args.only != Some(Only::Search) {
        None
    } else {
        Some(
            pollster::block_on(GpuBackend::new(Default::default()))
                .map_err(|e| anyhow::anyhow!("{e} (saescope-bench times the GPU path too)"))?,
        )
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let policy = if args.quick {
        RunPolicy { max_runs: 1, min_runs: 1, budget_s: 0.0 }
    } else {
        RunPolicy { max_runs: 7, min_runs: 3, budget_s: 20.0 }
    };

    let machine = machine(gpu.as_ref());
    let wanted = |group| args.only.is_none() || args.only == Some(group);
    let (mut hot_paths, mut layout, mut search_only) = (None, None, None);
    if args.only != Some(Only::Selection) {
        // The real corpus (its first 2000 rows with --quick) and one grown from it, shared by the
        // search, k-means and layout cases.
        let small = if args.quick { real.slice_rows(0, 2000) } else { real.clone() };
        let large = grow_corpus(&real, if args.quick { 19_000 } else { 190_000 }, 4);
        let small_data = format!("demo embeddings{}", if args.quick { " (first 2000)" } else { "" });
        let large_data = format!("synthetic: the {} demo embeddings and noisy copies", real.rows);
        let (small_file, large_file) = (
            write_matrix(&args.out, &format!("corpus-{}.npy", small.rows), &small)?,
            write_matrix(&args.out, &format!("corpus-{}.npy", large.rows), &large)?,
        );
        let corpora = [(&small, &small_file, &small_data), (&large, &large_file, &large_data)];
        if args.only == Some(Only::Search) {
            let gpu = gpu.expect("the search cases create the GPU backend");
            search_only = Some(search_cases(&Bench { out: args.out.clone(), policy, gpu }, corpora)?);
        } else {
            hot_paths = gpu
                .map(|gpu| hot_paths_of(args, &Bench { out: args.out.clone(), policy, gpu }, &real, corpora))
                .transpose()?;
        }
        layout = (args.only != Some(Only::Search) && wanted(Only::Layout))
            .then(|| layout_cases(&args.out, &policy, corpora, args.quick))
            .transpose()?;
    }
    let selection = wanted(Only::Selection)
        .then(|| selection_case(&args.out, &policy, if args.quick { 20_000 } else { 200_000 }))
        .transpose()?;

    let report = Report { quick: args.quick, machine, policy, hot_paths, search_only, layout, selection };
    let path = args.out.join("ours.json");
    write(&path, &serde_json::to_vec_pretty(&report)?)?;
    println!("{}", path.display());
    Ok(())
}

fn search_cases(bench: &Bench, corpora: [(&Matrix, &String, &String); 2]) -> Result<Vec<SearchCase>> {
    let mut search = Vec::new();
    for (corpus, file, data) in corpora {
        for precision in [Precision::F32, Precision::F16, Precision::I8] {
            for queries in [1, 32] {
                search.push(search_case(bench, corpus, file, data, queries, precision)?);
            }
        }
    }
    Ok(search)
}

fn hot_paths_of(
    args: &BenchArgs,
    bench: &Bench,
    real: &Matrix,
    corpora: [(&Matrix, &String, &String); 2],
) -> Result<HotPaths> {
    eprintln!("{}", bench.gpu.describe());

    let sgemm = sgemm_case(bench, if args.quick { 1024 } else { 4096 })?;

    // A batch of the real corpus for d = 384; random unit vectors for d = 1536 (the paper's
    // text-embedding-3-small width), which has no real corpus here.
    let batch = if args.quick { 256 } else { 2048 };
    let real_batch = real.slice_rows(0, batch);
    let wide_batch = unit_rows(batch, 1536, 3);
    let (real_file, wide_file) =
        (bench.write_matrix("encode-x-384.npy", &real_batch)?, bench.write_matrix("encode-x-1536.npy", &wide_batch)?);
    let mut encode = Vec::new();
    for (x, file, data, d_sae, k) in [
        (&real_batch, &real_file, "demo embeddings, random SAE", 3072, 32),
        (&real_batch, &real_file, "demo embeddings, random SAE", 16384, 128),
        (&wide_batch, &wide_file, "synthetic", 3072, 16),
        (&wide_batch, &wide_file, "synthetic", 16384, 64),
    ] {
        encode.push(encode_case(bench, x, file, data, d_sae, k)?);
    }

    let search = search_cases(bench, corpora)?;

    let mut kmeans = Vec::new();
    for (points, file, data) in corpora {
        for clusters in [50, 200] {
            kmeans.push(kmeans_case(bench, points, file, data, clusters, 20)?);
        }
    }

    let families = args.bundle.as_deref().map(|b| families_case(bench, b)).transpose()?;

    let embed = args.embedder.as_deref().map(|m| embed_case(bench, m)).transpose()?;

    let train_rows = if args.quick { real.slice_rows(0, 2048) } else { real.clone() };
    let train = train_case(bench, &train_rows, &format!("demo embeddings ({} rows)", train_rows.rows))?;

    Ok(HotPaths { sgemm, encode, search, kmeans, families, embed, train })
}
