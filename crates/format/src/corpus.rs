//! Reading a corpus of documents: JSON Lines (the shared arXiv format, or arXiv's metadata
//! snapshot where `categories` is one space-separated string), or CSV with a header; plain or
//! gzip. Bad records are skipped and counted with a reason instead of failing the run.

use crate::documents::{maybe_gunzip, Document};
use saescope_core::error::{Error, Result};
use serde_json::Value;
use std::collections::hash_map::{Entry, HashMap};
use std::io::{BufRead, Read};

/// A record that was not used, and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize, ts_rs::TS)]
pub struct Skipped {
    /// 1-based record number (see [`read`] for what a record is).
    pub record: usize,
    /// 1-based line of the file where the record starts.
    pub line: usize,
    pub reason: String,
}

/// What [`read`] found: the usable documents, and for each of them the record it came from.
#[derive(Debug, Default)]
pub struct CorpusRead {
    pub documents: Vec<Document>,
    /// `records[i]` is the 0-based record number of `documents[i]`: the row an embeddings file
    /// made with one row per record (skipped ones included) holds for it.
    pub records: Vec<usize>,
    pub skipped: Vec<Skipped>,
    /// Records in the file, used or skipped.
    pub total_records: usize,
}

/// The longest record read (a JSON line or a CSV row, decompressed); longer ones are skipped
/// without being held in memory. An arXiv abstract is under 4 KB.
pub const MAX_RECORD_BYTES: usize = 16 << 20;
/// The largest CSV read (decompressed; CSV is parsed from memory so that a quote left open can
/// be found and reported).
pub const MAX_CSV_BYTES: u64 = 4 << 30;

