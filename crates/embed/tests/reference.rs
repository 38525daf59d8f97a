//! The embedder against sentence-transformers: 240 documents of the shared demo corpus, spread
//! over the file (astro-ph and cs.LG, short and longer than 256 tokens), must reach a cosine of
//! at least 0.9999 with the reference embeddings computed by sentence-transformers. Needs the
//! model (`cargo xtask setup` fetches it) and ../shared beside the checkout, so it is ignored by a
//! plain `cargo test` and run by `cargo xtask test` (`cargo test -- --ignored`).

use saescope_embed::{quantize_weights, Embedder};
use saescope_format::npy;
use std::io::BufRead;
use std::path::PathBuf;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; run `cargo xtask setup` (model) and keep ../shared beside the checkout", path.display())
    })
}

/// (row, text) for every 83rd document: 241 documents over all 20k lines.
fn sample() -> Vec<(usize, String)> {
    let gz = read(workspace().join("../shared/data/arxiv/demo-20k.jsonl.gz"));
    let lines = std::io::BufReader::new(flate2::read::GzDecoder::new(&gz[..])).lines();
    lines
        .enumerate()
        .filter(|(i, _)| i % 83 == 0)
        .map(|(i, line)| {
            let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            (i, format!("{}. {}", v["title"].as_str().unwrap(), v["abstract"].as_str().unwrap()))
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt())
}

#[test]
#[ignore = "needs the model (`cargo xtask setup`) and ../shared; `cargo xtask test` runs it"]
fn reproduces_sentence_transformers() {
    let model = workspace().join(".cache/models/all-MiniLM-L6-v2");
    let (weights, tokenizer, config) =
        (read(model.join("model.safetensors")), read(model.join("tokenizer.json")), read(model.join("config.json")));
    let embedder = Embedder::from_bytes(&weights, &tokenizer, &config).unwrap();
    let reference = npy::read_matrix(&read(workspace().join("../shared/data/arxiv/demo-20k.minilm.f32.npy"))).unwrap();
    let docs = sample();
    assert!(docs.len() >= 200);
    let long = docs.iter().filter(|(_, t)| embedder.tokens(t).unwrap().len() == 256).count();
    assert!(long >= 5, "the sample should include texts truncated at 256 tokens ({long})");

    let texts: Vec<&str> = docs.iter().map(|(_, t)| t.as_str()).collect();
    let mut batched = Vec::new();
    for chunk in texts.chunks(32) {
        batched.extend(embedder.embed(chunk).unwrap().data);
    }
    let mut worst = 1.0f32;
    for (i, (row, _)) in docs.iter().enumerate() {
        worst = worst.min(cosine(&batched[i * 384..(i + 1) * 384], reference.row(*row)));
    }
    println!("min cosine over {} documents: {worst:.7} ({long} truncated)", docs.len());
    assert!(worst >= 0.9999, "min cosine {worst}");

    // Batch composition does not matter: one at a time gives the same vectors.
    for (i, text) in texts.iter().enumerate().step_by(10) {
        let single = embedder.embed(&[text]).unwrap();
        let diff =
            single.data.iter().zip(&batched[i * 384..(i + 1) * 384]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(diff < 1e-5, "document {i}: batch of 1 differs by {diff}");
    }

    // The int8 weights the browser downloads stay close, for abstracts and for short queries
    // (the titles: a few words, as people type).
    let quantized = quantize_weights(&weights).unwrap();
    println!("embedder weights: {} bytes f32, {} bytes int8", weights.len(), quantized.len());
    assert!(quantized.len() * 3 < weights.len(), "int8 weights are about a quarter of f32");
    let small = Embedder::from_bytes(&quantized, &tokenizer, &config).unwrap();
    let q = small.embed(&texts[..64]).unwrap();
    let worst_abstract = (0..64).map(|i| cosine(q.row(i), &batched[i * 384..(i + 1) * 384])).fold(1.0, f32::min);
    let titles: Vec<&str> = texts[..64].iter().map(|t| t.split(". ").next().unwrap()).collect();
    let (full, quant) = (embedder.embed(&titles).unwrap(), small.embed(&titles).unwrap());
    let worst_title = (0..64).map(|i| cosine(full.row(i), quant.row(i))).fold(1.0, f32::min);
    println!("int8 weights: min cosine {worst_abstract:.6} (abstracts), {worst_title:.6} (titles)");
    assert!(worst_abstract >= 0.999 && worst_title >= 0.999, "int8 min cosine {worst_abstract} / {worst_title}");
}

#[test]
fn bad_files_are_errors() {
    assert!(Embedder::from_bytes(b"nope", b"{}", b"{}").is_err());
}
