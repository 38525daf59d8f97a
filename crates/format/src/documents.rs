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
    /// The year it appeared: given in the file, or read from an arXiv id (see [`arxiv_year`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<u16>,
}

/// The year of an arXiv identifier: `YYMM.NNNNN` (since 2007) or `archive/YYMMNNN` (1991 to
/// 2007), with or without a version suffix; `None` for anything else.
pub fn arxiv_year(id: &str) -> Option<u16> {
    let id = id.trim();
    let digits = match id.rsplit_once('/') {
        Some((archive, number))
            if !archive.is_empty() && archive.chars().all(|c| c.is_ascii_alphabetic() || c == '-' || c == '.') =>
        {
            number
        }
        Some(_) => return None,
        None => {
            let (head, tail) = id.split_once('.')?;
            let tail = tail.split('v').next()?;
            if head.len() != 4 || !(4..=5).contains(&tail.len()) || !tail.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            head
        }
    };
    let bytes = digits.as_bytes();
    if bytes.len() < 4 || !bytes[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (yy, mm) = (
        u16::from(bytes[0] - b'0') * 10 + u16::from(bytes[1] - b'0'),
        u16::from(bytes[2] - b'0') * 10 + u16::from(bytes[3] - b'0'),
    );
    if !(1..=12).contains(&mm) {
        return None;
    }
    Some(if yy >= 91 { 1900 + yy } else { 2000 + yy })
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
        .map(|(i, l)| {
            let mut doc: Document =
                serde_json::from_str(l).map_err(|e| Error::Format(format!("documents line {}: {e}", i + 1)))?;
            doc.year = doc.year.or_else(|| arxiv_year(&doc.id));
            Ok(doc)
        })
        .collect()
}

/// Documents per texts shard (`texts/NNN.jsonl.gz`): about 120 kB of gzip for arXiv abstracts,
/// so showing ten search hits fetches at most ten of these, not the whole corpus.
pub const TEXT_SHARD_DOCUMENTS: usize = 256;

/// A bundle's documents as files: `documents.jsonl.gz` (ids, titles, categories and years, every
/// document, loaded with the bundle) and the texts in shards of `per_shard` documents (one JSON
/// string per line, fetched when shown). A document without a title gets the start of its text
/// as its title, so lists can name it before its text arrives.
pub fn split_documents(docs: &[Document], per_shard: usize) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let json = |e: serde_json::Error| Error::Format(format!("documents: {e}"));
    let mut heads = Vec::new();
    for doc in docs {
        let head = Document {
            id: doc.id.clone(),
            title: if doc.title.trim().is_empty() { lead(&doc.text, 90) } else { doc.title.clone() },
            text: String::new(), // in the texts shards; not cloned only to be dropped
            categories: doc.categories.clone(),
            year: doc.year,
        };
        serde_json::to_writer(&mut heads, &head).map_err(json)?;
        heads.push(b'\n');
    }
    let shards = docs
        .chunks(per_shard.max(1))
        .map(|chunk| {
            let mut lines = Vec::new();
            for doc in chunk {
                serde_json::to_writer(&mut lines, &doc.text).map_err(json)?;
                lines.push(b'\n');
            }
            Ok(gzip(&lines))
        })
        .collect::<Result<_>>()?;
    Ok((gzip(&heads), shards))
}

/// The start of `text`, cut at a word within `chars` characters, with an ellipsis when cut.
fn lead(text: &str, chars: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(chars) {
        None => text,
        Some((end, _)) => {
            let cut = text[..end].rfind(' ').filter(|&i| i > end / 2).unwrap_or(end);
            format!("{}…", &text[..cut])
        }
    }
}

/// Reads one texts shard ([`split_documents`]): exactly `expected` texts, one JSON string per line.
pub fn parse_texts(name: &str, bytes: &[u8], expected: usize) -> Result<Vec<String>> {
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut maybe_gunzip(bytes)?, &mut plain)
        .map_err(|e| Error::Format(format!("{name}: {e}")))?;
    let text = std::str::from_utf8(&plain).map_err(|_| Error::Format(format!("{name} is not UTF-8")))?;
    let texts: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| Error::Format(format!("{name} line {}: {e}", i + 1))))
        .collect::<Result<_>>()?;
    if texts.len() != expected {
        return Err(Error::Shape(format!("{name} holds {} texts, expected {expected}", texts.len())));
    }
    Ok(texts)
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
    fn years_come_from_arxiv_ids_or_the_file() {
        assert_eq!(arxiv_year("0705.1862"), Some(2007));
        assert_eq!(arxiv_year("2104.01234v2"), Some(2021));
        assert_eq!(arxiv_year("astro-ph/9912345"), Some(1999));
        assert_eq!(arxiv_year("cond-mat.stat-mech/0601001v1"), Some(2006));
        for not_arxiv in ["doc-17", "", "1234", "2113.00001", "12345.6789", "a/b", "/0601001"] {
            assert_eq!(arxiv_year(not_arxiv), None, "{not_arxiv}");
        }
        let docs =
            parse_documents(b"{\"id\":\"1901.00001\",\"title\":\"T\"}\n{\"id\":\"x\",\"title\":\"U\",\"year\":1987}\n")
                .unwrap();
        assert_eq!((docs[0].year, docs[1].year), (Some(2019), Some(1987)));
    }

    #[test]
    fn documents_split_into_heads_and_text_shards_and_join_back() {
        let doc = |id: &str, title: &str, text: &str| Document {
            id: id.into(),
            title: title.into(),
            text: text.into(),
            categories: vec!["cs.LG".into()],
            year: None,
        };
        let long = "word ".repeat(40);
        let docs = vec![doc("a", "T", "first \"quoted\"\nline"), doc("b", "", &long), doc("c", "U", "")];
        let (heads, shards) = split_documents(&docs, 2).unwrap();
        assert_eq!(shards.len(), 2);
        let heads = parse_documents(&heads).unwrap();
        assert!(heads.iter().all(|d| d.text.is_empty()));
        assert_eq!(heads[0].title, "T");
        assert!(heads[1].title.ends_with('…') && heads[1].title.chars().count() <= 91, "{}", heads[1].title);
        assert_eq!(parse_texts("t0", &shards[0], 2).unwrap(), [docs[0].text.clone(), long]);
        assert_eq!(parse_texts("t1", &shards[1], 1).unwrap(), [""]);
        let short = parse_texts("texts/001.jsonl.gz", &shards[1], 2).unwrap_err().to_string();
        assert!(short.contains("texts/001.jsonl.gz") && short.contains("1 texts, expected 2"), "{short}");
        let bad = parse_texts("t", &gzip(b"\"ok\"\n{oops\n"), 2).unwrap_err().to_string();
        assert!(bad.contains("t line 2"), "{bad}");
    }

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
