//! saescope's JavaScript API. It only translates: bytes and numbers in, JSON-like objects out,
//! every error an `Error` with a sentence (never a panic; the panic hook is a last resort that
//! logs to the console). The work is in `saescope-interp` (the explorer), `saescope-core` and `saescope-gpu`.

use saescope_conformance as conformance;
use saescope_core::layout::{umap, UmapParams};
use saescope_core::Backend;
use saescope_core::Matrix;
use saescope_embed::Embedder;
use saescope_format::bundle::{parse_layout, Bundle, BundleLoader};
use saescope_format::manifest::Manifest;
use saescope_gpu::{AnyBackend, CpuBecause, DeviceChoice, GpuOptions};
use saescope_interp::catalog::Catalog;
use saescope_interp::explain;
use saescope_interp::explore;
use saescope_interp::explorer::{ClusterSpace, Explorer, Steering};
use saescope_interp::selection;
use saescope_interp::steer::SteerMode;
use serde::Serialize;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

mod workshop;
pub use workshop::Workshop;

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

/// The compute engine: the GPU when the browser offers WebGPU, otherwise the CPU reference.
#[wasm_bindgen]
pub struct Engine {
    backend: Rc<AnyBackend>,
    fallback_reason: Option<CpuBecause>,
}

#[wasm_bindgen]
impl Engine {
    /// Opens what `device` asks for (`auto`, `gpu` or `cpu`; see [`DeviceChoice`]): WebGPU when
    /// it is there (for `auto`, not a software one), otherwise the CPU, remembering why.
    pub async fn create(device: String) -> Result<Engine, JsError> {
        let choice = DeviceChoice::parse(&device).map_err(js_err)?;
        let (backend, fallback_reason) = AnyBackend::open(choice, GpuOptions::default()).await;
        Ok(Engine { backend: Rc::new(backend), fallback_reason })
    }

    /// Whether the CPU computes because the only WebGPU here is emulated on the CPU (slower).
    #[wasm_bindgen(js_name = skippedSoftwareGpu)]
    pub fn skipped_software_gpu(&self) -> bool {
        matches!(self.fallback_reason, Some(CpuBecause::SoftwareGpu(_)))
    }

    /// What runs the math now: "gpu" or "cpu" ("cpu" also once the GPU device was lost).
    pub fn kind(&self) -> String {
        self.backend.kind().into()
    }

    /// What runs the math, and why the CPU if it is the CPU.
    pub fn describe(&self) -> String {
        let what = self.backend.describe();
        match &self.fallback_reason {
            Some(reason) => format!("{what}; {reason}"),
            None => what,
        }
    }

    /// Runs the shared backend suite (the same cases the native tests run) on this engine:
    /// `[{name, ok, report}]`. On the GPU this checks the browser's WebGPU against the CPU.
    #[wasm_bindgen(js_name = selfTest)]
    pub async fn self_test(&self) -> Result<JsValue, JsError> {
        let results = conformance::run_all(&*self.backend).await;
        let cases: Vec<SelfTestCase> = results
            .into_iter()
            .map(|(name, outcome)| match outcome {
                Ok(report) => SelfTestCase { name: name.into(), ok: true, report },
                Err(report) => SelfTestCase { name: name.into(), ok: false, report },
            })
            .collect();
        to_js(&cases)
    }

    /// Panics on purpose. The page must survive engine faults (a panic traps the wasm instance
    /// for good; the page then replaces its worker): the browser test that checks it calls this.
    #[wasm_bindgen(js_name = panicForTest)]
    pub fn panic_for_test(&self) {
        panic!("a panic asked for by the page's fault test");
    }

    /// Why the GPU device was lost, if it was: the engine computes on the CPU since, with the
    /// same answers (see `saescope_gpu::AnyBackend`); `undefined` otherwise.
    #[wasm_bindgen(js_name = deviceLost)]
    pub fn device_lost(&self) -> Option<String> {
        self.backend.lost()
    }

