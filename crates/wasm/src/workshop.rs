//! The workshop's JS API: a corpus of the visitor's own, read, embedded (by the page's pool of
//! embedding workers, or imported), trained on, analysed and assembled into a bundle, all with
//! the code `saescope build` runs (`saescope-pipeline`). Marshals only.

use crate::{js_err, to_js, LayoutStep};
use saescope_core::metrics::feature_stats;
use saescope_core::train::TrainConfig;
use saescope_core::CpuBackend;
use saescope_core::{Backend, CooccurrenceOps, Matrix, Sae};
use saescope_embed::Embedder;
use saescope_format::corpus::{self, embedding_text, CorpusRead};
use saescope_format::documents::Document;
use saescope_format::manifest::{Manifest, Role};
use saescope_format::prelude::*;
use saescope_gpu::AnyBackend;
use saescope_interp::families::FamilyParams;
use saescope_interp::labels::{CleanFilter, LabelConfig};
use saescope_pipeline::analyse::{self, Progress};
use saescope_pipeline::assemble::{self, BundleParts, EmbedderFiles};
use saescope_pipeline::limits;
use saescope_pipeline::training::{self, EpochLog, TrainingSession};
use serde::{Deserialize, Serialize};
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;

/// The share of documents held out to measure the trained SAE (as `saescope build` does).
const HOLDOUT: f64 = 0.1;

fn embed_with(embedder: &Embedder, texts: &[String]) -> saescope_pipeline::Result<Matrix> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    Ok(embedder.embed(&refs)?)
}

/// What was read from a corpus file.
#[derive(Serialize, ts_rs::TS)]
pub(crate) struct CorpusSummary {
    name: String,
    documents: usize,
    /// Records in the file, skipped ones included.
    records: usize,
    skipped: usize,
    /// The first skipped records, with why.
    skipped_examples: Vec<corpus::Skipped>,
    /// The first documents, as read.
    preview: Vec<Document>,
}

/// The settings the visitor can change, with the defaults for the corpus's size
/// (`saescope_pipeline::training::small_corpus_config`).
#[derive(Serialize, Deserialize, ts_rs::TS)]
pub(crate) struct TrainSettings {
    k: usize,
    latents: usize,
    epochs: usize,
    lr: f32,
    batch: usize,
    engine: TrainEngine,
}

/// What trains the SAE: the page's engine, or the CPU path (the default where the engine is a
/// software GPU, which trains ~100x slower than the CPU path: BENCHMARKS.md, workshop).
#[derive(Clone, Copy, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TrainEngine {
    Gpu,
    Cpu,
}

/// A training run as it starts.
#[derive(Serialize, ts_rs::TS)]
pub(crate) struct TrainingPlan {
    train_rows: usize,
    validation_rows: usize,
    steps_per_epoch: usize,
    total_steps: usize,
}

/// One optimiser step, for the live plots.
#[derive(Serialize, ts_rs::TS)]
pub(crate) struct StepPoint {
    step: usize,
    epoch: usize,
    nmse: f64,
    aux_loss: f64,
    dead_fraction: f64,
    l0: f64,
}

/// What a call to [`Workshop::train`] did.
#[derive(Serialize, ts_rs::TS)]
pub(crate) struct TrainingProgress {
    steps: Vec<StepPoint>,
    /// Epochs that ended in these steps.
    epochs: Vec<EpochLog>,
    steps_done: usize,
    total_steps: usize,
    done: bool,
}

/// The trained (or imported) SAE on the held-out documents.
#[derive(Serialize, ts_rs::TS)]
pub(crate) struct TrainingResult {
    validation_nmse: f64,
    epochs: usize,
    steps: usize,
}

/// The query embedder: loaded (it embeds the labels) and its bundle files (the workshop's
/// bundle carries them, so typed queries work on it).
struct Model {
    embedder: Embedder,
    files: EmbedderFiles,
}

