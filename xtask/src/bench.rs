//! `cargo xtask bench [--quick] [--reuse] [--only layout|selection|search|browser|scale|sizes|workshop]`: every hot path side by side with the
//! tool a user would otherwise pick, on the same data, into BENCHMARKS.md.
//!
//! 1. `saescope-bench` (release) writes the shared inputs as `.npy` under `target/bench-data`
//!    and its own timings as `ours.json`;
//! 2. `xtask/bench/peers.py` times numpy, faiss, scikit-learn, networkx and umap-learn on the
//!    same files (in a venv under `target/` with the pinned `requirements.txt`) and prints JSON;
//! 3. the page is timed in headless Chromium on the demo bundle (`tests/browser/measure.mjs`),
//!    and the bundle's and the wasm binary's sizes are read;
//! 4. the tables are printed and, in full mode, written between the `saescope-bench` markers.
//!
//! `--reuse` keeps the timings of steps 1 and 2 from an earlier run of the same mode.
//! `--only layout` runs the map layout cases alone (ours and umap-learn's, in
//! `target/bench-layout`, no GPU, no browser) and rewrites only the `layout` block;
//! `--only selection` likewise the map's lasso and enrichment at 200k documents (ours and
//! numpy's, in `target/bench-selection`) and the `selection` block; `--only search` the exact
//! search at each storage (f32, f16, int8; ours on the CPU and GPU paths and faiss's, in
//! `target/bench-search`) and the `search` block; `--only browser` the explorer's latencies in
//! the page (the `browser` block); `--only scale` a bundle of the 190k papers (`saescope build`'s
//! time and memory, bytes per document, the page on it: the `scale` block).
//! `--quick` runs smaller inputs once each and leaves BENCHMARKS.md as it is.
//!
//! A failed check (top-k agreement, recall@10 = 1 against faiss, final inertia within 1%,
//! identical families, our map's trustworthiness within 0.01 of umap-learn's, the same lasso
//! selection and first enriched feature as numpy) fails the command
//! before BENCHMARKS.md is touched.

use crate::{
    build_demo_bundle, build_wasm, cargo, replace_block, root, run, serve, setup, DEMO_DIR, SHARED_EMBEDDINGS,
};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const DATA_DIR: &str = "target/bench-data";
/// `--only` keeps its inputs apart (`target/bench-<group>`), so that it leaves a full run's to
/// `--reuse`.
const VENV_DIR: &str = "target/bench-venv";
const REQUIREMENTS: &str = "xtask/bench/requirements.txt";

/// A table cell for a number that may be missing.
fn cell(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.decimals$}"))
}

/// Milliseconds with as many decimals as are meaningful.
fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v < 10.0 => format!("{v:.2}"),
        Some(v) if v < 100.0 => format!("{v:.1}"),
        other => cell(other, 0),
    }
}

/// "1 run", "3 runs": a Timing's count.
fn runs(timing: &Value) -> String {
    match timing.get("runs").and_then(Value::as_u64) {
        Some(1) => "1 run".into(),
        Some(n) => format!("{n} runs"),
        None => "no run".into(),
    }
}

/// How many times faster ours is than the peer (peer time / our time).
fn speedup(peer: Option<f64>, ours: Option<f64>) -> String {
    match (peer, ours) {
        (Some(p), Some(o)) if o > 0.0 => format!("{:.2}x", p / o),
        _ => "—".into(),
    }
}

fn median(v: &Value) -> Option<f64> {
    v.get("median_ms").and_then(Value::as_f64)
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn cases<'a>(v: &'a Value, section: &str) -> &'a [Value] {
    v.get(section).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// What our GPU column shows: the time, or why there is none.
fn gpu_cell(gpu: &Value, per: f64) -> String {
    match median(gpu) {
        Some(t) => ms(Some(t / per)),
        None => format!("not run: {}", text(gpu, "skipped")),
    }
}

/// The failed checks of a run; the tables are printed either way.
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    fn require(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }
}

fn first_line(cmd: &mut Command) -> String {
    cmd.output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").trim().to_owned())
        .unwrap_or_default()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The venv with the pinned peers; reinstalled when requirements.txt changes.
fn peers_python() -> Result<PathBuf> {
    let venv = root().join(VENV_DIR);
    let python = venv.join("bin/python");
    let wanted = std::fs::read_to_string(root().join(REQUIREMENTS))?;
    let stamp = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && python.exists() {
        return Ok(python);
    }
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
        REQUIREMENTS,
    ]))?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

fn json_output(cmd: &mut Command, what: &str) -> Result<Value> {
    let out =
        cmd.current_dir(root()).stderr(Stdio::inherit()).output().with_context(|| format!("cannot start {what}"))?;
    if !out.status.success() {
        bail!("{what} failed ({})", out.status);
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("{what} printed no JSON"))
}

/// Times the page in headless Chromium on the demo bundle (WebGPU and the CPU path).
fn measure_browser(demo: &Path) -> Result<Value> {
    setup::browser()?;
    build_wasm()?;
    let server = serve::Server::start(0)?;
    let relative = demo.strip_prefix(root()).context("the demo bundle is inside the workspace")?.display().to_string();
    json_output(
        Command::new("node")
            .arg("tests/browser/measure.mjs")
            .env("SAESCOPE_URL", server.url())
            .env("SAESCOPE_DEMO", relative),
        "tests/browser/measure.mjs",
    )
}

/// The machine a page measurement ran on: CPU, cores, browser.
fn page_machine() -> String {
    format!(
        "{}, {} cores; {}",
        first_line(Command::new("sh").args(["-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"])),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        first_line(Command::new("chromium").arg("--version")),
    )
}

/// `cargo xtask bench --only browser`: the explorer in headless Chromium on the demo bundle
/// (`tests/browser/measure.mjs`: loads, typed queries and slider moves with their breakdown),
/// into the `browser` block of BENCHMARKS.md.
fn bench_browser() -> Result<()> {
    let load_before = load_average();
    run(cargo().args(["build", "--release", "-p", "saescope-cli"]))?;
    let demo = root().join(DEMO_DIR);
    build_demo_bundle(&root().join("target/release/saescope"), &demo)?;
    let browser = measure_browser(&demo)?;
    let load_after = load_average();
    let date = first_line(Command::new("date").args(["-u", "+%Y-%m-%d"]));
    let body = format!(
        "Command: `cargo xtask bench --only browser` ({date}). Machine: {}. 1-minute load average before the run: {load_before} (after: {load_after}).\n\n{}",
        page_machine(),
        browser_table(&browser, &Value::Null)
    );
    println!("{body}");
    replace_block(&root().join("BENCHMARKS.md"), "browser", &body)
}

