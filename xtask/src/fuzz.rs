//! `cargo xtask fuzz [--seconds N] [--target NAME] [--keep-going] [--merge]`: coverage-guided
//! fuzzing on stable Rust (see crates/fuzz/README.md).
//!
//! Builds the libFuzzer runner `fuzz/` (a crate outside the workspace, one binary per target of
//! `saescope-fuzz`) with SanitizerCoverage passes enabled through plain `-C` flags (no nightly,
//! no cargo-fuzz) into `target/fuzz`, writes the generated seeds, then runs each target for N
//! seconds on its corpus: new inputs go to `target/fuzz/corpus/<target>`, the committed
//! `fuzz/corpus/<target>` and the seeds are read only, crashes land in
//! `fuzz/artifacts/<target>/`. Prints executions, coverage and crashes per target, and fails if
//! any target crashed. `--keep-going` carries on past crashes (libFuzzer `-fork=1
//! -ignore_crashes=1`). `--merge` then minimises everything into `fuzz/corpus/<target>`
//! (libFuzzer `-set_cover_merge=1` into a fresh folder), the corpus `cargo test` replays.

use crate::{cargo, root, run};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The coverage instrumentation cargo-fuzz enables, minus the sanitizer (which needs nightly).
/// `--cfg fuzzing` is what libfuzzer-sys and dependencies key on.
const RUSTFLAGS: &[&str] = &[
    "--cfg",
    "fuzzing",
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

/// The targets: one `fuzz/fuzz_targets/<name>.rs` each.
fn targets() -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("fuzz/fuzz_targets"))
        .context("fuzz/fuzz_targets")?
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_owned))
        .collect();
    // saescope-fuzz's order: cheap parsers first, the tokenizer (model files) last.
    let order =
        ["npy", "npy_stream", "sae_safetensors", "manifest", "bundle", "pth", "corpus", "documents", "tokenizer"];
    names.sort_by_key(|n| (order.iter().position(|o| o == n).unwrap_or(order.len()), n.clone()));
    Ok(names)
}

fn host() -> Result<String> {
    let out = Command::new("rustc").arg("-vV").output().context("rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .context("rustc -vV names no host")
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

/// What one libFuzzer run reported.
#[derive(Default)]
struct Report {
    executions: u64,
    exec_per_sec: u64,
    coverage: String,
    crashes: Vec<String>,
}

/// The last value of `key` (libFuzzer's `-print_final_stats` lines are `stat::key: value`).
fn stat(log: &str, key: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| l.strip_prefix(&format!("stat::{key}:"))?.trim().parse().ok())
}

/// Executions and exec/s of the last status line (`#N ... exec/s: E ...`), which is all that
/// `-fork` mode prints.
fn status_line(log: &str) -> (u64, u64) {
    let last = log.lines().rev().find(|l| l.starts_with('#') && l.contains("exec/s: ")).unwrap_or("");
    let runs = last[1..].split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let rate = last.split("exec/s: ").nth(1).and_then(|r| r.split_whitespace().next()?.parse().ok()).unwrap_or(0);
    (runs, rate)
}

/// `cov: N ft: N corp: N/size` of the last status line.
fn coverage(log: &str) -> String {
    log.lines()
        .rev()
        .find_map(|l| {
            let at = l.find("cov: ")?;
            let rest = &l[at..];
            Some(rest[..rest.find(" lim:").or_else(|| rest.find(" exec/s")).unwrap_or(rest.len())].to_owned())
        })
        .unwrap_or_else(|| "-".into())
}

/// Why libFuzzer stopped, in one line: the panic message and where, an allocation that failed
/// and the first saescope frame that asked for it, or libFuzzer's own summary.
fn crash_reason(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    if let Some(i) = lines.iter().position(|l| l.contains("panicked at")) {
        let next = lines.get(i + 1).copied().unwrap_or_default();
        return format!("{} {}", lines[i].trim(), next.trim());
    }
    if let Some(i) = lines.iter().position(|l| l.contains("memory allocation of")) {
        let frame = lines[i..].iter().position(|l| l.contains("saescope_") && !l.contains("saescope_fuzz::"));
        let place = frame.map(|f| {
            let at = lines.get(i + f + 1).map(|l| l.trim()).unwrap_or_default();
            format!(" in {} {at}", lines[i + f].trim().split_once(": ").map_or(lines[i + f].trim(), |p| p.1))
        });
        return format!("{}{}", lines[i].trim(), place.unwrap_or_default());
    }
    lines.iter().rev().find(|l| l.starts_with("SUMMARY:") || l.contains("ERROR: libFuzzer")).unwrap_or(&"").to_string()
}

fn crash_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    files.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        ["crash-", "oom-", "timeout-", "leak-"].iter().any(|k| name.starts_with(k))
    });
    files.sort();
    files
}

/// libFuzzer's flags for `--keep-going`: fuzz in a child process and carry on past crashes,
/// timeouts and out-of-memory inputs (each still saved), so one known crash does not end the run.
const KEEP_GOING: &[&str] = &["-fork=1", "-ignore_crashes=1", "-ignore_timeouts=1", "-ignore_ooms=1"];

