//! saescope-core: the formats saescope reads and writes, and the CPU reference of every SAE
//! computation (encode, decode, metrics, search, k-means).
//!
//! Platform-free: no wasm-bindgen, no wgpu, no filesystem. Everything works on byte slices so the
//! same code serves the CLI and the browser. `crates/gpu` implements the same [`Backend`] trait
//! with WGSL kernels, and the shared test suite in `tests/backend_suite.rs` holds both to the
//! answers computed here.

pub mod analysis;
pub mod backend;
pub mod bundle;
pub mod codes;
pub mod conformance;
pub mod cooccurrence;
pub mod corpus;
pub mod error;
pub mod explore;
pub mod families;
pub mod kmeans;
pub mod labels;
pub mod manifest;
pub mod matrix;
pub mod metrics;
pub mod npy;
pub mod phrases;
pub mod rng;
pub mod sae;
pub mod search;
pub mod steer;
pub mod splitting;
pub mod synth;
pub mod topk;
pub mod train;

pub use backend::{Backend, CpuBackend};
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
