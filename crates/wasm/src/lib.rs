//! saescope's JavaScript API. It only translates: bytes and numbers in, JSON-like objects out,
//! every error an `Error` with a sentence (never a panic; the panic hook is a last resort that
//! logs to the console). The math is in `saescope-core` and `saescope-gpu`.

use saescope_core::bundle::{Bundle, BundleLoader};
use saescope_core::analysis;
use saescope_core::explore;
use saescope_core::kmeans::{self, KMeansConfig, Metric, Points};
use saescope_core::manifest::Manifest;
use saescope_core::search::Corpus;
use saescope_core::steer::{apply_edits, cosine, rows_to_codes, steered_query, SteerMode};
use saescope_core::{conformance, Backend, CpuBackend, Matrix, Sae, SparseCodes};
use saescope_embed::Embedder;
use saescope_gpu::{GpuBackend, GpuOptions};
use serde::Serialize;
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(js_err)
}

// One engine lives per page, so the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum AnyBackend {
    Cpu(CpuBackend),
    Gpu(GpuBackend),
}

/// Runs `$body` with `$b` bound to the concrete backend inside an `AnyBackend`-shaped enum.
macro_rules! dispatch {
    ($value:expr, $b:ident => $body:expr) => {
        match $value {
            AnyBackend::Cpu($b) => $body,
            AnyBackend::Gpu($b) => $body,
        }
    };
}

/// The compute engine: the GPU when the browser offers WebGPU, otherwise the CPU reference.
#[wasm_bindgen]
pub struct Engine {
    backend: Rc<AnyBackend>,
    fallback_reason: Option<String>,
}

#[wasm_bindgen]
impl Engine {
    /// Opens the GPU if `prefer_gpu` and one is available; otherwise the CPU, remembering why.
    pub async fn create(prefer_gpu: bool) -> Engine {
        let (backend, fallback_reason) = if prefer_gpu {
            match GpuBackend::new(GpuOptions::default()).await {
                Ok(gpu) => (AnyBackend::Gpu(gpu), None),
                Err(e) => (AnyBackend::Cpu(CpuBackend), Some(format!("WebGPU unavailable: {e}"))),
            }
        } else {
            (AnyBackend::Cpu(CpuBackend), Some("CPU requested".into()))
        };
        Engine { backend: Rc::new(backend), fallback_reason }
    }

    /// "gpu" or "cpu".
    pub fn kind(&self) -> String {
        match &*self.backend {
            AnyBackend::Cpu(_) => "cpu".into(),
            AnyBackend::Gpu(_) => "gpu".into(),
        }
    }

    /// What runs the math, and why the CPU if it is the CPU.
    pub fn describe(&self) -> String {
        let what = dispatch!(&*self.backend, b => b.describe());
        match &self.fallback_reason {
            Some(reason) => format!("{what}; {reason}"),
            None => what,
        }
    }

    /// Runs the shared backend suite (the same cases the native tests run) on this engine:
    /// `[{name, ok, report}]`. On the GPU this checks the browser's WebGPU against the CPU.
    #[wasm_bindgen(js_name = selfTest)]
    pub async fn self_test(&self) -> Result<JsValue, JsError> {
        #[derive(Serialize)]
        struct Case {
            name: &'static str,
            ok: bool,
            report: String,
        }
        let results = dispatch!(&*self.backend, b => conformance::run_all(b).await);
        let cases: Vec<Case> = results
            .into_iter()
            .map(|(name, outcome)| match outcome {
                Ok(report) => Case { name, ok: true, report },
                Err(report) => Case { name, ok: false, report },
            })
            .collect();
        to_js(&cases)
    }

    /// Starts loading a bundle from its `manifest.json` bytes.
    #[wasm_bindgen(js_name = openBundle)]
    pub fn open_bundle(&self, manifest_json: &[u8]) -> Result<BundleLoading, JsError> {
        Ok(BundleLoading { loader: Some(BundleLoader::new(manifest_json).map_err(js_err)?), backend: self.backend.clone() })
    }
}

/// A bundle whose files are arriving. Each file is verified (size, sha256) as it is added.
#[wasm_bindgen]
pub struct BundleLoading {
    loader: Option<BundleLoader>,
    backend: Rc<AnyBackend>,
}

#[wasm_bindgen]
impl BundleLoading {
    fn loader(&mut self) -> Result<&mut BundleLoader, JsError> {
        self.loader.as_mut().ok_or_else(|| JsError::new("this bundle has already been opened"))
    }