fn fuzz_one(bin: &Path, target: &str, seconds: u64, seeds: &Path, keep_going: bool) -> Result<Report> {
    let root = root();
    let work = root.join("target/fuzz/corpus").join(target);
    let committed = root.join("fuzz/corpus").join(target);
    let artifacts = root.join("fuzz/artifacts").join(target);
    for dir in [&work, &committed, &artifacts] {
        std::fs::create_dir_all(dir)?;
    }
    let before = crash_files(&artifacts);
    let log_path = root.join("target/fuzz/logs").join(format!("{target}.log"));
    std::fs::create_dir_all(log_path.parent().expect("logs folder"))?;
    eprintln!("fuzzing {target} for {seconds} s (log: {})", log_path.display());
    let status = Command::new(bin)
        .arg(&work)
        .arg(&committed)
        .arg(seeds.join(target))
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .args(["-print_final_stats=1", "-timeout=10", "-rss_limit_mb=2048"])
        .args(if keep_going { KEEP_GOING } else { &[] })
        .current_dir(&root)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path)?)
        .status()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let (runs, rate) = status_line(&log);
    let mut report = Report {
        executions: stat(&log, "number_of_executed_units").unwrap_or(runs),
        exec_per_sec: stat(&log, "average_exec_per_sec").unwrap_or(rate),
        coverage: coverage(&log),
        crashes: crash_files(&artifacts)
            .into_iter()
            .filter(|p| !before.contains(p))
            .map(|p| p.display().to_string())
            .collect(),
    };
    if !status.success() && report.crashes.is_empty() {
        report.crashes.push(format!("(no artifact) {}", crash_reason(&log)));
    }
    // Each saved input run once more, alone, for its own panic message.
    for c in report.crashes.iter_mut().filter(|c| Path::new(c.as_str()).is_file()) {
        if let Ok(out) = Command::new(bin).arg(&*c).args(["-timeout=5", "-rss_limit_mb=2048"]).output() {
            *c = format!("{c}: {}", crash_reason(&String::from_utf8_lossy(&out.stderr)));
        }
    }
    Ok(report)
}

/// Minimises the committed corpus, this run's inputs and the seeds into a fresh
/// `fuzz/corpus/<target>`.
fn merge(bin: &Path, target: &str, seeds: &Path) -> Result<()> {
    let root = root();
    let fresh = root.join("target/fuzz/merged").join(target);
    let _ = std::fs::remove_dir_all(&fresh);
    std::fs::create_dir_all(&fresh)?;
    let committed = root.join("fuzz/corpus").join(target);
    let status = Command::new(bin)
        // A greedy set cover of the edges (hit counts ignored): the smallest corpus that keeps
        // the coverage, which is what replaying it in `cargo test` needs.
        .args(["-set_cover_merge=1", "-use_counters=0"])
        .arg(&fresh)
        .arg(&committed)
        .arg(root.join("target/fuzz/corpus").join(target))
        .arg(seeds.join(target))
        .args(["-timeout=10", "-rss_limit_mb=2048"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("merging the {target} corpus failed ({status})");
    }
    let _ = std::fs::remove_dir_all(&committed);
    std::fs::rename(&fresh, &committed).or_else(|_| {
        std::fs::create_dir_all(&committed)?;
        for e in std::fs::read_dir(&fresh)? {
            let e = e?;
            std::fs::copy(e.path(), committed.join(e.file_name()))?;
        }
        std::io::Result::Ok(())
    })?;
    let (n, bytes) = std::fs::read_dir(&committed)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .fold((0, 0), |(n, b), m| (n + 1, b + m.len()));
    eprintln!("fuzz/corpus/{target}: {n} files, {bytes} bytes");
    Ok(())
}

pub fn fuzz(args: &[String]) -> Result<()> {
    let seconds: u64 = arg(args, "--seconds").unwrap_or("60").parse().context("--seconds needs a number")?;
    let all = targets()?;
    let chosen: Vec<String> = match arg(args, "--target") {
        Some(t) if all.iter().any(|a| a == t) => vec![t.to_owned()],
        Some(t) => bail!("no fuzz target {t:?}; the targets are {}", all.join(", ")),
        None => all,
    };
    let root = root();
    let seeds = root.join("target/fuzz/seeds");
    run(cargo().args(["run", "--quiet", "-p", "saescope-fuzz", "--example", "write_seeds", "--"]).arg(&seeds))?;

    let host = host()?;
    let mut build = cargo();
    build
        .args(["build", "--release", "--manifest-path", "fuzz/Cargo.toml", "--target", &host])
        .args(chosen.iter().flat_map(|t| ["--bin", t.as_str()]))
        // `--target` keeps the flags off build scripts and proc macros, which must not be instrumented.
        .env("RUSTFLAGS", RUSTFLAGS.join(" "))
        .env("CARGO_TARGET_DIR", root.join("target/fuzz"))
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    run(&mut build)?;
    let bin_dir = root.join("target/fuzz").join(&host).join("release");

    let mut rows = Vec::new();
    for target in &chosen {
        let bin = bin_dir.join(target);
        let report = fuzz_one(&bin, target, seconds, &seeds, args.iter().any(|a| a == "--keep-going"))?;
        if args.iter().any(|a| a == "--merge") {
            merge(&bin, target, &seeds)?;
        }
        rows.push((target.clone(), report));
    }

    println!("\n{:<16} {:>12} {:>8}  coverage", "target", "executions", "exec/s");
    for (target, r) in &rows {
        println!("{target:<16} {:>12} {:>8}  {}", r.executions, r.exec_per_sec, r.coverage);
    }
    let crashes: Vec<String> =
        rows.iter().flat_map(|(t, r)| r.crashes.iter().map(move |c| format!("  {t}: {c}"))).collect();
    if crashes.is_empty() {
        println!("no crashes");
        return Ok(());
    }
    println!("crashes (copy an input into fuzz/regressions/<target>/ to replay it in cargo test):");
    for c in &crashes {
        println!("{c}");
    }
    let targets = rows.iter().filter(|(_, r)| !r.crashes.is_empty()).count();
    bail!("{} crashing input(s) in {targets} target(s)", crashes.len())
}
