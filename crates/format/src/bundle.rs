//! Bundles: a folder of static files described by a [`Manifest`]. The builder collects files and
//! hashes them; the loader verifies each file as it arrives and assembles SAE, corpus and codes.
//! No filesystem here: callers (CLI, browser) move the bytes.

use crate::documents::{parse_texts, split_documents, Document, TEXT_SHARD_DOCUMENTS};
use crate::manifest::{
    CoarseSaeInfo, EmbedderInfo, EmbeddingInfo, FileEntry, Manifest, Role, SaeInfo, TextShards, FORMAT, VERSION,
};
use crate::matrices::{CodesFiles, CorpusFiles};
use crate::npy::{DType, Npy};
use crate::saelens::{SaeFiles, WeightDType};
use saescope_core::codes::SparseCodes;
use saescope_core::error::{Error, Result};
use saescope_core::sae::Sae;
use saescope_core::search::Corpus;
use saescope_core::splitting::FeatureSplit;
use saescope_core::Matrix;

use std::collections::HashMap;

/// WebGPU's guaranteed minimum `maxStorageBufferBindingSize` (128 MiB). Shards are kept under
/// it so that any adapter can bind a whole shard.
pub const DEFAULT_BINDING_LIMIT: u64 = 128 << 20;

/// Rows per embedding shard so that one shard stays under `limit` bytes.
pub fn shard_rows(dim: usize, bytes_per_value: usize, limit: u64) -> usize {
    ((limit as usize) / (dim * bytes_per_value).max(1)).max(1)
}

pub struct BundleBuilder {
    manifest: Manifest,
    contents: Vec<Vec<u8>>,
}

impl BundleBuilder {
    pub fn new(name: &str, description: &str, model: &str, sae: &Sae, documents: usize) -> Self {
        Self {
            manifest: Manifest {
                format: FORMAT.into(),
                version: VERSION,
                name: name.into(),
                description: description.into(),
                documents,
                embedding: EmbeddingInfo { model: model.into(), dim: sae.d_in },
                sae: SaeInfo { d_in: sae.d_in, d_sae: sae.d_sae, k: sae.k },
                embedder: None,
                coarse_saes: Vec::new(),
                texts: None,
                files: Vec::new(),
            },
            contents: Vec::new(),
        }
    }

    /// Records that the bundle carries a query embedder (add its files with the embedder roles).
    pub fn set_embedder(&mut self, info: EmbedderInfo) {
        self.manifest.embedder = Some(info);
    }

    pub fn add(&mut self, path: &str, role: Role, bytes: Vec<u8>) {
        self.manifest.files.push(FileEntry::describe(path, role, &bytes));
        self.contents.push(bytes);
    }

    /// Adds the documents: `documents.jsonl.gz` (everything but the texts) and the texts in
    /// shards of [`TEXT_SHARD_DOCUMENTS`] under `texts/`, which the page fetches when it shows them.
    pub fn add_documents(&mut self, docs: &[Document]) -> Result<()> {
        if docs.len() != self.manifest.documents {
            return Err(Error::Shape(format!("{} documents for a bundle of {}", docs.len(), self.manifest.documents)));
        }
        let (heads, shards) = split_documents(docs, TEXT_SHARD_DOCUMENTS)?;
        self.add("documents.jsonl.gz", Role::Documents, heads);
        for (s, shard) in shards.into_iter().enumerate() {
            self.add(&format!("texts/{s:04}.jsonl.gz"), Role::DocumentTexts, shard);
        }
        self.manifest.texts = Some(TextShards { documents_per_shard: TEXT_SHARD_DOCUMENTS });
        Ok(())
    }