impl CorpusRead {
    fn add(
        &mut self,
        line: usize,
        parsed: std::result::Result<Document, String>,
        first_of_id: &mut HashMap<String, usize>,
    ) {
        let record = self.total_records;
        self.total_records += 1;
        let parsed = parsed.map(|mut doc| {
            if doc.id.is_empty() {
                doc.id = format!("record-{}", record + 1);
            }
            doc
        });
        let parsed = parsed.and_then(|doc| match first_of_id.entry(doc.id.clone()) {
            Entry::Occupied(first) => {
                Err(format!("duplicate id {:?} (first used by record {})", doc.id, first.get() + 1))
            }
            Entry::Vacant(slot) => {
                slot.insert(record);
                Ok(doc)
            }
        });
        match parsed {
            Ok(doc) => {
                self.documents.push(doc);
                self.records.push(record);
            }
            Err(reason) => self.skipped.push(Skipped { record: record + 1, line, reason }),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorpusFormat {
    JsonLines,
    Csv,
    /// Plain text, one document per line (its text; its id is the line number).
    Text,
}

impl CorpusFormat {
    /// From the file name: `.csv` (or `.csv.gz`) is CSV, `.txt` (or `.txt.gz`) plain text,
    /// anything else JSON Lines.
    pub fn from_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        let lower = lower.strip_suffix(".gz").unwrap_or(&lower);
        if lower.ends_with(".csv") {
            CorpusFormat::Csv
        } else if lower.ends_with(".txt") {
            CorpusFormat::Text
        } else {
            CorpusFormat::JsonLines
        }
    }
}

/// The text a document is embedded as: `title + ". " + abstract` (the data README's recipe).
pub fn embedding_text(doc: &Document) -> String {
    match (doc.title.trim().is_empty(), doc.text.trim().is_empty()) {
        (false, false) => format!("{}. {}", doc.title, doc.text),
        (false, true) => doc.title.clone(),
        _ => doc.text.clone(),
    }
}

fn categories(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => s.split([' ', ';', ',']).filter(|c| !c.is_empty()).map(str::to_owned).collect(),
        Some(Value::Array(items)) => items.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

fn clean(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Builds a document from fields, or says why it cannot be used.
fn document(
    id: Option<String>,
    title: Option<&str>,
    text: Option<&str>,
    cats: Vec<String>,
) -> std::result::Result<Document, String> {
    let title = clean(title.unwrap_or(""));
    let text = clean(text.unwrap_or(""));
    if title.is_empty() && text.is_empty() {
        return Err("no title and no abstract/text".into());
    }
    // A missing id is filled in with the record number by `CorpusRead::add`.
    // Trimmed in both formats, so " a" and "a" are one id (and a duplicate).
    let id = id.map(|i| i.trim().to_owned()).unwrap_or_default();
    Ok(Document { id, title, text, categories: cats, year: None })
}

fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads documents from JSON Lines or CSV (gzip detected from the bytes).
///
/// Records, which [`CorpusRead::records`] and [`Skipped::record`] count: in JSON Lines every
/// line that is neither blank nor a `#` comment; in CSV every row after the header (the CSV
/// reader skips blank lines). Usable records become documents; the others (invalid JSON or
/// UTF-8, no text, a duplicate id, longer than [`MAX_RECORD_BYTES`]) are skipped with a reason.
/// A CSV quote that is never closed is an error: it would swallow the rest of the file.
pub fn read<R: Read>(reader: R, format: CorpusFormat) -> Result<CorpusRead> {
    read_at_most(reader, format, u64::MAX)
}

/// [`read`], refusing a corpus that decompresses to more than `max_bytes`: a small gzip file
/// can hold gigabytes (a "gzip bomb"), and a browser tab must stop before it fills its memory,
/// not after.
pub fn read_at_most<R: Read>(reader: R, format: CorpusFormat, max_bytes: u64) -> Result<CorpusRead> {
    let mut bounded = AtMost { inner: maybe_gunzip(reader)?, left: max_bytes, exceeded: false };
    let read = read_records(std::io::BufReader::new(&mut bounded), format);
    if bounded.exceeded {
        return Err(Error::Invalid(format!("the corpus is more than {} MiB once decompressed", max_bytes >> 20)));
    }
    read
}

fn read_records(mut reader: impl BufRead, format: CorpusFormat) -> Result<CorpusRead> {
    let mut out = CorpusRead::default();
    let mut first_of_id = HashMap::new();
    match format {
        // One record per line: a JSON document, or (plain text) the line itself.
        CorpusFormat::JsonLines | CorpusFormat::Text => {
            let json = format == CorpusFormat::JsonLines;
            let mut buf = Vec::new();
            for line in 1.. {
                buf.clear();
                let complete =
                    read_line(&mut reader, &mut buf).map_err(|e| Error::Format(format!("corpus line {line}: {e}")))?;
                let Some(complete) = complete else { break };
                let text = std::str::from_utf8(&buf);
                if text.is_ok_and(|t| t.trim().is_empty() || (json && t.trim_start().starts_with('#'))) {
                    continue;
                }
                let parsed = if !complete {
                    Err(format!("longer than {MAX_RECORD_BYTES} bytes"))
                } else {
                    text.map_err(|e| format!("not valid UTF-8 ({e})")).and_then(|t| match json {
                        true => json_document(t),
                        false => document(Some(line.to_string()), None, Some(t), Vec::new()),
                    })
                };
                out.add(line, parsed, &mut first_of_id);
            }
        }
        CorpusFormat::Csv => {
            let mut bytes = Vec::new();
            reader
                .take(MAX_CSV_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::Format(format!("reading CSV: {e}")))?;
            if bytes.len() as u64 > MAX_CSV_BYTES {
                return Err(Error::Invalid(format!(
                    "the CSV is larger than {MAX_CSV_BYTES} bytes (decompressed); split it or use JSON Lines"
                )));
            }
            let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(&bytes[..]);
            let headers = csv.headers().map_err(|e| Error::Format(format!("CSV header: {e}")))?.clone();
            let col =
                |names: &[&str]| headers.iter().position(|h| names.contains(&h.trim().to_ascii_lowercase().as_str()));
            let (id, title, text, cats) = (
                col(&["id"]),
                col(&["title"]),
                col(&["abstract", "text", "body"]),
                col(&["categories", "category", "label"]),
            );
            if title.is_none() && text.is_none() {
                return Err(Error::Missing("a title, abstract or text column in the CSV header".into()));
            }
            let mut last_start = None;
            let mut row = csv::ByteRecord::new();
            loop {
                let start = csv.position().clone();
                let parsed = match csv.read_byte_record(&mut row) {
                    Ok(false) => break,
                    Ok(true) => {
                        // Every field checked in place (no copy of the record per row).
                        let fields = row.iter().map(std::str::from_utf8).collect::<std::result::Result<Vec<_>, _>>();
                        fields.map_err(|e| format!("not valid UTF-8 ({e})")).and_then(|r| {
                            let field = |c: Option<usize>| c.and_then(|c| r.get(c).copied());
                            let cats =
                                field(cats).map(|c| categories(Some(&Value::String(c.to_owned())))).unwrap_or_default();
                            document(field(id).map(str::to_owned), field(title), field(text), cats)
                        })
                    }
                    Err(e) => Err(format!("bad CSV record: {e}")),
                };
                let at = row.position().unwrap_or(&start);
                let line = at.line() as usize;
                last_start = Some((at.byte() as usize, line));
                let parsed = match parsed {
                    Ok(_) if row.as_slice().len() > MAX_RECORD_BYTES => {
                        Err(format!("longer than {MAX_RECORD_BYTES} bytes"))
                    }
                    parsed => parsed,
                };
                out.add(line, parsed, &mut first_of_id);
            }
            if let Some((start, line)) = last_start {
                if quote_left_open(&bytes[start..]) {
                    let lines = bytes[start..].iter().filter(|&&b| b == b'\n').count();
                    return Err(Error::Format(format!(
                        "CSV record {} (line {line}) opens a quoted field that is never closed, so it would swallow the rest of the file ({lines} lines); close the quote, or write a quote inside a quoted field as \"\"",
                        out.total_records
                    )));
                }
            }
        }
    }
    Ok(out)
}

/// One JSON Lines record as a document, or why it cannot be one.
fn json_document(line: &str) -> std::result::Result<Document, String> {
    let v = serde_json::from_str::<Value>(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let text = v.get("abstract").or_else(|| v.get("text")).and_then(Value::as_str);
    document(id_of(v.get("id")), v.get("title").and_then(Value::as_str), text, categories(v.get("categories")))
}

/// A reader that fails once more than `left` bytes have come through it.
struct AtMost<R> {
    inner: R,
    left: u64,
    exceeded: bool,
}

impl<R: Read> Read for AtMost<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(left) => self.left = left,
            None => {
                self.exceeded = true;
                return Err(std::io::Error::other("past the size bound"));
            }
        }
        Ok(n)
    }
}

/// Reads one line (without its `\n` or `\r\n`) into `buf`, at most [`MAX_RECORD_BYTES`] of it:
/// `Some(true)` for a whole line, `Some(false)` for one too long (its rest is read and dropped),
/// `None` at the end of the input.
fn read_line(reader: &mut dyn BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    let n = reader.take(MAX_RECORD_BYTES as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    let ended = buf.last() == Some(&b'\n');
    if !ended && buf.len() > MAX_RECORD_BYTES {
        let mut rest = Vec::new();
        while reader.take(1 << 20).read_until(b'\n', &mut rest)? > 0 && rest.last() != Some(&b'\n') {
            rest.clear();
        }
        return Ok(Some(false));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(true))
}

/// Whether CSV text ends inside a quoted field (RFC 4180 quoting, as the `csv` crate reads it:
/// a quote opens a field only at its start, and `""` inside is a literal quote).
fn quote_left_open(raw: &[u8]) -> bool {
    let (mut quoted, mut field_start) = (false, true);
    let mut bytes = raw.iter().peekable();
    while let Some(&b) = bytes.next() {
        if quoted {
            if b == b'"' {
                if bytes.peek() == Some(&&b'"') {
                    bytes.next();
                } else {
                    quoted = false;
                }
            }
            field_start = false;
        } else {
            quoted = b == b'"' && field_start;
            field_start = matches!(b, b',' | b'\n' | b'\r');
        }
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::gzip;

    #[test]
    fn reads_shared_and_snapshot_json_lines_and_skips_bad_records() {
        let text = concat!(
            "{\"id\": \"2501.00001\", \"title\": \"A  title\", \"abstract\": \"Some\\n text.\", \"categories\": [\"cs.LG\", \"stat.ML\"]}\n",
            "{\"id\": \"2501.00002\", \"title\": \"Snapshot\", \"abstract\": \"x\", \"categories\": \"astro-ph.GA astro-ph.CO\"}\n",
            "not json\n",
            "\n",
            "{\"id\": \"2501.00003\", \"categories\": \"cs.AI\"}\n",
            "{\"title\": \"No id\", \"abstract\": \"y\"}\n",
        );
        let read = read(text.as_bytes(), CorpusFormat::JsonLines).unwrap();
        assert_eq!(read.documents.len(), 3);
        assert_eq!(read.documents[0].title, "A title");
        assert_eq!(read.documents[0].text, "Some text.");
        assert_eq!(read.documents[1].categories, vec!["astro-ph.GA", "astro-ph.CO"]);
        assert_eq!(read.documents[2].id, "record-5");
        assert_eq!(read.skipped.iter().map(|s| (s.record, s.line)).collect::<Vec<_>>(), vec![(3, 3), (4, 5)]);
        assert_eq!((read.records, read.total_records), (vec![0, 1, 4], 5));
        assert!(read.skipped[0].reason.starts_with("invalid JSON"));
        assert_eq!(embedding_text(&read.documents[0]), "A title. Some text.");
    }

    #[test]
    fn reads_gzip_csv() {
        let csv = "id,title,abstract,categories\n1,First,\"Text, with comma\",cs.LG\n2,,,\n3,Third,More,astro-ph\n";
        let bytes = gzip(csv.as_bytes());
        let read = read(&bytes[..], CorpusFormat::from_name("papers.csv.gz")).unwrap();
        assert_eq!(read.documents.len(), 2);
        assert_eq!(read.documents[0].text, "Text, with comma");
        assert_eq!(read.skipped, vec![Skipped { record: 2, line: 3, reason: "no title and no abstract/text".into() }]);
        assert_eq!(read.records, vec![0, 2]);
        let no_text = read_err("id,label\n1,x\n");
        assert!(no_text.contains("title, abstract or text column"));
    }

    #[test]
    fn a_corpus_that_decompresses_past_the_bound_is_refused_while_reading() {
        // 8 MiB of lines in a gzip of a few KiB: refused at a 2 MiB bound, read whole at 8 MiB.
        let line = "the same short document, again and again\n";
        let text = line.repeat((8 << 20) / line.len());
        let bytes = gzip(text.as_bytes());
        assert!(bytes.len() < 64 << 10, "{}", bytes.len());
        for format in [CorpusFormat::Text, CorpusFormat::Csv] {
            let e = read_at_most(&bytes[..], format, 2 << 20).unwrap_err().to_string();
            assert!(e.contains("more than 2 MiB once decompressed"), "{e}");
        }
        let whole = read_at_most(&bytes[..], CorpusFormat::Text, 8 << 20).unwrap();
        assert_eq!(whole.total_records, text.lines().count());
    }

    #[test]
    fn reads_plain_text_one_document_per_line() {
        let text = b"First  document.\n\n   \nSecond one\n\xff bad utf8\nThird\n";
        let bytes = gzip(text);
        let read = read(&bytes[..], CorpusFormat::from_name("notes.TXT.gz")).unwrap();
        let texts: Vec<(&str, &str, &str)> =
            read.documents.iter().map(|d| (d.id.as_str(), d.title.as_str(), d.text.as_str())).collect();
        assert_eq!(texts, vec![("1", "", "First document."), ("4", "", "Second one"), ("6", "", "Third")]);
        assert_eq!(embedding_text(&read.documents[1]), "Second one");
        assert_eq!((read.records, read.total_records), (vec![0, 1, 3], 4));
        assert!(read.skipped[0].reason.contains("UTF-8") && read.skipped[0].line == 5, "{:?}", read.skipped);
        assert_eq!(CorpusFormat::from_name("a.jsonl.gz"), CorpusFormat::JsonLines);
    }

    #[test]
    fn records_map_to_embedding_rows_through_blank_lines_comments_and_bad_records() {
        // Defect 3: skipped records were numbered by line, kept ones by record, so blank lines
        // before a bad record shifted later documents onto other records' embeddings.
        let doc = |id: &str| format!("{{\"id\": \"{id}\", \"title\": \"T {id}\"}}\n");
        let mut text = "\n".repeat(10);
        text += "# a comment, not a record\n";
        text += &doc("a");
        text += "{broken\n";
        text += "\r\n  \n";
        text += &doc("b");
        text += "{\"id\": \"c\"}\n";
        text += &doc("d");
        let read = read(text.as_bytes(), CorpusFormat::JsonLines).unwrap();
        let ids: Vec<&str> = read.documents.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "d"]);
        assert_eq!((read.records.clone(), read.total_records), (vec![0, 2, 4], 5));
        assert_eq!(read.skipped.iter().map(|s| (s.record, s.line)).collect::<Vec<_>>(), vec![(2, 13), (4, 17)]);

        let csv = "id,title\n\na,T a\n\"b\",\n\nc,\"T\nc\"\nd,T d\n";
        let read = super::read(csv.as_bytes(), CorpusFormat::Csv).unwrap();
        assert_eq!(read.documents.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["a", "c", "d"]);
        assert_eq!((read.records, read.total_records), (vec![0, 2, 3], 4));
        assert_eq!(read.skipped.iter().map(|s| (s.record, s.line)).collect::<Vec<_>>(), vec![(2, 4)]);
    }

    #[test]
    fn an_unclosed_csv_quote_is_an_error_not_a_swallowed_file() {
        // Defect 8: one unbalanced quote made the rest of the file one field.
        let mut csv = "id,title,abstract\n1,First,\"ok, quoted\"\n2,Second,\"never closed\n".to_owned();
        for i in 3..40 {
            csv += &format!("{i},Title {i},Text {i}\n");
        }
        let err = read_err(&csv);
        assert!(
            err.contains("record 2 (line 3) opens a quoted field that is never closed") && err.contains("38 lines"),
            "{err}"
        );
        // Quotes inside unquoted fields and escaped quotes are fine.
        let fine = "id,title\n1,a 5\" screen\n2,\"say \"\"hi\"\"\"\n";
        assert_eq!(read(fine.as_bytes(), CorpusFormat::Csv).unwrap().documents[1].title, "say \"hi\"");
    }

    #[test]
    fn invalid_utf8_duplicate_ids_and_huge_lines_are_skipped_records() {
        // Defect 16: one line of invalid UTF-8 failed the whole read. Defect 17: duplicate ids
        // were accepted without a word.
        let mut bytes = b"{\"id\": \"a\", \"title\": \"A\"}\n{\"id\": \"b\", \"title\": \"\xff\xfe\"}\n".to_vec();
        bytes.extend_from_slice(b"{\"id\": \"a\", \"title\": \"again\"}\n");
        bytes.extend(std::iter::repeat_n(b'x', MAX_RECORD_BYTES + 10));
        bytes.extend_from_slice(b"\n{\"id\": \"c\", \"title\": \"C\"}");
        let read = read(&bytes[..], CorpusFormat::JsonLines).unwrap();
        assert_eq!(read.documents.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(read.records, vec![0, 4]);
        let reasons: Vec<&str> = read.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(reasons[0].starts_with("not valid UTF-8"), "{reasons:?}");
        assert_eq!(reasons[1], "duplicate id \"a\" (first used by record 1)");
        assert!(reasons[2].starts_with("longer than"), "{reasons:?}");
        let csv = b"id,title\n1,\xff\n2,ok\n2,dup\n";
        let read = super::read(&csv[..], CorpusFormat::Csv).unwrap();
        assert_eq!(read.records, vec![1]);
        assert!(
            read.skipped[0].reason.starts_with("not valid UTF-8") && read.skipped[1].reason.starts_with("duplicate id")
        );
        // Found by fuzzing: ids that differ only in surrounding whitespace are one id.
        let read = super::read(&b"id,title\n a ,x\na,y\n"[..], CorpusFormat::Csv).unwrap();
        assert_eq!(read.documents[0].id, "a");
        assert_eq!(read.skipped[0].reason, "duplicate id \"a\" (first used by record 1)");
    }

    fn read_err(csv: &str) -> String {
        read(csv.as_bytes(), CorpusFormat::Csv).unwrap_err().to_string()
    }
}
