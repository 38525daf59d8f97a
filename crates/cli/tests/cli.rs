//! The `saescope` binary end to end: outputs on good input, and a non-zero exit with a one-line
//! reason on each kind of bad input.

use saescope_format::npy;
use std::path::Path;
use std::process::{Command, Output};

fn saescope(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_saescope")).args(args).current_dir(cwd).output().expect("runs")
}

fn ok(args: &[&str], cwd: &Path) -> String {
    let out = saescope(args, cwd);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail; returns its last stderr line, which must be one line.
fn fails(args: &[&str], cwd: &Path) -> String {
    let out = saescope(args, cwd);
    assert!(!out.status.success(), "{args:?} should have failed");
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("error: "), "{args:?}: {err}");
    last
}

fn synth(dir: &Path) {
    ok(
        &[
            "synth",
            "--out",
            "b",
            "--documents",
            "600",
            "--dim",
            "256",
            "--latents",
            "128",
            "--k",
            "4",
            "--shard-rows",
            "250",
        ],
        dir,
    );
}

#[test]
fn engine_commands_write_their_outputs_and_agree_across_devices() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth(dir);
    let inspect: serde_json::Value = serde_json::from_str(&ok(&["inspect", "b"], dir)).unwrap();
    assert_eq!(inspect["documents"], 600);
    assert_eq!(inspect["shards"], 3);

    for device in ["cpu", "gpu"] {
        ok(
            &[
                "encode",
                "--sae",
                "b/sae",
                "--embeddings",
                "b/embeddings/000.npy",
                "--out",
                &format!("enc-{device}"),
                "--device",
                device,
            ],
            dir,
        );
        ok(
            &[
                "search",
                "--corpus",
                "b/embeddings/000.npy",
                "--corpus",
                "b/embeddings/001.npy",
                "--queries",
                "b/embeddings/002.npy",
                "--k",
                "7",
                "--out",
                &format!("s-{device}"),
                "--device",
                device,
            ],
            dir,
        );
    }
    let read = |p: &str| std::fs::read(dir.join(p)).unwrap();
    assert_eq!(npy::parse_header(&read("enc-cpu/indices.npy")).unwrap().shape, vec![250, 4]);
    // The planted SAE separates its atoms cleanly, so both devices pick identical latents.
    assert_eq!(read("enc-cpu/indices.npy"), read("enc-gpu/indices.npy"));
    assert_eq!(npy::parse_header(&read("s-gpu/scores.npy")).unwrap().shape, vec![100, 7]);
    assert_eq!(read("s-cpu/indices.npy"), read("s-gpu/indices.npy"));

    let metrics: serde_json::Value =
        serde_json::from_str(&ok(&["metrics", "--sae", "b/sae", "--embeddings", "b/embeddings/001.npy"], dir)).unwrap();
    assert!(metrics["metrics"]["normalized_mse"].as_f64().unwrap() < 0.05, "{metrics}");
    assert_eq!(metrics["metrics"]["l0"].as_f64().unwrap(), 4.0);

    let km: serde_json::Value = serde_json::from_str(&ok(
        &["kmeans", "--embeddings", "b/embeddings/000.npy", "--clusters", "5", "--iters", "4", "--out", "km"],
        dir,
    ))
    .unwrap();
    assert_eq!(km["iterations"], 4);
    assert_eq!(npy::parse_header(&read("km/centroids.npy")).unwrap().shape, vec![5, 256]);
}