    /// Adds a smaller SAE on the same embeddings and its split map onto the main SAE, under
    /// `saes/{d_sae}/` and `splits/{d_sae}.json`.
    pub fn add_coarse_sae(
        &mut self,
        sae: &Sae,
        split: &FeatureSplit,
        dtype: WeightDType,
        model: Option<&str>,
    ) -> Result<()> {
        let main = &self.manifest.sae;
        if sae.d_in != main.d_in
            || sae.d_sae >= main.d_sae
            || split.small_features != sae.d_sae
            || split.best_small.len() != main.d_sae
        {
            return Err(Error::Shape(format!(
                "a coarse SAE ({}x{}) with a split of {} onto {} features does not fit the main SAE ({}x{})",
                sae.d_in,
                sae.d_sae,
                split.small_features,
                split.best_small.len(),
                main.d_in,
                main.d_sae
            )));
        }
        let (cfg, weights) = sae.to_saelens(dtype, model)?;
        let info = CoarseSaeInfo {
            d_sae: sae.d_sae,
            k: sae.k,
            config: format!("saes/{}/cfg.json", sae.d_sae),
            weights: format!("saes/{}/sae_weights.safetensors", sae.d_sae),
            split: format!("splits/{}.json", sae.d_sae),
        };
        let split_json = serde_json::to_vec(&split.to_paper_json()).map_err(|e| Error::Format(e.to_string()))?;
        self.add(&info.config, Role::CoarseSaeConfig, cfg);
        self.add(&info.weights, Role::CoarseSaeWeights, weights);
        self.add(&info.split, Role::FeatureSplit, split_json);
        self.manifest.coarse_saes.push(info);
        Ok(())
    }

    /// The manifest and every file as (path, bytes); `manifest.json` is not among the files.
    pub fn finish(self) -> (Manifest, Vec<(String, Vec<u8>)>) {
        let files = self.manifest.files.iter().map(|f| f.path.clone()).zip(self.contents).collect();
        (self.manifest, files)
    }
}

/// Collects a bundle's files as they arrive, verifying each against the manifest.
pub struct BundleLoader {
    pub manifest: Manifest,
    files: HashMap<String, Vec<u8>>,
}

/// A loaded bundle: everything parsed and checked against everything else.
#[derive(Debug)]
pub struct Bundle {
    pub manifest: Manifest,
    pub sae: Sae,
    pub corpus: Corpus,
    pub codes: Option<SparseCodes>,
    pub documents: Option<Vec<u8>>,
    /// Every document's text, in order, when every texts shard was added to the loader (the CLI
    /// loads them all; the page fetches shards when it shows a text, see [`Bundle::shard_texts`]).
    pub texts: Option<Vec<String>>,
    /// `labels.json` and `families.json`, when the bundle has them (parsed by
    /// `saescope_interp::catalog`).
    pub labels: Option<Vec<u8>>,
    pub families: Option<Vec<u8>>,
    /// `features.json`, when the bundle has it (parse with `features::FeaturesFile::parse`).
    pub features: Option<Vec<u8>>,
    /// `layout.npy`, when the bundle has a map (parse with [`parse_layout`]).
    pub layout: Option<Vec<u8>>,
    /// `label-embeddings.npy`, when the bundle has them (parse with [`parse_label_embeddings`]).
    pub label_embeddings: Option<Vec<u8>>,
    /// The smaller SAEs of [`Manifest::coarse_saes`], in manifest order.
    pub coarse: Vec<CoarseSae>,
}

/// A smaller SAE on the same embeddings and how the main SAE's features split from its own.
#[derive(Debug)]
pub struct CoarseSae {
    pub sae: Sae,
    pub split: FeatureSplit,
}

impl Bundle {
    /// The documents (`None` without a documents file), with their texts when [`Bundle::texts`]
    /// has them (else with empty texts: the page fetches them when shown).
    pub fn read_documents(&self) -> Result<Option<Vec<Document>>> {
        let Some(bytes) = &self.documents else { return Ok(None) };
        let mut docs = crate::documents::parse_documents(bytes)?;
        if let Some(texts) = &self.texts {
            for (doc, text) in docs.iter_mut().zip(texts) {
                doc.text.clone_from(text);
            }
        }
        Ok(Some(docs))
    }

