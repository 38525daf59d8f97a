//! Reading a corpus of documents: JSON Lines (the shared arXiv format, or arXiv's metadata
//! snapshot where `categories` is one space-separated string), or CSV with a header; plain or
//! gzip. Bad records are skipped and counted with a reason instead of failing the run.

use crate::documents::{maybe_gunzip, Document};
use saescope_core::error::{Error, Result};
use serde_json::Value;
use std::io::{BufRead, Read};

/// A record that was not used, and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Skipped {
    /// 1-based line (JSON Lines) or record (CSV) number.
    pub record: usize,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct CorpusRead {
    pub documents: Vec<Document>,
    pub skipped: Vec<Skipped>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorpusFormat {
    JsonLines,
    Csv,
}

impl CorpusFormat {
    /// From the file name: `.csv` or `.csv.gz` is CSV, anything else JSON Lines.
    pub fn from_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") || lower.ends_with(".csv.gz") {
            CorpusFormat::Csv
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
    record: usize,
) -> std::result::Result<Document, String> {
    let title = clean(title.unwrap_or(""));
    let text = clean(text.unwrap_or(""));
    if title.is_empty() && text.is_empty() {
        return Err("no title and no abstract/text".into());
    }
    let id = id.filter(|i| !i.trim().is_empty()).unwrap_or_else(|| format!("record-{record}"));
    Ok(Document { id, title, text, categories: cats })
}

fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads documents from JSON Lines or CSV (gzip detected from the bytes).
pub fn read<R: Read>(reader: R, format: CorpusFormat) -> Result<CorpusRead> {
    let reader = maybe_gunzip(reader)?;
    let mut out = CorpusRead::default();
    match format {
        CorpusFormat::JsonLines => {
            for (i, line) in reader.lines().enumerate() {
                let record = i + 1;
                let line = line.map_err(|e| Error::Format(format!("corpus line {record}: {e}")))?;
                if line.trim().is_empty() {
                    continue;
                }
                let parsed =
                    serde_json::from_str::<Value>(&line).map_err(|e| format!("invalid JSON: {e}")).and_then(|v| {
                        let text = v.get("abstract").or_else(|| v.get("text")).and_then(Value::as_str);
                        document(
                            id_of(v.get("id")),
                            v.get("title").and_then(Value::as_str),
                            text,
                            categories(v.get("categories")),
                            record,
                        )
                    });
                match parsed {
                    Ok(d) => out.documents.push(d),
                    Err(reason) => out.skipped.push(Skipped { record, reason }),
                }
            }
        }
        CorpusFormat::Csv => {
            let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
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
            for (i, row) in csv.records().enumerate() {
                let record = i + 1;
                let parsed = row.map_err(|e| format!("bad CSV record: {e}")).and_then(|r| {
                    let field = |c: Option<usize>| c.and_then(|c| r.get(c));
                    let cats = field(cats).map(|c| categories(Some(&Value::String(c.to_owned())))).unwrap_or_default();
                    document(field(id).map(str::to_owned), field(title), field(text), cats, record)
                });
                match parsed {
                    Ok(d) => out.documents.push(d),
                    Err(reason) => out.skipped.push(Skipped { record, reason }),
                }
            }
        }
    }
    Ok(out)
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
        assert_eq!(read.documents[2].id, "record-6");
        assert_eq!(read.skipped.iter().map(|s| s.record).collect::<Vec<_>>(), vec![3, 5]);
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
        assert_eq!(read.skipped, vec![Skipped { record: 2, reason: "no title and no abstract/text".into() }]);
        let no_text = read_err("id,label\n1,x\n");
        assert!(no_text.contains("title, abstract or text column"));
    }

    fn read_err(csv: &str) -> String {
        read(csv.as_bytes(), CorpusFormat::Csv).unwrap_err().to_string()
    }
}
