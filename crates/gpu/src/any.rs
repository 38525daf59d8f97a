//! [`AnyBackend`]: the CPU reference or the GPU, chosen at run time, behind the same backend
//! traits. The CLI and the page hold one of these instead of matching on the backend at every
//! call; resident data carries its backend's variant, so a mix-up is an error, not a panic.
//!
//! A GPU device can be lost at any time (a driver reset, the browser reclaiming it). GPU-resident
//! data keeps the host data it was uploaded from, so when the device is lost, before or in the
//! middle of an operation, the operation is computed on the CPU instead and every later one too:
//! the answers stay the same, and [`AnyBackend::kind`] and [`AnyBackend::lost`] say what happened.

use crate::{GpuBackend, GpuCorpus, GpuOptions, GpuPoints, GpuSae, GpuTraining};
use saescope_core::backend::{Backend, ClusterOps, CooccurrenceOps, EncodeOps, SearchOps, TrainOps};
use saescope_core::cooccurrence::Cooccurrence;
use saescope_core::kmeans::{Assignment, Metric, NormedPoints, Points};
use saescope_core::search::{Corpus, Hits};
use saescope_core::train::{StepStats, TrainState};
use saescope_core::{CpuBackend, Error, Matrix, Result, Sae, SparseCodes};
use std::future::Future;
use std::sync::Arc;

/// What to compute on, as asked by a user (`--device`, `?device=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The GPU, unless there is none or it is emulated on the CPU (SwiftShader, llvmpipe): that
    /// is slower than the CPU path (headless Chromium on SwiftShader, the demo bundle: a typed
    /// query 814 ms against 173 ms on the CPU path, a slider move 775 ms against 142 ms).
    Auto,
    /// The GPU whenever an adapter opens, emulated or not (tests of the GPU kernels use this).
    Gpu,
    /// The CPU reference.
    Cpu,
}

impl DeviceChoice {
    /// `auto` (or empty), `gpu` or `cpu`.
    pub fn parse(name: &str) -> Result<DeviceChoice> {
        match name {
            "" | "auto" => Ok(DeviceChoice::Auto),
            "gpu" => Ok(DeviceChoice::Gpu),
            "cpu" => Ok(DeviceChoice::Cpu),
            other => Err(Error::Invalid(format!("the device is auto, gpu or cpu, not {other:?}"))),
        }
    }
}

/// Why [`AnyBackend::open`] gave the CPU: said in words by `Display`; the page's badge tells
/// the software case apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CpuBecause {
    /// [`DeviceChoice::Cpu`].
    Requested,
    /// No adapter or device opened (why).
    NoGpu(String),
    /// [`DeviceChoice::Auto`] found only an adapter emulated on the CPU (its description).
    SoftwareGpu(String),
}

impl std::fmt::Display for CpuBecause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if cfg!(target_arch = "wasm32") { "WebGPU" } else { "GPU" };
        match self {
            CpuBecause::Requested => write!(f, "CPU requested"),
            CpuBecause::NoGpu(why) => write!(f, "{what} unavailable: {why}"),
            CpuBecause::SoftwareGpu(adapter) => write!(
                f,
                "{adapter} is emulated on the CPU and slower than the CPU path, so the CPU path computes (ask for the GPU to use it anyway)"
            ),
        }
    }
}

/// Either backend. One engine lives per process or page, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum AnyBackend {
    Cpu(CpuBackend),
    Gpu(GpuBackend),
}

/// Data resident on an [`AnyBackend`]: the variant of the backend that holds it. GPU data keeps
/// the host data `H` it came from (shared, not copied), for the CPU to take over from if the
/// device is lost.
pub enum Resident<C, G, H = C> {
    Cpu(C),
    Gpu(G, H),
}

fn mismatch() -> Error {
    Error::Invalid("data resident on one backend was handed to another".into())
}

/// Runs `on_gpu` unless the device is lost, and `on_cpu` if it is, also when it is lost while
/// `on_gpu` runs (its error is then the loss, not an answer).
async fn gpu_or_cpu<T, G, C>(gpu: &GpuBackend, on_gpu: impl FnOnce() -> G, on_cpu: impl FnOnce() -> C) -> Result<T>
where
    G: Future<Output = Result<T>>,
    C: Future<Output = Result<T>>,
{
    if gpu.gpu.lost().is_none() {
        match on_gpu().await {
            Err(_) if gpu.gpu.lost().is_some() => {}
            answer => return answer,
        }
    }
    on_cpu().await
}