#[test]
fn bad_input_fails_with_one_line_reasons() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth(dir);
    let write = |name: &str, bytes: Vec<u8>| std::fs::write(dir.join(name), bytes).unwrap();
    write("wrong-dim.npy", npy::to_bytes(&[3, 255], &[0.1f32; 765]).unwrap());
    let mut nan = vec![0.1f32; 512];
    nan[262] = f32::NAN;
    write("nan.npy", npy::to_bytes(&[2, 256], &nan).unwrap());
    let good = std::fs::read(dir.join("b/embeddings/000.npy")).unwrap();
    write("truncated.npy", good[..good.len() - 100].to_vec());

    let enc = |emb: &str| fails(&["encode", "--sae", "b/sae", "--embeddings", emb, "--out", "o"], dir);
    assert!(enc("wrong-dim.npy").contains("d_in=256"));
    assert!(enc("nan.npy").contains("NaN at row 1, column 6"));
    assert!(enc("truncated.npy").contains("truncated"));
    assert!(enc("missing.npy").contains("cannot read"));

    let weights = dir.join("b/sae/sae_weights.safetensors");
    let w = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &w[..w.len() / 3]).unwrap();
    assert!(enc("b/embeddings/000.npy").contains("safetensors"));
    assert!(fails(&["inspect", "b"], dir).contains("sae/sae_weights.safetensors"));
    std::fs::write(&weights, &w).unwrap();

    let shard = dir.join("b/embeddings/001.npy");
    let mut s = std::fs::read(&shard).unwrap();
    s[500] ^= 1;
    std::fs::write(&shard, s).unwrap();
    let e = fails(&["inspect", "b"], dir);
    assert!(e.contains("checksum mismatch for embeddings/001.npy"), "{e}");

    let q = fails(&["search", "--corpus", "b/embeddings/000.npy", "--queries", "wrong-dim.npy", "--out", "o"], dir);
    assert!(q.contains("dimension"), "{q}");
    assert!(fails(&["kmeans", "--embeddings", "b/embeddings/000.npy", "--clusters", "251", "--out", "o"], dir)
        .contains("251 clusters"));
}

/// Issue 12's defects 10, 12-15: each gives a one-line error (or, for a closed pipe, a quiet
/// exit) instead of an abort, a panic, or an output that looks like an answer.
#[test]
fn hostile_sizes_values_and_outputs_are_refused_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth(dir);
    let write = |name: &str, rows: usize, f: &dyn Fn(usize) -> f32| {
        let values: Vec<f32> = (0..rows * 256).map(f).collect();
        std::fs::write(dir.join(name), npy::to_bytes(&[rows, 256], &values).unwrap()).unwrap();
    };
    write("one.npy", 1, &|i| i as f32 * 1e-3);
    write("same.npy", 40, &|i| (i % 256) as f32 * 1e-3);
    write("huge.npy", 4, &|i| if i == 300 { 1e30 } else { 0.1 });
    write("empty.npy", 0, &|_| 0.0);
    let emb = "b/embeddings/000.npy";

    // 10: a run without spread is refused, not written with b_dec = NaN.
    for data in ["one.npy", "same.npy"] {
        let e =
            fails(&["train", "--embeddings", data, "--out", "t", "--k", "2", "--latents", "8", "--epochs", "1"], dir);
        assert!(e.contains("rows that differ"), "{e}");
        assert!(!dir.join("t/sae_weights.safetensors").exists());
    }
    // 12: sizes that would abort the process on allocation.
    let iters = ["kmeans", "--embeddings", emb, "--clusters", "3", "--iters", "1000000000000", "--out", "o"];
    assert!(fails(&iters, dir).contains("between 1 and 10000"));
    let latents = ["train", "--embeddings", emb, "--out", "t", "--latents", "1000000000"];
    assert!(fails(&latents, dir).contains("latents must be between 1 and 262144"));
    assert!(fails(&["synth", "--out", "s", "--documents", "1000000000000"], dir).contains("documents must be"));
    let cluster = ["cluster", "--bundle", "b", "--features", "1,2", "--iters", "1000000000000"];
    assert!(fails(&cluster, dir).contains("k-means iterations must be"));
    // 13: finite values that would overflow to infinite codes, scores and inertia.
    for args in [
        &["encode", "--sae", "b/sae", "--embeddings", "huge.npy", "--out", "o"][..],
        &["search", "--corpus", emb, "--queries", "huge.npy", "--out", "o"],
        &["kmeans", "--embeddings", "huge.npy", "--clusters", "2", "--out", "o"],
    ] {
        let e = fails(args, dir);
        assert!(e.contains("1e30 at row 1, column 44") && e.contains("overflow"), "{args:?}: {e}");
    }
    // 14: nothing to search or measure is an error, not an empty answer or an NMSE of 0.
    let empty = fails(&["search", "--corpus", "empty.npy", "--queries", emb, "--out", "o"], dir);
    assert!(empty.contains("no documents to search"), "{empty}");
    assert!(fails(&["metrics", "--sae", "b/sae", "--embeddings", "empty.npy"], dir).contains("0 rows"));
    // 15: a full disk is an error; a closed pipe ends quietly.
    let full = Command::new(env!("CARGO_BIN_EXE_saescope"))
        .args(["inspect", "b"])
        .current_dir(dir)
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert!(
        !full.status.success() && stderr.contains("cannot write to stdout") && !stderr.contains("panicked"),
        "{stderr}"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_saescope"))
        .args(["inspect", "b"])
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before the first line
    let closed = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&closed.stderr);
    assert!(closed.status.success() && !stderr.contains("panicked"), "{:?}: {stderr}", closed.status);
}

