//! saescope-core: the data types and the CPU reference of every SAE computation (encode,
//! decode, metrics, search, k-means, co-occurrence, training), and the backend traits.
//!
//! Platform-free: no wasm-bindgen, no wgpu, no filesystem, no file formats (those are
//! `saescope-format`'s). `crates/gpu` implements the same backend traits with WGSL kernels, and
//! the shared suite in `saescope-conformance` holds both to the answers computed here.
//!
//! Layers inside the crate (each module uses only those above it):
//! `error`, `limits`, `rng`, `matrix`, `topk` -> `codes`, `sae`, `metrics`, `search`, `kmeans`,
//! `cooccurrence`, `train`, `splitting`, `synth`, `knn` -> `layout` (the 2D map) -> `backend` (traits + `CpuBackend`) -> `fit`
//! (the loops that drive a backend: k-means, training epochs).

pub mod backend;
pub mod codes;
pub mod cooccurrence;
pub mod error;
pub mod fit;
pub mod kmeans;
pub mod knn;
pub mod layout;
pub mod limits;
pub mod matrix;
pub mod metrics;
pub mod rng;
pub mod sae;
pub mod search;
pub mod splitting;
pub mod synth;
pub mod topk;
pub mod train;

pub use backend::{Backend, ClusterOps, CooccurrenceOps, CpuBackend, EncodeOps, SearchOps, TrainOps};
pub use codes::SparseCodes;
pub use error::{Error, Result};
pub use matrix::Matrix;
pub use sae::Sae;

/// Drives a future that completes without waiting (the CPU backend's), without an executor.
pub fn block_on_ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("block_on_ready: the future waited; use an executor"),
    }
}

/// The backend traits, for `use saescope_core::prelude::*` where a caller runs several
/// capabilities (their methods need the traits in scope).
pub mod prelude {
    pub use crate::backend::{Backend, ClusterOps, CooccurrenceOps, EncodeOps, SearchOps, TrainOps};
}