    /// The texts of one shard's bytes (as fetched from [`Manifest::text_shards`] entry `path`),
    /// verified against the manifest (size, sha256) and parsed.
    pub fn shard_texts(manifest: &Manifest, path: &str, bytes: &[u8]) -> Result<Vec<String>> {
        let (entry, _, n) = manifest
            .text_shards()
            .find(|(f, _, _)| f.path == path)
            .ok_or_else(|| Error::Missing(format!("texts shard {path} in manifest.json")))?;
        entry.verify(bytes)?;
        parse_texts(path, bytes, n)
    }
}

/// A bundle's label embeddings: `[d_sae, d_in]`, every value finite.
pub fn parse_label_embeddings(bytes: &[u8], d_sae: usize, d_in: usize) -> Result<Matrix> {
    let m = crate::npy::read_matrix(bytes)?;
    if (m.rows, m.cols) != (d_sae, d_in) {
        return Err(Error::Shape(format!(
            "label embeddings are {} x {}; the SAE has {d_sae} features of dimension {d_in}",
            m.rows, m.cols
        )));
    }
    m.check_finite("the label embeddings")?;
    Ok(m)
}

/// A bundle's map: one finite 2D point per document (`layout.npy`, f32 or f16).
pub fn parse_layout(bytes: &[u8], documents: usize) -> Result<Matrix> {
    let layout = crate::npy::read_matrix(bytes)?;
    saescope_core::layout::check_layout(&layout, documents)?;
    Ok(layout)
}

impl BundleLoader {
    pub fn new(manifest_json: &[u8]) -> Result<Self> {
        Ok(Self { manifest: Manifest::parse(manifest_json)?, files: HashMap::new() })
    }

    /// Verifies and keeps one file. Errors name the file; nothing already added is lost.
    pub fn add(&mut self, path: &str, bytes: Vec<u8>) -> Result<()> {
        self.manifest.entry(path)?.verify(&bytes)?;
        self.files.insert(path.to_owned(), bytes);
        Ok(())
    }

    fn take(&mut self, role: Role) -> Result<Vec<u8>> {
        let path = self.manifest.file(role)?.path.clone();
        self.take_path(&path)
    }

    fn take_path(&mut self, path: &str) -> Result<Vec<u8>> {
        self.files.remove(path).ok_or_else(|| Error::Missing(format!("file {path} (not loaded)")))
    }

    fn coarse_sae(&mut self, info: &CoarseSaeInfo, main: &Sae) -> Result<CoarseSae> {
        let sae = Sae::from_saelens(&self.take_path(&info.config)?, &self.take_path(&info.weights)?)?;
        if (sae.d_in, sae.d_sae, sae.k) != (main.d_in, info.d_sae, info.k) {
            return Err(Error::Shape(format!(
                "{}: manifest says a {}x{} k={} SAE, the weights are {}x{} k={}",
                info.weights, main.d_in, info.d_sae, info.k, sae.d_in, sae.d_sae, sae.k
            )));
        }
        let split = FeatureSplit::from_paper_json(&self.take_path(&info.split)?, &sae, main, &info.split)?;
        Ok(CoarseSae { sae, split })
    }