#[test]
#[ignore = "needs the model (`cargo xtask setup`); `cargo xtask test` runs it"]
fn embed_writes_unit_vectors_and_matches_query_embedding() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.cache/models/all-MiniLM-L6-v2");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_saescope"))
            .args(args)
            .env("SAESCOPE_MODEL", model)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {} (the model comes from `cargo xtask setup`)",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    std::fs::write(
        dir.join("c.jsonl"),
        "{\"id\":\"a\",\"title\":\"Sparse autoencoders\",\"abstract\":\"We study dictionary learning on embeddings.\"}\n{\"id\":\"b\",\"title\":\"Galaxy rotation curves\",\"abstract\":\"Dark matter halos shape how galaxies spin.\"}\n",
    )
    .unwrap();
    run(&["embed", "--corpus", "c.jsonl", "--out", "e.npy"]);
    run(&["embed", "--corpus", "c.jsonl", "--out", "t.npy", "--text", "title"]);
    let e = npy::read_matrix(&std::fs::read(dir.join("e.npy")).unwrap()).unwrap();
    let t = npy::read_matrix(&std::fs::read(dir.join("t.npy")).unwrap()).unwrap();
    assert_eq!((e.rows, e.cols), (2, 384));
    let q: Vec<f32> = serde_json::from_str(&run(&[
        "embed",
        "--query",
        "Sparse autoencoders. We study dictionary learning on embeddings.",
    ]))
    .unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!((dot(e.row(0), e.row(0)) - 1.0).abs() < 1e-5);
    assert!(dot(&q, e.row(0)) > 0.99999, "query and corpus paths embed the same text alike");
    assert!(dot(e.row(0), e.row(1)) < 0.5, "unrelated documents are far apart");
    assert!(dot(t.row(0), e.row(0)) < 0.999, "--text title embeds the title alone");
}

/// A corpus whose documents name their planted atoms with made-up words (`w12x`), so labels
/// have something to find; category `even`/`odd` by the first atom. `x.npy` has one row per
/// record: the planted rows, with a row of 0.5 for the broken record after document 150 (which
/// blank lines and a comment precede: the records must still meet their own rows).
fn planted_corpus(dir: &Path) -> saescope_core::Matrix {
    let data = saescope_core::synth::PlantedData::generate(32, 40, 3, 300, 5);
    let e = &data.embeddings.data;
    std::fs::write(
        dir.join("x.npy"),
        npy::to_bytes(&[301, 32], &[&e[..151 * 32], &[0.5; 32][..], &e[151 * 32..]].concat()).unwrap(),
    )
    .unwrap();
    let mut corpus = String::new();
    for r in 0..300 {
        let atoms = data.atoms_of(r);
        let words: Vec<String> = atoms.iter().map(|a| format!("w{a}x")).collect();
        let category = if atoms[0].is_multiple_of(2) { "even" } else { "odd" };
        corpus.push_str(&format!("{{\"id\":\"d{r}\",\"title\":\"Document {r}\",\"abstract\":\"About {}. With $x$ and \\\\emph{{{}}}.\",\"categories\":\"{category} x.B\"}}\n", words.join(" and "), words[0]));
        if r == 150 {
            corpus.push_str(&"\n".repeat(10));
            corpus.push_str("# not a record\n");
            corpus.push_str("{\"id\":\"broken\"}\n"); // no text: skipped, and its embedding row dropped
        }
    }
    std::fs::write(dir.join("c.jsonl"), corpus).unwrap();
    data.embeddings
}