    /// The manifest, as an object.
    pub fn manifest(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.loader()?.manifest)
    }

    /// Verifies one file against the manifest and keeps it. An error names the file.
    pub fn add(&mut self, path: &str, bytes: Vec<u8>) -> Result<(), JsError> {
        self.loader()?.add(path, bytes).map_err(js_err)
    }

    /// Parses everything and uploads the SAE and corpus to the engine.
    pub async fn finish(&mut self) -> Result<Scope, JsError> {
        let bundle = self.loader.take().ok_or_else(|| JsError::new("this bundle has already been opened"))?.finish().map_err(js_err)?;
        Scope::load(self.backend.clone(), bundle).await
    }
}

/// The bundle's query embedder (all-MiniLM-L6-v2 on the CPU), separate from [`Scope`] so that
/// its slow loading never holds up queries.
#[wasm_bindgen]
pub struct QueryEmbedder(Embedder);

#[wasm_bindgen]
impl QueryEmbedder {
    /// Checks that the bundle's embedder matches its documents' model, verifies each file
    /// against the manifest, and loads the model.
    pub fn load(manifest_json: &[u8], weights: &[u8], tokenizer: &[u8], config: &[u8]) -> Result<QueryEmbedder, JsError> {
        let manifest = Manifest::parse(manifest_json).map_err(js_err)?;
        Ok(QueryEmbedder(Embedder::from_bundle(&manifest, weights, tokenizer, config).map_err(js_err)?))
    }

    /// The unit-norm embedding of `text`, in the documents' space.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, JsError> {
        if text.trim().is_empty() {
            return Err(JsError::new("type something to search for"));
        }
        Ok(self.0.embed(&[text]).map_err(js_err)?.data)
    }
}

/// The SAE and corpus resident on a backend.
struct Resident<B: Backend> {
    sae: B::Sae,
    corpus: B::Corpus,
}

enum AnyResident {
    Cpu(Resident<CpuBackend>),
    Gpu(Resident<GpuBackend>),
}

/// A loaded bundle, ready for queries.
#[wasm_bindgen]
pub struct Scope {
    backend: Rc<AnyBackend>,
    resident: AnyResident,
    manifest: Manifest,
    sae: Arc<Sae>,
    corpus: Arc<Corpus>,
    codes: Option<SparseCodes>,
    coarse: Vec<CoarseSplit>,
}

/// How the main SAE's features split from one smaller SAE's (see [`Scope::splits`]).
#[derive(Serialize)]
struct CoarseSplit {
    d_sae: usize,
    k: usize,
    /// For each main feature, the coarse feature it splits from...
    coarse_of: Vec<u32>,
    /// ... and the cosine of their decoder directions.
    cosine: Vec<f32>,
}

#[derive(Serialize)]
struct Feature {
    feature: u32,
    activation: f32,
}

#[derive(Serialize)]
struct Hit {
    doc: u32,
    score: f32,
    /// Which of the steered features fire in this document (steered search only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fires: Vec<u32>,
}

#[derive(Serialize)]
struct SteeredSearch {
    /// The query's own code (before the edits), strongest first.
    features: Vec<Feature>,
    /// Cosine between the steered query and the query.
    cosine: f32,
    hits: Vec<Hit>,
}

/// Runs `$body` with the backend and its resident data of matching type.
macro_rules! with_resident {
    ($scope:expr, |$b:ident, $r:ident| $body:expr) => {
        match (&*$scope.backend, &$scope.resident) {
            (AnyBackend::Cpu($b), AnyResident::Cpu($r)) => $body,
            (AnyBackend::Gpu($b), AnyResident::Gpu($r)) => $body,
            _ => unreachable!("resident data is always uploaded to its own backend"),
        }
    };
}

async fn upload<B: Backend>(b: &B, sae: &Arc<Sae>, corpus: &Arc<Corpus>) -> saescope_core::Result<Resident<B>> {
    Ok(Resident { sae: b.upload_sae(sae).await?, corpus: b.upload_corpus(corpus).await? })
}

fn features_of(codes: &SparseCodes, row: usize) -> Vec<Feature> {
    codes.active(row).map(|(feature, activation)| Feature { feature, activation }).collect()
}

impl Scope {
    async fn load(backend: Rc<AnyBackend>, bundle: Bundle) -> Result<Scope, JsError> {
        let sae = Arc::new(bundle.sae);
        let corpus = Arc::new(bundle.corpus);
        let resident = match &*backend {
            AnyBackend::Cpu(b) => AnyResident::Cpu(upload(b, &sae, &corpus).await.map_err(js_err)?),
            AnyBackend::Gpu(b) => AnyResident::Gpu(upload(b, &sae, &corpus).await.map_err(js_err)?),
        };
        let coarse = bundle
            .coarse
            .into_iter()
            .map(|c| CoarseSplit { d_sae: c.sae.d_sae, k: c.sae.k, coarse_of: c.split.best_small, cosine: c.split.cosine })
            .collect();
        Ok(Scope { backend, resident, manifest: bundle.manifest, sae, corpus, codes: bundle.codes, coarse })
    }