    /// The file of `role` if the manifest lists one (then it must have been added).
    fn take_optional(&mut self, role: Role) -> Result<Option<Vec<u8>>> {
        if self.manifest.files_with(role).next().is_some() {
            self.take(role).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Every text, when every texts shard was added; `None` when none was; an error naming the
    /// first missing shard when only some were.
    fn take_texts(&mut self) -> Result<Option<Vec<String>>> {
        let shards: Vec<(String, usize)> = self.manifest.text_shards().map(|(f, _, n)| (f.path.clone(), n)).collect();
        if shards.iter().all(|(path, _)| !self.files.contains_key(path)) {
            return Ok(None);
        }
        let mut texts = Vec::with_capacity(self.manifest.documents);
        for (path, n) in shards {
            texts.extend(parse_texts(&path, &self.take_path(&path)?, n)?);
        }
        Ok(Some(texts))
    }

    /// Parses everything added. Embedding shards are taken in manifest order.
    pub fn finish(mut self) -> Result<Bundle> {
        let cfg = self.take(Role::SaeConfig)?;
        let weights = self.take(Role::SaeWeights)?;
        let sae = Sae::from_saelens(&cfg, &weights)?;
        let m = self.manifest.clone();
        if (sae.d_in, sae.d_sae, sae.k) != (m.sae.d_in, m.sae.d_sae, m.sae.k) {
            return Err(Error::Shape(format!(
                "manifest says SAE {}x{} k={}, weights are {}x{} k={}",
                m.sae.d_in, m.sae.d_sae, m.sae.k, sae.d_in, sae.d_sae, sae.k
            )));
        }
        let mut corpus = Corpus::new(m.embedding.dim);
        let shard_paths: Vec<String> = m.files_with(Role::Embeddings).map(|f| f.path.clone()).collect();
        for path in shard_paths {
            let bytes = self.take_path(&path)?;
            let scale_path = path.strip_suffix(".npy").map(|stem| format!("{stem}.scale.npy"));
            match scale_path.filter(|p| m.files_with(Role::EmbeddingsScale).any(|f| &f.path == p)) {
                Some(scale_path) => {
                    let scale = self.take_path(&scale_path)?;
                    corpus.push_quantized_npy(&path, &bytes, &scale_path, &scale)?;
                }
                None if Npy::parse(&bytes).is_ok_and(|n| n.header.dtype == DType::I8) => {
                    return Err(Error::Missing(format!(
                        "the scales of the int8 embeddings shard {path} (an EmbeddingsScale file)"
                    )));
                }
                None => corpus.push_npy(&path, &bytes)?,
            }
        }
        if corpus.rows() != self.manifest.documents {
            return Err(Error::Shape(format!(
                "manifest says {} documents, embedding shards hold {}",
                self.manifest.documents,
                corpus.rows()
            )));
        }
        let codes = if self.manifest.files_with(Role::CodesIndices).next().is_some() {
            let idx = self.take(Role::CodesIndices)?;
            let val = self.take(Role::CodesValues)?;
            let codes = SparseCodes::from_npy(&idx, &val, sae.d_sae)?;
            if codes.rows() != corpus.rows() {
                return Err(Error::Shape(format!("codes have {} rows, corpus {}", codes.rows(), corpus.rows())));
            }
            Some(codes)
        } else {
            None
        };
        let documents = self.take_optional(Role::Documents)?;
        let texts = self.take_texts()?;
        let labels = self.take_optional(Role::Labels)?;
        let families = self.take_optional(Role::Families)?;
        let features = self.take_optional(Role::Features)?;
        let layout = self.take_optional(Role::Layout)?;
        let label_embeddings = self.take_optional(Role::LabelEmbeddings)?;
        let coarse = m.coarse_saes.iter().map(|info| self.coarse_sae(info, &sae)).collect::<Result<_>>()?;
        Ok(Bundle {
            manifest: self.manifest,
            sae,
            corpus,
            codes,
            documents,
            texts,
            labels,
            families,
            features,
            layout,
            label_embeddings,
            coarse,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy;
    use saescope_core::synth::PlantedData;

    fn small_bundle() -> (Manifest, Vec<(String, Vec<u8>)>) {
        let data = PlantedData::generate(16, 32, 3, 10, 2);
        let mut b = BundleBuilder::new("t", "", "planted", &data.sae, 10);
        let (cfg, w) = data.sae.to_saelens(crate::saelens::WeightDType::F32, None).unwrap();
        b.add("sae/cfg.json", Role::SaeConfig, cfg);
        b.add("sae/sae_weights.safetensors", Role::SaeWeights, w);
        for (i, start) in [0usize, 6].into_iter().enumerate() {
            let part = data.embeddings.slice_rows(start, (start + 6).min(10));
            b.add(
                &format!("embeddings/{i:03}.npy"),
                Role::Embeddings,
                npy::to_bytes(&[part.rows, 16], &part.data).unwrap(),
            );
        }
        b.finish()
    }

    #[test]
    fn builds_and_loads() {
        let (manifest, files) = small_bundle();
        let mut loader = BundleLoader::new(&manifest.to_json()).unwrap();
        for (p, bytes) in files {
            loader.add(&p, bytes).unwrap();
        }
        let bundle = loader.finish().unwrap();
        assert_eq!(bundle.corpus.rows(), 10);
        assert_eq!(bundle.corpus.shards.len(), 2);
    }

    #[test]
    fn texts_load_all_or_none_and_a_damaged_shard_is_named() {
        let data = PlantedData::generate(16, 32, 3, 10, 2);
        let mut b = BundleBuilder::new("t", "", "planted", &data.sae, 300);
        let (cfg, weights) = data.sae.to_saelens(crate::saelens::WeightDType::F32, None).unwrap();
        b.add("sae/cfg.json", Role::SaeConfig, cfg);
        b.add("sae/sae_weights.safetensors", Role::SaeWeights, weights);
        let rows: Vec<f32> = (0..300).flat_map(|r| data.embeddings.row(r % 10).to_vec()).collect();
        b.add("embeddings/000.npy", Role::Embeddings, npy::to_bytes(&[300, 16], &rows).unwrap());
        let doc = |r: usize| Document {
            id: format!("d{r}"),
            title: format!("T{r}"),
            text: format!("text {r}"),
            categories: vec![],
            year: None,
        };
        let docs: Vec<Document> = (0..300).map(doc).collect();
        assert!(b.add_documents(&docs[..299]).is_err(), "one document short");
        b.add_documents(&docs).unwrap();
        let (manifest, files) = b.finish();
        let manifest = Manifest::parse(&manifest.to_json()).unwrap();
        assert_eq!(manifest.text_shards().map(|(_, first, n)| (first, n)).collect::<Vec<_>>(), [(0, 256), (256, 44)]);
        let load = |keep: &dyn Fn(&str) -> bool| {
            let mut loader = BundleLoader::new(&manifest.to_json()).unwrap();
            for (p, bytes) in files.iter().filter(|(p, _)| keep(p)) {
                loader.add(p, bytes.clone()).unwrap();
            }
            loader.finish()
        };
        // Natively every shard is loaded: the documents come back whole.
        assert_eq!(load(&|_| true).unwrap().read_documents().unwrap().unwrap(), docs);
        // The page loads none: titles without texts.
        let page = load(&|p| !p.starts_with("texts/")).unwrap();
        let heads = page.read_documents().unwrap().unwrap();
        assert_eq!((heads[7].title.as_str(), heads[7].text.as_str()), ("T7", ""));
        let some = load(&|p| p != "texts/0001.jsonl.gz").unwrap_err().to_string();
        assert!(some.contains("texts/0001.jsonl.gz"), "{some}");
        // ... and fetches a shard when it shows one of its texts, verified first.
        let (path, bytes) = files.iter().find(|(p, _)| p == "texts/0001.jsonl.gz").unwrap();
        assert_eq!(Bundle::shard_texts(&manifest, path, bytes).unwrap()[3], "text 259");
        let mut damaged = bytes.clone();
        damaged[20] ^= 1;
        let err = Bundle::shard_texts(&manifest, path, &damaged).unwrap_err();
        assert!(matches!(&err, Error::Checksum { path, .. } if path == "texts/0001.jsonl.gz"), "{err}");
        assert!(Bundle::shard_texts(&manifest, "labels.json", b"[]").is_err(), "not a texts shard");
    }

    #[test]
    fn coarse_saes_and_their_split_maps_load_with_the_bundle() {
        let data = PlantedData::generate(16, 32, 3, 10, 2);
        let coarse = PlantedData::generate(16, 8, 2, 1, 3).sae;
        let split = saescope_core::splitting::split_features(&coarse, &data.sae).unwrap();
        let mut b = BundleBuilder::new("t", "", "planted", &data.sae, 10);
        let (cfg, w) = data.sae.to_saelens(WeightDType::F32, None).unwrap();
        b.add("sae/cfg.json", Role::SaeConfig, cfg);
        b.add("sae/sae_weights.safetensors", Role::SaeWeights, w);
        b.add("embeddings/000.npy", Role::Embeddings, npy::to_bytes(&[10, 16], &data.embeddings.data).unwrap());
        b.add_coarse_sae(&coarse, &split, WeightDType::F32, None).unwrap();
        let too_large = PlantedData::generate(16, 32, 2, 1, 4).sae;
        assert!(b.add_coarse_sae(&too_large, &split, WeightDType::F32, None).is_err(), "not smaller than the main SAE");
        let (manifest, files) = b.finish();
        assert_eq!(manifest.coarse_saes[0].split, "splits/8.json");
        let mut loader = BundleLoader::new(&manifest.to_json()).unwrap();
        for (p, bytes) in files.clone() {
            loader.add(&p, bytes).unwrap();
        }
        let bundle = loader.finish().unwrap();
        assert_eq!(bundle.coarse.len(), 1);
        assert_eq!(bundle.coarse[0].sae.d_sae, 8);
        assert_eq!(bundle.coarse[0].split.best_small, split.best_small);
        assert!(bundle.coarse[0].split.cosine.iter().zip(&split.cosine).all(|(a, b)| (a - b).abs() < 1e-5));

        let mut unlisted = manifest.clone();
        unlisted.files.retain(|f| f.role != Role::FeatureSplit);
        let unlisted = BundleLoader::new(&unlisted.to_json()).err().expect("a coarse SAE whose split is not listed");
        assert!(unlisted.to_string().contains("splits/8.json"), "{unlisted}");
        let mut missing = BundleLoader::new(&manifest.to_json()).unwrap();
        for (p, bytes) in files.into_iter().filter(|(p, _)| p != "splits/8.json") {
            missing.add(&p, bytes).unwrap();
        }
        assert!(missing.finish().unwrap_err().to_string().contains("splits/8.json"));
    }

    #[test]
    fn label_embeddings_are_checked() {
        let ok = npy::to_bytes(&[2, 3], &[0.5f32; 6]).unwrap();
        assert_eq!(parse_label_embeddings(&ok, 2, 3).unwrap().rows, 2);
        assert!(parse_label_embeddings(&ok, 3, 3).unwrap_err().to_string().contains("label embeddings are 2 x 3"));
        let nan = npy::to_bytes(&[1, 2], &[0.5f32, f32::NAN]).unwrap();
        assert!(parse_label_embeddings(&nan, 1, 2).is_err());
        assert!(parse_label_embeddings(&ok[..ok.len() - 4], 2, 3).is_err(), "truncated");
    }

    #[test]
    fn layouts_are_refused_with_the_reason() {
        let ok = npy::to_bytes(&[3, 2], &[0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(parse_layout(&ok, 3).unwrap().data[5], 5.0);
        let half: Vec<half::f16> = [0.5f32, 1.0, 2.0, 3.0].iter().map(|&v| half::f16::from_f32(v)).collect();
        assert_eq!(parse_layout(&npy::to_bytes(&[2, 2], &half).unwrap(), 2).unwrap().data[0], 0.5);
        let rows = parse_layout(&ok, 4).unwrap_err().to_string();
        assert!(rows.contains("expected 4 x 2, got 3 x 2"), "{rows}");
        let three_d = npy::to_bytes(&[2, 3], &[0.0f32; 6]).unwrap();
        assert!(parse_layout(&three_d, 2).unwrap_err().to_string().contains("2D point per document"));
        let nan = npy::to_bytes(&[2, 2], &[0.0f32, f32::NAN, 1.0, 1.0]).unwrap();
        let why = parse_layout(&nan, 2).unwrap_err().to_string();
        assert!(why.contains("non-finite") && why.contains("row 0"), "{why}");
        assert!(parse_layout(&ok[..ok.len() - 4], 3).is_err(), "truncated");
    }

    #[test]
    fn corrupt_file_is_named_and_others_survive() {
        let (manifest, mut files) = small_bundle();
        let mut loader = BundleLoader::new(&manifest.to_json()).unwrap();
        files[2].1[200] ^= 1;
        let mut errors = Vec::new();
        for (p, bytes) in files {
            if let Err(e) = loader.add(&p, bytes) {
                errors.push(e.to_string());
            }
        }
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("embeddings/000.npy"), "{}", errors[0]);
        assert!(loader.finish().unwrap_err().to_string().contains("embeddings/000.npy"));
    }
}
