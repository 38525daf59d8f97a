//! The bundle manifest: what a bundle holds, and every file's size and sha256, so a loader can
//! verify each download and say exactly which file is wrong.

use saescope_core::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const FORMAT: &str = "saescope-bundle";
/// 2: documents' texts in shards fetched when shown ([`TextShards`], role `document-texts`).
pub const VERSION: u32 = 2;
/// The largest `manifest.json` read (a 20k-document bundle's is about 5 KB).
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub documents: usize,
    pub embedding: EmbeddingInfo,
    pub sae: SaeInfo,
    /// The query embedder the bundle carries (its files have the `embedder-*` roles), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedder: Option<EmbedderInfo>,
    /// Smaller SAEs trained on the same embeddings, each with the feature-splitting map from its
    /// features onto the main SAE's (arXiv 2408.00657, section on feature splitting).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coarse_saes: Vec<CoarseSaeInfo>,
    /// How the documents' texts are split (files of role `document-texts`, in document order);
    /// absent when `documents.jsonl.gz` carries the texts itself (version 1 bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texts: Option<TextShards>,
    pub files: Vec<FileEntry>,
}

/// Texts in shards: shard `s` holds the texts of documents `s * documents_per_shard ..`, one JSON
/// string per line (`saescope_format::documents::split_documents`).
#[derive(ts_rs::TS, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextShards {
    pub documents_per_shard: usize,
}

/// One smaller SAE of a bundle: its files and the split map `{small_id: [main ids]}`.
#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoarseSaeInfo {
    pub d_sae: usize,
    pub k: usize,
    pub config: String,
    pub weights: String,
    pub split: String,
}

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingInfo {
    /// The model that made the document embeddings; queries must use the same one.
    pub model: String,
    pub dim: usize,
}

/// What the bundled query embedder computes. Queries land in the documents' space only if
/// `model` equals [`EmbeddingInfo::model`].
#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbedderInfo {
    pub model: String,
    pub dim: usize,
}

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SaeInfo {
    pub d_in: usize,
    pub d_sae: usize,
    pub k: usize,
}

#[derive(ts_rs::TS, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    SaeConfig,
    SaeWeights,
    /// One `.npy` shard of document embeddings (f32, f16, or int8 with an `EmbeddingsScale`);
    /// shards are listed in document order.
    Embeddings,
    /// The quantisation of the int8 embeddings shard of the same name (`embeddings/000.npy` ->
    /// `embeddings/000.scale.npy`): `[2, dim]` f32, each dimension's scale, then its offset.
    EmbeddingsScale,
    /// JSON Lines, one document per line, in embedding order (with [`Manifest::texts`]: ids,
    /// titles, categories and years only).
    Documents,
    /// One shard of the documents' texts ([`TextShards`]), fetched when a text is shown.
    DocumentTexts,
    CodesIndices,
    CodesValues,
    /// Per-feature statistics: density, activation histogram, top documents (JSON).
    Features,
    /// The SAE's training log (JSON).
    TrainingLog,
    /// The query embedder: weights (safetensors), tokenizer.json, config.json.
    EmbedderWeights,
    EmbedderTokenizer,
    EmbedderConfig,
    /// Feature labels and their interpretability scores (JSON list, `labels::FeatureLabel`).
    Labels,
    /// Feature families with their parameters and statistics (JSON, `families::FamiliesFile`).
    Families,
    /// A smaller SAE of [`Manifest::coarse_saes`] (SAELens `cfg.json`, safetensors weights).
    CoarseSaeConfig,
    CoarseSaeWeights,
    /// The paper's feature-splitting JSON `{small_id: [main ids]}` of one coarse SAE.
    FeatureSplit,
    /// The documents' 2D map (`.npy`, `[documents, 2]`, f32 or f16), in embedding order.
    Layout,
    /// Each feature's label embedded by the query embedder (`.npy`, `[d_sae, d_in]`, f16; a
    /// zero row for an unlabelled feature): what concept steering moves a query toward.
    LabelEmbeddings,
    /// A file this version does not know; kept so newer bundles still load.
    #[serde(other)]
    Other,
}

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub role: Role,
    pub bytes: u64,
    pub sha256: String,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl FileEntry {
    pub fn describe(path: &str, role: Role, bytes: &[u8]) -> Self {
        Self { path: path.to_owned(), role, bytes: bytes.len() as u64, sha256: sha256_hex(bytes) }
    }

    /// Checks size, then hash. A short file is reported as truncated, not as a hash mismatch.
    pub fn verify(&self, bytes: &[u8]) -> Result<()> {
        if bytes.len() as u64 != self.bytes {
            return Err(Error::Format(format!(
                "{}: expected {} bytes, got {}{}",
                self.path,
                self.bytes,
                bytes.len(),
                if (bytes.len() as u64) < self.bytes { " (truncated download?)" } else { "" }
            )));
        }
        let actual = sha256_hex(bytes);
        if actual != self.sha256 {
            return Err(Error::Checksum { path: self.path.clone(), expected: self.sha256.clone(), actual });
        }
        Ok(())
    }
}