/// A corpus on its way to a bundle, in this tab.
#[wasm_bindgen]
pub struct Workshop {
    backend: Rc<AnyBackend>,
    corpus: Option<(String, CorpusRead)>,
    embeddings: Option<Matrix>,
    /// The file the embeddings were imported from; `None` when the page's workers made them.
    imported_from: Option<String>,
    model: Option<Model>,
    session: Option<TrainingSession<AnyBackend>>,
    /// What the session trains on (see [`TrainEngine`]).
    trainer: Rc<AnyBackend>,
    /// The SAE to analyse with: trained here, or imported; and its training log.
    sae: Option<(Sae, Vec<u8>)>,
}

fn now_seconds() -> f64 {
    js_sys::Date::now() / 1000.0
}

impl Workshop {
    pub(crate) fn new(backend: Rc<AnyBackend>) -> Workshop {
        Workshop {
            trainer: backend.clone(),
            backend,
            corpus: None,
            embeddings: None,
            imported_from: None,
            model: None,
            session: None,
            sae: None,
        }
    }

    fn documents(&self) -> Result<&[Document], JsError> {
        match &self.corpus {
            Some((_, read)) => Ok(&read.documents),
            None => Err(JsError::new("read a corpus first")),
        }
    }

    fn embeddings(&self) -> Result<&Matrix, JsError> {
        self.embeddings.as_ref().ok_or_else(|| JsError::new("embed the documents (or import their embeddings) first"))
    }

    /// Refuses an SAE whose input width differs from the embeddings'.
    fn check_sae_fits(&self, sae: &Sae) -> Result<(), JsError> {
        match &self.embeddings {
            Some(e) if e.cols != sae.d_in => Err(JsError::new(&format!(
                "the SAE reads {}-dimensional embeddings (d_in = {}), but the embeddings are {}-dimensional",
                sae.d_in, sae.d_in, e.cols
            ))),
            _ => Ok(()),
        }
    }
}

#[wasm_bindgen]
impl Workshop {
    /// Refuses, before the page reads it, a corpus file too large for a tab.
    #[wasm_bindgen(js_name = checkFileSize)]
    pub fn check_file_size(name: &str, bytes: f64) -> Result<(), JsError> {
        limits::check_corpus_bytes(name, bytes as u64).map_err(js_err)
    }

    /// Reads a corpus (JSON Lines, CSV or plain text by the file name's ending; plain or gzip),
    /// with `saescope build`'s rules: `{name, documents, records, skipped, skipped_examples,
    /// preview}`. Forgets any earlier corpus, embeddings and SAE.
    #[wasm_bindgen(js_name = readCorpus)]
    pub fn read_corpus(&mut self, name: &str, bytes: &[u8]) -> Result<JsValue, JsError> {
        let read = limits::read_corpus(name, bytes).map_err(js_err)?;
        let summary = CorpusSummary {
            name: name.into(),
            documents: read.documents.len(),
            records: read.total_records,
            skipped: read.skipped.len(),
            skipped_examples: read.skipped.iter().take(20).cloned().collect(),
            preview: read.documents.iter().take(5).cloned().collect(),
        };
        self.corpus = Some((name.into(), read));
        self.embeddings = None;
        self.imported_from = None;
        self.session = None;
        self.sae = None;
        to_js(&summary)
    }

    /// The text each document is embedded as (title and abstract), in order.
    pub fn texts(&self) -> Result<Vec<String>, JsError> {
        Ok(self.documents()?.iter().map(embedding_text).collect())
    }

    /// The documents' embeddings, made by the page's embedding workers: `dim` values per
    /// document, in order.
    #[wasm_bindgen(js_name = setEmbeddings)]
    pub fn set_embeddings(&mut self, data: Vec<f32>, dim: u32) -> Result<(), JsError> {
        let rows = self.documents()?.len();
        let dim = dim as usize;
        if dim == 0 || data.len() != rows.saturating_mul(dim) {
            return Err(JsError::new(&format!("{} values are not {rows} documents of {dim} dimensions", data.len())));
        }
        let m = Matrix::new(rows, dim, data).map_err(js_err)?;
        m.check_finite("the embeddings").map_err(js_err)?;
        self.embeddings = Some(m);
        self.imported_from = None;
        Ok(())
    }