    /// Loses the GPU device on purpose, right after the `submissions`-th next GPU submission (0:
    /// now), as a driver reset in the middle of a query would. For the browser test that queries
    /// then fall back to the CPU; fails on the CPU path.
    #[wasm_bindgen(js_name = loseDeviceForTest)]
    pub fn lose_device_for_test(&self, submissions: u32) -> Result<(), JsError> {
        self.backend.lose_device_after(submissions).map_err(js_err)
    }

    /// A workshop on this engine: a corpus of the visitor's own, on its way to a bundle.
    pub fn workshop(&self) -> Workshop {
        Workshop::new(self.backend.clone())
    }

    /// Starts loading a bundle from its `manifest.json` bytes.
    #[wasm_bindgen(js_name = openBundle)]
    pub fn open_bundle(&self, manifest_json: &[u8]) -> Result<BundleLoading, JsError> {
        Ok(BundleLoading {
            loader: Some(BundleLoader::new(manifest_json).map_err(js_err)?),
            backend: self.backend.clone(),
        })
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
        let bundle = self
            .loader
            .take()
            .ok_or_else(|| JsError::new("this bundle has already been opened"))?
            .finish()
            .map_err(js_err)?;
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
    pub fn load(
        manifest_json: &[u8],
        weights: &[u8],
        tokenizer: &[u8],
        config: &[u8],
    ) -> Result<QueryEmbedder, JsError> {
        let manifest = Manifest::parse(manifest_json).map_err(js_err)?;
        Ok(QueryEmbedder(Embedder::from_bundle(&manifest, weights, tokenizer, config).map_err(js_err)?))
    }

    /// The unit-norm embedding of `text`, in the documents' space.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, JsError> {
        self.0.embed_query(text).map_err(js_err)
    }

    /// The embeddings of `texts` as documents are embedded (`saescope build`'s batches), one
    /// row after another: `texts.length x 384` values.
    #[wasm_bindgen(js_name = embedBatch)]
    pub fn embed_batch(&self, texts: Vec<String>) -> Result<Vec<f32>, JsError> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(self.0.embed(&refs).map_err(js_err)?.data)
    }
}

/// The texts of one texts shard (`path`, as `manifest_json` lists it), verified against the
/// manifest (size, sha256) and parsed: one string per document of the shard, in order. A free
/// function, not a method of the loaded bundle: the page's worker runs it beside a search
/// (no engine object is borrowed), so texts shown after a search never hold up the next one.
#[wasm_bindgen(js_name = shardTexts)]
pub fn shard_texts(manifest_json: &[u8], path: &str, bytes: &[u8]) -> Result<Vec<String>, JsError> {
    let manifest = Manifest::parse(manifest_json).map_err(js_err)?;
    Bundle::shard_texts(&manifest, path, bytes).map_err(js_err)
}

/// A loaded bundle, ready for queries: the explorer (saescope-interp) on this engine.
#[wasm_bindgen]
pub struct Scope {
    explorer: Explorer<AnyBackend>,
    manifest: Manifest,
    coarse: Vec<CoarseSplit>,
    /// Handed to the page once (see [`Scope::take_catalog`]), not kept twice.
    catalog: Option<Catalog>,
    /// The documents' 2D map (`n x 2`): the bundle's, or one laid out here.
    layout: Option<Matrix>,
    /// Why there is no layout, when there is none.
    layout_problem: Option<String>,
}

/// One case of the shared backend suite, run on this engine (see [`Engine::self_test`]).
#[derive(Serialize, ts_rs::TS)]
struct SelfTestCase {
    name: String,
    ok: bool,
    report: String,
}

/// What [`Scope::info`] says of a loaded bundle.
#[derive(Serialize, ts_rs::TS)]
struct Info {
    documents: usize,
    d_in: usize,
    d_sae: usize,
    k: usize,
    has_codes: bool,
}

