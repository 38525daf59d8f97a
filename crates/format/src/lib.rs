//! saescope-format: outside bytes in and out. `.npy` matrices, SAE weights in the SAELens and
//! paper layouts, the bundle's manifest (every file with size and sha256), building and
//! verifying bundles (a folder or one zip), documents, and reading a corpus (JSON Lines / CSV, plain or gzip).
//!
//! Platform-free like `saescope-core` (byte slices in, values out; no filesystem), so the CLI
//! and the page read bundles with the same code.

pub mod archive;
pub mod bundle;
pub mod corpus;
pub mod documents;
pub mod features;
pub mod floats;
pub mod manifest;
pub mod matrices;
pub mod npy;
pub mod pth;
pub mod saelens;

pub use matrices::{CodesFiles, CorpusFiles};
pub use saelens::{SaeFiles, WeightDType};

/// The traits that bring file conversions to core's types (`Sae::from_saelens`,
/// `codes.to_npy()`, `corpus.push_npy(..)`).
pub mod prelude {
    pub use crate::{CodesFiles, CorpusFiles, SaeFiles};
}