    fn document(&self, doc: u32) -> Result<Matrix, JsError> {
        let row = self.corpus.row(doc as usize).ok_or_else(|| {
            JsError::new(&format!("document {doc} does not exist (the bundle has {})", self.corpus.rows()))
        })?;
        Matrix::new(1, self.corpus.dim, row).map_err(js_err)
    }

    fn query_vector(&self, vector: Vec<f32>) -> Result<Matrix, JsError> {
        let q = Matrix::new(1, self.corpus.dim, vector).map_err(|_| JsError::new(&format!("a query must have {} numbers", self.corpus.dim)))?;
        q.check_finite("the query").map_err(js_err)?;
        Ok(q)
    }

    fn codes(&self) -> Result<&SparseCodes, JsError> {
        self.codes.as_ref().ok_or_else(|| JsError::new("this bundle has no sparse codes (codes/indices.npy, codes/values.npy)"))
    }

    async fn encode(&self, q: &Matrix) -> Result<SparseCodes, JsError> {
        with_resident!(self, |b, r| b.encode(&r.sae, q).await).map_err(js_err)
    }

    async fn search(&self, q: &Matrix, k: u32) -> Result<Vec<Hit>, JsError> {
        let hits = with_resident!(self, |b, r| b.search(&r.corpus, q, k as usize).await).map_err(js_err)?;
        let (idx, scores) = hits.row(0);
        Ok(idx.iter().zip(scores).map(|(&doc, &score)| Hit { doc, score, fires: Vec::new() }).collect())
    }
}

#[wasm_bindgen]
impl Scope {
    pub fn documents(&self) -> u32 {
        self.corpus.rows() as u32
    }

    /// `{documents, d_in, d_sae, k, has_codes}`.
    pub fn info(&self) -> Result<JsValue, JsError> {
        to_js(&serde_json::json!({
            "documents": self.corpus.rows(),
            "d_in": self.sae.d_in,
            "d_sae": self.sae.d_sae,
            "k": self.sae.k,
            "has_codes": self.codes.is_some(),
        }))
    }

    /// Feature splitting across SAE sizes, one entry per smaller SAE the bundle carries:
    /// `[{d_sae, k, coarse_of, cosine}]`, where `coarse_of[j]` is the coarse feature that main
    /// feature `j` splits from and `cosine[j]` their decoder cosine.
    pub fn splits(&self) -> Result<JsValue, JsError> {
        to_js(&self.coarse)
    }

    /// Why free-text queries cannot be embedded for this bundle (no embedder, or one whose
    /// model differs from the documents'), or `undefined` when they can.
    #[wasm_bindgen(js_name = embedderProblem)]
    pub fn embedder_problem(&self) -> Option<String> {
        saescope_embed::check_compatible(&self.manifest).err().map(|e| e.to_string())
    }

    /// Document `doc`'s embedding, as a query vector ("more like this").
    #[wasm_bindgen(js_name = documentVector)]
    pub fn document_vector(&self, doc: u32) -> Result<Vec<f32>, JsError> {
        Ok(self.document(doc)?.data)
    }

    /// Steered search: encodes `vector`, sets each `edit_features[i]` to `edit_values[i]`
    /// (0 removes a feature), decodes, and searches with the steered query in `mode`
    /// ("keep-error" or "rebuild"). With no edits in keep-error mode this is plain search.
    /// Returns `{features, cosine, hits}`.
    #[wasm_bindgen(js_name = steeredSearch)]
    pub async fn steered_search(&self, vector: Vec<f32>, edit_features: Vec<u32>, edit_values: Vec<f32>, mode: &str, k: u32) -> Result<JsValue, JsError> {
        let mode = SteerMode::parse(mode).map_err(js_err)?;
        if edit_features.len() != edit_values.len() {
            return Err(JsError::new("each edited feature needs one value"));
        }
        let q = self.query_vector(vector)?;
        let codes = self.encode(&q).await?;
        let code: Vec<(u32, f32)> = codes.active(0).collect();
        let edits: Vec<(u32, f32)> = edit_features.into_iter().zip(edit_values).collect();
        let steered_code = apply_edits(&code, &edits, self.sae.d_sae).map_err(js_err)?;
        let steered = if edits.is_empty() && mode == SteerMode::KeepError {
            q.clone()
        } else {
            let both = rows_to_codes(&[&code, &steered_code], self.sae.d_sae).map_err(js_err)?;
            let recon = with_resident!(self, |b, r| b.decode(&r.sae, &both).await).map_err(js_err)?;
            Matrix::new(1, q.cols, steered_query(q.row(0), recon.row(0), recon.row(1), mode)).map_err(js_err)?
        };
        let mut hits = self.search(&steered, k).await?;
        if let Some(all) = &self.codes {
            let docs: Vec<u32> = hits.iter().map(|h| h.doc).collect();
            for &(feature, _) in edits.iter().filter(|e| e.1 > 0.0) {
                let acts = explore::activations_in(all, feature, &docs).map_err(js_err)?;
                hits.iter_mut().zip(acts).filter(|(_, a)| *a > 0.0).for_each(|(h, _)| h.fires.push(feature));
            }
        }
        to_js(&SteeredSearch { features: features_of(&codes, 0), cosine: cosine(steered.row(0), q.row(0)), hits })
    }