impl AnyBackend {
    /// The backend `choice` asks for: the GPU when an adapter opens (for [`DeviceChoice::Auto`],
    /// one that is not emulated on the CPU); otherwise the CPU, with the reason.
    pub async fn open(choice: DeviceChoice, options: GpuOptions) -> (AnyBackend, Option<CpuBecause>) {
        if choice == DeviceChoice::Cpu {
            return (AnyBackend::Cpu(CpuBackend), Some(CpuBecause::Requested));
        }
        match GpuBackend::new(options).await {
            Ok(gpu) if choice == DeviceChoice::Auto && gpu.gpu.is_software() => {
                (AnyBackend::Cpu(CpuBackend), Some(CpuBecause::SoftwareGpu(gpu.describe())))
            }
            Ok(gpu) => (AnyBackend::Gpu(gpu), None),
            Err(e) => (AnyBackend::Cpu(CpuBackend), Some(CpuBecause::NoGpu(e.to_string()))),
        }
    }

    /// What runs the math now: "gpu", or "cpu" (also once the GPU device was lost).
    pub fn kind(&self) -> &'static str {
        match self {
            AnyBackend::Gpu(b) if b.gpu.lost().is_none() => "gpu",
            _ => "cpu",
        }
    }

    /// Whether this is a GPU emulated on the CPU (see [`crate::Gpu::is_software`]).
    pub fn is_software(&self) -> bool {
        matches!(self, AnyBackend::Gpu(b) if b.gpu.is_software())
    }

    /// Why the GPU device was lost, if this is the GPU and it was (the CPU computes since).
    pub fn lost(&self) -> Option<String> {
        match self {
            AnyBackend::Cpu(_) => None,
            AnyBackend::Gpu(b) => b.gpu.lost(),
        }
    }

    /// Test hook: loses the GPU device right after the `submissions`-th next GPU submission (0:
    /// now), as a driver reset would; see [`crate::Gpu::lose_device_after`]. The CPU has nothing
    /// to lose.
    pub fn lose_device_after(&self, submissions: u32) -> Result<()> {
        match self {
            AnyBackend::Cpu(_) => Err(Error::Invalid("the CPU path has no GPU device to lose".into())),
            AnyBackend::Gpu(b) => {
                b.gpu.lose_device_after(submissions);
                Ok(())
            }
        }
    }
}

impl Backend for AnyBackend {
    fn describe(&self) -> String {
        match self {
            AnyBackend::Cpu(b) => b.describe(),
            AnyBackend::Gpu(b) => match b.gpu.lost() {
                None => b.describe(),
                Some(why) => {
                    format!("{} since the GPU device was lost ({why}; was {})", CpuBackend.describe(), b.describe())
                }
            },
        }
    }
}

impl EncodeOps for AnyBackend {
    type Sae = Resident<Arc<Sae>, GpuSae>;

    async fn upload_sae(&self, sae: &Arc<Sae>) -> Result<Self::Sae> {
        match self {
            AnyBackend::Cpu(b) => Ok(Resident::Cpu(b.upload_sae(sae).await?)),
            AnyBackend::Gpu(b) => {
                gpu_or_cpu(
                    b,
                    || async { Ok(Resident::Gpu(b.upload_sae(sae).await?, sae.clone())) },
                    || async { Ok(Resident::Cpu(CpuBackend.upload_sae(sae).await?)) },
                )
                .await
            }
        }
    }

    async fn encode(&self, sae: &Self::Sae, x: &Matrix) -> Result<SparseCodes> {
        match (self, sae) {
            (AnyBackend::Cpu(b), Resident::Cpu(s)) => b.encode(s, x).await,
            (AnyBackend::Gpu(b), Resident::Gpu(s, host)) => {
                gpu_or_cpu(b, || b.encode(s, x), || CpuBackend.encode(host, x)).await
            }
            (AnyBackend::Gpu(b), Resident::Cpu(s)) if b.gpu.lost().is_some() => CpuBackend.encode(s, x).await,
            _ => Err(mismatch()),
        }
    }

    async fn decode(&self, sae: &Self::Sae, codes: &SparseCodes) -> Result<Matrix> {
        match (self, sae) {
            (AnyBackend::Cpu(b), Resident::Cpu(s)) => b.decode(s, codes).await,
            (AnyBackend::Gpu(b), Resident::Gpu(s, host)) => {
                gpu_or_cpu(b, || b.decode(s, codes), || CpuBackend.decode(host, codes)).await
            }
            (AnyBackend::Gpu(b), Resident::Cpu(s)) if b.gpu.lost().is_some() => CpuBackend.decode(s, codes).await,
            _ => Err(mismatch()),
        }
    }
}

/// Training state lives on the GPU alone (it changes every step), so a lost device ends training
/// with an error instead of falling back.
impl TrainOps for AnyBackend {
    type Training = Resident<TrainState, GpuTraining, ()>;

