//! saescope-gpu: the WGSL compute kernels behind saescope, on any wgpu adapter (Vulkan natively,
//! WebGPU in the browser).
//!
//! [`GpuBackend`] implements saescope-core's backend traits ([`AnyBackend`] picks it or the CPU
//! at run time); every kernel has its CPU reference in
//! `saescope-core`, and `tests/backend_suite.rs` holds both to the same answers. No optional
//! WebGPU feature is required (f16 storage is widened with `unpack2x16float`), and every binding
//! is kept under the adapter's `maxStorageBufferBindingSize` by splitting work into blocks.

mod any;
mod backend;
mod context;
#[cfg(test)]
mod contracts;
mod cooccurrence;
mod kernels;
mod params;
mod train;

pub use any::{AnyBackend, CpuBecause, DeviceChoice, Resident};
pub use backend::{GpuBackend, GpuCorpus, GpuPoints, GpuSae};
pub use context::{Gpu, GpuOptions};
pub use train::GpuTraining;