    /// The `n` nearest and farthest features of `feature` by decoder cosine:
    /// `{nearest: [{feature, cosine}], farthest: [...]}`.
    #[wasm_bindgen(js_name = decoderNeighbors)]
    pub fn decoder_neighbors(&self, feature: u32, n: u32) -> Result<JsValue, JsError> {
        to_js(&explore::decoder_neighbors(&self.sae, feature, n as usize).map_err(js_err)?)
    }

    /// How often `feature` fires, and the `n` features that fire most often with it:
    /// `{documents, with: [{feature, together, share}]}`.
    #[wasm_bindgen(js_name = coFiring)]
    pub fn co_firing(&self, feature: u32, n: u32) -> Result<JsValue, JsError> {
        let (documents, with) = explore::co_firing(self.codes()?, feature, n as usize).map_err(js_err)?;
        to_js(&serde_json::json!({ "documents": documents, "with": with }))
    }

    /// k-means of the documents on the engine: over the embeddings (`space` "embeddings",
    /// cosine), over the sparse codes ("codes"), or along the chosen `features` only (codes
    /// restricted to those columns; documents firing none of them are left out). Each cluster
    /// comes with its most over-represented features and example documents:
    /// `{clusters: [{size, features: [{feature, rate, rest_rate}], examples}], inertia,
    /// iterations, clustered}`.
    pub async fn cluster(&self, space: &str, clusters: u32, features: Vec<u32>, iterations: u32, seed: u32) -> Result<JsValue, JsError> {
        let codes = self.codes()?;
        let (clusters, iterations, seed) = (clusters as usize, iterations as usize, seed as u64);
        let (assignments, inertia): (Vec<Option<u32>>, Vec<f64>) = match (space, features.is_empty()) {
            ("codes", false) => {
                let along = dispatch!(&*self.backend, b => analysis::cluster_along(b, codes, &features, clusters, iterations, seed).await).map_err(js_err)?;
                (along.assignments.iter().map(|&c| u32::try_from(c).ok()).collect(), along.inertia)
            }
            ("codes", true) | ("embeddings", true) => {
                let dense;
                let (points, metric) = if space == "codes" {
                    (Points::Sparse(codes), Metric::Euclidean)
                } else {
                    dense = self.corpus.to_matrix();
                    (Points::Dense(&dense), Metric::Cosine)
                };
                let config = KMeansConfig { clusters, iterations, metric, seed };
                let result = dispatch!(&*self.backend, b => kmeans::kmeans(b, points, &config).await).map_err(js_err)?;
                (result.assignments.into_iter().map(Some).collect(), result.inertia)
            }
            ("embeddings", false) => return Err(JsError::new("clustering along chosen features works on the SAE codes")),
            (other, _) => return Err(JsError::new(&format!("unknown clustering space {other:?} (use \"codes\" or \"embeddings\")"))),
        };
        let summary = explore::describe_clusters(codes, &assignments, clusters, 5, 4).map_err(js_err)?;
        to_js(&serde_json::json!({
            "clusters": summary,
            "inertia": inertia.last().copied().unwrap_or(f64::NAN),
            "iterations": inertia.len(),
            "clustered": assignments.iter().flatten().count(),
        }))
    }

    /// `feature`'s activation in each of `docs` (0 where it does not fire).
    #[wasm_bindgen(js_name = activationsIn)]
    pub fn activations_in(&self, feature: u32, docs: Vec<u32>) -> Result<Vec<f32>, JsError> {
        explore::activations_in(self.codes()?, feature, &docs).map_err(js_err)
    }
}
