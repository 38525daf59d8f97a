//! The compute interface every backend implements (burn-style: one trait, one shared test suite).
//!
//! [`CpuBackend`] is the reference: plain Rust, the same on every platform. `saescope-gpu`'s
//! `GpuBackend` implements the same methods with WGSL kernels. Methods are `async` because GPU
//! work is; native callers use `pollster::block_on`.

use crate::codes::SparseCodes;
use crate::cooccurrence::{self, Cooccurrence};
use crate::error::Result;
use crate::kmeans::{self, Assignment, Metric, Points};
use crate::matrix::Matrix;
use crate::sae::Sae;
use crate::search::{self, Corpus, Hits};
use crate::train::{StepStats, TrainState};
use std::sync::Arc;

// The futures need not be Send: wasm is single-threaded and native callers block on them.
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// An SAE resident on the device.
    type Sae;
    /// A corpus resident on the device.
    type Corpus;

    /// One line saying what runs the math (adapter name, or "CPU").
    fn describe(&self) -> String;

    async fn upload_sae(&self, sae: &Arc<Sae>) -> Result<Self::Sae>;
    /// Top-k codes of each row of `x` (`[rows, d_in]`).
    async fn encode(&self, sae: &Self::Sae, x: &Matrix) -> Result<SparseCodes>;
    /// Reconstructions `z W_dec + b_dec`, `[rows, d_in]`.
    async fn decode(&self, sae: &Self::Sae, codes: &SparseCodes) -> Result<Matrix>;

    /// A training state resident on the device: parameters, Adam moments, dead-latent counters.
    type Training;
    /// Puts `state` on the device (fresh from [`TrainState::init`], or read back earlier).
    async fn train_begin(&self, state: &TrainState) -> Result<Self::Training>;
    /// One whole training step on `batch` (see [`crate::train::reference_step`], which every
    /// backend must match): only the batch goes in and only its statistics come out.
    async fn train_step(&self, training: &mut Self::Training, batch: &Matrix) -> Result<StepStats>;
    /// Reads the whole state back.
    async fn train_read(&self, training: &Self::Training) -> Result<TrainState>;

    async fn upload_corpus(&self, corpus: &Arc<Corpus>) -> Result<Self::Corpus>;
    /// The `k` highest dot products of each query with the corpus.
    async fn search(&self, corpus: &Self::Corpus, queries: &Matrix, k: usize) -> Result<Hits>;

    /// Points resident on the device, for the repeated assignment steps of k-means.
    type Points<'a>;
    async fn upload_points<'a>(&self, points: Points<'a>) -> Result<Self::Points<'a>>;
    /// The k-means assignment step: each point's nearest centroid.
    async fn assign(&self, points: &Self::Points<'_>, centroids: &Matrix, metric: Metric) -> Result<Assignment>;

    /// Feature co-occurrence `C = A^T A` of the binarised codes (see [`crate::cooccurrence`]).
    async fn cooccurrence(&self, codes: &SparseCodes) -> Result<Cooccurrence>;
}

/// The CPU reference backend.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl Backend for CpuBackend {
    type Sae = Arc<Sae>;
    type Corpus = Arc<Corpus>;

    fn describe(&self) -> String {
        "CPU (saescope-core reference)".into()
    }

    async fn upload_sae(&self, sae: &Arc<Sae>) -> Result<Arc<Sae>> {
        Ok(sae.clone())
    }

    async fn encode(&self, sae: &Arc<Sae>, x: &Matrix) -> Result<SparseCodes> {
        sae.encode(x)
    }

    async fn decode(&self, sae: &Arc<Sae>, codes: &SparseCodes) -> Result<Matrix> {
        sae.decode(codes)
    }

    type Training = TrainState;

    async fn train_begin(&self, state: &TrainState) -> Result<TrainState> {
        state.validate()?;
        Ok(state.clone())
    }

    async fn train_step(&self, training: &mut TrainState, batch: &Matrix) -> Result<StepStats> {
        crate::train::reference_step(training, batch)
    }

    async fn train_read(&self, training: &TrainState) -> Result<TrainState> {
        Ok(training.clone())
    }

    async fn upload_corpus(&self, corpus: &Arc<Corpus>) -> Result<Arc<Corpus>> {
        Ok(corpus.clone())
    }

    async fn search(&self, corpus: &Arc<Corpus>, queries: &Matrix, k: usize) -> Result<Hits> {
        search::search(corpus, queries, k)
    }

    type Points<'a> = kmeans::NormedPoints<'a>;

    async fn upload_points<'a>(&self, points: Points<'a>) -> Result<kmeans::NormedPoints<'a>> {
        Ok(kmeans::NormedPoints::new(points))
    }

    async fn assign(&self, points: &Self::Points<'_>, centroids: &Matrix, metric: Metric) -> Result<Assignment> {
        kmeans::assign_normed(points, centroids, metric)
    }

    async fn cooccurrence(&self, codes: &SparseCodes) -> Result<Cooccurrence> {
        cooccurrence::cooccurrence(codes)
    }
}
