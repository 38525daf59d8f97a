//! saescope-pipeline: the stages of a bundle build as functions of values (no files, clocks or
//! threads), shared by the native `saescope build` (`saescope-build` adds files, caching and
//! progress bars) and the page's workshop (`saescope-wasm`).
//!
//! - `training`: the paper's recipe with a validation split, one step at a time.
//! - `analyse`: encoding, labels, families and the map, each reporting progress.
//! - `assemble`: the bundle from those values; embeddings matched to the corpus's rows.
//! - `limits`: what a browser tab can build.

pub mod analyse;
pub mod assemble;
pub mod limits;
pub mod training;

/// The pipeline's errors carry their context as sentences (`anyhow`).
pub use anyhow::Result;