    /// Embeddings made elsewhere (an `.npy` of `[documents, dim]`, or one row per record of the
    /// file, skipped ones included): `[rows, dim]`.
    #[wasm_bindgen(js_name = importEmbeddings)]
    pub fn import_embeddings(&mut self, name: &str, bytes: &[u8]) -> Result<Vec<u32>, JsError> {
        let Some((_, read)) = &self.corpus else { return Err(JsError::new("read a corpus first")) };
        let m = saescope_format::npy::read_matrix(bytes).map_err(|e| JsError::new(&format!("{name}: {e}")))?;
        let m = assemble::align_embeddings(m, &read.records, read.total_records, name).map_err(js_err)?;
        m.check_finite(name).map_err(js_err)?;
        if let Some((sae, _)) = &self.sae {
            if sae.d_in != m.cols {
                return Err(JsError::new(&format!(
                    "{name} has {}-dimensional rows, but the imported SAE reads {} dimensions",
                    m.cols, sae.d_in
                )));
            }
        }
        let shape = vec![m.rows as u32, m.cols as u32];
        self.embeddings = Some(m);
        self.imported_from = Some(name.into());
        Ok(shape)
    }

    /// An SAE trained elsewhere, in the SAELens layout (`cfg.json` and safetensors weights):
    /// used instead of training one. Returns `[d_in, d_sae, k]`.
    #[wasm_bindgen(js_name = importSaelens)]
    pub fn import_saelens(&mut self, cfg_json: &[u8], weights: &[u8]) -> Result<Vec<u32>, JsError> {
        let sae = Sae::from_saelens(cfg_json, weights).map_err(js_err)?;
        self.use_sae(sae, b"{\"imported\": \"SAELens layout\"}".to_vec())
    }

    /// An SAE in the paper's `.pth` layout, with its `k` (the file does not record it).
    #[wasm_bindgen(js_name = importPth)]
    pub fn import_pth(&mut self, bytes: &[u8], k: u32) -> Result<Vec<u32>, JsError> {
        let paper = saescope_format::pth::read_paper_sae(bytes, k as usize).map_err(js_err)?;
        let log = serde_json::json!({ "imported": "the paper's .pth layout", "dtype": paper.source_dtype });
        self.use_sae(paper.sae, log.to_string().into_bytes())
    }

    fn use_sae(&mut self, sae: Sae, log: Vec<u8>) -> Result<Vec<u32>, JsError> {
        self.check_sae_fits(&sae)?;
        let shape = vec![sae.d_in as u32, sae.d_sae as u32, sae.k as u32];
        self.session = None;
        self.sae = Some((sae, log));
        Ok(shape)
    }

    /// The query embedder, from a bundle that carries one (its manifest verifies the files):
    /// it embeds the labels for scoring, and the workshop's bundle carries it for typed queries.
    #[wasm_bindgen(js_name = setModel)]
    pub fn set_model(
        &mut self,
        manifest_json: &[u8],
        weights: Vec<u8>,
        tokenizer: Vec<u8>,
        config: Vec<u8>,
    ) -> Result<(), JsError> {
        let manifest = Manifest::parse(manifest_json).map_err(js_err)?;
        let embedder = Embedder::from_bundle(&manifest, &weights, &tokenizer, &config).map_err(js_err)?;
        let info = manifest.embedder.clone().ok_or_else(|| JsError::new("the manifest lists no embedder"))?;
        let path = |role: Role| -> Result<String, JsError> {
            manifest
                .files
                .iter()
                .find(|f| f.role == role)
                .map(|f| f.path.clone())
                .ok_or_else(|| JsError::new(&format!("the manifest lists no {role:?} file")))
        };
        let files = vec![
            (path(Role::EmbedderWeights)?, Role::EmbedderWeights, weights),
            (path(Role::EmbedderTokenizer)?, Role::EmbedderTokenizer, tokenizer),
            (path(Role::EmbedderConfig)?, Role::EmbedderConfig, config),
        ];
        self.model = Some(Model { embedder, files: EmbedderFiles { files, info } });
        Ok(())
    }