    async fn train_begin(&self, state: &TrainState) -> Result<Self::Training> {
        Ok(match self {
            AnyBackend::Cpu(b) => Resident::Cpu(b.train_begin(state).await?),
            AnyBackend::Gpu(b) => Resident::Gpu(b.train_begin(state).await?, ()),
        })
    }

    async fn train_step(&self, training: &mut Self::Training, batch: &Matrix) -> Result<StepStats> {
        match (self, training) {
            (AnyBackend::Cpu(b), Resident::Cpu(t)) => b.train_step(t, batch).await,
            (AnyBackend::Gpu(b), Resident::Gpu(t, ())) => b.train_step(t, batch).await.map_err(|e| lost_training(b, e)),
            _ => Err(mismatch()),
        }
    }

    async fn train_read(&self, training: &Self::Training) -> Result<TrainState> {
        match (self, training) {
            (AnyBackend::Cpu(b), Resident::Cpu(t)) => b.train_read(t).await,
            (AnyBackend::Gpu(b), Resident::Gpu(t, ())) => b.train_read(t).await.map_err(|e| lost_training(b, e)),
            _ => Err(mismatch()),
        }
    }
}

/// A training error, said to be the device's loss when it is.
fn lost_training(gpu: &GpuBackend, e: Error) -> Error {
    match gpu.gpu.lost() {
        Some(why) => {
            Error::Device(format!("the GPU device was lost during training ({why}); the training state was on it"))
        }
        None => e,
    }
}

impl SearchOps for AnyBackend {
    type Corpus = Resident<Arc<Corpus>, GpuCorpus>;

    async fn upload_corpus(&self, corpus: &Arc<Corpus>) -> Result<Self::Corpus> {
        match self {
            AnyBackend::Cpu(b) => Ok(Resident::Cpu(b.upload_corpus(corpus).await?)),
            AnyBackend::Gpu(b) => {
                gpu_or_cpu(
                    b,
                    || async { Ok(Resident::Gpu(b.upload_corpus(corpus).await?, corpus.clone())) },
                    || async { Ok(Resident::Cpu(CpuBackend.upload_corpus(corpus).await?)) },
                )
                .await
            }
        }
    }

    async fn search(&self, corpus: &Self::Corpus, queries: &Matrix, k: usize) -> Result<Hits> {
        match (self, corpus) {
            (AnyBackend::Cpu(b), Resident::Cpu(c)) => b.search(c, queries, k).await,
            (AnyBackend::Gpu(b), Resident::Gpu(c, host)) => {
                gpu_or_cpu(b, || b.search(c, queries, k), || CpuBackend.search(host, queries, k)).await
            }
            (AnyBackend::Gpu(b), Resident::Cpu(c)) if b.gpu.lost().is_some() => CpuBackend.search(c, queries, k).await,
            _ => Err(mismatch()),
        }
    }
}

impl ClusterOps for AnyBackend {
    type Points<'a> = Resident<NormedPoints<'a>, GpuPoints, Points<'a>>;

    async fn upload_points<'a>(&self, points: Points<'a>) -> Result<Self::Points<'a>> {
        match self {
            AnyBackend::Cpu(b) => Ok(Resident::Cpu(b.upload_points(points).await?)),
            AnyBackend::Gpu(b) => {
                gpu_or_cpu(
                    b,
                    || async { Ok(Resident::Gpu(b.upload_points(points).await?, points)) },
                    || async { Ok(Resident::Cpu(CpuBackend.upload_points(points).await?)) },
                )
                .await
            }
        }
    }

    async fn assign(&self, points: &Self::Points<'_>, centroids: &Matrix, metric: Metric) -> Result<Assignment> {
        match (self, points) {
            (AnyBackend::Cpu(b), Resident::Cpu(p)) => b.assign(p, centroids, metric).await,
            (AnyBackend::Gpu(b), Resident::Gpu(p, host)) => {
                gpu_or_cpu(
                    b,
                    || b.assign(p, centroids, metric),
                    || async { CpuBackend.assign(&CpuBackend.upload_points(*host).await?, centroids, metric).await },
                )
                .await
            }
            (AnyBackend::Gpu(b), Resident::Cpu(p)) if b.gpu.lost().is_some() => {
                CpuBackend.assign(p, centroids, metric).await
            }
            _ => Err(mismatch()),
        }
    }
}

impl CooccurrenceOps for AnyBackend {
    async fn cooccurrence(&self, codes: &SparseCodes) -> Result<Cooccurrence> {
        match self {
            AnyBackend::Cpu(b) => b.cooccurrence(codes).await,
            AnyBackend::Gpu(b) => gpu_or_cpu(b, || b.cooccurrence(codes), || CpuBackend.cooccurrence(codes)).await,
        }
    }
}
