//! The CPU reference backend: each operation is the plain-Rust reference of its module.

use super::{Backend, ClusterOps, CooccurrenceOps, EncodeOps, SearchOps, TrainOps};
use crate::codes::SparseCodes;
use crate::cooccurrence::{self, Cooccurrence};
use crate::error::Result;
use crate::kmeans::{self, Assignment, Metric, Points};
use crate::matrix::Matrix;
use crate::sae::Sae;
use crate::search::{self, Corpus, Hits};
use crate::train::{StepStats, TrainState};
use std::sync::Arc;

/// The CPU reference backend.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        "CPU (saescope-core reference)".into()
    }
}

impl EncodeOps for CpuBackend {
    type Sae = Arc<Sae>;

    async fn upload_sae(&self, sae: &Arc<Sae>) -> Result<Arc<Sae>> {
        Ok(sae.clone())
    }

    async fn encode(&self, sae: &Arc<Sae>, x: &Matrix) -> Result<SparseCodes> {
        sae.encode(x)
    }

    async fn decode(&self, sae: &Arc<Sae>, codes: &SparseCodes) -> Result<Matrix> {
        sae.decode(codes)
    }
}

impl TrainOps for CpuBackend {
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
}

impl SearchOps for CpuBackend {
    type Corpus = Arc<Corpus>;

    async fn upload_corpus(&self, corpus: &Arc<Corpus>) -> Result<Arc<Corpus>> {
        Ok(corpus.clone())
    }

    async fn search(&self, corpus: &Arc<Corpus>, queries: &Matrix, k: usize) -> Result<Hits> {
        search::search(corpus, queries, k)
    }
}

impl ClusterOps for CpuBackend {
    type Points<'a> = kmeans::NormedPoints<'a>;

    async fn upload_points<'a>(&self, points: Points<'a>) -> Result<kmeans::NormedPoints<'a>> {
        Ok(kmeans::NormedPoints::new(points))
    }

    async fn assign(&self, points: &Self::Points<'_>, centroids: &Matrix, metric: Metric) -> Result<Assignment> {
        kmeans::assign_normed(points, centroids, metric)
    }
}

impl CooccurrenceOps for CpuBackend {
    async fn cooccurrence(&self, codes: &SparseCodes) -> Result<Cooccurrence> {
        cooccurrence::cooccurrence(codes)
    }
}