    /// The training settings suited to this corpus's size (see the pipeline's reasoning).
    #[wasm_bindgen(js_name = defaultSettings)]
    pub fn default_settings(&self) -> Result<JsValue, JsError> {
        let c = training::small_corpus_config(self.documents()?.len());
        let engine = if self.backend.kind() == "gpu" && !self.backend.is_software() {
            TrainEngine::Gpu
        } else {
            TrainEngine::Cpu
        };
        to_js(&TrainSettings { k: c.k, latents: c.latents, epochs: c.epochs, lr: c.lr, batch: c.batch, engine })
    }

    /// Starts training a fresh SAE with `settings` on the engine (WebGPU or the CPU path),
    /// holding out a tenth of the documents: `{train_rows, validation_rows, steps_per_epoch,
    /// total_steps}`.
    #[wasm_bindgen(js_name = beginTraining)]
    pub async fn begin_training(&mut self, settings: JsValue) -> Result<JsValue, JsError> {
        let s: TrainSettings = serde_wasm_bindgen::from_value(settings).map_err(js_err)?;
        let config = TrainConfig {
            k: s.k,
            latents: s.latents,
            epochs: s.epochs,
            lr: s.lr,
            batch: s.batch,
            ..TrainConfig::default()
        };
        if !(config.lr.is_finite() && config.lr > 0.0) {
            return Err(JsError::new(&format!("the learning rate must be a positive number, got {}", config.lr)));
        }
        self.session = None;
        self.sae = None;
        self.trainer = match s.engine {
            TrainEngine::Gpu => self.backend.clone(),
            TrainEngine::Cpu => Rc::new(AnyBackend::Cpu(CpuBackend)),
        };
        let session = TrainingSession::new(&*self.trainer, self.embeddings()?, config, HOLDOUT, now_seconds())
            .await
            .map_err(js_err)?;
        let plan = TrainingPlan {
            train_rows: session.train_rows(),
            validation_rows: session.validation_rows(),
            steps_per_epoch: session.steps_per_epoch(),
            total_steps: session.total_steps(),
        };
        self.session = Some(session);
        to_js(&plan)
    }

    /// Runs training steps until `max_steps` are done, `budget_ms` has passed, or the run ends:
    /// the page calls this again and again (pausing is not calling). A divergence is an error
    /// naming the step; the last SAE that was whole stays for [`Self::finish_training`].
    pub async fn train(&mut self, max_steps: u32, budget_ms: f64) -> Result<JsValue, JsError> {
        let session = self.session.as_mut().ok_or_else(|| JsError::new("start training first"))?;
        let started = js_sys::Date::now();
        let mut progress =
            TrainingProgress { steps: Vec::new(), epochs: Vec::new(), steps_done: 0, total_steps: 0, done: false };
        while !session.is_done()
            && progress.steps.len() < max_steps as usize
            && js_sys::Date::now() - started < budget_ms
        {
            let step = session.step(&*self.trainer, now_seconds()).await.map_err(js_err)?;
            let s = step.stats;
            progress.steps.push(StepPoint {
                step: step.step,
                epoch: step.epoch,
                nmse: s.nmse,
                aux_loss: s.aux_loss,
                dead_fraction: s.dead_fraction,
                l0: s.l0,
            });
            progress.epochs.extend(step.epoch_log);
        }
        progress.steps_done = session.steps_done();
        progress.total_steps = session.total_steps();
        progress.done = session.is_done();
        to_js(&progress)
    }