/// The full corpus of the shared data (189,987 arXiv papers), for `--only scale`.
const SHARED_PAPERS: &str = "../shared/data/arxiv/papers.jsonl.gz";

/// Settings of the scale bundle: the demo's SAE, int8 embeddings, and 5 epochs (190k documents
/// give ~185 steps per epoch: 5 epochs are the demo's ~950 steps).
const SCALE_BUILD: &[&str] =
    &["--k", "32", "--latents", "3072", "--epochs", "5", "--lr", "1e-3", "--seed", "0", "--storage", "i8"];

/// `cargo xtask bench --only scale`: `saescope build` on the 190k papers with grown embeddings
/// (`xtask/bench/grow.py`: no real embeddings of them exist yet), timed with its peak resident
/// memory, then the page on that bundle (CPU path): the `scale` block of BENCHMARKS.md.
fn bench_scale() -> Result<()> {
    let load_before = load_average();
    let papers = root().join(SHARED_PAPERS);
    if !papers.exists() {
        bail!("the scale benchmark builds a bundle of {}, which is missing", papers.display());
    }
    run(cargo().args(["build", "--release", "-p", "saescope-cli"]))?;
    let dir = root().join("target/bench-scale");
    std::fs::create_dir_all(&dir)?;
    let embeddings = dir.join("grown.npy");
    let documents: u64 = first_line(
        Command::new(peers_python()?)
            .arg("xtask/bench/grow.py")
            .arg(root().join(SHARED_EMBEDDINGS))
            .arg(&papers)
            .arg(&embeddings),
    )
    .parse()
    .context("grow.py prints the row count")?;
    let bundle = dir.join("bundle");
    let _ = std::fs::remove_dir_all(&bundle);
    let started = std::time::Instant::now();
    let built = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(root().join("target/release/saescope"))
        .args(["build", "--name", "arXiv 190k (grown embeddings)", "--corpus"])
        .arg(&papers)
        .arg("--embeddings")
        .arg(&embeddings)
        .arg("--embedder")
        .arg(crate::model::fetch()?)
        .args(SCALE_BUILD)
        .arg("--out")
        .arg(&bundle)
        .output()?;
    let build_s = started.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&built.stderr);
    if !built.status.success() {
        bail!("saescope build failed:\n{log}");
    }
    let peak_kb: f64 = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes): "))
        .and_then(|v| v.parse().ok())
        .context("no peak memory in /usr/bin/time's report")?;
    let stages: Vec<String> = log
        .lines()
        .filter_map(|l| l.strip_prefix("stage "))
        .map(|s| s.trim_end_matches(" s").replace(": ", " ") + " s")
        .collect();
    let relative = bundle.strip_prefix(root())?.display().to_string();
    setup::browser()?;
    build_wasm()?;
    let server = serve::Server::start(0)?;
    let page = json_output(
        Command::new("node")
            .arg("tests/browser/measure.mjs")
            .env("SAESCOPE_URL", server.url())
            .env("SAESCOPE_DEMO", &relative)
            .env("SAESCOPE_ENGINES", "cpu"),
        "tests/browser/measure.mjs",
    )?;
    let cpu = &page["cpu"];
    let load_after = load_average();
    let date = first_line(Command::new("date").args(["-u", "+%Y-%m-%d"]));
    let mut out = format!(
        "Command: `cargo xtask bench --only scale` ({date}). Machine: {}. 1-minute load average before the run: {load_before} (after: {load_after}).\n\n\
         `saescope build --corpus papers.jsonl.gz --embeddings grown.npy {}` on the {documents} papers of the shared data. No real \
         embeddings of them exist yet, so `xtask/bench/grow.py` grows them from the 20k demo embeddings and noisy copies (speed \
         and size only: row i is not document i's embedding, so its labels mean nothing). Build: {build_s:.0} s wall, peak \
         resident memory {:.2} GB (`/usr/bin/time -v`); stages: {}.\n\n",
        page_machine(),
        SCALE_BUILD.join(" "),
        peak_kb / 1048576.0,
        stages.join(", "),
    );
    out += &sizes_table(&bundle)?;
    out += &format!(
        "\nThe page on this bundle (CPU path, `tests/browser/measure.mjs`): cold load to the first result {} ms, warm reload {} ms, \
         a typed query {} ms end to end ({} ms in the page: embed {}, search {}, transfer {}, render {}), a slider move {} ms ({} \
         ms in the page: search {}, transfer {}, render {}); tab memory {} MB (Chromium's renderer processes).\n",
        cell(num(cpu, "cold_ms"), 0),
        cell(num(cpu, "warm_ms"), 0),
        cell(num(cpu, "query_ms"), 0),
        cell(num(&cpu["query_stages"], "total"), 0),
        cell(num(&cpu["query_stages"], "embed"), 0),
        cell(num(&cpu["query_stages"], "search"), 0),
        cell(num(&cpu["query_stages"], "transfer"), 0),
        cell(num(&cpu["query_stages"], "render"), 0),
        cell(num(cpu, "slider_ms"), 0),
        cell(num(&cpu["slider_stages"], "total"), 0),
        cell(num(&cpu["slider_stages"], "search"), 0),
        cell(num(&cpu["slider_stages"], "transfer"), 0),
        cell(num(&cpu["slider_stages"], "render"), 0),
        cell(num(cpu, "tab_mb"), 0),
    );
    println!("{out}");
    replace_block(&root().join("BENCHMARKS.md"), "scale", &out)
}

