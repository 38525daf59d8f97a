//! `saescope embed`: documents or a query through all-MiniLM-L6-v2 (`saescope-embed`).

use anyhow::{Context, Result};
use saescope_build::embed::{embed_documents, load};
use saescope_format::corpus::{self, CorpusFormat};
use saescope_format::documents::Document;
use std::path::Path;

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

pub fn run(
    corpus_path: Option<&Path>,
    query: Option<&str>,
    out: Option<&Path>,
    field: TextField,
    model: &Path,
) -> Result<()> {
    let embedder = load(model)?;
    match (corpus_path, query) {
        (_, Some(q)) => {
            let v = embedder.embed(&[q])?;
            saescope_build::out!("{}", serde_json::to_string(&v.data)?)?;
            Ok(())
        }
        (Some(path), None) => {
            let out = out.context("--out X.npy is needed with --corpus")?;
            let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
            let read = corpus::read(file, CorpusFormat::from_name(&path.display().to_string()))?;
            if !read.skipped.is_empty() {
                eprintln!(
                    "skipped {} records (first: record {}: {})",
                    read.skipped.len(),
                    read.skipped[0].record,
                    read.skipped[0].reason
                );
            }
            embed_documents(&embedder, &read.documents, |d| text_of(d, field), out)?;
            eprintln!("embedded {} documents into {}", read.documents.len(), out.display());
            Ok(())
        }
        (None, None) => anyhow::bail!("pass --corpus FILE --out X.npy, or --query TEXT"),
    }
}
