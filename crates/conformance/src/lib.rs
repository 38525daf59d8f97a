//! The shared test suite every [`Backend`] must pass, burn-style: the same cases run against the
//! CPU reference (here), the GPU natively on Vulkan (`crates/gpu/tests`), and the GPU in a
//! browser's WebGPU (`crates/wasm`, driven by the browser tests).
//!
//! Each case builds its data from a seed (planted dictionaries where there is a known answer),
//! computes the CPU reference with `saescope-core`, runs the backend, and compares with a stated
//! tolerance. Near-ties may legitimately rank differently in float32, so selections are checked
//! by value: every selected entry must carry its true value, and the values by rank must agree.

use saescope_core::backend::Backend;
use saescope_core::codes::SparseCodes;
use saescope_core::fit::{self, Trainer};
use saescope_core::kmeans::{self, KMeansConfig, Metric, Points};
use saescope_core::matrix::Matrix;
use saescope_core::rng::SeededRng;
use saescope_core::sae::Sae;
use saescope_core::search::{self, Corpus, Precision};
use saescope_core::synth::{self, PlantedData};
use saescope_core::train::{TrainConfig, TrainState};
use std::sync::Arc;

/// Absolute tolerance on activations, scores and reconstructions (float32 sums of a few hundred
/// products of O(1) values, summed in a different order).
pub const TOLERANCE: f32 = 1e-4;

/// One passed case: its name and what it checked.
pub type Outcome = std::result::Result<String, String>;

fn random_matrix(rows: usize, cols: usize, rng: &mut SeededRng, scale: f32) -> Matrix {
    Matrix::new(rows, cols, (0..rows * cols).map(|_| rng.normal() * scale).collect()).expect("shape")
}

/// A random SAE with non-zero biases and awkward sizes (not multiples of the GPU tile).
pub fn random_sae(d_in: usize, d_sae: usize, k: usize, seed: u64) -> Sae {
    let mut rng = SeededRng::new(seed);
    let w_enc = random_matrix(d_in, d_sae, &mut rng, 1.0 / (d_in as f32).sqrt());
    let mut w_dec = random_matrix(d_sae, d_in, &mut rng, 1.0);
    (0..d_sae).for_each(|j| saescope_core::matrix::normalize(w_dec.row_mut(j)));
    let b_enc = (0..d_sae).map(|_| rng.normal() * 0.1).collect();
    let b_dec = (0..d_in).map(|_| rng.normal() * 0.1).collect();
    Sae::new(k, w_enc, b_enc, w_dec, b_dec).expect("valid")
}

/// Compares selections row by row: equal values by rank, and every index selected by the
/// backend has (within tolerance) the value the reference computes for it.
fn compare_selection(
    what: &str,
    k: usize,
    got: (&[u32], &[f32]),
    want: (&[u32], &[f32]),
    truth: impl Fn(usize, u32) -> f32,
    rows: usize,
) -> Result<(), String> {
    for r in 0..rows {
        let span = r * k..(r + 1) * k;
        for e in span.clone() {
            let (gi, gv, wv) = (got.0[e], got.1[e], want.1[e]);
            if (gv - wv).abs() > TOLERANCE * (1.0 + wv.abs()) {
                return Err(format!("{what}: row {r} rank {} value {gv} vs reference {wv}", e - span.start));
            }
            let t = truth(r, gi);
            if (gv - t).abs() > TOLERANCE * (1.0 + t.abs()) {
                return Err(format!("{what}: row {r} selected {gi} with value {gv}, its true value is {t}"));
            }
        }
        let mut seen: Vec<u32> = got.0[span].to_vec();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return Err(format!("{what}: row {r} selected an index twice"));
        }
    }
    Ok(())
}