impl Manifest {
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(Error::Format(format!(
                "manifest.json is {} bytes, more than the {MAX_MANIFEST_BYTES} a manifest may have",
                bytes.len()
            )));
        }
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| Error::Format(format!("manifest.json: {e}")))?;
        if m.format != FORMAT {
            return Err(Error::Format(format!("manifest.json: format is {:?}, expected {FORMAT:?}", m.format)));
        }
        if m.version > VERSION {
            return Err(Error::Format(format!(
                "manifest.json: bundle format version {} is newer than this saescope understands ({VERSION})",
                m.version
            )));
        }
        if m.sae.d_in != m.embedding.dim {
            return Err(Error::Shape(format!(
                "manifest.json: SAE d_in={} but embeddings have dim {}",
                m.sae.d_in, m.embedding.dim
            )));
        }
        // Paths are read (and on rebuild, removed) relative to the bundle: none may leave it.
        if let Some(bad) = m.files.iter().find(|f| {
            f.path.is_empty()
                || f.path.starts_with('/')
                || f.path.contains('\\')
                || f.path.contains(':')
                || f.path.split('/').any(|part| part == ".." || part.is_empty())
        }) {
            return Err(Error::Format(format!(
                "manifest.json: file path {:?} is not a plain relative path inside the bundle",
                bad.path
            )));
        }
        // One entry per path: a second entry (any size, any hash) would otherwise be a second
        // description of the same bytes, and which one is checked depends on the reader.
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = m.files.iter().find(|f| !seen.insert(f.path.as_str())) {
            return Err(Error::Format(format!("manifest.json lists {:?} more than once", twice.path)));
        }
        for coarse in &m.coarse_saes {
            if coarse.d_sae >= m.sae.d_sae {
                return Err(Error::Shape(format!(
                    "manifest.json: a coarse SAE has {} latents, not fewer than the main SAE's {} (its split map points to the main SAE's features)",
                    coarse.d_sae, m.sae.d_sae
                )));
            }
            for path in [&coarse.config, &coarse.weights, &coarse.split] {
                m.entry(path)?;
            }
        }
        let shards = m.files_with(Role::DocumentTexts).count();
        let expected = match m.texts {
            Some(TextShards { documents_per_shard: 0 }) => {
                return Err(Error::Format("manifest.json: texts.documents_per_shard is 0".into()))
            }
            Some(t) => m.documents.div_ceil(t.documents_per_shard),
            None => 0,
        };
        if shards != expected {
            return Err(Error::Format(format!(
                "manifest.json lists {shards} document-texts files; {} documents in shards of {} need {expected}",
                m.documents,
                m.texts.map_or(0, |t| t.documents_per_shard)
            )));
        }
        Ok(m)
    }

    /// The texts shards in document order, each with the first document it holds and how many.
    pub fn text_shards(&self) -> impl Iterator<Item = (&FileEntry, usize, usize)> {
        let per = self.texts.map_or(1, |t| t.documents_per_shard);
        self.files_with(Role::DocumentTexts)
            .enumerate()
            .map(move |(s, f)| (f, s * per, per.min(self.documents.saturating_sub(s * per))))
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("manifest serialises")
    }

    pub fn files_with(&self, role: Role) -> impl Iterator<Item = &FileEntry> {
        self.files.iter().filter(move |f| f.role == role)
    }

    pub fn file(&self, role: Role) -> Result<&FileEntry> {
        self.files_with(role).next().ok_or_else(|| Error::Missing(format!("a {role:?} file in manifest.json")))
    }

    pub fn entry(&self, path: &str) -> Result<&FileEntry> {
        self.files.iter().find(|f| f.path == path).ok_or_else(|| Error::Missing(format!("{path} in manifest.json")))
    }
}

