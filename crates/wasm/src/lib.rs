//! saescope's JavaScript API. It only translates: bytes and numbers in, JSON-like objects out,
//! every error an `Error` with a sentence (never a panic; the panic hook is a last resort that
//! logs to the console). The math is in `saescope-core` and `saescope-gpu`.

use saescope_core::bundle::{Bundle, BundleLoader};
use saescope_core::search::Corpus;
use saescope_core::{conformance, Backend, CpuBackend, Matrix, Sae, SparseCodes};
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
    sae: Arc<Sae>,
    corpus: Arc<Corpus>,
    codes: Option<SparseCodes>,
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

impl Scope {
    async fn load(backend: Rc<AnyBackend>, bundle: Bundle) -> Result<Scope, JsError> {
        let sae = Arc::new(bundle.sae);
        let corpus = Arc::new(bundle.corpus);
        let resident = match &*backend {
            AnyBackend::Cpu(b) => AnyResident::Cpu(upload(b, &sae, &corpus).await.map_err(js_err)?),
            AnyBackend::Gpu(b) => AnyResident::Gpu(upload(b, &sae, &corpus).await.map_err(js_err)?),
        };
        Ok(Scope { backend, resident, sae, corpus, codes: bundle.codes })
    }

    fn document(&self, doc: u32) -> Result<Matrix, JsError> {
        let row = self.corpus.row(doc as usize).ok_or_else(|| {
            JsError::new(&format!("document {doc} does not exist (the bundle has {})", self.corpus.rows()))
        })?;
        Matrix::new(1, self.corpus.dim, row).map_err(js_err)
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

    /// Encodes one document's embedding on the engine: its active features, strongest first.
    #[wasm_bindgen(js_name = documentFeatures)]
    pub async fn document_features(&self, doc: u32) -> Result<JsValue, JsError> {
        let x = self.document(doc)?;
        let codes = with_resident!(self, |b, r| b.encode(&r.sae, &x).await).map_err(js_err)?;
        let features: Vec<Feature> = codes.active(0).map(|(feature, activation)| Feature { feature, activation }).collect();
        to_js(&features)
    }

    /// The `k` documents most similar (dot product) to document `doc`, itself included.
    #[wasm_bindgen(js_name = searchByDocument)]
    pub async fn search_by_document(&self, doc: u32, k: u32) -> Result<JsValue, JsError> {
        let q = self.document(doc)?;
        let hits = with_resident!(self, |b, r| b.search(&r.corpus, &q, k as usize).await).map_err(js_err)?;
        let (idx, scores) = hits.row(0);
        let out: Vec<Hit> = idx.iter().zip(scores).map(|(&doc, &score)| Hit { doc, score }).collect();
        to_js(&out)
    }
}