/// `cargo xtask bench --only workshop`: the page's workshop in headless Chromium
/// (`tests/browser/measure-workshop.mjs`: 2,000 real abstracts from file drop to explorable on
/// the CPU path and on WebGPU, embedding rates with 1 and 2 workers), beside the native embedder
/// (`saescope embed`) on the same sample, into the `workshop` block of BENCHMARKS.md.
fn bench_workshop() -> Result<()> {
    let load_before = load_average();
    setup::browser()?;
    run(cargo().args(["build", "--release", "-p", "saescope-cli"]))?;
    let cli = root().join("target/release/saescope");
    let demo = root().join(DEMO_DIR);
    build_demo_bundle(&cli, &demo)?;
    build_wasm()?;
    let data = root().join("target/bench-workshop");
    std::fs::create_dir_all(&data)?;
    let server = serve::Server::start(0)?;
    let page = json_output(
        Command::new("node")
            .arg("tests/browser/measure-workshop.mjs")
            .env("SAESCOPE_URL", server.url())
            .env("SAESCOPE_DEMO", DEMO_DIR)
            .env("SAESCOPE_SAMPLE", &data),
        "tests/browser/measure-workshop.mjs",
    )?;
    drop(server);
    // The peer: the native embedder on the same sample (both cores: candle's own threads).
    let sample = data.join("sample.jsonl");
    let started = std::time::Instant::now();
    run(Command::new(&cli)
        .args(["embed", "--corpus"])
        .arg(&sample)
        .arg("--out")
        .arg(data.join("sample.npy"))
        .arg("--model")
        .arg(crate::model::fetch()?))?;
    let native = page["rates"]["documents"].as_f64().unwrap_or(f64::NAN) / started.elapsed().as_secs_f64();
    let load_after = load_average();
    let f = |v: &Value| v.as_f64().map_or("–".to_owned(), |x| format!("{x:.1}"));
    let date = first_line(Command::new("date").args(["-u", "+%Y-%m-%d"]));
    let mut out = format!(
        "Command: `cargo xtask bench --only workshop` ({date}). Machine: {}. 1-minute load average before the run: {load_before} (after: {load_after}). \
         `tests/browser/measure-workshop.mjs` drives the Workshop tab as a visitor would, on real abstracts of the shared demo corpus (half astro-ph, half cs.LG), with the default training settings for the corpus's size.\n\n",
        page_machine(),
    );
    let rates = &page["rates"];
    out += &format!("Embedding {} abstracts with all-MiniLM-L6-v2 (documents per second):\n\n", rates["documents"]);
    out += &header(&["embedder", "documents per second"]);
    out += &row(&["page, 1 worker (wasm, SIMD128)".into(), f(&rates["one"])]);
    out += &row(&["page, 2 workers".into(), f(&rates["two"])]);
    out += &row(&["native `saescope embed` (candle, 2 threads)".into(), format!("{native:.1}")]);
    for (name, run) in [
        ("the CPU path (`?device=cpu`), embedding in the page", &page["cpu"]),
        ("WebGPU (SwiftShader), embeddings imported as `.npy`", &page["webgpu"]),
    ] {
        let t = &run["times"];
        out += &format!(
            "\n{} documents, file drop to explorable on {name} (engine: {}; settings {}; held-out NMSE {}):\n\n",
            run["documents"],
            text(run, "engine"),
            run["settings"],
            run["nmse"].as_f64().map_or("–".into(), |x| format!("{x:.3}"))
        );
        out += &header(&["step", "seconds"]);
        for (step, key) in [
            ("read the file", "read"),
            ("embed (2 workers)", "embed"),
            ("train", "train"),
            ("build, save and open", "build_and_open"),
        ] {
            if !t[key].is_null() {
                out += &row(&[step.into(), f(&t[key])]);
            }
        }
        if let Some(stages) = run["stages"].as_object() {
            for (stage, ms) in stages {
                out += &row(&[
                    format!("&nbsp;&nbsp;of which {stage}"),
                    ms.as_f64().map_or("–".into(), |x| format!("{:.1}", x / 1e3)),
                ]);
            }
        }
        out += &row(&["**total**".into(), format!("**{}**", f(&run["total"]))]);
    }
    println!("## workshop\n\n{out}");
    replace_block(&root().join("BENCHMARKS.md"), "workshop", &out)
}

fn gzip_size(path: &Path) -> Result<u64> {
    let out = Command::new("gzip").args(["-9", "-c"]).arg(path).output().context("cannot run gzip")?;
    Ok(out.stdout.len() as u64)
}

fn header(cells: &[&str]) -> String {
    let aligns: Vec<&str> = cells.iter().enumerate().map(|(i, _)| if i == 0 { "---" } else { "---:" }).collect();
    format!("| {} |\n|{}|\n", cells.join(" | "), aligns.join("|"))
}

fn row(cells: &[String]) -> String {
    format!("| {} |\n", cells.join(" | "))
}

struct Tables<'a> {
    ours: &'a Value,
    peers: &'a Value,
    checks: Checks,
}

