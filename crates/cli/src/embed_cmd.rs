//! `saescope embed`: documents or a query through all-MiniLM-L6-v2 (`saescope-embed`).

use crate::io::{progress, read};
use anyhow::{Context, Result};
use saescope_format::documents::Document;
use saescope_format::corpus::{self, CorpusFormat};
use saescope_format::npy;
use saescope_embed::Embedder;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where `cargo xtask setup` puts the model, relative to the workspace (or `$SAESCOPE_MODEL`).
pub fn default_model_dir() -> PathBuf {
    std::env::var_os("SAESCOPE_MODEL").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".cache/models/all-MiniLM-L6-v2"))
}

pub fn load(dir: &Path) -> Result<Embedder> {
    let file = |f: &str| read(&dir.join(f)).with_context(|| "the embedding model is fetched by `cargo xtask setup`; or pass --model DIR".to_string());
    Ok(Embedder::from_bytes(&file("model.safetensors")?, &file("tokenizer.json")?, &file("config.json")?)?)
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum TextField {
    /// `title + ". " + abstract` (the paper's and the reference embeddings' recipe)
    #[value(name = "title+abstract")]
    TitleAbstract,
    Title,
}

pub fn text_of(doc: &Document, field: TextField) -> String {
    match field {
        TextField::TitleAbstract => corpus::embedding_text(doc),
        TextField::Title => doc.title.clone(),
    }
}

/// Embeds `docs` in batches, streaming rows into an f32 `.npy` at `out`.
pub fn embed_documents(embedder: &Embedder, docs: &[Document], field: TextField, out: &Path) -> Result<()> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?);
    file.write_all(&npy::header_for::<f32>(&[docs.len(), embedder.dim()]))?;
    let bar = progress(docs.len() as u64, "embed");
    for chunk in docs.chunks(32) {
        let texts: Vec<String> = chunk.iter().map(|d| text_of(d, field)).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let m = embedder.embed(&refs)?;
        for v in &m.data {
            file.write_all(&v.to_le_bytes())?;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    file.flush()?;
    Ok(())
}

pub fn run(corpus_path: Option<&Path>, query: Option<&str>, out: Option<&Path>, field: TextField, model: &Path) -> Result<()> {
    let embedder = load(model)?;
    match (corpus_path, query) {
        (_, Some(q)) => {
            let v = embedder.embed(&[q])?;
            println!("{}", serde_json::to_string(&v.data)?);
            Ok(())
        }
        (Some(path), None) => {
            let out = out.context("--out X.npy is needed with --corpus")?;
            let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
            let read = corpus::read(file, CorpusFormat::from_name(&path.display().to_string()))?;
            if !read.skipped.is_empty() {
                eprintln!("skipped {} records (first: record {}: {})", read.skipped.len(), read.skipped[0].record, read.skipped[0].reason);
            }
            embed_documents(&embedder, &read.documents, field, out)?;
            eprintln!("embedded {} documents into {}", read.documents.len(), out.display());
            Ok(())
        }
        (None, None) => anyhow::bail!("pass --corpus FILE --out X.npy, or --query TEXT"),
    }
}