/// A stage's progress, as [`Scope::compute_layout`] and [`workshop::Workshop::build`] report it.
#[derive(Serialize, ts_rs::TS)]
pub(crate) struct LayoutStep {
    stage: &'static str,
    done: usize,
    total: usize,
}

/// How often a feature fires, and the features that fire most often with it.
#[derive(Serialize, ts_rs::TS)]
#[ts(rename = "CoFiringResult")]
struct CoFiringResult {
    documents: u32,
    with: Vec<explore::CoFiring>,
}

/// How the main SAE's features split from one smaller SAE's (see [`Scope::splits`]).
#[derive(Serialize, ts_rs::TS)]
#[ts(rename = "Split")]
struct CoarseSplit {
    d_sae: usize,
    k: usize,
    /// For each main feature, the coarse feature it splits from...
    coarse_of: Vec<u32>,
    /// ... and the cosine of their decoder directions.
    cosine: Vec<f32>,
}

impl Scope {
    async fn load(backend: Rc<AnyBackend>, bundle: Bundle) -> Result<Scope, JsError> {
        let catalog = Catalog::of_bundle(&bundle).map_err(js_err)?;
        let coarse = bundle
            .coarse
            .into_iter()
            .map(|c| CoarseSplit {
                d_sae: c.sae.d_sae,
                k: c.sae.k,
                coarse_of: c.split.best_small,
                cosine: c.split.cosine,
            })
            .collect();
        let rows = bundle.corpus.rows();
        let (layout, layout_problem) = match bundle.layout.as_deref().map(|bytes| parse_layout(bytes, rows)) {
            Some(Ok(layout)) => (Some(layout), None),
            Some(Err(e)) => (None, Some(format!("the bundle's layout.npy was refused ({e}); lay it out here, or rebuild it with `saescope layout --bundle DIR`"))),
            None => (None, Some("this bundle has no map (layout.npy); lay it out here, or add one with `saescope layout --bundle DIR`".into())),
        };
        let explorer =
            Explorer::with_catalog(backend, bundle.sae, bundle.corpus, bundle.codes, &catalog).await.map_err(js_err)?;
        Ok(Scope { explorer, manifest: bundle.manifest, coarse, catalog: Some(catalog), layout, layout_problem })
    }
}

#[wasm_bindgen]
impl Scope {
    pub fn documents(&self) -> u32 {
        self.explorer.corpus().rows() as u32
    }

    /// `{documents, d_in, d_sae, k, has_codes}`.
    pub fn info(&self) -> Result<JsValue, JsError> {
        let sae = self.explorer.sae();
        to_js(&Info {
            documents: self.explorer.corpus().rows(),
            d_in: sae.d_in,
            d_sae: sae.d_sae,
            k: sae.k,
            has_codes: self.explorer.codes().is_ok(),
        })
    }

