//! saescope-build: the bundle pipeline and its file I/O, as a library the `saescope` CLI calls
//! (and the benchmarks reuse). Native: it reads and writes files, shows progress bars and times
//! its stages; the math is in the platform-free crates below it.
//!
//! - `files`: reading and writing files, SAEs, matrices and bundles (verified), progress bars.
//! - `encode`: the one encode loop (chunks through a resident SAE).
//! - `embed`: documents through MiniLM into an `.npy`.
//! - `train`: the paper's training recipe with a validation split and a log.
//! - `stages`: labels and their scores, co-occurrence and feature families.
//! - `pipeline`: corpus -> bundle, each stage cached under `OUT/.stages/` by a fingerprint of
//!   its inputs.

pub mod embed;
pub mod encode;
pub mod files;
pub mod pipeline;
pub mod stages;
pub mod train;
