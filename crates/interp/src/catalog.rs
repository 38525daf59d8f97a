//! What a bundle says about its documents and features, parsed once, in Rust: the documents,
//! `features.json`, `labels.json` and `families.json`. The page receives these values (it
//! parses no bundle file itself) and `saescope` reads the same.
//!
//! The documents and the SAE are required; the interpretation files are optional extras: one
//! that does not parse is left out with a sentence in [`Catalog::problems`], so a bundle with a
//! damaged label file still searches and steers.

use crate::families::FamiliesFile;
use crate::labels::{parse_labels, FeatureLabel};
use saescope_core::error::{Error, Result};
use saescope_core::sae::check_features;
use saescope_format::bundle::Bundle;
use saescope_format::documents::Document;
use saescope_format::features::FeaturesFile;
use serde::Serialize;

#[derive(ts_rs::TS, Clone, Debug, Default, Serialize)]
pub struct Catalog {
    pub documents: Vec<Document>,
    pub features: Option<FeaturesFile>,
    /// By feature index.
    pub labels: Vec<FeatureLabel>,
    pub families: Option<FamiliesFile>,
    /// Each feature's embedded label (`[d_sae, d_in]`), for concept steering; not sent to the page.
    #[serde(skip)]
    #[ts(skip)]
    pub label_embeddings: Option<saescope_core::Matrix>,
    /// Files that were left out, and why.
    pub problems: Vec<String>,
}

impl Catalog {
    /// [`Catalog::parse`] on a loaded bundle's files.
    pub fn of_bundle(bundle: &Bundle) -> Result<Catalog> {
        let mut catalog = Catalog::parse(
            bundle.read_documents()?,
            bundle.features.as_deref(),
            bundle.labels.as_deref(),
            bundle.families.as_deref(),
            bundle.sae.d_sae,
            bundle.corpus.rows(),
        )?;
        let (d_sae, d_in) = (bundle.sae.d_sae, bundle.sae.d_in);
        catalog.label_embeddings =
            optional(&mut catalog.problems, "label-embeddings.npy", bundle.label_embeddings.as_deref(), |bytes| {
                saescope_format::bundle::parse_label_embeddings(bytes, d_sae, d_in)
            });
        Ok(catalog)
    }

    /// Parses the bundle's files (as `saescope_format::bundle::Bundle` holds them, the documents
    /// read by `Bundle::read_documents`), checking every feature index against `d_sae` and the
    /// document count against `rows`.
    pub fn parse(
        documents: Option<Vec<Document>>,
        features: Option<&[u8]>,
        labels: Option<&[u8]>,
        families: Option<&[u8]>,
        d_sae: usize,
        rows: usize,
    ) -> Result<Catalog> {
        let documents = match documents {
            Some(documents) => {
                if documents.len() != rows {
                    let n = documents.len();
                    return Err(Error::Shape(format!("the documents file holds {n} documents, the embeddings {rows}")));
                }
                documents
            }
            None => Vec::new(),
        };
        let mut problems = Vec::new();
        let features = optional(&mut problems, "features.json", features, |bytes| {
            let file = FeaturesFile::parse(bytes)?;
            check_features(file.features.iter().map(|s| s.feature), d_sae)?;
            Ok(file)
        });
        let labels = optional(&mut problems, "labels.json", labels, |bytes| {
            let labels = parse_labels(bytes)?;
            check_features(labels.iter().map(|l| l.index), d_sae)?;
            Ok(labels)
        })
        .unwrap_or_default();
        let families = optional(&mut problems, "families.json", families, |bytes| parse_families(bytes, d_sae));
        Ok(Catalog { documents, features, labels, families, label_embeddings: None, problems })
    }
}

/// An optional file, parsed; `None` when absent, or when it does not parse (then `problems`
/// says why: the page goes on without it).
fn optional<T>(
    problems: &mut Vec<String>,
    what: &str,
    bytes: Option<&[u8]>,
    parse: impl FnOnce(&[u8]) -> Result<T>,
) -> Option<T> {
    match parse(bytes?) {
        Ok(value) => Some(value),
        Err(e) => {
            problems.push(format!("{what} could not be used ({e}); the page goes on without it"));
            None
        }
    }
}

/// `families.json`, with every family id its position and every member a feature of the SAE.
pub fn parse_families(bytes: &[u8], d_sae: usize) -> Result<FamiliesFile> {
    let file: FamiliesFile = serde_json::from_slice(bytes).map_err(|e| Error::Format(format!("families.json: {e}")))?;
    for (i, f) in file.families.iter().enumerate() {
        if f.id != i {
            return Err(Error::Format(format!("families.json: family {i} has id {}", f.id)));
        }
        check_features(std::iter::once(f.parent).chain(f.children.iter().copied()), d_sae)?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::{Family, FamilyParams, FamilyStats};
    use saescope_format::documents::parse_documents;

    fn families_json(children: Vec<u32>) -> Vec<u8> {
        let family = Family { id: 0, parent: 1, label: "a".into(), children, round: 0, parent_family: None };
        let stats = FamilyStats {
            sizes: vec![3],
            cooccurrence_ratio: None,
            block_diagonal_ratio: None,
            block_diagonal_ratio_random: None,
            membership_fraction: 1.0,
            candidates: 3,
            live: 3,
            families_per_round: vec![1],
        };
        serde_json::to_vec(&FamiliesFile {
            params: FamilyParams::default(),
            families: vec![family],
            stats,
            coherence: None,
        })
        .unwrap()
    }

    #[test]
    fn parses_every_file_and_leaves_out_a_broken_extra_with_a_reason() {
        let docs = b"{\"id\":\"a\",\"title\":\"T\",\"abstract\":\"x\"}\n{\"id\":\"b\",\"title\":\"U\"}\n";
        let labels = br#"[{"index": 2, "label": "stars"}]"#;
        let c = Catalog::parse(
            Some(parse_documents(docs).unwrap()),
            None,
            Some(labels),
            Some(&families_json(vec![2, 3])),
            8,
            2,
        )
        .unwrap();
        assert_eq!(c.documents.len(), 2);
        assert_eq!(c.labels[0].label, "stars");
        assert_eq!(c.families.as_ref().unwrap().families[0].children, [2, 3]);
        assert!(c.problems.is_empty());

        let c = Catalog::parse(
            Some(parse_documents(docs).unwrap()),
            Some(b"{oops"),
            Some(br#"[{"index": 9, "label": "x"}]"#),
            Some(&families_json(vec![2, 30])),
            8,
            2,
        )
        .unwrap();
        assert!(c.features.is_none() && c.labels.is_empty() && c.families.is_none());
        assert_eq!(c.problems.len(), 3, "{:?}", c.problems);
        assert!(c.problems[1].contains("feature 9 does not exist"), "{:?}", c.problems);
        assert!(c.problems[2].contains("feature 30 does not exist"), "{:?}", c.problems);
    }

    #[test]
    fn documents_must_match_the_embeddings() {
        let docs = b"{\"id\":\"a\",\"title\":\"T\"}\n";
        assert!(Catalog::parse(Some(parse_documents(docs).unwrap()), None, None, None, 8, 2)
            .unwrap_err()
            .to_string()
            .contains("1 documents"));
    }
}
