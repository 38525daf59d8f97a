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

/// Documents per checkpoint: a stopped run loses at most this many documents' work.
const CHECKPOINT_DOCUMENTS: usize = 1024;

/// Token positions per batch, padding included: within a checkpoint documents go in order of
/// length, so a batch pads to its own longest and short documents ride in large batches.
const BATCH_TOKENS: usize = 8192;

/// At most this many documents per batch, however short.
const MAX_BATCH: usize = 128;

/// Where a stopped embedding run got to (next to its partial `.npy`).
#[derive(serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    /// The texts and the model this run embeds: a checkpoint of another run is not continued.
    fingerprint: String,
    /// Documents written (a whole number of checkpoints).
    documents: usize,
}

/// Embeds `docs` into an f32 `.npy` at `out`, resumably: rows are written to `OUT.partial` a
/// checkpoint at a time (`OUT.partial.json` says how far), and a run started again on the same
/// documents continues from the last checkpoint. Batches are the same whether or not a run was
/// resumed, so the result is identical.
pub fn embed_documents(
    embedder: &Embedder,
    docs: &[Document],
    text_of: impl Fn(&Document) -> String,
    out: &Path,
) -> Result<()> {
    let texts: Vec<String> = docs.iter().map(text_of).collect();
    let mut identity = format!("{} {}-d\n", saescope_embed::MODEL_ID, embedder.dim()).into_bytes();
    for t in &texts {
        identity.extend_from_slice(&(t.len() as u64).to_le_bytes());
        identity.extend_from_slice(t.as_bytes());
    }
    let fingerprint = saescope_format::manifest::sha256_hex(&identity);
    embed_resumable(
        &texts,
        embedder.dim(),
        &fingerprint,
        |t| Ok(embedder.tokens(t)?.len()),
        |batch| Ok(embedder.embed(batch)?),
        out,
    )
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The checkpointed loop of `embed_documents`, over any `tokens` (a text's length in tokens)
/// and `embed` (a batch of texts to unit rows).
pub fn embed_resumable(
    texts: &[String],
    dim: usize,
    fingerprint: &str,
    mut tokens: impl FnMut(&str) -> Result<usize>,
    mut embed: impl FnMut(&[&str]) -> Result<saescope_core::Matrix>,
    out: &Path,
) -> Result<()> {
    use std::io::Seek;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let (partial, checkpoint_path) = (with_suffix(out, ".partial"), with_suffix(out, ".partial.json"));
    let header = npy::header_for::<f32>(&[texts.len(), dim]);
    let row_bytes = (dim * 4) as u64;
    let earlier: Option<Checkpoint> =
        std::fs::read(&checkpoint_path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let resumable = earlier.filter(|c| {
        let written = std::fs::metadata(&partial).map_or(0, |m| m.len());
        // The partial file must begin with this run's header (a run on other documents may
        // have replaced it after this checkpoint was written).
        let starts_right = std::fs::File::open(&partial).is_ok_and(|mut f| {
            let mut start = vec![0u8; header.len()];
            std::io::Read::read_exact(&mut f, &mut start).is_ok() && start == header
        });
        c.fingerprint == fingerprint
            && c.documents <= texts.len()
            && (c.documents.is_multiple_of(CHECKPOINT_DOCUMENTS) || c.documents == texts.len())
            && written >= header.len() as u64 + c.documents as u64 * row_bytes
            && starts_right
    });
    let (mut file, mut done) = match resumable {
        Some(c) => {
            let mut file = std::fs::OpenOptions::new().write(true).open(&partial)?;
            // Whatever followed the last checkpoint is written again.
            file.set_len(header.len() as u64 + c.documents as u64 * row_bytes)?;
            file.seek(std::io::SeekFrom::End(0))?;
            eprintln!(
                "continuing the embedding in {} from document {} of {}",
                partial.display(),
                c.documents,
                texts.len()
            );
            (file, c.documents)
        }
        None => {
            // A checkpoint of another run must not survive into this one's partial file.
            let _ = std::fs::remove_file(&checkpoint_path);
            let mut file =
                std::fs::File::create(&partial).with_context(|| format!("cannot write {}", partial.display()))?;
            file.write_all(&header)?;
            (file, 0)
        }
    };
    let bar = progress(texts.len() as u64, "embed");
    bar.set_position(done as u64);
    while done < texts.len() {
        let group = &texts[done..(done + CHECKPOINT_DOCUMENTS).min(texts.len())];
        let lengths = group.iter().map(|t| tokens(t)).collect::<Result<Vec<_>>>()?;
        let mut order: Vec<usize> = (0..group.len()).collect();
        order.sort_by_key(|&i| (lengths[i], i));
        let mut rows = vec![0f32; group.len() * dim];
        let mut start = 0;
        while start < order.len() {
            // Sorted by length: the last document of a batch is its longest.
            let mut end = start + 1;
            while end < order.len()
                && end - start < MAX_BATCH
                && (end + 1 - start) * lengths[order[end]] <= BATCH_TOKENS
            {
                end += 1;
            }
            let batch: Vec<&str> = order[start..end].iter().map(|&i| group[i].as_str()).collect();
            let m = embed(&batch)?;
            if m.rows != batch.len() || m.cols != dim {
                anyhow::bail!(
                    "the embedder returned [{}, {}] for {} texts of dimension {dim}",
                    m.rows,
                    m.cols,
                    batch.len()
                );
            }
            for (r, &i) in order[start..end].iter().enumerate() {
                rows[i * dim..(i + 1) * dim].copy_from_slice(m.row(r));
            }
            bar.inc(batch.len() as u64);
            start = end;
        }
        file.write_all(&rows.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())?;
        file.sync_data()?;
        done += group.len();
        let tmp = with_suffix(&checkpoint_path, ".tmp");
        let mut record = std::fs::File::create(&tmp)?;
        record.write_all(&serde_json::to_vec(&Checkpoint { fingerprint: fingerprint.to_owned(), documents: done })?)?;
        record.sync_all()?;
        std::fs::rename(&tmp, &checkpoint_path)?;
    }
    bar.finish_and_clear();
    drop(file);
    std::fs::rename(&partial, out)
        .with_context(|| format!("cannot move {} to {}", partial.display(), out.display()))?;
    let _ = std::fs::remove_file(&checkpoint_path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use saescope_core::Matrix;

    /// A stand-in embedder: a text's row depends on the text alone (its length and bytes).
    fn fake_row(text: &str, dim: usize) -> Vec<f32> {
        (0..dim)
            .map(|d| text.bytes().map(|b| b as f32 * (d + 1) as f32).sum::<f32>() / 1000.0 + text.len() as f32)
            .collect()
    }

    fn texts(n: usize) -> Vec<String> {
        (0..n).map(|i| "word ".repeat(1 + (i * 7919) % 300) + &i.to_string()).collect()
    }

    /// Embeds `texts`, failing once more than `fail_after` documents were embedded.
    fn run(texts: &[String], fingerprint: &str, out: &Path, fail_after: Option<usize>) -> Result<()> {
        let mut embedded = 0;
        embed_resumable(
            texts,
            4,
            fingerprint,
            |t| Ok(t.split(' ').count()),
            |batch| {
                embedded += batch.len();
                if fail_after.is_some_and(|n| embedded > n) {
                    anyhow::bail!("stopped");
                }
                Ok(Matrix::new(batch.len(), 4, batch.iter().flat_map(|t| fake_row(t, 4)).collect())?)
            },
            out,
        )
    }

    #[test]
    fn a_stopped_run_continues_from_its_checkpoint_to_the_same_file_in_document_order() {
        let dir = tempfile::tempdir().unwrap();
        let docs = texts(CHECKPOINT_DOCUMENTS * 2 + 37);
        let (whole, resumed) = (dir.path().join("whole.npy"), dir.path().join("resumed.npy"));
        run(&docs, "a", &whole, None).unwrap();
        let m = npy::read_matrix(&std::fs::read(&whole).unwrap()).unwrap();
        assert_eq!((m.rows, m.cols), (docs.len(), 4));
        for (i, t) in docs.iter().enumerate() {
            assert_eq!(m.row(i), fake_row(t, 4).as_slice(), "row {i}");
        }
        assert!(!with_suffix(&whole, ".partial.json").exists());

        // Stopped in the second checkpoint: the first is kept.
        assert!(run(&docs, "a", &resumed, Some(CHECKPOINT_DOCUMENTS + 100)).is_err());
        let checkpoint: Checkpoint =
            serde_json::from_slice(&std::fs::read(with_suffix(&resumed, ".partial.json")).unwrap()).unwrap();
        assert_eq!(checkpoint.documents, CHECKPOINT_DOCUMENTS);
        assert!(!resumed.exists());
        // Continued: the first checkpoint must not be embedded again.
        let mut calls = Vec::new();
        embed_resumable(
            &docs,
            4,
            "a",
            |t| Ok(t.split(' ').count()),
            |batch| {
                calls.push(batch[0].to_owned());
                Ok(Matrix::new(batch.len(), 4, batch.iter().flat_map(|t| fake_row(t, 4)).collect())?)
            },
            &resumed,
        )
        .unwrap();
        let first: std::collections::HashSet<&String> = docs[..CHECKPOINT_DOCUMENTS].iter().collect();
        assert!(calls.iter().all(|t| !first.contains(t)), "the first checkpoint was embedded again");
        assert_eq!(std::fs::read(&whole).unwrap(), std::fs::read(&resumed).unwrap());
    }

    #[test]
    fn a_checkpoint_is_not_continued_over_another_runs_rows() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("e.npy");
        let docs = texts(CHECKPOINT_DOCUMENTS * 2);
        // Run A checkpoints its first 1024 documents, then run B on other documents starts over
        // the same file and stops before its first checkpoint.
        assert!(run(&docs, "a", &out, Some(CHECKPOINT_DOCUMENTS + 10)).is_err());
        let other: Vec<String> = texts(CHECKPOINT_DOCUMENTS * 3).into_iter().rev().collect();
        assert!(run(&other, "b", &out, Some(CHECKPOINT_DOCUMENTS - 10)).is_err());
        // A again: nothing of B's is kept.
        run(&docs, "a", &out, None).unwrap();
        let whole = dir.path().join("whole.npy");
        run(&docs, "a", &whole, None).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&whole).unwrap());
    }

    #[test]
    fn a_checkpoint_of_other_documents_is_not_continued() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("e.npy");
        let docs = texts(CHECKPOINT_DOCUMENTS + 5);
        assert!(run(&docs, "old", &out, Some(10)).is_err());
        let mut other = docs.clone();
        other[0] = "changed".into();
        run(&other, "new", &out, None).unwrap();
        let m = npy::read_matrix(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(m.row(0), fake_row("changed", 4).as_slice());
    }

    #[test]
    fn batches_hold_documents_of_similar_length_within_the_token_budget() {
        let dir = tempfile::tempdir().unwrap();
        let docs = texts(500);
        let mut padded = 0usize;
        embed_resumable(
            &docs,
            4,
            "b",
            |t| Ok(t.split(' ').count()),
            |batch| {
                let longest = batch.iter().map(|t| t.split(' ').count()).max().unwrap();
                assert!(batch.len() == 1 || batch.len() * longest <= BATCH_TOKENS);
                padded += batch.len() * longest;
                Ok(Matrix::new(batch.len(), 4, batch.iter().flat_map(|t| fake_row(t, 4)).collect())?)
            },
            &dir.path().join("e.npy"),
        )
        .unwrap();
        let real: usize = docs.iter().map(|t| t.split(' ').count()).sum();
        // In document order, batches of 32 would each pad to their longest.
        let unsorted: usize =
            docs.chunks(32).map(|c| c.len() * c.iter().map(|t| t.split(' ').count()).max().unwrap()).sum();
        assert!(
            padded < real * 6 / 5 && padded * 3 < unsorted * 2,
            "{padded} token positions for {real} tokens ({unsorted} unsorted)"
        );
    }
}
