//! Documents as bundles store them (`documents.jsonl.gz`), and gzip in and out.

use saescope_core::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read};

/// One document as the bundle stores it (JSON Lines).
#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    pub title: String,
    #[serde(default, rename = "abstract")]
    pub text: String,
    #[serde(default)]
    pub categories: Vec<String>,
}

/// Reads `documents.jsonl`, plain or gzip (bundles store it as `documents.jsonl.gz`: a third of the bytes to download).
pub fn parse_documents(bytes: &[u8]) -> Result<Vec<Document>> {
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut maybe_gunzip(bytes)?, &mut plain)
        .map_err(|e| Error::Format(format!("documents file: {e}")))?;
    let text = std::str::from_utf8(&plain).map_err(|_| Error::Format("documents file is not UTF-8".into()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| Error::Format(format!("documents line {}: {e}", i + 1))))
        .collect()
}

/// Wraps `reader` in a gzip decoder when the stream starts with the gzip magic.
pub fn maybe_gunzip<'a, R: Read + 'a>(reader: R) -> Result<Box<dyn BufRead + 'a>> {
    let mut buffered = BufReader::new(reader);
    let head = buffered.fill_buf().map_err(|e| Error::Format(format!("reading corpus: {e}")))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(buffered))))
    } else {
        Ok(Box::new(buffered))
    }
}

/// `bytes` gzip-compressed (how bundles store their documents).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), flate2::Compression::default());
    encoder.write_all(bytes).expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_read_plain_or_gzip_and_bad_lines_are_named() {
        let text = "{\"id\":\"a\",\"title\":\"T\",\"abstract\":\"x\",\"categories\":[\"cs.LG\"]}\n\n{\"id\":\"b\",\"title\":\"U\"}\n";
        let plain = parse_documents(text.as_bytes()).unwrap();
        assert_eq!(plain.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(parse_documents(&gzip(text.as_bytes())).unwrap(), plain);
        let broken = parse_documents(b"{\"id\":\"a\",\"title\":\"T\"}\n{oops\n").unwrap_err().to_string();
        assert!(broken.contains("documents line 2"), "{broken}");
        let truncated = gzip(text.as_bytes());
        assert!(parse_documents(&truncated[..truncated.len() / 2]).is_err());
    }
}
