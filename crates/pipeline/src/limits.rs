//! What a browser tab can build: a wasm32 memory is at most 4 GiB, and the page's loader takes
//! bundles up to 1.5 GiB, so the workshop refuses a corpus that would not fit before reading it
//! (and says to use the CLI, which has no such bound).

use anyhow::{bail, Result};
use saescope_format::corpus::{self, CorpusFormat, CorpusRead};

/// The largest corpus file the workshop reads, as a file and once decompressed.
pub const MAX_CORPUS_BYTES: u64 = 256 << 20;

/// The most documents the workshop builds a bundle of. At 384 dimensions, 100k documents are
/// 154 MB of f32 embeddings; training holds them twice (the train/validation split), encoding,
/// labels and the map add about as much again, well inside a tab's 4 GiB.
pub const MAX_DOCUMENTS: usize = 100_000;

const USE_THE_CLI: &str = "build larger corpora with the command line (`saescope build`) and open the bundle here";

/// Refuses a corpus file of `bytes` (named `name`) that is over [`MAX_CORPUS_BYTES`].
pub fn check_corpus_bytes(name: &str, bytes: u64) -> Result<()> {
    if bytes > MAX_CORPUS_BYTES {
        bail!(
            "{name} is {:.0} MiB, over the {} MiB a browser tab builds from; {USE_THE_CLI}",
            bytes as f64 / (1u64 << 20) as f64,
            MAX_CORPUS_BYTES >> 20
        );
    }
    Ok(())
}

/// Reads a corpus file (its format from `name`) as the workshop does: refused if the file, or
/// what it decompresses to, is over [`MAX_CORPUS_BYTES`], if it holds more than
/// [`MAX_DOCUMENTS`], or none that can be used.
pub fn read_corpus(name: &str, bytes: &[u8]) -> Result<CorpusRead> {
    check_corpus_bytes(name, bytes.len() as u64)?;
    let read = corpus::read_at_most(bytes, CorpusFormat::from_name(name), MAX_CORPUS_BYTES).map_err(|e| match e {
        // Under this bound the only Invalid error is the bound itself (the CSV's own, 4 GiB, is
        // far above it), which the CLI does not have.
        saescope_core::Error::Invalid(why) => anyhow::anyhow!("{name}: {why}; {USE_THE_CLI}"),
        e => anyhow::anyhow!("{name}: {e}"),
    })?;
    if read.documents.is_empty() {
        bail!(
            "{name} holds no usable documents ({} records, all skipped{})",
            read.total_records,
            read.skipped.first().map(|s| format!("; the first, line {}: {}", s.line, s.reason)).unwrap_or_default()
        );
    }
    check_documents(read.documents.len())?;
    Ok(read)
}

/// Refuses more than [`MAX_DOCUMENTS`] documents.
pub fn check_documents(documents: usize) -> Result<()> {
    if documents > MAX_DOCUMENTS {
        bail!(
            "{documents} documents are more than the {MAX_DOCUMENTS} a browser tab builds a bundle of; {USE_THE_CLI}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_the_numbers_and_the_way_out() {
        assert!(check_corpus_bytes("a.jsonl", MAX_CORPUS_BYTES).is_ok());
        let e = check_corpus_bytes("a.jsonl", MAX_CORPUS_BYTES + 1).unwrap_err().to_string();
        assert!(e.contains("a.jsonl") && e.contains("256 MiB") && e.contains("saescope build"), "{e}");
        assert!(check_documents(MAX_DOCUMENTS).is_ok());
        let e = check_documents(MAX_DOCUMENTS + 1).unwrap_err().to_string();
        assert!(e.contains("100001") && e.contains("100000"), "{e}");
        let e = read_corpus("blank.txt", b"\n \n").unwrap_err().to_string();
        assert!(e.contains("blank.txt holds no usable documents (0 records"), "{e}");
        let e = read_corpus("bad.csv", b"id,title\n1,\"open quote\n").unwrap_err().to_string();
        assert!(e.starts_with("bad.csv: ") && !e.contains("saescope build"), "{e}");
    }
}