const BUILD: [&str; 16] = [
    "build",
    "--corpus",
    "c.jsonl",
    "--embeddings",
    "x.npy",
    "--out",
    "b",
    "--k",
    "3",
    "--latents",
    "48",
    "--epochs",
    "3",
    "--batch",
    "64",
    "--lr",
];

fn build(dir: &Path) -> Output {
    let mut args = BUILD.to_vec();
    args.push("1e-2");
    saescope(&args, dir)
}

#[test]
fn build_makes_a_verified_bundle_and_reuses_the_trained_sae() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let planted = planted_corpus(dir);
    let first = build(dir);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stderr}");
    assert!(stderr.contains("skipped 1") && stderr.contains("skipped record 152 (line 163)"), "{stderr}");
    // Defect 3: every document keeps its own embedding (stored as f16).
    let stored = npy::read_matrix(&std::fs::read(dir.join("b/embeddings/000.npy")).unwrap()).unwrap();
    assert_eq!(stored.rows, 300);
    for r in 0..300 {
        assert!(stored.row(r).iter().zip(planted.row(r)).all(|(a, b)| (a - b).abs() < 2e-3), "document {r}");
    }
    for stage in ["stage train:", "stage labels:", "stage co-occurrence:", "stage families:", "keyphrase matches only"]
    {
        assert!(stderr.contains(stage), "{stage} missing from: {stderr}");
    }
    let inspect: serde_json::Value = serde_json::from_str(&ok(&["inspect", "b"], dir)).unwrap();
    assert_eq!(inspect["documents"], 300);
    assert_eq!(inspect["sae"]["d_sae"], 48);
    // The same bundle as one zip (what the page's workshop exports) reads the same.
    let manifest = std::fs::read(dir.join("b/manifest.json")).unwrap();
    let files: Vec<(String, Vec<u8>)> = saescope_format::manifest::Manifest::parse(&manifest)
        .unwrap()
        .files
        .iter()
        .map(|f| (f.path.clone(), std::fs::read(dir.join("b").join(&f.path)).unwrap()))
        .collect();
    std::fs::write(dir.join("b.zip"), saescope_format::archive::write_zip(&manifest, &files).unwrap()).unwrap();
    let zipped: serde_json::Value = serde_json::from_str(&ok(&["inspect", "b.zip"], dir)).unwrap();
    assert_eq!(zipped, inspect);
    assert_eq!(
        (inspect["has_codes"].as_bool(), inspect["has_labels"].as_bool(), inspect["has_families"].as_bool()),
        (Some(true), Some(true), Some(true))
    );
    let json = |p: &str| -> serde_json::Value { serde_json::from_slice(&std::fs::read(dir.join(p)).unwrap()).unwrap() };
    let features = json("b/features.json");
    assert_eq!(features["features"].as_array().unwrap().len(), 48);
    let live = features["features"].as_array().unwrap().iter().filter(|f| f["density"].as_f64().unwrap() > 0.0).count();
    let labels = json("b/labels.json");
    let labels = labels.as_array().unwrap();
    assert_eq!(labels.len(), live, "one label per live feature");
    for key in ["index", "label", "reasoning", "f1", "pearson_correlation", "auroc", "density", "phrases", "clean"] {
        assert!(labels.iter().all(|l| l.get(key).is_some()), "every label has {key}");
    }
    assert!(
        labels.iter().any(|l| l["label"].as_str().unwrap().contains('w')),
        "labels name the planted words: {labels:?}"
    );
    let families = json("b/families.json");
    for key in
        ["sizes", "cooccurrence_ratio", "block_diagonal_ratio", "block_diagonal_ratio_random", "membership_fraction"]
    {
        assert!(families["stats"].get(key).is_some(), "stats.{key}");
    }
    assert_eq!(families["params"]["first_threshold"], 0.1);
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert!(report["stage_seconds"]["labels"].as_f64().is_some(), "{report}");

    let second = build(dir);
    let stderr = String::from_utf8_lossy(&second.stderr);
    for reused in ["reusing the trained SAE", "reusing labels", "reusing families"] {
        assert!(stderr.contains(reused), "{reused} missing from: {stderr}");
    }

    // The subcommands on the built bundle.
    ok(&["label", "--bundle", "b", "--no-embed", "--out", "labels.json"], dir);
    assert_eq!(
        json("labels.json"),
        json("b/labels.json"),
        "the same labels as the build's (same seed, keyphrase scoring)"
    );
    ok(&["families", "--bundle", "b", "--out", "f-cpu.json", "--paper-out", "paper.json"], dir);
    ok(&["families", "--bundle", "b", "--out", "f-gpu.json", "--device", "gpu"], dir);
    assert_eq!(json("f-cpu.json"), json("f-gpu.json"), "co-occurrence on the GPU gives the same families");
    // The same families as the build's. Their coherence differs in the fourth decimal: the build
    // measured the trained decoder, the command reads the bundle's (stored as f16).
    let (mut again, mut built) = (json("f-cpu.json"), families.clone());
    let (coherence, built_coherence) = (again["coherence"].take(), built["coherence"].take());
    assert_eq!(again, built);
    for key in ["decoder_cosine", "decoder_cosine_random", "cooccurrence", "cooccurrence_random"] {
        let (a, b) = (coherence[key].as_f64().unwrap(), built_coherence[key].as_f64().unwrap());
        assert!((a - b).abs() < 1e-3, "coherence.{key}: {a} vs the build's {b}");
    }
    let imported: serde_json::Value =
        serde_json::from_str(&ok(&["families", "--bundle", "b", "--import", "paper.json"], dir)).unwrap();
    assert_eq!(imported["families"].as_array().unwrap().len(), families["families"].as_array().unwrap().len());
    let diff: serde_json::Value =
        serde_json::from_str(&ok(&["diff", "--bundle", "b", "--a", "category=even", "--min-difference", "0.05"], dir))
            .unwrap();
    assert_eq!(diff["a"]["documents"].as_u64().unwrap() + diff["b"]["documents"].as_u64().unwrap(), 300);
    assert!(diff["features"].as_u64().unwrap() > 0, "{diff}");
    let npmi: serde_json::Value =
        serde_json::from_str(&ok(&["npmi", "--bundle", "b", "--top", "5", "--min-count", "2"], dir)).unwrap();
    assert!(npmi.as_array().unwrap().len() <= 5);
    let hits: serde_json::Value = serde_json::from_str(&ok(
        &["retrieve", "--bundle", "b", "--feature", &labels[0]["index"].to_string(), "--top", "3"],
        dir,
    ))
    .unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 3);
    let ids: Vec<String> = labels.iter().take(3).map(|l| l["index"].to_string()).collect();
    let clusters: serde_json::Value =
        serde_json::from_str(&ok(&["cluster", "--bundle", "b", "--features", &ids.join(","), "--clusters", "2"], dir))
            .unwrap();
    assert_eq!(clusters["clusters"]["assignments"].as_array().unwrap().len(), 300);
    // Steered search, as the page runs it ("more like this" a document); boosting a feature in
    // rebuild mode brings documents that fire it; a family expands in the query's unit.
    let steer = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["steer", "--bundle", "b", "--doc", "17", "--k", "5", "--json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&ok(&args, dir)).unwrap()
    };
    let plain = steer(&[]);
    let scores: Vec<f64> = plain["hits"].as_array().unwrap().iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores.len() == 5 && scores.windows(2).all(|w| w[0] >= w[1]), "{plain}");
    assert_eq!(plain["edits"], serde_json::json!([]));
    assert!((plain["cosine"].as_f64().unwrap() - 1.0).abs() < 1e-5);
    let boosted = labels[0]["index"].as_u64().unwrap();
    let edit = format!("{boosted}:20");
    let steered = steer(&["--edit", &edit, "--mode", "rebuild"]);
    let firing =
        steered["hits"].as_array().unwrap().iter().filter(|h| h["fires"] == serde_json::json!([boosted])).count();
    assert!(firing >= 3, "{steered}");
    assert!(steered["cosine"].as_f64().unwrap() < 1.0);
    if let Some(family) = families["families"].as_array().unwrap().first() {
        let family_edit = format!("{}:1", family["id"]);
        let expanded = steer(&["--family", &family_edit]);
        assert_eq!(expanded["edits"].as_array().unwrap().len(), family["children"].as_array().unwrap().len() + 1);
    }
    let text = ok(&["steer", "--bundle", "b", "--doc", "17", "--k", "3"], dir);
    let first = plain["hits"][0]["doc"].as_u64().unwrap();
    assert!(text.contains(&format!("#{first:<6}")), "{text}");
    assert!(fails(&["steer", "--bundle", "b", "--doc", "17", "--edit", "4800:1"], dir).contains("does not exist"));
    let malformed = saescope(&["steer", "--bundle", "b", "--doc", "17", "--edit", "3"], dir);
    assert!(!malformed.status.success() && String::from_utf8_lossy(&malformed.stderr).contains("INDEX:VALUE"));
    assert!(fails(&["steer", "--bundle", "b", "--query", "galaxies"], dir).contains("no query embedder"));

    // int8 storage (`--storage i8`): one byte per value with a scale and an offset per
    // dimension; "more like this" finds nearly the same documents as from f16.
    let mut args = BUILD.to_vec();
    args[6] = "bi8";
    args.extend(["1e-2", "--storage", "i8"]);
    let built = saescope(&args, dir);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let shard = std::fs::read(dir.join("bi8/embeddings/000.npy")).unwrap();
    let npy = saescope_format::npy::Npy::parse(&shard).unwrap();
    assert_eq!((npy.header.dtype, npy.header.shape.clone()), (saescope_format::npy::DType::I8, vec![300, 32]));
    assert!(dir.join("bi8/embeddings/000.scale.npy").exists());
    let quantised: serde_json::Value =
        serde_json::from_str(&ok(&["steer", "--bundle", "bi8", "--doc", "17", "--k", "5", "--json"], dir)).unwrap();
    let docs = |v: &serde_json::Value| -> Vec<u64> {
        v["hits"].as_array().unwrap().iter().map(|h| h["doc"].as_u64().unwrap()).collect()
    };
    assert_eq!(docs(&quantised)[0], docs(&plain)[0], "{quantised} vs {plain}");
    let shared = docs(&quantised).iter().filter(|d| docs(&plain).contains(d)).count();
    assert!(shared >= 4, "{quantised} vs {plain}");

    let split: serde_json::Value =
        serde_json::from_str(&ok(&["split", "--small", "b/sae", "--large", "b/sae"], dir)).unwrap();
    assert_eq!(split["7"], serde_json::json!([7]), "an SAE splits onto itself one to one");

    // The paper's labels import as they are; the clean filter uses the paper's thresholds.
    std::fs::write(dir.join("paper.labels.json"), r#"[{"index": 0, "label": "Dark matter", "reasoning": "r", "f1": 0.9, "pearson_correlation": 0.85, "density": 0.01}, {"index": 1, "label": "Noise", "f1": NaN, "pearson_correlation": 0.2, "density": 0.01}]"#).unwrap();
    let converted: serde_json::Value =
        serde_json::from_str(&ok(&["label", "--import", "paper.labels.json"], dir)).unwrap();
    assert_eq!(
        (converted[0]["clean"].as_bool(), converted[1]["clean"].as_bool(), converted[1]["f1"].is_null()),
        (Some(true), Some(false), true)
    );

    // Bad input: one line, no panic.
    assert!(fails(&["label"], dir).contains("--bundle"));
    assert!(fails(&["label", "--import", "missing.json"], dir).contains("cannot read"));
    assert!(fails(&["diff", "--bundle", "b", "--a", "category=nothing"], dir).contains("matches no documents"));
    assert!(fails(&["diff", "--bundle", "b", "--a", "rest"], dir).contains("only allowed for --b"));
    assert!(fails(&["retrieve", "--bundle", "b", "--feature", "4800"], dir).contains("out of range"));
    let bad_weight = saescope(&["retrieve", "--bundle", "b", "--feature", "1:x"], dir);
    assert!(!bad_weight.status.success() && String::from_utf8_lossy(&bad_weight.stderr).contains("weight \"x\""));
    assert!(fails(&["npmi", "--bundle", "b", "--features", "0,4800"], dir).contains("out of range"));
    assert!(fails(&["cluster", "--bundle", "b", "--features", &ids[0], "--clusters", "1000"], dir).contains("clusters"));
    std::fs::write(dir.join("bad.json"), "[1, 2").unwrap();
    assert!(fails(&["families", "--bundle", "b", "--import", "bad.json"], dir).contains("families file"));
    assert!(fails(&["families", "--bundle", "b", "--labels", "bad.json"], dir).contains("labels file"));
    assert!(fails(&["split", "--small", "b/sae", "--large", "nowhere"], dir).contains("cannot read"));
    assert!(fails(&["families", "--bundle", "nowhere"], dir).contains("cannot read"));
}