impl<'a> Tables<'a> {
    fn peer(&self, section: &str, id: &str) -> &'a Value {
        &self.peers[section][id]
    }

    /// The peak single-precision matmul rate measured here (GFLOP/s), ours and numpy's.
    fn peak(&self) -> (Option<f64>, Option<f64>) {
        let sgemm = &self.ours["sgemm"];
        let gflop = num(sgemm, "n").map(|n| 2.0 * n.powi(3) / 1e9);
        let rate = |t: Option<f64>| Some(gflop? / (t? / 1e3));
        (rate(median(&sgemm["cpu"])), rate(median(&self.peers["sgemm"]["numpy"])))
    }

    fn encode(&mut self) -> String {
        let (ours_peak, numpy_peak) = self.peak();
        let peak = ours_peak.into_iter().chain(numpy_peak).fold(f64::NAN, f64::max);
        let n = num(&self.ours["sgemm"], "n").unwrap_or(0.0);
        let mut out = format!(
            "Peak f32 matmul ({n} x {n} x {n}, median): numpy (OpenBLAS) {} GFLOP/s, ours (matrixmultiply) {} GFLOP/s; \"% of peak\" is against the higher, {peak:.0} GFLOP/s. \
             The numpy peer computes `(x - b_dec) @ W_enc + b_enc`, then `argpartition` and a sort of the k per row, and the ReLU; \
             \"top-k agreement\" is the fraction of rows whose selected latents equal ours (CPU).\n\n",
            cell(numpy_peak, 0),
            cell(ours_peak, 0),
        );
        out += &header(&[
            "case (rows x d -> d_sae, k)",
            "data",
            "ours CPU (ms)",
            "numpy (ms)",
            "numpy / ours",
            "ours CPU GFLOP/s (% of peak)",
            "numpy GFLOP/s (% of peak)",
            "ours GPU (ms)",
            "top-k agreement: numpy, GPU",
        ]);
        for case in cases(self.ours, "encode") {
            let id = text(case, "id");
            let peer = self.peer("encode", id);
            let gflop = num(case, "gflop").unwrap_or(f64::NAN);
            let (cpu, numpy) = (median(&case["cpu"]), median(&peer["numpy"]));
            let rate = |t: Option<f64>| {
                t.map_or("—".into(), |t| {
                    format!("{:.0} ({:.0}%)", gflop / (t / 1e3), 100.0 * gflop / (t / 1e3) / peak)
                })
            };
            let (numpy_agree, gpu_agree) = (num(peer, "agreement"), num(case, "gpu_agreement"));
            // Float summation order may swap a near-tie at the k-th place; more than that is a bug.
            for (who, a) in [("numpy", numpy_agree), ("GPU", gpu_agree)] {
                self.checks.require(a.is_none_or(|a| a >= 0.99), || {
                    format!("{id}: {who} top-k agrees with ours on only {:.2}% of rows", 100.0 * a.unwrap_or(0.0))
                });
            }
            out += &row(&[
                format!("{} x {} -> {}, k={}", case["rows"], case["d_in"], case["d_sae"], case["k"]),
                text(case, "data").into(),
                ms(cpu),
                ms(numpy),
                speedup(numpy, cpu),
                rate(cpu),
                rate(numpy),
                gpu_cell(&case["gpu"], 1.0),
                format!(
                    "{}, {}",
                    cell(numpy_agree.map(|a| 100.0 * a), 2) + "%",
                    gpu_agree.map_or("—".into(), |a| format!("{:.2}%", 100.0 * a))
                ),
            ]);
        }
        out
    }

    fn search(&mut self) -> String {
        let mut out = String::from(
            "Top-10 by inner product; the queries are the corpus's first documents. Storage: f32; f16; int8 with a scale and an offset \
             per dimension (`saescope_core::search::Quantized`, one byte per value). faiss is `IndexFlatIP` for f32, \
             `IndexScalarQuantizer(QT_fp16)` for f16 and `IndexScalarQuantizer(QT_8bit)` (trained on the same f32 values) for int8. \
             Recall@10 \"stored\" is against `IndexFlatIP` over the values ours stores (f16 widened, int8 dequantised): ours must find \
             exactly those (1.000); recall@10 \"f32\" is against `IndexFlatIP` over the original f32 values, what the compact storage \
             costs (for faiss's int8 its only measure: it stores other values).\n\n",
        );
        out += &header(&[
            "case",
            "data",
            "ours CPU (ms)",
            "faiss (ms)",
            "faiss / ours",
            "ours GPU (ms)",
            "recall@10 stored: ours CPU, ours GPU, faiss",
            "recall@10 f32: ours, faiss",
        ]);
        for case in cases(self.ours, "search") {
            let id = text(case, "id");
            let peer = self.peer("search", id);
            let (cpu, faiss) = (median(&case["cpu"]), median(&peer["faiss"]));
            let recalls = [num(peer, "recall_cpu"), num(peer, "recall_gpu")];
            self.checks.require(recalls[0] == Some(1.0), || {
                format!("{id}: recall@10 of ours (CPU) over its stored values is {}", cell(recalls[0], 4))
            });
            self.checks.require(recalls[1].is_none_or(|r| r == 1.0), || {
                format!("{id}: recall@10 of ours (GPU) over its stored values is {}", cell(recalls[1], 4))
            });
            out += &row(&[
                format!(
                    "{} quer{} over {} docs ({})",
                    case["queries"],
                    if case["queries"] == 1 { "y" } else { "ies" },
                    case["docs"],
                    text(case, "storage")
                ),
                text(case, "data").into(),
                ms(cpu),
                ms(faiss),
                speedup(faiss, cpu),
                gpu_cell(&case["gpu"], 1.0),
                format!("{}, {}, {}", cell(recalls[0], 3), cell(recalls[1], 3), cell(num(peer, "peer_recall"), 3)),
                format!("{}, {}", cell(num(peer, "recall_cpu_f32"), 3), cell(num(peer, "peer_recall_f32"), 3)),
            ]);
        }
        out
    }

    fn kmeans(&mut self) -> String {
        let mut out = String::from(
            "Lloyd's iterations from the same k-means++ centroids (ours, passed to faiss as `init_centroids` and to scikit-learn as \
             `init`), Euclidean, all points every iteration (faiss's `max_points_per_centroid` raised so it does not subsample), \
             20 assignment steps. Time per assignment step = run time / steps; final inertia = sum of squared distances after the \
             last assignment, which must agree within 1%.\n\n",
        );
        out += &header(&[
            "case",
            "data",
            "ours CPU (ms/iter)",
            "faiss (ms/iter)",
            "scikit-learn (ms/iter)",
            "faiss / ours",
            "scikit-learn / ours",
            "ours GPU (ms/iter)",
            "final inertia: ours, faiss, scikit-learn",
            "largest difference",
        ]);
        for case in cases(self.ours, "kmeans") {
            let id = text(case, "id");
            let peer = self.peer("kmeans", id);
            let steps = num(case, "iterations").unwrap_or(f64::NAN);
            let per = |t: Option<f64>, steps: Option<f64>| Some(t? / steps?);
            let cpu = per(median(&case["cpu"]), Some(steps));
            let faiss = per(median(&peer["faiss"]), num(peer, "faiss_assignments"));
            let sklearn = per(median(&peer["sklearn"]), num(peer, "sklearn_assignments"));
            let ours_inertia = num(case, "cpu_inertia").unwrap_or(f64::NAN);
            let inertias = [num(case, "gpu_inertia"), num(peer, "faiss_inertia"), num(peer, "sklearn_inertia")];
            let worst = inertias.iter().flatten().map(|i| (i - ours_inertia).abs() / ours_inertia).fold(0.0, f64::max);
            self.checks.require(worst <= 0.01 && inertias[1].is_some() && inertias[2].is_some(), || {
                format!(
                    "{id}: final inertias differ by {:.2}% (ours {ours_inertia:.3}, GPU {}, faiss {}, scikit-learn {})",
                    100.0 * worst,
                    cell(inertias[0], 3),
                    cell(inertias[1], 3),
                    cell(inertias[2], 3)
                )
            });
            out += &row(&[
                format!("{} points, {} clusters", case["points"], case["clusters"]),
                text(case, "data").into(),
                ms(cpu),
                ms(faiss),
                ms(sklearn),
                speedup(faiss, cpu),
                speedup(sklearn, cpu),
                gpu_cell(&case["gpu"], steps),
                format!("{ours_inertia:.2}, {}, {}", cell(inertias[1], 2), cell(inertias[2], 2)),
                format!("{:.3}%", 100.0 * worst),
            ]);
        }
        out
    }

    fn families(&mut self) -> String {
        let case = &self.ours["families"];
        let peer = &self.peers["families"];
        let (ours_count, peer_count, identical) = (num(case, "count"), num(peer, "count"), num(peer, "identical"));
        self.checks.require(ours_count.is_some() && ours_count == peer_count && peer_count == identical, || {
            format!(
                "families: ours {}, networkx {}, identical {}",
                cell(ours_count, 0),
                cell(peer_count, 0),
                cell(identical, 0)
            )
        });
        let mut out = format!(
            "On {}: {} documents, {} latents, k = {}. The peer is `xtask/bench/peers.py`: `C = AᵀA` with scipy.sparse, then the same \
             family algorithm (`crates/core/src/families.rs`, default parameters, every live feature below density 0.2) with a networkx \
             graph and `maximum_spanning_tree` per round. Both must find the same families (parent and members).\n\n",
            text(case, "data"), case["documents"], case["d_sae"], case["k"]
        );
        out += &header(&["step", "ours CPU (ms)", "ours GPU (ms)", "peer (ms)", "peer / ours"]);
        let (cooc, cooc_peer) = (median(&case["cooccurrence_cpu"]), median(&peer["cooccurrence"]));
        out += &row(&[
            "co-occurrence `AᵀA`".into(),
            ms(cooc),
            gpu_cell(&case["cooccurrence_gpu"], 1.0),
            format!("{} (scipy.sparse)", ms(cooc_peer)),
            speedup(cooc_peer, cooc),
        ]);
        let (fam, fam_peer) = (median(&case["families"]), median(&peer["families"]));
        out += &row(&[
            "families from `C`".into(),
            ms(fam),
            "—".into(),
            format!("{} (networkx)", ms(fam_peer)),
            speedup(fam_peer, fam),
        ]);
        out += &format!(
            "\nFamilies: ours {}, networkx {}, identical {}.\n",
            cell(ours_count, 0),
            cell(peer_count, 0),
            cell(identical, 0)
        );
        out
    }

    /// The map layout: ours (`layout::umap`) and umap-learn's, time and quality.
    fn layout(&mut self, setup: &str) -> String {
        let (ours, peer) = (&self.ours["layout"], &self.peers["layout"]);
        let v = &peer["versions"];
        let policy = &self.ours["policy"];
        let mut out = format!(
            "{setup} Versions: {}; Python {}, umap-learn {}, pynndescent {}, numba {} ({} threads), llvmlite {}, numpy {}, scikit-learn {}, scipy {}.\n\n\
             Ours: `saescope_core::layout::umap` from the embeddings to the map: k = {} neighbours (counting the point itself, as umap-learn's \
             `n_neighbors`), cosine, min_dist {}, seed {}, umap-learn's epochs (200 above 10,000 points, 500 up to), PCA start; its neighbour \
             graph is exact up to {} points and NN-descent above, timed as a stage of the same run (the other stages: fuzzy graph, PCA \
             start, SGD). The peer: `umap.UMAP(n_neighbors={}, metric=\"cosine\", n_epochs=<ours>, random_state={}, min_dist={}).fit_transform` \
             on the same `.npy` (its default spectral start; NN-descent from 4,096 points on). `random_state` makes umap-learn single-threaded \
             (`n_jobs=1`: its NN-descent and its SGD) and deterministic, as ours is (single-threaded apart from the matrix products). numba's \
             compilation is not in its times: a warm-up fit on a 500-row slice took {} s before them (importing umap {} s). \
             Timings, both sides: median of up to {} runs without a warm-up run, stopping after {} s (at least {}, unless one run \
             takes longer than that).\n\n",
            first_line(Command::new("rustc").arg("--version")),
            text(&self.peers["versions"], "python"),
            text(v, "umap-learn"),
            text(v, "pynndescent"),
            text(v, "numba"),
            v["numba_threads"],
            text(v, "llvmlite"),
            text(v, "numpy"),
            text(v, "scikit-learn"),
            text(v, "scipy"),
            ours["neighbors"],
            ours["min_dist"],
            ours["seed"],
            ours["exact_limit"],
            ours["neighbors"],
            ours["seed"],
            ours["min_dist"],
            cell(num(peer, "jit_s"), 1),
            cell(num(peer, "import_s"), 1),
            policy["max_runs"],
            policy["budget_s"],
            policy["min_runs"],
        );
        out += &header(&[
            "case",
            "data",
            "epochs",
            "ours (s)",
            "ours: kNN stage (s)",
            "kNN",
            "ours: graph, start, SGD (s)",
            "umap-learn (s, without JIT)",
            "umap-learn / ours",
        ]);
        let secs = |v: Option<f64>| cell(v.map(|v| v / 1e3), 1);
        for run in cases(ours, "runs") {
            let id = text(run, "id");
            let theirs = &peer["runs"][id];
            let (total, umap_learn) = (median(&run["total"]), median(&theirs["umap_learn"]));
            let stages = &run["stages_ms"];
            out += &row(&[
                format!("{} points", run["rows"]),
                text(run, "data").into(),
                run["epochs"].to_string(),
                format!("{} ({})", secs(total), runs(&run["total"])),
                secs(num(stages, "neighbours")),
                text(run, "knn_method").into(),
                format!(
                    "{}, {}, {}",
                    cell(num(stages, "graph").map(|v| v / 1e3), 2),
                    cell(num(stages, "start").map(|v| v / 1e3), 2),
                    secs(num(stages, "optimise"))
                ),
                format!("{} ({})", secs(umap_learn), runs(&theirs["umap_learn"])),
                speedup(umap_learn, total),
            ]);
        }

        let q = &ours["quality"];
        let (theirs_q, ours_py) = (&peer["quality"]["umap_learn"], &peer["quality"]["ours"]);
        let ours_t = num(q, "trustworthiness");
        let theirs_t = num(theirs_q, "trustworthiness");
        let id = format!("layout-{}", q["of"]);
        self.checks.require(matches!((ours_t, theirs_t), (Some(o), Some(t)) if o >= t - 0.01), || {
            format!(
                "{id}: our map's trustworthiness@{} is {}, umap-learn's {}: more than 0.01 below",
                q["k"],
                cell(ours_t, 4),
                cell(theirs_t, 4)
            )
        });
        // The same measures of our map, computed in Rust and by scikit-learn / numpy.
        for (what, key) in [("trustworthiness", "trustworthiness"), ("recall", "recall")] {
            let (rust, python) = (num(q, key), num(ours_py, key));
            self.checks.require(matches!((rust, python), (Some(r), Some(p)) if (r - p).abs() <= 1e-3), || {
                format!(
                    "{id}: our map's {what}@{} is {} in Rust but {} in peers.py",
                    q["k"],
                    cell(rust, 4),
                    cell(python, 4)
                )
            });
        }
        out += &format!(
            "\nQuality on a fixed random sample of {} of the {} points of the first row ({}; `{}`), neighbours among the sample: \
             trustworthiness@{k} (cosine in the data, Euclidean on the map, as scikit-learn's `trustworthiness`) and recall@{k} (the share \
             of each point's {k} nearest in the data that are among its {k} nearest on the map). Our map is measured twice, in Rust \
             (`layout::quality`) and in peers.py (scikit-learn, numpy), which must agree within 0.001; its trustworthiness must be at most \
             0.01 below umap-learn's.\n\n",
            q["rows"],
            q["of"],
            text(q, "data"),
            text(&q["files"], "sample"),
            k = q["k"],
        );
        out += &header(&[
            "map",
            "trustworthiness: Rust",
            "trustworthiness: scikit-learn",
            "recall: Rust",
            "recall: numpy",
        ]);
        out += &row(&[
            "ours".into(),
            cell(ours_t, 4),
            cell(num(ours_py, "trustworthiness"), 4),
            cell(num(q, "recall"), 4),
            cell(num(ours_py, "recall"), 4),
        ]);
        out +=
            &row(&["umap-learn".into(), "—".into(), cell(theirs_t, 4), "—".into(), cell(num(theirs_q, "recall"), 4)]);
        let knn = &ours["knn"];
        out += &format!(
            "\nNeighbour graph alone on the {} points of the first row, k = {} (UMAP's {} less the point itself): exact (blocked matrix \
             products) {} s ({}), NN-descent {} s ({}); NN-descent's recall@{} against exact: {}.\n",
            knn["rows"],
            knn["k"],
            ours["neighbors"],
            cell(median(&knn["exact"]).map(|v| v / 1e3), 2),
            runs(&knn["exact"]),
            cell(median(&knn["nn_descent"]).map(|v| v / 1e3), 2),
            runs(&knn["nn_descent"]),
            knn["k"],
            cell(num(knn, "recall"), 4),
        );

        out
    }

    /// The map's lasso and its enrichment at 200k documents: ours (CPU) and numpy's.
    fn selection(&mut self, setup: &str) -> String {
        let (sel, theirs) = (&self.ours["selection"], &self.peers["selection"]);
        let id = format!("selection-{}", sel["rows"]);
        self.checks.require(sel["selected"] == theirs["selected"], || {
            format!("{id}: we select {} documents, numpy {}", sel["selected"], theirs["selected"])
        });
        self.checks.require(sel["top_feature"] == theirs["top_feature"], || {
            format!("{id}: our first enriched feature is {}, numpy's {}", sel["top_feature"], theirs["top_feature"])
        });
        let mut out = format!(
            "{setup} The map's lasso on the CPU path (`saescope_interp::selection`, natively; the page runs the same code in its worker): \
             the documents of {} inside a {}-corner polygon (a circle around one document holding {} of them), then the enrichment of \
             that selection against the rest (per-feature firing counts, Haldane log-odds, Woolf's lower bound, Benjamini-Hochberg) \
             over their codes ({} of {} latents per document). The peer does the same with numpy (even-odd crossing test, vectorised \
             over the points in the bounding box) and numpy + scipy (`bincount`, `norm.sf`) on the same `.npy` files; both must select \
             the same documents and put the same feature first. Targets: 16 ms and 100 ms at 200k documents. Median of up to {} runs \
             after a warm-up run.\n\n",
            text(sel, "data"),
            sel["corners"],
            sel["selected"],
            sel["k"],
            sel["latents"],
            self.ours["policy"]["max_runs"],
        );
        out += &header(&["step", "ours (ms)", "numpy (ms)", "numpy / ours"]);
        for (step, name, peer_name) in
            [("inside", "documents in the lasso", "numpy"), ("enrich", "enrichment", "numpy + scipy")]
        {
            let (o, t) = (median(&sel[step]), median(&theirs[step]));
            out += &row(&[
                name.into(),
                format!("{} ({})", cell(o, 2), runs(&sel[step])),
                format!("{} ({}, {peer_name})", cell(t, 2), runs(&theirs[step])),
                speedup(t, o),
            ]);
        }
        out
    }

    fn train(&self) -> String {
        let t = &self.ours["train"];
        let c = &t["config"];
        let mut out = format!(
            "`Trainer` over each backend (the whole step on it: forward, backward, Adam), on {}: k = {}, {} latents, batch {}, lr {}, {} steps per epoch. \
             Median time per epoch after a warm-up step, from the same initialisation; the NMSE is the mean over the last timed epoch, after as many epochs as were timed \
             (the paths compute the same steps, checked to float tolerance by the shared test suite; a software GPU adapter times fewer epochs).\n\n",
            text(t, "data"), c["k"], c["latents"], c["batch"], c["lr"], t["steps_per_epoch"]
        );
        out += &header(&["path", "s / epoch", "epochs timed", "train NMSE after those epochs"]);
        for (path, who) in [("ours CPU", "cpu"), ("ours GPU", "gpu")] {
            let timing = &t[who];
            out += &row(&[
                path.into(),
                cell(median(timing).map(|v| v / 1e3), 2),
                timing["runs"].to_string(),
                cell(num(t, &format!("{who}_nmse")), 4),
            ]);
        }
        out
    }
}