    /// The bundle's documents, feature statistics, labels and families, parsed (the page
    /// parses no bundle file itself): `{documents, features, labels, families, problems}`.
    /// Handed over once; later calls fail.
    #[wasm_bindgen(js_name = takeCatalog)]
    pub fn take_catalog(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.catalog.take().ok_or_else(|| JsError::new("the catalog was already handed over"))?)
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
        self.explorer.document_vector(doc).map_err(js_err)
    }

    /// Activations for steering `features` together at `strength` (1 = as strong as the
    /// query): `[[feature, activation]]`.
    #[wasm_bindgen(js_name = steeringActivations)]
    pub fn steering_activations(&self, features: Vec<u32>, strength: f32) -> Result<JsValue, JsError> {
        to_js(&self.explorer.steering_activations(&features, strength).map_err(js_err)?)
    }

    /// Steered search (see `saescope_interp::explorer`): sets each `edit_features[i]` to
    /// `edit_values[i]` (0 removes a feature) over families `family_ids[i]` at
    /// `family_strengths[i]`, in `mode` ("concept", "keep-error" or "rebuild").
    /// Returns `{features, edits, cosine, hits}`.
    #[wasm_bindgen(js_name = steeredSearch)]
    #[allow(clippy::too_many_arguments)]
    pub async fn steered_search(
        &self,
        vector: Vec<f32>,
        edit_features: Vec<u32>,
        edit_values: Vec<f32>,
        family_ids: Vec<u32>,
        family_strengths: Vec<f32>,
        mode: &str,
        k: u32,
    ) -> Result<JsValue, JsError> {
        let mode = SteerMode::parse(mode).map_err(js_err)?;
        if edit_features.len() != edit_values.len() || family_ids.len() != family_strengths.len() {
            return Err(JsError::new("each edited feature and family needs one value"));
        }
        let steering = Steering {
            edits: edit_features.into_iter().zip(edit_values).collect(),
            families: family_ids.into_iter().map(|id| id as usize).zip(family_strengths).collect(),
        };
        to_js(&self.explorer.steered_search(&vector, &steering, mode, k as usize).await.map_err(js_err)?)
    }

    /// How the SAE reads `vector` keeping `k` latents (0: the SAE's own k): every number of the
    /// classroom explainer (`saescope_interp::explain`, the same as `saescope explain`).
    pub fn explain(&self, vector: Vec<f32>, k: u32) -> Result<JsValue, JsError> {
        let k = (k > 0).then_some(k as usize);
        to_js(&explain::explain(self.explorer.sae(), &vector, k).map_err(js_err)?)
    }

    /// The `n` nearest and farthest features of `feature` by decoder cosine:
    /// `{nearest: [{feature, cosine}], farthest: [...]}`.
    #[wasm_bindgen(js_name = decoderNeighbors)]
    pub fn decoder_neighbors(&self, feature: u32, n: u32) -> Result<JsValue, JsError> {
        to_js(&explore::decoder_neighbors(self.explorer.sae(), feature, n as usize).map_err(js_err)?)
    }

    /// How often `feature` fires, and the `n` features that fire most often with it:
    /// `{documents, with: [{feature, together, share}]}`.
    #[wasm_bindgen(js_name = coFiring)]
    pub fn co_firing(&self, feature: u32, n: u32) -> Result<JsValue, JsError> {
        let (documents, with) =
            explore::co_firing(self.explorer.codes().map_err(js_err)?, feature, n as usize).map_err(js_err)?;
        to_js(&CoFiringResult { documents, with })
    }

    /// k-means of the documents on the engine over `space` ("embeddings", "codes", or "codes"
    /// along the chosen `features`), each cluster named by its over-represented features:
    /// `{clusters: [{size, features: [{feature, rate, rest_rate}], examples}], inertia,
    /// iterations, clustered}`.
    pub async fn cluster(
        &self,
        space: &str,
        clusters: u32,
        features: Vec<u32>,
        iterations: u32,
        seed: u32,
    ) -> Result<JsValue, JsError> {
        let space = ClusterSpace::parse(space, features).map_err(js_err)?;
        to_js(
            &self
                .explorer
                .cluster(&space, clusters as usize, iterations as usize, seed as u64)
                .await
                .map_err(js_err)?,
        )
    }

    /// The documents' 2D map, `x0, y0, x1, y1, ...` in document order, or `undefined` when
    /// there is none (see [`Scope::layout_problem`]).
    pub fn layout(&self) -> Option<Vec<f32>> {
        self.layout.as_ref().map(|m| m.data.clone())
    }

    /// Why there is no map, or `undefined` when there is one.
    #[wasm_bindgen(js_name = layoutProblem)]
    pub fn layout_problem(&self) -> Option<String> {
        self.layout.is_none().then(|| self.layout_problem.clone()).flatten()
    }

    /// Lays the documents out here (UMAP with umap-learn's defaults, `seed`), telling
    /// `on_progress({stage, done, total})` as it goes, and keeps the map for selections.
    /// Returns it as [`Scope::layout`] does.
    #[wasm_bindgen(js_name = computeLayout)]
    pub fn compute_layout(&mut self, seed: u32, on_progress: &js_sys::Function) -> Result<Vec<f32>, JsError> {
        let points = self.explorer.corpus().to_matrix();
        let params = UmapParams { seed: seed as u64, ..Default::default() };
        let mut last = (String::new(), usize::MAX);
        let layout = umap(&points, &params, &mut |p| {
            // At most ~100 messages per stage.
            let step = (p.total / 100).max(1);
            if p.stage != last.0 || p.done / step != last.1 || p.done == p.total {
                last = (p.stage.to_owned(), p.done / step);
                let message = to_js(&LayoutStep { stage: p.stage, done: p.done, total: p.total });
                if let Ok(message) = message {
                    let _ = on_progress.call1(&JsValue::NULL, &message);
                }
            }
        })
        .map_err(js_err)?;
        let data = layout.data.clone();
        self.layout = Some(layout);
        Ok(data)
    }

    /// Each document's activation of `feature` (0 where it does not fire), to colour the map.
    #[wasm_bindgen(js_name = featureActivations)]
    pub fn feature_activations(&self, feature: u32) -> Result<Vec<f32>, JsError> {
        selection::feature_column(self.explorer.codes().map_err(js_err)?, feature).map_err(js_err)
    }

    /// Each document's summed activation of family `family`'s members (0 where none fires).
    #[wasm_bindgen(js_name = familyActivations)]
    pub fn family_activations(&self, family: u32) -> Result<Vec<f32>, JsError> {
        let members = self.explorer.family_members(family as usize).map_err(js_err)?;
        selection::family_column(self.explorer.codes().map_err(js_err)?, members).map_err(js_err)
    }

    /// The documents inside `polygon` (`x0, y0, x1, y1, ...` in layout units), ascending.
    #[wasm_bindgen(js_name = selectPolygon)]
    pub fn select_polygon(&self, polygon: Vec<f32>) -> Result<Vec<u32>, JsError> {
        let layout = self.layout.as_ref().ok_or_else(|| JsError::new("there is no map to select on"))?;
        if !polygon.len().is_multiple_of(2) {
            return Err(JsError::new("a polygon is a list of x, y pairs"));
        }
        let corners: Vec<[f32; 2]> = polygon.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
        selection::inside_polygon(layout, &corners).map_err(js_err)
    }

    /// The `n` features most over-represented in `docs` against the other documents:
    /// `{selected, rest, tested, features: [{feature, inside, outside, rate_inside,
    /// rate_outside, log_odds, lower, q_value, significant}]}`.
    pub fn enrich(&self, docs: Vec<u32>, n: u32) -> Result<JsValue, JsError> {
        to_js(&selection::enrich(self.explorer.codes().map_err(js_err)?, &docs, n as usize).map_err(js_err)?)
    }

    /// `feature`'s activation in each of `docs` (0 where it does not fire).
    #[wasm_bindgen(js_name = activationsIn)]
    pub fn activations_in(&self, feature: u32, docs: Vec<u32>) -> Result<Vec<f32>, JsError> {
        explore::activations_in(self.explorer.codes().map_err(js_err)?, feature, &docs).map_err(js_err)
    }
}