    /// Ends training (all epochs, or stopped early, or diverged: then the last whole SAE) and
    /// measures the SAE on the held-out documents.
    #[wasm_bindgen(js_name = finishTraining)]
    pub async fn finish_training(&mut self) -> Result<JsValue, JsError> {
        let session = self.session.as_ref().ok_or_else(|| JsError::new("start training first"))?;
        let (sae, nmse) = session.finish(&*self.trainer).await.map_err(js_err)?;
        let log = session.log_json(self.trainer.kind(), &self.trainer.describe()).map_err(js_err)?;
        let result = TrainingResult { validation_nmse: nmse, epochs: session.log().len(), steps: session.steps_done() };
        self.sae = Some((sae, log));
        to_js(&result)
    }

    /// The embedding model the bundle declares and the query embedder it carries (which also
    /// scores the labels). The page's workers embed with the embedder itself; imported
    /// embeddings may be any model's, so the embedder is used only if it reproduces a sample of
    /// them (queries in another model's space would find nonsense).
    fn query_model(
        &self,
        docs: &[Document],
        embeddings: &Matrix,
    ) -> saescope_pipeline::Result<(String, Option<&Model>)> {
        let Some(file) = &self.imported_from else {
            return Ok((saescope_embed::MODEL_ID.into(), self.model.as_ref()));
        };
        let unknown = format!("unknown (embeddings imported from {file})");
        let Some(model) = &self.model else { return Ok((unknown, None)) };
        let same =
            analyse::is_same_model(&mut |texts: &[String]| embed_with(&model.embedder, texts), docs, embeddings)?;
        Ok(if same { (saescope_embed::MODEL_ID.into(), Some(model)) } else { (unknown, None) })
    }

    /// Encodes every document, computes feature statistics, the map, labels (scored with the
    /// embedder when there is one) and families, reporting `{stage, done, total}` to
    /// `on_progress`, and assembles the bundle: `{manifest, paths, contents}` (bytes).
    pub async fn build(&self, name: String, on_progress: js_sys::Function) -> Result<JsValue, JsError> {
        let (source, read) = self.corpus.as_ref().ok_or_else(|| JsError::new("read a corpus first"))?;
        let (sae, training_log) = self.sae.as_ref().ok_or_else(|| JsError::new("train (or import) an SAE first"))?;
        self.check_sae_fits(sae)?;
        let docs = &read.documents;
        let embeddings = self.embeddings()?;
        if embeddings.rows != docs.len() {
            return Err(JsError::new(&format!("{} embeddings for {} documents", embeddings.rows, docs.len())));
        }
        let mut report = |p: Progress| {
            if let Ok(step) = to_js(&LayoutStep { stage: p.stage, done: p.done, total: p.total }) {
                let _ = on_progress.call1(&JsValue::NULL, &step);
            }
        };
        let sae = Arc::new(sae.clone());
        let stored = assemble::stored_embeddings(embeddings, saescope_core::search::Precision::F16);
        let as_read = stored.to_matrix();
        let (codes, metrics) =
            analyse::encode_all(&*self.backend, &sae, &as_read, &mut report).await.map_err(js_err)?;
        let codes = assemble::stored_codes(&codes).map_err(js_err)?;
        let stats = feature_stats(&codes, 20, 20);
        let seed = 0;
        let layout = analyse::compute_layout(&as_read, seed, &mut report).map_err(js_err)?;
        let layout = assemble::layout_npy(&layout, docs.len()).map_err(js_err)?;
        drop(as_read);
        let (model, query_model) = self.query_model(docs, embeddings).map_err(js_err)?;
        let mut embed = query_model
            .map(|m| move |texts: &[String]| -> saescope_pipeline::Result<Matrix> { embed_with(&m.embedder, texts) });
        let clean = CleanFilter::default();
        let labels = analyse::compute_labels(
            docs,
            &codes,
            &stored,
            embed.as_mut().map(|f| f as analyse::EmbedTexts),
            LabelConfig { seed, ..Default::default() },
            &clean,
            &mut report,
        )
        .map_err(js_err)?;
        let label_embeddings = match embed.as_mut() {
            Some(embed) => {
                let embedded =
                    analyse::label_embeddings(&labels, sae.d_sae, sae.d_in, embed, &mut report).map_err(js_err)?;
                Some(assemble::label_embeddings_npy(&embedded).map_err(js_err)?)
            }
            None => None,
        };
        report(Progress { stage: "co-occurrence", done: 0, total: 1 });
        let cooc = self.backend.cooccurrence(&codes).await.map_err(js_err)?;
        let params = FamilyParams { max_density: clean.max_density, ..FamilyParams::default() };
        let families = analyse::compute_families(&cooc, &labels, &sae, params, &mut report).map_err(js_err)?;
        report(Progress { stage: "assemble", done: 0, total: 1 });
        let description = assemble::description(docs.len(), source, &sae, training_log, &metrics);
        let bundle = assemble::assemble(BundleParts {
            name: &name,
            description: &description,
            model: &model,
            sae: &sae,
            training_log: training_log.clone(),
            coarse: &[],
            stored: &stored,
            codes: &codes,
            metrics,
            stats,
            labels_json: serde_json::to_vec(&labels).map_err(js_err)?,
            families_json: serde_json::to_vec(&families).map_err(js_err)?,
            documents: docs,
            layout: Some(layout),
            label_embeddings,
            embedder: query_model.map(|m| EmbedderFiles { files: m.files.files.clone(), info: m.files.info.clone() }),
        })
        .map_err(js_err)?;
        let (manifest, files) = bundle.finish();
        files_to_js(&manifest.to_json(), files)
    }
}