fn browser_table(browser: &Value, ours: &Value) -> String {
    let native = &ours["embed"]["per_query"];
    let mut out = match median(native) {
        Some(native) => format!(
            "Query embedding (all-MiniLM-L6-v2, one short query): {} ms natively (`saescope-embed`, median over 6 queries), \
             against the in-page figure below (the same crate in wasm, in the worker).\n\n",
            ms(Some(native))
        ),
        None => String::new(),
    };
    out += &String::from(
        "`tests/browser/measure.mjs` in headless Chromium on the demo bundle served from 127.0.0.1: time from opening a query URL \
         to its results (cold: empty cache, every file downloaded and checked; warm: a reload, files from the Cache API), a typed \
         query end to end (embedding in wasm + encode + steered search; median), and a steering slider move (median).\n\n",
    );
    out += &header(&[
        "engine",
        "cold load to first result (ms)",
        "warm reload (ms)",
        "query end to end (ms)",
        "of which embedding (ms)",
        "slider move (ms)",
        "tab memory (MB)",
    ]);
    for (name, m) in [("WebGPU", &browser["webgpu"]), ("CPU path (`--disable-webgpu`)", &browser["cpu"])] {
        out += &row(&[
            format!("{name}: page reports {}", text(m, "engine")),
            cell(num(m, "cold_ms"), 0),
            cell(num(m, "warm_ms"), 0),
            format!("{} (median of {})", cell(num(m, "query_ms"), 0), m["queries"]),
            cell(num(m, "embed_ms"), 0),
            format!("{} (median of {})", cell(num(m, "slider_ms"), 0), m["slider_moves"]),
            cell(num(m, "tab_mb"), 0),
        ]);
    }
    out += "\nTab memory: the resident memory of Chromium's renderer processes after the slider moves (the page, its workers and \
            their wasm memories; Linux `ps`).\n";
    out += "\nWhere the time goes, as the page itself measures it (`#results[data-timings]`, shown beside the results; medians): \
            the embedding and the steered search (encode, steer, exact search, the hits' firing features) in the worker, the messages \
            between page and worker, drawing the results, and the page's total from the change of state to drawn results (the \
            end-to-end column above adds the test driver's key press and its polling).\n\n";
    out += &header(&[
        "engine",
        "action",
        "embed (ms)",
        "search (ms)",
        "transfer (ms)",
        "render (ms)",
        "in-page total (ms)",
    ]);
    for (name, m) in [("WebGPU", &browser["webgpu"]), ("CPU path", &browser["cpu"])] {
        for (action, stages) in [("typed query", &m["query_stages"]), ("slider move", &m["slider_stages"])] {
            let stage = |s: &str| cell(num(stages, s), 1);
            out += &row(&[
                name.into(),
                action.into(),
                stage("embed"),
                stage("search"),
                stage("transfer"),
                stage("render"),
                stage("total"),
            ]);
        }
    }
    out
}

