//! The largest sizes saescope accepts from a flag or a file, checked before anything is
//! allocated, so a typo (`--iters 1000000000000`) or a hostile file gives a one-line error
//! instead of an aborted process. Each is far above what the paper or the demo uses; the README
//! lists them.

use crate::error::{Error, Result};

/// Lloyd iterations of one k-means run (20 is the default; 300 is scikit-learn's).
pub const MAX_ITERATIONS: usize = 10_000;
/// Latents of an SAE (the paper's largest is 9,216).
pub const MAX_LATENTS: usize = 1 << 18;
/// Values of one SAE weight matrix, `d_in x latents` (1 GiB as f32).
pub const MAX_WEIGHTS: usize = 1 << 28;
/// Embedding dimension (3,072 is the widest common model).
pub const MAX_DIM: usize = 1 << 14;
/// Documents of a synthetic corpus, and clusters of one k-means run.
pub const MAX_SYNTH_DOCUMENTS: usize = 10_000_000;
pub const MAX_CLUSTERS: usize = 1 << 16;
/// Training epochs and batch rows.
pub const MAX_EPOCHS: usize = 100_000;
pub const MAX_BATCH: usize = 1 << 20;

/// `value` if it is in `1..=max`, or an error naming `what` and the limit.
pub fn check(what: &str, value: usize, max: usize) -> Result<usize> {
    if value == 0 || value > max {
        return Err(Error::Invalid(format!("{what} must be between 1 and {max}, got {value}")));
    }
    Ok(value)
}