/// The map: the synthetic bundle carries a planted one; `select` finds the documents of a region
/// and the feature they share; `layout` recomputes the map or imports one, refusing bad files
/// without touching the bundle.
#[test]
fn the_map_is_laid_out_imported_and_selected_from() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth(dir);
    let planted = npy::read_matrix(&std::fs::read(dir.join("b/layout.npy")).unwrap()).unwrap();
    assert_eq!((planted.rows, planted.cols), (600, 2));
    // A square around document 0's point: its documents share their strongest atom.
    let (x, y) = (planted.data[0], planted.data[1]);
    let square =
        format!("{},{};{},{};{},{};{},{}", x - 2.0, y - 2.0, x + 2.0, y - 2.0, x + 2.0, y + 2.0, x - 2.0, y + 2.0);
    let selected: serde_json::Value =
        serde_json::from_str(&ok(&["select", "--bundle", "b", "--polygon", &square, "--json"], dir)).unwrap();
    let docs = selected["documents"].as_array().unwrap();
    assert!(docs.iter().any(|d| d == 0), "{selected}");
    let bytes = std::fs::read(dir.join("b/codes/indices.npy")).unwrap();
    let codes = npy::Npy::parse(&bytes).unwrap();
    let k = codes.header.matrix_shape().unwrap().1;
    let indices = codes.to_u32().unwrap();
    let first = selected["enrichment"]["features"][0]["feature"].as_u64().unwrap() as u32;
    // The first feature is the region's shared atom: it fires in (nearly) every selected
    // document (another anchor may lie close by) and in document 0.
    let firing = docs.iter().filter(|d| {
        let d = d.as_u64().unwrap() as usize;
        indices[d * k..(d + 1) * k].contains(&first)
    });
    assert!(firing.count() * 5 >= docs.len() * 4, "{selected}");
    assert!(indices[..k].contains(&first));
    assert!(ok(&["select", "--bundle", "b", "--polygon", &square], dir).contains("over-represented"));
    assert!(fails(&["select", "--bundle", "b", "--polygon", "500,500;501,500;500,501"], dir)
        .contains("no documents inside"));
    assert!(fails(&["select", "--bundle", "b", "--polygon", "1,2;3"], dir).contains("expected X,Y"));

    // Imports are checked before the bundle is touched.
    let manifest = std::fs::read(dir.join("b/manifest.json")).unwrap();
    std::fs::write(dir.join("short.npy"), npy::to_bytes(&[599, 2], &vec![0f32; 1198]).unwrap()).unwrap();
    assert!(fails(&["layout", "--bundle", "b", "--from", "short.npy"], dir).contains("expected 600 x 2, got 599 x 2"));
    let mut nan = vec![0f32; 1200];
    nan[77] = f32::NAN;
    std::fs::write(dir.join("nan.npy"), npy::to_bytes(&[600, 2], &nan).unwrap()).unwrap();
    assert!(fails(&["layout", "--bundle", "b", "--from", "nan.npy"], dir).contains("non-finite"));
    assert_eq!(std::fs::read(dir.join("b/manifest.json")).unwrap(), manifest, "a refused map leaves the bundle alone");

    // A computed map replaces the planted one, and the bundle still verifies.
    ok(&["layout", "--bundle", "b", "--seed", "1"], dir);
    let computed = npy::read_matrix(&std::fs::read(dir.join("b/layout.npy")).unwrap()).unwrap();
    assert_eq!((computed.rows, computed.cols), (600, 2));
    assert_ne!(computed, planted);
    let inspect: serde_json::Value = serde_json::from_str(&ok(&["inspect", "b"], dir)).unwrap();
    assert_eq!(inspect["documents"], 600);
    let listed = String::from_utf8(std::fs::read(dir.join("b/manifest.json")).unwrap()).unwrap();
    assert_eq!(listed.matches("layout.npy").count(), 1);
}