/// Bytes of the demo bundle per document, by part, and of the wasm binary.
/// The part of [`sizes_table`] for texts shards: fetched when the page shows a text, not with the bundle.
const TEXTS_PART: &str = "texts (fetched when shown)";

fn sizes_table(demo: &Path) -> Result<String> {
    let manifest: Value = serde_json::from_slice(&std::fs::read(demo.join("manifest.json"))?)?;
    let documents = num(&manifest, "documents").context("manifest.json has no document count")?;
    let mut parts: Vec<(String, f64)> = Vec::new();
    for file in manifest["files"].as_array().context("manifest.json has no files")? {
        let role = text(file, "role");
        let part = match role {
            "document-texts" => TEXTS_PART.to_owned(),
            "label-embeddings" => "label embeddings".to_owned(),
            _ => role.split('-').next().unwrap_or(role).to_owned(),
        };
        let bytes = num(file, "bytes").unwrap_or(0.0);
        match parts.iter_mut().find(|(p, _)| *p == part) {
            Some((_, total)) => *total += bytes,
            None => parts.push((part, bytes)),
        }
    }
    let total: f64 = parts.iter().map(|(_, b)| b).sum();
    let embedder: f64 = parts.iter().filter(|(p, _)| p == "embedder").map(|(_, b)| b).sum();
    let texts: f64 = parts.iter().filter(|(p, _)| p == TEXTS_PART).map(|(_, b)| b).sum();
    let name = if demo.ends_with(DEMO_DIR) { "The demo bundle's" } else { "The bundle's" };
    let mut out = format!("{name} files by manifest role ({documents} documents):\n\n");
    out += &header(&["part", "bytes", "bytes per document"]);
    for (part, bytes) in &parts {
        out += &row(&[part.clone(), format!("{bytes:.0}"), format!("{:.0}", bytes / documents)]);
    }
    out += &row(&["**total**".into(), format!("{total:.0}"), format!("**{:.0}**", total / documents)]);
    out += &row(&[
        "**total without the query embedder**".into(),
        format!("{:.0}", total - embedder),
        format!("**{:.0}**", (total - embedder) / documents),
    ]);
    out += &row(&[
        "**cold download** (all but the texts)".into(),
        format!("{:.0}", total - texts),
        format!("**{:.0}**", (total - texts) / documents),
    ]);
    let wasm = root().join("pkg/saescope_wasm_bg.wasm");
    let raw = std::fs::metadata(&wasm).with_context(|| format!("{} is missing", wasm.display()))?.len();
    out += &format!(
        "\nWasm binary `pkg/saescope_wasm_bg.wasm` (release): {raw} bytes, {} bytes gzipped (`gzip -9`).\n",
        gzip_size(&wasm)?
    );
    Ok(out)
}

