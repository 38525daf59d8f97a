//! Replays every input under `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` (and the
//! generated seeds) through its target, uninstrumented: a crash found by the fuzzer, once copied
//! into `fuzz/regressions/<target>/`, fails plain `cargo test` until it is fixed (a panic, an
//! abort or a hang, each named with its file).

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Runs `target` on `bytes`; a panic is returned as its message instead of stopping the test.
fn run(target: fn(&[u8]), bytes: &[u8]) -> Result<(), String> {
    std::panic::catch_unwind(|| target(bytes)).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// The corpus (inputs that passed when they were added) and the seeds, in this process.
#[test]
fn corpus_and_seeds_replay_without_panics() {
    let mut failures = Vec::new();
    let mut counts = Vec::new();
    for &(name, target) in saescope_fuzz::TARGETS {
        let mut n = 0;
        for path in files(&fuzz_dir().join("corpus").join(name)) {
            n += 1;
            if let Err(e) = run(target, &std::fs::read(&path).unwrap()) {
                failures.push(format!("{}: {e}", path.display()));
            }
        }
        for (seed, bytes) in saescope_fuzz::seeds::seeds(name) {
            n += 1;
            if let Err(e) = run(target, &bytes) {
                failures.push(format!("seed {name}/{seed}: {e}"));
            }
        }
        counts.push(format!("{name}: {n}"));
    }
    eprintln!("replayed {}", counts.join(", "));
    assert!(failures.is_empty(), "{} inputs panic:\n{}", failures.len(), failures.join("\n"));
}

/// Set for the child process that replays one regression: `<target>:<path>`.
const REPLAY_ONE: &str = "SAESCOPE_FUZZ_REPLAY_ONE";
/// Longest a regression may run (a hang the fuzzer found stays a failure, not a stuck test).
const REGRESSION_SECONDS: u64 = 60;

/// The regressions, each in a child process (this test binary, running [`replay_one`]): a crash
/// the fuzzer found may be an abort (a failed allocation) or a hang, which would take the whole
/// test binary down or stall it instead of failing with the file's name.
#[test]
fn regressions_replay_without_crashes() {
    let mut failures = Vec::new();
    for &(name, _) in saescope_fuzz::TARGETS {
        for path in files(&fuzz_dir().join("regressions").join(name)) {
            let mut child = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "replay_one", "--nocapture", "--test-threads=1"])
                .env(REPLAY_ONE, format!("{name}:{}", path.display()))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let started = std::time::Instant::now();
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if started.elapsed().as_secs() >= REGRESSION_SECONDS {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            };
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            let why = stderr
                .lines()
                .skip_while(|l| !l.contains("panicked at") && !l.contains("memory allocation"))
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            match status {
                Some(s) if s.success() => {}
                Some(s) => failures.push(format!("{}: {s}: {why}", path.display())),
                None => failures.push(format!("{}: still running after {REGRESSION_SECONDS} s", path.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{} regressions fail:\n{}", failures.len(), failures.join("\n"));
}

/// Replays the one input named by `SAESCOPE_FUZZ_REPLAY_ONE` (does nothing without it).
#[test]
fn replay_one() {
    let Ok(spec) = std::env::var(REPLAY_ONE) else {
        return;
    };
    let (name, path) = spec.split_once(':').unwrap();
    saescope_fuzz::target(name).unwrap()(&std::fs::read(path).unwrap());
}

#[test]
fn every_target_has_seeds_and_a_corpus_folder() {
    for &(name, _) in saescope_fuzz::TARGETS {
        assert!(!saescope_fuzz::seeds::seeds(name).is_empty(), "{name} has no seeds");
        assert!(fuzz_dir().join("corpus").join(name).is_dir(), "fuzz/corpus/{name} is missing");
    }
}

#[test]
fn frames_split_as_written() {
    let parts: [&[u8]; 3] = [b"abc", b"", b"\x00\x01"];
    assert_eq!(saescope_fuzz::split_frames(&saescope_fuzz::frame(&parts)), parts);
    // A length past the end takes the rest; a lone trailing byte is dropped.
    assert_eq!(saescope_fuzz::split_frames(b"\xff\x00ab"), [b"ab"]);
    assert!(saescope_fuzz::split_frames(b"\x05").is_empty());
}

/// The seeds are inputs the parsers accept, so fuzzing starts from deep paths, not from errors.
#[test]
fn seeds_are_accepted_by_their_parsers() {
    use saescope_core::sae::Sae;
    use saescope_format::SaeFiles;
    for (name, bytes) in saescope_fuzz::seeds::seeds("npy") {
        saescope_format::npy::Npy::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, bytes) in saescope_fuzz::seeds::seeds("sae_safetensors") {
        let loaded = if bytes[0] == 0 {
            Sae::from_safetensors(&bytes[2..], Some(bytes[1] as usize))
        } else {
            let parts = saescope_fuzz::split_frames(&bytes[2..]);
            Sae::from_saelens(parts[0], parts[1])
        };
        loaded.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, bytes) in saescope_fuzz::seeds::seeds("bundle") {
        let parts = saescope_fuzz::split_frames(&bytes[1..]);
        let mut manifest = saescope_format::manifest::Manifest::parse(parts[0]).unwrap();
        if bytes[0] & 1 == 1 {
            for (entry, file) in manifest.files.iter_mut().zip(&parts[1..]) {
                *entry = saescope_format::manifest::FileEntry::describe(&entry.path, entry.role, file);
            }
        }
        let mut loader = saescope_format::bundle::BundleLoader::new(&manifest.to_json()).unwrap();
        let paths: Vec<String> = loader.manifest.files.iter().map(|f| f.path.clone()).collect();
        for (path, file) in paths.iter().zip(&parts[1..]) {
            loader.add(path, file.to_vec()).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let bundle = loader.finish().unwrap_or_else(|e| panic!("{name}: {e}"));
        if name == "full" {
            assert!(bundle.codes.is_some() && bundle.documents.is_some() && bundle.coarse.len() == 1);
        }
    }
    let pth = saescope_fuzz::seeds::seeds("pth");
    for (name, bytes) in &pth {
        if bytes[0] == 1 {
            saescope_format::pth::pickle::load(&bytes[2..]).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else if name == "paper_sae" || name == "paper_sae_f16_sae" {
            saescope_format::pth::read_paper_sae(&bytes[2..], bytes[1] as usize)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    assert!(pth.iter().any(|(n, _)| n == "paper_sae"), "the .pth fixtures are missing");
    for (name, bytes) in saescope_fuzz::seeds::seeds("corpus") {
        let format = saescope_fuzz::corpus_format(bytes[0]);
        let read = saescope_format::corpus::read(&bytes[1..], format).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!read.documents.is_empty(), "{name}");
    }
    for (name, bytes) in saescope_fuzz::seeds::seeds("documents") {
        assert_eq!(
            saescope_format::documents::parse_documents(&bytes).unwrap_or_else(|e| panic!("{name}: {e}")).len(),
            2
        );
    }
}
