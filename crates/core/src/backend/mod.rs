//! The compute interface every backend implements, burn-style: one trait per capability, so a
//! driver asks only for what it uses (k-means needs [`ClusterOps`], training [`TrainOps`]), and
//! [`Backend`] for all of them. One shared test suite (`saescope-conformance`) holds every
//! backend to the same answers.
//!
//! [`CpuBackend`] is the reference: plain Rust, the same on every platform. `saescope-gpu`'s
//! `GpuBackend` implements the same traits with WGSL kernels. Methods are `async` because GPU
//! work is; native callers use `pollster::block_on`. The futures need not be `Send`: wasm is
//! single-threaded and native callers block on them.

mod cpu;

pub use cpu::CpuBackend;

use crate::codes::SparseCodes;
use crate::cooccurrence::Cooccurrence;
use crate::error::Result;
use crate::kmeans::{Assignment, Metric, Points};
use crate::matrix::Matrix;
use crate::sae::Sae;
use crate::search::{Corpus, Hits};
use crate::train::{StepStats, TrainState};
use std::sync::Arc;

/// Encoding and decoding with a resident SAE.
#[allow(async_fn_in_trait)]
pub trait EncodeOps {
    /// An SAE resident on the device.
    type Sae;
    async fn upload_sae(&self, sae: &Arc<Sae>) -> Result<Self::Sae>;
    /// Top-k codes of each row of `x` (`[rows, d_in]`).
    async fn encode(&self, sae: &Self::Sae, x: &Matrix) -> Result<SparseCodes>;
    /// Reconstructions `z W_dec + b_dec`, `[rows, d_in]`.
    async fn decode(&self, sae: &Self::Sae, codes: &SparseCodes) -> Result<Matrix>;
}

/// Whole SAE training steps on a resident state.
#[allow(async_fn_in_trait)]
pub trait TrainOps {
    /// A training state resident on the device: parameters, Adam moments, dead-latent counters.
    type Training;
    /// Puts `state` on the device (fresh from [`TrainState::init`], or read back earlier).
    async fn train_begin(&self, state: &TrainState) -> Result<Self::Training>;
    /// One whole training step on `batch` (see [`crate::train::reference_step`], which every
    /// backend must match): only the batch goes in and only its statistics come out.
    async fn train_step(&self, training: &mut Self::Training, batch: &Matrix) -> Result<StepStats>;
    /// Reads the whole state back.
    async fn train_read(&self, training: &Self::Training) -> Result<TrainState>;
}

/// Exact top-k inner-product search over a resident corpus.
#[allow(async_fn_in_trait)]
pub trait SearchOps {
    /// A corpus resident on the device.
    type Corpus;
    async fn upload_corpus(&self, corpus: &Arc<Corpus>) -> Result<Self::Corpus>;
    /// The `k` highest dot products of each query with the corpus.
    async fn search(&self, corpus: &Self::Corpus, queries: &Matrix, k: usize) -> Result<Hits>;
}

/// The k-means assignment step over resident points.
#[allow(async_fn_in_trait)]
pub trait ClusterOps {
    /// Points resident on the device, for the repeated assignment steps of k-means.
    type Points<'a>;
    async fn upload_points<'a>(&self, points: Points<'a>) -> Result<Self::Points<'a>>;
    /// The k-means assignment step: each point's nearest centroid.
    async fn assign(&self, points: &Self::Points<'_>, centroids: &Matrix, metric: Metric) -> Result<Assignment>;
}

/// Feature co-occurrence of binarised codes.
#[allow(async_fn_in_trait)]
pub trait CooccurrenceOps {
    /// `C = A^T A` of the binarised codes (see [`crate::cooccurrence`]).
    async fn cooccurrence(&self, codes: &SparseCodes) -> Result<Cooccurrence>;
}

/// A backend with every capability.
pub trait Backend: EncodeOps + TrainOps + SearchOps + ClusterOps + CooccurrenceOps {
    /// One line saying what runs the math (adapter name, or "CPU").
    fn describe(&self) -> String;
}