/// `{manifest, paths, contents}` for the page: the manifest's bytes, and each file's path and
/// bytes in the same order.
pub(crate) fn files_to_js(manifest: &[u8], files: Vec<(String, Vec<u8>)>) -> Result<JsValue, JsError> {
    let paths = js_sys::Array::new();
    let contents = js_sys::Array::new();
    for (path, bytes) in files {
        paths.push(&JsValue::from_str(&path));
        contents.push(&js_sys::Uint8Array::from(&bytes[..]));
    }
    let out = js_sys::Object::new();
    let set = |key: &str, value: &JsValue| js_sys::Reflect::set(&out, &JsValue::from_str(key), value).map(|_| ());
    set("manifest", &js_sys::Uint8Array::from(manifest).into())
        .map_err(|_| JsError::new("cannot hand the bundle over"))?;
    set("paths", &paths.into()).map_err(|_| JsError::new("cannot hand the bundle over"))?;
    set("contents", &contents.into()).map_err(|_| JsError::new("cannot hand the bundle over"))?;
    Ok(out.into())
}

/// A bundle as one zip (stored entries): the manifest's bytes, and each file's path and bytes.
#[wasm_bindgen(js_name = zipBundle)]
pub fn zip_bundle(manifest: &[u8], paths: Vec<String>, contents: js_sys::Array) -> Result<Vec<u8>, JsError> {
    if paths.len() != contents.length() as usize {
        return Err(JsError::new(&format!("{} paths for {} files", paths.len(), contents.length())));
    }
    let files: Vec<(String, Vec<u8>)> =
        paths.into_iter().zip(contents.iter()).map(|(p, c)| (p, js_sys::Uint8Array::new(&c).to_vec())).collect();
    saescope_format::archive::write_zip(manifest, &files).map_err(js_err)
}

/// The bundle in a zip (`saescope_format::archive::read_zip`): `{manifest, paths, contents}`.
#[wasm_bindgen(js_name = unzipBundle)]
pub fn unzip_bundle(bytes: &[u8]) -> Result<JsValue, JsError> {
    let (manifest, files) = saescope_format::archive::read_zip(bytes).map_err(js_err)?;
    files_to_js(&manifest, files)
}
