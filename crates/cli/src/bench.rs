//! `saescope bench`: the engine's kernels against the CPU reference on the same data, median of
//! repeated runs. Timings live here, never in tests.

use anyhow::Result;
use saescope_core::conformance::random_sae;
use saescope_core::kmeans::{kmeans_plus_plus, Metric, Points};
use saescope_core::rng::SeededRng;
use saescope_core::search::Corpus;
use saescope_core::{Backend, CpuBackend, Matrix};
use saescope_gpu::GpuBackend;
use std::sync::Arc;
use std::time::Instant;

fn unit_rows(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = SeededRng::new(seed);
    let mut m = Matrix::new(rows, cols, (0..rows * cols).map(|_| rng.normal()).collect()).expect("shape");
    (0..rows).for_each(|r| saescope_core::matrix::normalize(m.row_mut(r)));
    m
}

/// Median wall time in milliseconds of `reps` runs after one warm-up run.
fn median_ms(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

struct Row {
    case: String,
    cpu_ms: f64,
    gpu_ms: f64,
    gflop: f64,
}

fn encode_case(gpu: &GpuBackend, rows: usize, d_in: usize, d_sae: usize, k: usize, reps: usize) -> Result<Row> {
    let sae = Arc::new(random_sae(d_in, d_sae, k, 1));
    let x = unit_rows(rows, d_in, 2);
    let dev = pollster::block_on(gpu.upload_sae(&sae))?;
    let cpu_ms = median_ms(reps, || Ok(sae.encode(&x).map(drop)?))?;
    let gpu_ms = median_ms(reps, || Ok(pollster::block_on(gpu.encode(&dev, &x)).map(drop)?))?;
    Ok(Row {
        case: format!("encode {rows} x d={d_in} -> d_sae={d_sae}, k={k}"),
        cpu_ms,
        gpu_ms,
        gflop: 2.0 * (rows * d_in * d_sae) as f64 / 1e9,
    })
}

fn search_case(gpu: &GpuBackend, docs: usize, queries: usize, half: bool, reps: usize) -> Result<Row> {
    let corpus = Arc::new(Corpus::from_matrix(&unit_rows(docs, 384, 3), docs, half));
    let q = unit_rows(queries, 384, 4);
    let cpu = pollster::block_on(CpuBackend.upload_corpus(&corpus))?;
    let dev = pollster::block_on(gpu.upload_corpus(&corpus))?;
    let cpu_ms = median_ms(reps, || Ok(pollster::block_on(CpuBackend.search(&cpu, &q, 10)).map(drop)?))?;
    let gpu_ms = median_ms(reps, || Ok(pollster::block_on(gpu.search(&dev, &q, 10)).map(drop)?))?;
    Ok(Row {
        case: format!("search top-10, {queries} queries over {docs} docs ({})", if half { "f16" } else { "f32" }),
        cpu_ms,
        gpu_ms,
        gflop: 2.0 * (docs * queries * 384) as f64 / 1e9,
    })
}

fn assign_case(gpu: &GpuBackend, points: usize, clusters: usize, reps: usize) -> Result<Row> {
    let x = unit_rows(points, 384, 5);
    let centroids = kmeans_plus_plus(Points::Dense(&x), clusters, Metric::Euclidean, &mut SeededRng::new(6));
    let dev = pollster::block_on(gpu.upload_points(Points::Dense(&x)))?;
    let cpu_ms = median_ms(reps, || Ok(saescope_core::kmeans::assign(Points::Dense(&x), &centroids, Metric::Euclidean).map(drop)?))?;
    let gpu_ms = median_ms(reps, || Ok(pollster::block_on(gpu.assign(&dev, &centroids, Metric::Euclidean)).map(drop)?))?;
    Ok(Row {
        case: format!("k-means assignment step, {points} points x {clusters} clusters (d=384)"),
        cpu_ms,
        gpu_ms,
        gflop: 2.0 * (points * clusters * 384) as f64 / 1e9,
    })
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{cpu}, {cores} cores available")
}

pub fn run(quick: bool) -> Result<()> {
    let gpu = pollster::block_on(GpuBackend::new(Default::default()))?;
    let reps = if quick { 1 } else { 5 };
    let mut rows = Vec::new();
    let encode_rows = if quick { 256 } else { 2048 };
    for (d_sae, k) in [(3072, 32), (16384, 64)] {
        rows.push(encode_case(&gpu, encode_rows, 384, d_sae, k, reps)?);
        eprintln!("{}", rows.last().map(|r| r.case.as_str()).unwrap_or(""));
    }
    let docs = if quick { 2000 } else { 20000 };
    for half in [false, true] {
        rows.push(search_case(&gpu, docs, 32, half, reps)?);
        eprintln!("{}", rows.last().map(|r| r.case.as_str()).unwrap_or(""));
    }
    rows.push(assign_case(&gpu, docs, 100, reps)?);

    let mut table = format!(
        "Machine: {}. GPU path: {}. Median of {reps} runs after a warm-up; GPU times include upload of the batch and read-back of results.\n\n",
        machine(),
        gpu.describe()
    );
    table.push_str("| case | CPU reference (ms) | GPU kernels (ms) | CPU / GPU | CPU GFLOP/s | GPU GFLOP/s |\n|---|---:|---:|---:|---:|---:|\n");
    for r in &rows {
        table.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.2}x | {:.1} | {:.1} |\n",
            r.case,
            r.cpu_ms,
            r.gpu_ms,
            r.cpu_ms / r.gpu_ms,
            r.gflop / (r.cpu_ms / 1e3),
            r.gflop / (r.gpu_ms / 1e3)
        ));
    }
    print!("{table}");
    Ok(())
}