fn compare_codes(what: &str, sae: &Sae, x: &Matrix, got: &SparseCodes) -> Result<(), String> {
    let want = sae.encode(x).map_err(|e| e.to_string())?;
    let pre = sae.pre_activations(x).map_err(|e| e.to_string())?;
    if got.rows() != want.rows() || got.k != want.k {
        return Err(format!("{what}: {}x{} codes, expected {}x{}", got.rows(), got.k, want.rows(), want.k));
    }
    compare_selection(
        what,
        sae.k,
        (&got.indices, &got.values),
        (&want.indices, &want.values),
        |r, j| pre.row(r)[j as usize].max(0.0),
        x.rows,
    )
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Encode on a planted dictionary recovers the planted atoms and matches the CPU.
pub async fn encode_planted<B: Backend>(backend: &B) -> Outcome {
    let data = PlantedData::generate(384, 200, 4, 300, 11);
    let sae = Arc::new(data.sae.clone());
    let dev = backend.upload_sae(&sae).await.map_err(|e| e.to_string())?;
    let codes = backend.encode(&dev, &data.embeddings).await.map_err(|e| e.to_string())?;
    compare_codes("planted encode", &sae, &data.embeddings, &codes)?;
    let recovered = (0..data.embeddings.rows)
        .filter(|&r| {
            let mut got: Vec<u32> = codes.active(r).map(|(i, _)| i).collect();
            got.sort_unstable();
            got == data.atoms_of(r)
        })
        .count();
    if recovered * 100 < data.embeddings.rows * 99 {
        return Err(format!("planted encode recovered the atoms of only {recovered}/{} rows", data.embeddings.rows));
    }
    Ok(format!("planted encode: atoms of {recovered}/{} rows recovered", data.embeddings.rows))
}

/// Encode and decode with a random SAE, odd sizes and biases, against the CPU reference.
pub async fn encode_decode_random<B: Backend>(backend: &B) -> Outcome {
    let mut report = Vec::new();
    // Few rows (one query; up to 8) take the GPU's matrix-vector path, more the tiled one.
    for (d_in, d_sae, k, rows, seed) in [
        (48, 700, 37, 130, 1),
        (384, 4096, 128, 33, 2),
        (96, 257, 1, 70, 3),
        (64, 32768, 128, 5, 4),
        (384, 3072, 32, 1, 5),
        (96, 257, 3, 8, 6),
    ] {
        let sae = Arc::new(random_sae(d_in, d_sae, k, seed));
        let x = random_matrix(rows, d_in, &mut SeededRng::new(seed + 100), 1.0);
        let dev = backend.upload_sae(&sae).await.map_err(|e| e.to_string())?;
        let codes = backend.encode(&dev, &x).await.map_err(|e| e.to_string())?;
        compare_codes(&format!("encode d_in={d_in} d_sae={d_sae} k={k}"), &sae, &x, &codes)?;
        let want = sae.decode(&codes).map_err(|e| e.to_string())?;
        let got = backend.decode(&dev, &codes).await.map_err(|e| e.to_string())?;
        let diff = max_abs_diff(&got.data, &want.data);
        if diff > TOLERANCE {
            return Err(format!("decode d_sae={d_sae}: max difference {diff}"));
        }
        report.push(format!("{d_in}x{d_sae} k={k}"));
    }
    Ok(format!("encode+decode match the CPU for {}", report.join(", ")))
}

/// One training comparison: sizes and settings that make the case exercise what it claims.
struct TrainingCase {
    name: &'static str,
    d_in: usize,
    latents: usize,
    k: usize,
    aux_k: Option<usize>,
    rows: usize,
    batch: usize,
    epochs: usize,
    clip_norm: f32,
    aux_coeff: f32,
    /// The first `starved` latents get shrunken encoder columns, so they rarely win a place
    /// and stay dead (AuxK keeps working on them).
    starved: usize,
    /// Latents `j` with `j % dead_at_start == 0` start dead, so AuxK is on from the first step.
    dead_at_start: usize,
    seed: u64,
}

/// Relative tolerance on a step's losses and gradient norm: float32 sums on the device against
/// the reference's float64 sums.
pub const STATS_TOLERANCE: f64 = 1e-3;
/// Absolute tolerance on parameters after the steps (the cases use lr = 1e-3): Adam moves
/// each parameter by about `lr` per step whatever the gradient's size, so float32 rounding
/// shows only where a gradient is tiny (lavapipe: up to 4e-6), while a wrong update rule or
/// gradient direction shows as a sizeable fraction of `lr`.
pub const TRAINED_PARAM_TOLERANCE: f32 = 5e-5;
/// Tolerance on Adam's moments relative to each tensor's largest moment.
pub const MOMENT_TOLERANCE: f32 = 1e-3;

/// Whole training steps (forward, backward, clipping, Adam, renormalisation, dead-latent
/// counters) on the backend against the CPU reference from the same state: every step's
/// statistics, then parameters, Adam moments, step count and counters.
pub async fn training_matches<B: Backend>(backend: &B) -> Outcome {
    // The seeds are chosen so that, on the reference run, every row's k-th and (k+1)-th
    // pre-activation (and AuxK's aux_k-th and next among dead latents, where positive) differ
    // by at least 1e-5: a hundred times the float32 differences between backends, so both make
    // the same selections and the comparison can be exact on counts and counters. (Some seeds
    // have gaps of 1e-8, where a correct backend could legitimately select differently.)
    let cases = [
        TrainingCase {
            name: "clipped",
            d_in: 70,
            latents: 150,
            k: 4,
            aux_k: Some(9),
            rows: 250,
            batch: 90,
            epochs: 2,
            clip_norm: 0.05,
            aux_coeff: 1.0 / 32.0,
            starved: 40,
            dead_at_start: 3,
            seed: 5,
        },
        TrainingCase {
            name: "wide",
            d_in: 70,
            latents: 600,
            k: 7,
            aux_k: None,
            rows: 130,
            batch: 130,
            epochs: 3,
            clip_norm: 1.0,
            aux_coeff: 1.0 / 32.0,
            starved: 100,
            dead_at_start: 2,
            seed: 108,
        },
        TrainingCase {
            name: "without AuxK",
            d_in: 33,
            latents: 97,
            k: 5,
            aux_k: None,
            rows: 100,
            batch: 45,
            epochs: 2,
            clip_norm: 1.0,
            aux_coeff: 0.0,
            starved: 20,
            dead_at_start: 2,
            seed: 3,
        },
    ];
    let mut report = Vec::new();
    for case in &cases {
        report.push(training_case(backend, case).await.map_err(|e| format!("training case {}: {e}", case.name))?);
    }
    Ok(format!("whole training steps match the CPU reference: {}", report.join("; ")))
}

async fn training_case<B: Backend>(backend: &B, case: &TrainingCase) -> Outcome {
    let data = PlantedData::generate(case.d_in, 2 * case.d_in, 3, case.rows, 40 + case.seed).embeddings;
    let config = TrainConfig {
        k: case.k,
        latents: case.latents,
        lr: 1e-3,
        batch: case.batch,
        epochs: case.epochs,
        dead_steps: Some(2),
        aux_k: case.aux_k,
        clip_norm: case.clip_norm,
        aux_coeff: case.aux_coeff,
        seed: case.seed,
    };
    let mut state = TrainState::init(&data, config, &mut SeededRng::new(case.seed)).map_err(|e| e.to_string())?;
    for i in 0..case.d_in {
        state.sae.w_enc[i * case.latents..i * case.latents + case.starved].iter_mut().for_each(|w| *w *= 0.05);
    }
    state.since_fired.iter_mut().step_by(case.dead_at_start).for_each(|s| *s = state.dead_steps);

    let mut runs = Vec::new();
    for on_backend in [false, true] {
        let mut stats = Vec::new();
        let rng = SeededRng::new(case.seed + 100);
        let end = if on_backend {
            let mut t = Trainer::start(backend, &state, rng).await.map_err(|e| e.to_string())?;
            for _ in 0..case.epochs {
                t.epoch(&data, |s| stats.push(*s)).await.map_err(|e| e.to_string())?;
            }
            t.state().await
        } else {
            let mut t = Trainer::start(&saescope_core::CpuBackend, &state, rng).await.map_err(|e| e.to_string())?;
            for _ in 0..case.epochs {
                t.epoch(&data, |s| stats.push(*s)).await.map_err(|e| e.to_string())?;
            }
            t.state().await
        };
        runs.push((stats, end.map_err(|e| e.to_string())?));
    }
    let (got_stats, got) = runs.pop().expect("two runs");
    let (want_stats, want) = runs.pop().expect("two runs");

    // The case must exercise what it claims, or it proves nothing.
    if case.aux_coeff > 0.0 && !want_stats.iter().any(|s| s.aux_loss > 0.0) {
        return Err("AuxK never contributed on the CPU reference".into());
    }
    let clipped = want_stats.iter().filter(|s| s.grad_norm > case.clip_norm as f64).count();
    if case.clip_norm < 1.0 && clipped == 0 {
        return Err("the gradient was never clipped on the CPU reference".into());
    }

    if got_stats.len() != want_stats.len() {
        return Err(format!("{} steps, the reference made {}", got_stats.len(), want_stats.len()));
    }
    for (step, (g, w)) in got_stats.iter().zip(&want_stats).enumerate() {
        let close = |a: f64, b: f64| (a - b).abs() <= STATS_TOLERANCE * b.abs() + 1e-7;
        let exact = |a: f64, b: f64| (a - b).abs() <= 1e-9;
        if !(close(g.loss, w.loss)
            && close(g.nmse, w.nmse)
            && close(g.aux_loss, w.aux_loss)
            && close(g.grad_norm, w.grad_norm)
            && exact(g.l0, w.l0)
            && exact(g.dead_fraction, w.dead_fraction))
        {
            return Err(format!("step {}: statistics {g:?}, reference {w:?}", step + 1));
        }
    }
    if got.step != want.step || got.since_fired != want.since_fired {
        return Err(format!(
            "after {} steps (reference {}): since-fired counters {:?}, reference {:?}",
            got.step, want.step, got.since_fired, want.since_fired
        ));
    }
    let mut worst_param = 0.0f32;
    for ((name, g), (_, w)) in got.sae.named_parameters().into_iter().zip(want.sae.named_parameters()) {
        let diff = max_abs_diff(g, w);
        if g.len() != w.len() || diff > TRAINED_PARAM_TOLERANCE {
            return Err(format!("{name} differs from the reference by {diff} after {} steps", want.step));
        }
        worst_param = worst_param.max(diff);
    }
    let mut worst_moment = 0.0f32;
    for (what, got_m, want_m) in [("Adam m", &got.adam_m, &want.adam_m), ("Adam v", &got.adam_v, &want.adam_v)] {
        for ((name, g), (_, w)) in got_m.parts().into_iter().zip(want_m.parts()) {
            let scale = w.iter().fold(0.0f32, |a, v| a.max(v.abs())).max(f32::MIN_POSITIVE);
            let rel = max_abs_diff(g, w) / scale;
            if g.len() != w.len() || rel > MOMENT_TOLERANCE {
                return Err(format!("{what} of {name} differs from the reference by {rel:.2e} of its largest value"));
            }
            worst_moment = worst_moment.max(rel);
        }
    }
    let dead = want_stats.iter().map(|s| s.dead_fraction).fold(0.0, f64::max);
    Ok(format!(
        "{} ({}x{} k={}, {} steps, up to {:.0}% dead, {clipped} clipped): parameters within {worst_param:.1e}, moments within {worst_moment:.1e}",
        case.name,
        case.d_in,
        case.latents,
        case.k,
        want.step,
        100.0 * dead
    ))
}

/// Exact search over several shards, f32, f16 and int8, including duplicate documents whose exact
/// ties must be broken by the lower index, as the CPU does.
pub async fn search_matches<B: Backend>(backend: &B) -> Outcome {
    let mut rng = SeededRng::new(21);
    let mut docs = random_matrix(1500, 64, &mut rng, 1.0);
    (0..docs.rows).for_each(|r| saescope_core::matrix::normalize(docs.row_mut(r)));
    for (dup, orig) in [(900usize, 10usize), (1400, 10), (1200, 700)] {
        let row = docs.row(orig).to_vec();
        docs.row_mut(dup).copy_from_slice(&row);
    }
    let mut queries = random_matrix(19, 64, &mut rng, 1.0);
    for (q, d) in [(0usize, 10usize), (1, 700)] {
        let row = docs.row(d).to_vec();
        queries.row_mut(q).copy_from_slice(&row);
    }
    let all_queries = queries;
    use Precision::{F16, F32, I8};
    for (precision, nq) in [(F32, 19), (F16, 19), (F32, 1), (F16, 8), (I8, 1), (I8, 19)] {
        // One to eight queries take the GPU's matrix-vector path, more the tiled one.
        let queries = all_queries.slice_rows(0, nq);
        let corpus = Arc::new(Corpus::from_matrix(&docs, 600, precision));
        let dev = backend.upload_corpus(&corpus).await.map_err(|e| e.to_string())?;
        for k in [1, 10, 128] {
            let got = backend.search(&dev, &queries, k).await.map_err(|e| e.to_string())?;
            let want = search::search(&corpus, &queries, k).map_err(|e| e.to_string())?;
            let all = corpus.to_matrix();
            compare_selection(
                &format!("search k={k} {precision:?} queries={nq}"),
                k,
                (&got.indices, &got.scores),
                (&want.indices, &want.scores),
                |q, i| saescope_core::matrix::dot(queries.row(q), all.row(i as usize)),
                queries.rows,
            )?;
            // Exact duplicates score identically on any backend: the lower index must win.
            for q in 0..2.min(nq) {
                if got.row(q).0[..k.min(3)] != want.row(q).0[..k.min(3)] {
                    return Err(format!(
                        "search k={k} {precision:?} queries={nq}: query {q} tie order {:?} vs {:?}",
                        got.row(q).0,
                        want.row(q).0
                    ));
                }
            }
        }
    }
    Ok("search matches the CPU: 1500 docs in 3 shards, f32 and f16, 1, 8 and 19 queries, k = 1, 10, 128, exact ties by index".into())
}

/// The k-means assignment step on dense and sparse points, Euclidean and cosine, and a whole
/// k-means run whose inertia must match the CPU run's.
pub async fn kmeans_matches<B: Backend>(backend: &B) -> Outcome {
    let data = PlantedData::generate(64, 120, 5, 900, 31);
    let codes = data.sae.encode(&data.embeddings).map_err(|e| e.to_string())?;
    let mut rng = SeededRng::new(3);
    for (name, points) in [("dense", Points::Dense(&data.embeddings)), ("sparse", Points::Sparse(&codes))] {
        let resident = backend.upload_points(points).await.map_err(|e| e.to_string())?;
        for metric in [Metric::Euclidean, Metric::Cosine] {
            let centroids = kmeans::kmeans_plus_plus(points, 37, metric, &mut rng);
            let want = kmeans::assign(points, &centroids, metric).map_err(|e| e.to_string())?;
            let got = backend.assign(&resident, &centroids, metric).await.map_err(|e| e.to_string())?;
            for i in 0..points.len() {
                let (g, w) = (got.distance[i], want.distance[i]);
                if (g - w).abs() > TOLERANCE * (1.0 + w.abs()) * 10.0 {
                    return Err(format!("{name} {metric:?} assign: point {i} distance {g} vs {w}"));
                }
                if got.cluster[i] != want.cluster[i] {
                    // Only a near-tie may pick another centroid: its true distance must be as small.
                    let c = got.cluster[i] as usize;
                    let (sq, inv) = kmeans::point_norms(points, i);
                    let cn = saescope_core::matrix::dot(centroids.row(c), centroids.row(c));
                    let true_d = kmeans::distance(metric, points.dot(i, centroids.row(c)), sq, inv, cn);
                    if (true_d - w).abs() > TOLERANCE * (1.0 + w.abs()) * 10.0 {
                        return Err(format!(
                            "{name} {metric:?} assign: point {i} -> {c} (distance {true_d}) but nearest is {} ({w})",
                            want.cluster[i]
                        ));
                    }
                }
            }
        }
        let config = KMeansConfig { clusters: 20, iterations: 8, metric: Metric::Euclidean, seed: 9 };
        let got = fit::kmeans(backend, points, &config).await.map_err(|e| e.to_string())?;
        let want = pollster_free_cpu_kmeans(points, &config)?;
        let (g, w) = (*got.inertia.last().unwrap(), *want.inertia.last().unwrap());
        if (g - w).abs() > 1e-3 * w.abs().max(1.0) {
            return Err(format!("{name} k-means final inertia {g} vs CPU {w}"));
        }
    }
    Ok("k-means assignment matches the CPU (dense and sparse, Euclidean and cosine); full runs reach the CPU's inertia"
        .into())
}

/// Runs the CPU k-means synchronously (its futures never wait).
fn pollster_free_cpu_kmeans(points: Points, config: &KMeansConfig) -> Result<kmeans::KMeansResult, String> {
    let fut = fit::kmeans(&saescope_core::CpuBackend, points, config);
    saescope_core::block_on_ready(fut).map_err(|e| e.to_string())
}

/// Random codes: `k` distinct features per row, a fifth of the entries inactive (value 0).
fn random_codes(rows: usize, d_sae: usize, k: usize, rng: &mut SeededRng) -> SparseCodes {
    let (mut indices, mut values) = (Vec::with_capacity(rows * k), Vec::with_capacity(rows * k));
    for _ in 0..rows {
        indices.extend(rng.distinct(d_sae, k).into_iter().map(|i| i as u32));
        values.extend((0..k).map(|_| if rng.uniform() < 0.2 { 0.0 } else { rng.normal().abs() + 0.01 }));
    }
    SparseCodes::new(k, d_sae, indices, values).expect("valid random codes")
}

/// Feature co-occurrence counts are integers: the backend's must equal the CPU's exactly, on
/// random codes with inactive entries and on planted feature families.
pub async fn cooccurrence_matches<B: Backend>(backend: &B) -> Outcome {
    let mut rng = SeededRng::new(41);
    let planted = synth::planted_families(6, 5, 4, 3000, 2).map_err(|e| e.to_string())?.codes;
    let mut report = Vec::new();
    for (name, codes) in [
        ("random 1500 x k=9 over 700", random_codes(1500, 700, 9, &mut rng)),
        ("planted families", planted),
        ("random 40 x k=128 over 1031", random_codes(40, 1031, 128, &mut rng)),
    ] {
        let want = saescope_core::cooccurrence::cooccurrence(&codes).map_err(|e| e.to_string())?;
        let got = backend.cooccurrence(&codes).await.map_err(|e| e.to_string())?;
        if got != want {
            let diff = (0..codes.d_sae as u32)
                .flat_map(|i| (i..codes.d_sae as u32).map(move |j| (i, j)))
                .find(|&(i, j)| got.get(i, j) != want.get(i, j));
            return Err(match diff {
                Some((i, j)) => {
                    format!("co-occurrence of {name}: C[{i},{j}] = {} vs CPU {}", got.get(i, j), want.get(i, j))
                }
                None => format!("co-occurrence of {name}: same counts, different shape"),
            });
        }
        report.push(format!("{name} ({} pairs)", want.pair_count()));
    }
    Ok(format!("co-occurrence equals the CPU's exactly: {}", report.join(", ")))
}

/// Bad input is refused with a reason, not a crash.
pub async fn rejects_bad_input<B: Backend>(backend: &B) -> Outcome {
    let sae = Arc::new(synth::planted_sae(32, 64, 4, 1));
    let dev = backend.upload_sae(&sae).await.map_err(|e| e.to_string())?;
    let wrong = Matrix::zeros(3, 31);
    let e1 = backend.encode(&dev, &wrong).await.err().ok_or("encode accepted 31-d input for a 32-d SAE")?;
    let mut nan = Matrix::zeros(2, 32);
    nan.data[40] = f32::NAN;
    let e2 = backend.encode(&dev, &nan).await.err().ok_or("encode accepted NaN")?;
    let corpus = Arc::new(Corpus::from_matrix(&Matrix::zeros(5, 32), 5, Precision::F32));
    let c = backend.upload_corpus(&corpus).await.map_err(|e| e.to_string())?;
    let e3 = backend
        .search(&c, &Matrix::zeros(1, 16), 3)
        .await
        .err()
        .ok_or("search accepted 16-d queries on a 32-d corpus")?;

    let config = TrainConfig { k: 4, latents: 64, batch: 8, ..Default::default() };
    let state = TrainState::fresh((*sae).clone(), config, 1).map_err(|e| e.to_string())?;
    let no_dead_steps = TrainState { dead_steps: 0, ..state.clone() };
    let e4 = backend.train_begin(&no_dead_steps).await.err().ok_or("training started with dead_steps = 0")?;
    let mut training = backend.train_begin(&state).await.map_err(|e| e.to_string())?;
    let e5 = backend
        .train_step(&mut training, &wrong)
        .await
        .err()
        .ok_or("a training step accepted 31-d rows for a 32-d SAE")?;
    let e6 = backend.train_step(&mut training, &nan).await.err().ok_or("a training step accepted NaN")?;
    let e7 = backend
        .train_step(&mut training, &Matrix::zeros(0, 32))
        .await
        .err()
        .ok_or("a training step accepted an empty batch")?;
    if backend.train_read(&training).await.map_err(|e| e.to_string())? != state {
        return Err("a refused training step changed the training state".into());
    }
    // Finite but huge: would overflow to infinite codes and scores.
    let mut huge = Matrix::zeros(2, 32);
    huge.data[7] = 1e30;
    let e8 = backend.encode(&dev, &huge).await.err().ok_or("encode accepted a value of 1e30")?;
    let e9 = backend.search(&c, &huge, 3).await.err().ok_or("search accepted a query value of 1e30")?;
    // An empty corpus: the queries must not vanish into an empty answer.
    let empty = Arc::new(Corpus::from_matrix(&Matrix::zeros(0, 32), 5, Precision::F32));
    let e10 = match backend.upload_corpus(&empty).await {
        Err(e) => e,
        Ok(c) => {
            backend.search(&c, &Matrix::zeros(1, 32), 3).await.err().ok_or("search of an empty corpus answered")?
        }
    };
    Ok(format!("bad input refused: {e1}; {e2}; {e3}; {e4}; {e5}; {e6}; {e7}; {e8}; {e9}; {e10}"))
}

/// Every case, in order, with its outcome.
pub async fn run_all<B: Backend>(backend: &B) -> Vec<(&'static str, Outcome)> {
    vec![
        ("encode_planted", encode_planted(backend).await),
        ("encode_decode_random", encode_decode_random(backend).await),
        ("training_matches", training_matches(backend).await),
        ("search_matches", search_matches(backend).await),
        ("kmeans_matches", kmeans_matches(backend).await),
        ("cooccurrence_matches", cooccurrence_matches(backend).await),
        ("rejects_bad_input", rejects_bad_input(backend).await),
    ]
}
