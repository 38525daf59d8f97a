//! Documents through all-MiniLM-L6-v2 (`saescope-embed`), streamed into an `.npy`.

use crate::files::{progress, read};
use anyhow::{Context, Result};
use saescope_embed::Embedder;
use saescope_format::documents::Document;
use saescope_format::npy;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where `cargo xtask setup` puts the model, relative to the workspace (or `$SAESCOPE_MODEL`).
pub fn default_model_dir() -> PathBuf {
    std::env::var_os("SAESCOPE_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".cache/models/all-MiniLM-L6-v2"))
}

pub fn load(dir: &Path) -> Result<Embedder> {
    let file = |f: &str| {
        read(&dir.join(f))
            .with_context(|| "the embedding model is fetched by `cargo xtask setup`; or pass --model DIR".to_string())
    };
    Ok(Embedder::from_bytes(&file("model.safetensors")?, &file("tokenizer.json")?, &file("config.json")?)?)
}

/// Embeds `docs` in batches, streaming rows into an f32 `.npy` at `out`.
pub fn embed_documents(
    embedder: &Embedder,
    docs: &[Document],
    text_of: impl Fn(&Document) -> String,
    out: &Path,
) -> Result<()> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?);
    file.write_all(&npy::header_for::<f32>(&[docs.len(), embedder.dim()]))?;
    let bar = progress(docs.len() as u64, "embed");
    for chunk in docs.chunks(32) {
        let texts: Vec<String> = chunk.iter().map(&text_of).collect();
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
