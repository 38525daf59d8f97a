//! [`AnyBackend`]: the CPU reference or the GPU, chosen at run time, behind the same backend
//! traits. The CLI and the page hold one of these instead of matching on the backend at every
//! call; resident data carries its backend's variant, so a mix-up is an error, not a panic.

use crate::{GpuBackend, GpuCorpus, GpuOptions, GpuPoints, GpuSae, GpuTraining};
use saescope_core::backend::{Backend, ClusterOps, CooccurrenceOps, EncodeOps, SearchOps, TrainOps};
use saescope_core::cooccurrence::Cooccurrence;
use saescope_core::kmeans::{Assignment, Metric, NormedPoints, Points};
use saescope_core::search::{Corpus, Hits};
use saescope_core::train::{StepStats, TrainState};
use saescope_core::{CpuBackend, Error, Matrix, Result, Sae, SparseCodes};
use std::sync::Arc;

/// Either backend. One engine lives per process or page, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum AnyBackend {
    Cpu(CpuBackend),
    Gpu(GpuBackend),
}

/// Data resident on an [`AnyBackend`]: the variant of the backend that holds it.
pub enum Resident<C, G> {
    Cpu(C),
    Gpu(G),
}

fn mismatch() -> Error {
    Error::Invalid("data resident on one backend was handed to another".into())
}

impl AnyBackend {
    /// The GPU when `prefer_gpu` and an adapter opens; otherwise the CPU, with the reason.
    pub async fn open(prefer_gpu: bool, options: GpuOptions) -> (AnyBackend, Option<String>) {
        if !prefer_gpu {
            return (AnyBackend::Cpu(CpuBackend), Some("CPU requested".into()));
        }
        match GpuBackend::new(options).await {
            Ok(gpu) => (AnyBackend::Gpu(gpu), None),
            Err(e) => {
                let what = if cfg!(target_arch = "wasm32") { "WebGPU" } else { "GPU" };
                (AnyBackend::Cpu(CpuBackend), Some(format!("{what} unavailable: {e}")))
            }
        }
    }

    /// "gpu" or "cpu".
    pub fn kind(&self) -> &'static str {
        match self {
            AnyBackend::Cpu(_) => "cpu",
            AnyBackend::Gpu(_) => "gpu",
        }
    }
}

impl Backend for AnyBackend {
    fn describe(&self) -> String {
        match self {
            AnyBackend::Cpu(b) => b.describe(),
            AnyBackend::Gpu(b) => b.describe(),
        }
    }
}

impl EncodeOps for AnyBackend {
    type Sae = Resident<Arc<Sae>, GpuSae>;

    async fn upload_sae(&self, sae: &Arc<Sae>) -> Result<Self::Sae> {
        Ok(match self {
            AnyBackend::Cpu(b) => Resident::Cpu(b.upload_sae(sae).await?),
            AnyBackend::Gpu(b) => Resident::Gpu(b.upload_sae(sae).await?),
        })
    }

    async fn encode(&self, sae: &Self::Sae, x: &Matrix) -> Result<SparseCodes> {
        match (self, sae) {
            (AnyBackend::Cpu(b), Resident::Cpu(s)) => b.encode(s, x).await,
            (AnyBackend::Gpu(b), Resident::Gpu(s)) => b.encode(s, x).await,
            _ => Err(mismatch()),
        }
    }

    async fn decode(&self, sae: &Self::Sae, codes: &SparseCodes) -> Result<Matrix> {
        match (self, sae) {
            (AnyBackend::Cpu(b), Resident::Cpu(s)) => b.decode(s, codes).await,
            (AnyBackend::Gpu(b), Resident::Gpu(s)) => b.decode(s, codes).await,
            _ => Err(mismatch()),
        }
    }
}

impl TrainOps for AnyBackend {
    type Training = Resident<TrainState, GpuTraining>;

    async fn train_begin(&self, state: &TrainState) -> Result<Self::Training> {
        Ok(match self {
            AnyBackend::Cpu(b) => Resident::Cpu(b.train_begin(state).await?),
            AnyBackend::Gpu(b) => Resident::Gpu(b.train_begin(state).await?),
        })
    }

    async fn train_step(&self, training: &mut Self::Training, batch: &Matrix) -> Result<StepStats> {
        match (self, training) {
            (AnyBackend::Cpu(b), Resident::Cpu(t)) => b.train_step(t, batch).await,
            (AnyBackend::Gpu(b), Resident::Gpu(t)) => b.train_step(t, batch).await,
            _ => Err(mismatch()),
        }
    }

    async fn train_read(&self, training: &Self::Training) -> Result<TrainState> {
        match (self, training) {
            (AnyBackend::Cpu(b), Resident::Cpu(t)) => b.train_read(t).await,
            (AnyBackend::Gpu(b), Resident::Gpu(t)) => b.train_read(t).await,
            _ => Err(mismatch()),
        }
    }
}

impl SearchOps for AnyBackend {
    type Corpus = Resident<Arc<Corpus>, GpuCorpus>;

    async fn upload_corpus(&self, corpus: &Arc<Corpus>) -> Result<Self::Corpus> {
        Ok(match self {
            AnyBackend::Cpu(b) => Resident::Cpu(b.upload_corpus(corpus).await?),
            AnyBackend::Gpu(b) => Resident::Gpu(b.upload_corpus(corpus).await?),
        })
    }

    async fn search(&self, corpus: &Self::Corpus, queries: &Matrix, k: usize) -> Result<Hits> {
        match (self, corpus) {
            (AnyBackend::Cpu(b), Resident::Cpu(c)) => b.search(c, queries, k).await,
            (AnyBackend::Gpu(b), Resident::Gpu(c)) => b.search(c, queries, k).await,
            _ => Err(mismatch()),
        }
    }
}

impl ClusterOps for AnyBackend {
    type Points<'a> = Resident<NormedPoints<'a>, GpuPoints>;

    async fn upload_points<'a>(&self, points: Points<'a>) -> Result<Self::Points<'a>> {
        Ok(match self {
            AnyBackend::Cpu(b) => Resident::Cpu(b.upload_points(points).await?),
            AnyBackend::Gpu(b) => Resident::Gpu(b.upload_points(points).await?),
        })
    }

    async fn assign(&self, points: &Self::Points<'_>, centroids: &Matrix, metric: Metric) -> Result<Assignment> {
        match (self, points) {
            (AnyBackend::Cpu(b), Resident::Cpu(p)) => b.assign(p, centroids, metric).await,
            (AnyBackend::Gpu(b), Resident::Gpu(p)) => b.assign(p, centroids, metric).await,
            _ => Err(mismatch()),
        }
    }
}

impl CooccurrenceOps for AnyBackend {
    async fn cooccurrence(&self, codes: &SparseCodes) -> Result<Cooccurrence> {
        match self {
            AnyBackend::Cpu(b) => b.cooccurrence(codes).await,
            AnyBackend::Gpu(b) => b.cooccurrence(codes).await,
        }
    }
}