pub fn bench(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let only = match args.iter().position(|a| a == "--only") {
        Some(i) => match args.get(i + 1).map(String::as_str) {
            Some(group @ ("layout" | "selection" | "search")) => Some(group),
            Some("workshop") => return bench_workshop(),
            Some("browser") => return bench_browser(),
            Some("scale") => return bench_scale(),
            Some("sizes") => {
                // The demo bundle as it is (`cargo xtask demo` or `--only browser` builds it) and the wasm in pkg/.
                let sizes = sizes_table(&root().join(DEMO_DIR))?;
                println!("{sizes}");
                return replace_block(&root().join("BENCHMARKS.md"), "sizes", &sizes);
            }
            other => bail!(
                "--only takes `layout` (the map layout cases), `selection` (the map's lasso at 200k documents), `search` (exact search at each storage), `browser` (the explorer's latencies in the page), `scale` (a bundle of the 190k papers, built and opened in the page), `sizes` (the demo bundle's bytes per part) or `workshop` (the page's workshop on 2,000 abstracts), got {other:?}"
            ),
        },
        None => None,
    };
    let embeddings = root().join(SHARED_EMBEDDINGS);
    if !embeddings.exists() {
        bail!("the benchmark runs on the demo embeddings, expected at {}", embeddings.display());
    }
    let load_before = load_average();
    if only == Some("search") {
        setup::vulkan()?;
        run(cargo().args(["build", "--release", "-p", "saescope-bench"]))?;
    } else if only.is_some() {
        run(cargo().args(["build", "--release", "-p", "saescope-bench"]))?;
    } else {
        setup::vulkan()?;
        run(cargo().args(["build", "--release", "-p", "saescope-cli", "-p", "saescope-bench"]))?;
    }
    let cli = root().join("target/release/saescope");
    let bench = root().join("target/release/saescope-bench");
    let python = peers_python()?;
    let data = root().join(only.map_or(DATA_DIR.to_owned(), |group| format!("target/bench-{group}")));
    let demo = root().join(DEMO_DIR);
    if only.is_none() {
        build_demo_bundle(&cli, &demo)?;
    }
    // `--reuse`: the timings of an earlier run of the same mode, so that a failure in a later
    // part (the browser) does not cost the half hour of the first ones again.
    let reuse = args.iter().any(|a| a == "--reuse");
    let earlier = |name: &str| -> Option<Value> {
        let v: Value = serde_json::from_slice(&std::fs::read(data.join(name)).ok()?).ok()?;
        (reuse && v["quick"] == quick).then_some(v)
    };
    let ours = match earlier("ours.json") {
        Some(ours) => ours,
        None => {
            // Stale inputs of another mode must not be read.
            let _ = std::fs::remove_dir_all(&data);
            let mut ours_cmd = Command::new(&bench);
            ours_cmd.arg("--embeddings").arg(&embeddings).arg("--out").arg(&data);
            if let Some(group) = only {
                ours_cmd.args(["--only", group]);
            } else {
                ours_cmd.arg("--bundle").arg(DEMO_DIR).arg("--embedder").arg(crate::model::fetch()?);
            }
            if quick {
                ours_cmd.arg("--quick");
            }
            run(&mut ours_cmd)?;
            serde_json::from_slice(&std::fs::read(data.join("ours.json"))?)?
        }
    };
    let peers = match earlier("peers.json") {
        Some(peers) => peers,
        None => {
            let mut peers =
                json_output(Command::new(&python).arg("xtask/bench/peers.py").arg(&data), "xtask/bench/peers.py")?;
            peers["quick"] = quick.into();
            std::fs::write(data.join("peers.json"), serde_json::to_vec_pretty(&peers)?)?;
            peers
        }
    };

    let browser = if only.is_some() { None } else { Some(measure_browser(&demo)?) };
    let load_after = load_average();

    let mut tables = Tables { ours: &ours, peers: &peers, checks: Checks::default() };
    let machine = &ours["machine"];
    let command = format!(
        "`cargo xtask bench{}{}`",
        only.map_or(String::new(), |group| format!(" --only {group}")),
        if quick { " --quick" } else { "" }
    );
    let date = first_line(Command::new("date").args(["-u", "+%Y-%m-%d"]));
    let map_setup = format!(
        "Command: {command} ({date}). Machine: {}, {} cores available. 1-minute load average before the run: {load_before} (after: {load_after}).",
        text(machine, "cpu"),
        machine["cores"],
    );
    let blocks = match &browser {
        None if only == Some("layout") => vec![("layout", tables.layout(&map_setup))],
        None if only == Some("search") => {
            vec![("search", format!("{map_setup} GPU path: {}.\n\n{}", text(machine, "gpu_adapter"), tables.search()))]
        }
        None => vec![("selection", tables.selection(&map_setup))],
        Some(browser) => {
            let v = &peers["versions"];
            let setup = format!(
                "Command: {command} ({date}). Machine: {}, {} cores available; GPU path: {}{}. \
                 1-minute load average before the run: {load_before} (after: {load_after}; the benchmark itself keeps the cores busy). \
                 Timings: median of up to {} runs after a warm-up run (fewer for slow cases: at least {}, stopping after {} s; the count is kept in `target/bench-data/ours.json`).\n\n\
                 Versions: {}; Python {}, numpy {}, faiss-cpu {} ({} OpenMP threads), scikit-learn {}, networkx {}; BLAS: {}; {}; Node.js {}.\n",
                text(machine, "cpu"),
                machine["cores"],
                text(machine, "gpu_adapter"),
                if machine["gpu_is_software"] == true { " (a software rasteriser on the CPU: its GPU columns check correctness and overhead, they are not GPU speed)" } else { "" },
                ours["policy"]["max_runs"],
                ours["policy"]["min_runs"],
                ours["policy"]["budget_s"],
                first_line(Command::new("rustc").arg("--version")),
                text(v, "python"),
                text(v, "numpy"),
                text(v, "faiss-cpu"),
                v["faiss_threads"],
                text(v, "scikit-learn"),
                text(v, "networkx"),
                v["blas"].as_array().map(|b| b.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; ")).unwrap_or_default(),
                first_line(Command::new("chromium").arg("--version")),
                first_line(Command::new("node").arg("--version")),
            );
            vec![
                ("setup", setup),
                ("encode", tables.encode()),
                ("search", tables.search()),
                ("kmeans", tables.kmeans()),
                ("families", tables.families()),
                ("layout", tables.layout(&map_setup)),
                ("selection", tables.selection(&map_setup)),
                ("train", tables.train()),
                ("browser", browser_table(browser, &ours)),
                ("sizes", sizes_table(&demo)?),
            ]
        }
    };
    for (name, body) in &blocks {
        println!("## {name}\n\n{body}");
    }
    if !tables.checks.0.is_empty() {
        bail!("checks failed, BENCHMARKS.md left as it was:\n  {}", tables.checks.0.join("\n  "));
    }
    if quick {
        eprintln!("--quick: BENCHMARKS.md left as it was");
        return Ok(());
    }
    for (name, body) in &blocks {
        replace_block(&root().join("BENCHMARKS.md"), name, body)?;
    }
    Ok(())
}
