//! The `saescope` binary end to end: outputs on good input, and a non-zero exit with a one-line
//! reason on each kind of bad input.

use saescope_core::npy;
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
    ok(&["synth", "--out", "b", "--documents", "600", "--dim", "256", "--latents", "128", "--k", "4", "--shard-rows", "250"], dir);
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
        ok(&["encode", "--sae", "b/sae", "--embeddings", "b/embeddings/000.npy", "--out", &format!("enc-{device}"), "--device", device], dir);
        ok(&["search", "--corpus", "b/embeddings/000.npy", "--corpus", "b/embeddings/001.npy", "--queries", "b/embeddings/002.npy", "--k", "7", "--out", &format!("s-{device}"), "--device", device], dir);
    }
    let read = |p: &str| std::fs::read(dir.join(p)).unwrap();
    assert_eq!(npy::parse_header(&read("enc-cpu/indices.npy")).unwrap().shape, vec![250, 4]);
    // The planted SAE separates its atoms cleanly, so both devices pick identical latents.
    assert_eq!(read("enc-cpu/indices.npy"), read("enc-gpu/indices.npy"));
    assert_eq!(npy::parse_header(&read("s-gpu/scores.npy")).unwrap().shape, vec![100, 7]);
    assert_eq!(read("s-cpu/indices.npy"), read("s-gpu/indices.npy"));

    let metrics: serde_json::Value = serde_json::from_str(&ok(&["metrics", "--sae", "b/sae", "--embeddings", "b/embeddings/001.npy"], dir)).unwrap();
    assert!(metrics["metrics"]["normalized_mse"].as_f64().unwrap() < 0.05, "{metrics}");
    assert_eq!(metrics["metrics"]["l0"].as_f64().unwrap(), 4.0);

    let km: serde_json::Value = serde_json::from_str(&ok(&["kmeans", "--embeddings", "b/embeddings/000.npy", "--clusters", "5", "--iters", "4", "--out", "km"], dir)).unwrap();
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
    assert!(fails(&["kmeans", "--embeddings", "b/embeddings/000.npy", "--clusters", "251", "--out", "o"], dir).contains("251 clusters"));
}

#[test]
fn embed_writes_unit_vectors_and_matches_query_embedding() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.cache/models/all-MiniLM-L6-v2");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_saescope")).args(args).env("SAESCOPE_MODEL", model).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "{args:?}: {} (the model comes from `cargo xtask setup`)", String::from_utf8_lossy(&out.stderr));
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
    let q: Vec<f32> = serde_json::from_str(&run(&["embed", "--query", "Sparse autoencoders. We study dictionary learning on embeddings."])).unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!((dot(e.row(0), e.row(0)) - 1.0).abs() < 1e-5);
    assert!(dot(&q, e.row(0)) > 0.99999, "query and corpus paths embed the same text alike");
    assert!(dot(e.row(0), e.row(1)) < 0.5, "unrelated documents are far apart");
    assert!(dot(t.row(0), e.row(0)) < 0.999, "--text title embeds the title alone");
}

#[test]
fn build_makes_a_verified_bundle_and_reuses_the_trained_sae() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = saescope_core::synth::PlantedData::generate(32, 40, 3, 300, 5);
    std::fs::write(dir.join("x.npy"), npy::to_bytes(&[301, 32], &[data.embeddings.data.clone(), vec![0.5; 32]].concat()).unwrap()).unwrap();
    let mut corpus = String::new();
    for r in 0..300 {
        corpus.push_str(&format!("{{\"id\":\"d{r}\",\"title\":\"Document {r}\",\"abstract\":\"Atoms {:?}\",\"categories\":\"x.A x.B\"}}\n", data.atoms_of(r)));
        if r == 150 {
            corpus.push_str("{\"id\":\"broken\"}\n"); // no text: skipped, and its embedding row dropped
        }
    }
    std::fs::write(dir.join("c.jsonl"), corpus).unwrap();
    let build = ["build", "--corpus", "c.jsonl", "--embeddings", "x.npy", "--out", "b", "--k", "3", "--latents", "48", "--epochs", "3", "--batch", "64", "--lr", "1e-2"];
    let first = saescope(&build, dir);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stderr).contains("skipped 1"));
    let inspect: serde_json::Value = serde_json::from_str(&ok(&["inspect", "b"], dir)).unwrap();
    assert_eq!(inspect["documents"], 300);
    assert_eq!(inspect["sae"]["d_sae"], 48);
    assert_eq!(inspect["has_codes"], true);
    let features: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("b/features.json")).unwrap()).unwrap();
    assert_eq!(features["features"].as_array().unwrap().len(), 48);
    let second = saescope(&build, dir);
    assert!(String::from_utf8_lossy(&second.stderr).contains("reusing the trained SAE"));
}