/// The TypeScript declarations of every value this API returns, generated from the Rust types
/// into `web/engine-types.d.ts` (the page's type check reads them; wasm-bindgen declares the
/// functions). Run with `SAESCOPE_WRITE_TYPES=1` to rewrite the file after changing a type.
#[cfg(test)]
mod typescript {
    use super::*;
    use ts_rs::{Config, TS};

    fn declarations() -> String {
        // Numbers reach JavaScript as numbers (serde_wasm_bindgen's JSON-compatible mode), never
        // as bigint.
        let cfg = Config::new().with_large_int("number");
        let decls = [
            Info::decl(&cfg),
            SelfTestCase::decl(&cfg),
            CoarseSplit::decl(&cfg),
            CoFiringResult::decl(&cfg),
            LayoutStep::decl(&cfg),
            saescope_format::manifest::Manifest::decl(&cfg),
            saescope_format::manifest::FileEntry::decl(&cfg),
            saescope_format::manifest::Role::decl(&cfg),
            saescope_format::manifest::EmbeddingInfo::decl(&cfg),
            saescope_format::manifest::EmbedderInfo::decl(&cfg),
            saescope_format::manifest::SaeInfo::decl(&cfg),
            saescope_format::manifest::CoarseSaeInfo::decl(&cfg),
            saescope_format::manifest::TextShards::decl(&cfg),
            saescope_format::documents::Document::decl(&cfg),
            saescope_format::features::FeaturesFile::decl(&cfg),
            saescope_core::metrics::Metrics::decl(&cfg),
            saescope_core::metrics::FeatureStats::decl(&cfg),
            saescope_core::metrics::Histogram::decl(&cfg),
            saescope_core::metrics::DensityHistogram::decl(&cfg),
            saescope_interp::catalog::Catalog::decl(&cfg),
            saescope_interp::labels::FeatureLabel::decl(&cfg),
            saescope_interp::labels::ScoreDetail::decl(&cfg),
            saescope_interp::labels::Scores::decl(&cfg),
            saescope_interp::labels::Predictor::decl(&cfg),
            saescope_interp::families::FamiliesFile::decl(&cfg),
            saescope_interp::families::Family::decl(&cfg),
            saescope_interp::families::FamilyParams::decl(&cfg),
            saescope_interp::families::NodeSet::decl(&cfg),
            saescope_interp::families::FamilyMethod::decl(&cfg),
            saescope_interp::families::FamilyStats::decl(&cfg),
            saescope_interp::families::Coherence::decl(&cfg),
            saescope_interp::explorer::SteeredSearch::decl(&cfg),
            saescope_interp::explorer::Feature::decl(&cfg),
            saescope_interp::explorer::Hit::decl(&cfg),
            saescope_interp::explorer::NamedClusters::decl(&cfg),
            saescope_interp::explore::ClusterSummary::decl(&cfg),
            saescope_interp::explore::Overrepresented::decl(&cfg),
            saescope_interp::explore::Neighbors::decl(&cfg),
            saescope_interp::explore::Neighbor::decl(&cfg),
            saescope_interp::explore::CoFiring::decl(&cfg),
            saescope_interp::selection::Enrichment::decl(&cfg),
            saescope_interp::explain::Explanation::decl(&cfg),
            saescope_interp::explain::KeptFeature::decl(&cfg),
            saescope_interp::selection::EnrichedFeature::decl(&cfg),
            workshop::CorpusSummary::decl(&cfg),
            saescope_format::corpus::Skipped::decl(&cfg),
            workshop::TrainSettings::decl(&cfg),
            workshop::TrainEngine::decl(&cfg),
            workshop::TrainingPlan::decl(&cfg),
            workshop::StepPoint::decl(&cfg),
            workshop::TrainingProgress::decl(&cfg),
            workshop::TrainingResult::decl(&cfg),
            saescope_pipeline::training::EpochLog::decl(&cfg),
        ];
        let mut out = String::from(
            "// Generated from the Rust types by `cargo test -p saescope-wasm` (crates/wasm/src/lib.rs,\n\
             // mod typescript); do not edit. The values the engine hands the page, as serde writes them.\n\n",
        );
        for decl in decls {
            out.push_str("export ");
            out.push_str(&decl);
            out.push_str("\n\n");
        }
        out
    }

    #[test]
    fn the_page_declarations_match_the_rust_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/engine-types.d.ts");
        let want = declarations();
        if std::env::var_os("SAESCOPE_WRITE_TYPES").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is out of date with the Rust types: run `SAESCOPE_WRITE_TYPES=1 cargo test -p saescope-wasm` and commit it",
            path.display()
        );
    }
}