#[test]
fn explain_reads_a_document_as_its_stored_code() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth(dir);
    let bytes = std::fs::read(dir.join("b/codes/indices.npy")).unwrap();
    let codes = npy::Npy::parse(&bytes).unwrap();
    let k = codes.header.matrix_shape().unwrap().1;
    let indices = codes.to_u32().unwrap();
    let values = npy::Npy::parse(&std::fs::read(dir.join("b/codes/values.npy")).unwrap()).unwrap().to_f32().unwrap();
    for doc in [0usize, 17, 599] {
        let e: serde_json::Value =
            serde_json::from_str(&ok(&["explain", "--bundle", "b", "--doc", &doc.to_string(), "--json"], dir)).unwrap();
        assert_eq!(e["k"], k);
        let mut kept: Vec<u32> =
            e["kept"].as_array().unwrap().iter().map(|f| f["feature"].as_u64().unwrap() as u32).collect();
        kept.sort();
        let mut stored: Vec<u32> = (doc * k..(doc + 1) * k).filter(|&i| values[i] > 0.0).map(|i| indices[i]).collect();
        stored.sort();
        assert_eq!(kept, stored, "document {doc}: the explainer keeps the features the bundle's codes hold");
        let shares: f64 =
            e["kept"].as_array().unwrap().iter().map(|f| f["cosine_share"].as_f64().unwrap()).sum::<f64>()
                + e["bias_cosine_share"].as_f64().unwrap();
        assert!((shares - e["cosine"].as_f64().unwrap()).abs() < 1e-4, "{e}");
    }
    let one: serde_json::Value =
        serde_json::from_str(&ok(&["explain", "--bundle", "b", "--doc", "3", "--k", "1", "--json"], dir)).unwrap();
    assert!(one["kept"].as_array().unwrap().len() <= 1);
    assert!(ok(&["explain", "--bundle", "b", "--doc", "3"], dir).contains("top-"));
    assert!(fails(&["explain", "--bundle", "b", "--doc", "600"], dir)
        .contains("document 600 does not exist (the bundle has 600)"));
    assert!(fails(&["explain", "--bundle", "b", "--doc", "3", "--k", "0"], dir).contains("k = 0"));
}