/// A manifest of one document and a 4 -> 8 SAE listing `files`, for tests.
#[cfg(test)]
pub(crate) fn small_manifest(files: Vec<FileEntry>) -> Manifest {
    Manifest {
        format: FORMAT.into(),
        version: VERSION,
        name: "t".into(),
        description: String::new(),
        documents: 1,
        embedding: EmbeddingInfo { model: "m".into(), dim: 4 },
        sae: SaeInfo { d_in: 4, d_sae: 8, k: 2 },
        embedder: None,
        coarse_saes: vec![],
        texts: None,
        files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_names_the_problem() {
        let e = FileEntry::describe("embeddings/000.npy", Role::Embeddings, b"hello world");
        assert_eq!(e.sha256, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
        e.verify(b"hello world").unwrap();
        assert!(e.verify(b"hello").unwrap_err().to_string().contains("truncated"));
        assert!(matches!(e.verify(b"hello wOrld"), Err(Error::Checksum { .. })));
    }

    fn empty_manifest_json() -> String {
        String::from_utf8(small_manifest(vec![]).to_json()).unwrap()
    }

    #[test]
    fn duplicate_entries_are_refused() {
        // Defect 11: a second entry for a path, with any size or hash, passed verification.
        let json = empty_manifest_json();
        let twice = json.replace(
            "\"files\": []",
            "\"files\": [{\"path\":\"x\",\"role\":\"labels\",\"bytes\":1,\"sha256\":\"00\"},{\"path\":\"x\",\"role\":\"labels\",\"bytes\":9,\"sha256\":\"ff\"}]",
        );
        assert!(Manifest::parse(twice.as_bytes()).unwrap_err().to_string().contains("\"x\" more than once"));
    }

    #[test]
    fn text_shards_must_cover_the_documents() {
        let shard = |i: usize| FileEntry {
            path: format!("texts/{i}"),
            role: Role::DocumentTexts,
            bytes: 1,
            sha256: "00".into(),
        };
        let mut m = small_manifest((0..3).map(shard).collect());
        m.documents = 5;
        m.texts = Some(TextShards { documents_per_shard: 2 });
        let parsed = Manifest::parse(&m.to_json()).unwrap();
        let spans: Vec<(usize, usize)> = parsed.text_shards().map(|(_, first, n)| (first, n)).collect();
        assert_eq!(spans, [(0, 2), (2, 2), (4, 1)]);
        m.documents = 7;
        let err = Manifest::parse(&m.to_json()).unwrap_err().to_string();
        assert!(err.contains("3 document-texts files") && err.contains("need 4"), "{err}");
        m.texts = None;
        assert!(Manifest::parse(&m.to_json()).is_err(), "shards without texts.documents_per_shard");
        m.texts = Some(TextShards { documents_per_shard: 0 });
        assert!(Manifest::parse(&m.to_json()).unwrap_err().to_string().contains("is 0"));
    }

    #[test]
    fn unknown_roles_load_and_bad_versions_do_not() {
        let json = empty_manifest_json();
        assert_eq!(String::from_utf8(Manifest::parse(json.as_bytes()).unwrap().to_json()).unwrap(), json);
        let newer = json.replace(&format!("\"version\": {VERSION}"), "\"version\": 99");
        assert!(Manifest::parse(newer.as_bytes()).unwrap_err().to_string().contains("newer"));
        let with_future_role = json.replace(
            "\"files\": []",
            "\"files\": [{\"path\":\"x\",\"role\":\"hologram\",\"bytes\":1,\"sha256\":\"00\"}]",
        );
        assert_eq!(Manifest::parse(with_future_role.as_bytes()).unwrap().files[0].role, Role::Other);
        let coarse = |d_sae: usize| {
            let entry =
                |path: &str| format!("{{\"path\":\"{path}\",\"role\":\"other\",\"bytes\":1,\"sha256\":\"00\"}}");
            json.replace("\"files\": []", &format!(
                "\"coarse_saes\": [{{\"d_sae\":{d_sae},\"k\":2,\"config\":\"c\",\"weights\":\"w\",\"split\":\"s\"}}], \"files\": [{},{},{}]",
                entry("c"), entry("w"), entry("s")
            ))
        };
        assert_eq!(Manifest::parse(coarse(4).as_bytes()).unwrap().coarse_saes[0].d_sae, 4);
        assert!(Manifest::parse(coarse(8).as_bytes())
            .unwrap_err()
            .to_string()
            .contains("not fewer than the main SAE's 8"));
        assert!(Manifest::parse(coarse(4).replace("\"path\":\"s\"", "\"path\":\"t\"").as_bytes())
            .unwrap_err()
            .to_string()
            .contains("s in manifest.json"));
        for escaping in ["../x", "/etc/passwd", "a/../../x", "a//b", "C:\\\\x", ""] {
            let bad = json.replace(
                "\"files\": []",
                &format!("\"files\": [{{\"path\":{escaping:?},\"role\":\"other\",\"bytes\":1,\"sha256\":\"00\"}}]"),
            );
            let error = Manifest::parse(bad.as_bytes()).unwrap_err().to_string();
            assert!(error.contains("not a plain relative path"), "{escaping}: {error}");
        }
    }
}
