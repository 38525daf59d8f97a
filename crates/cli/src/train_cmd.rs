//! `saescope train`: the paper's top-k SAE recipe on an embeddings file, with a validation
//! split, a progress bar, a JSON training log, and output in the SAELens layout.

use crate::Device;
use anyhow::Result;
use saescope_build::files::read_matrix;
use saescope_core::train::TrainConfig;
use std::path::Path;

pub fn run(embeddings: &Path, out: &Path, config: TrainConfig, holdout: f64, device: Device) -> Result<()> {
    saescope_build::train::run_on(&read_matrix(embeddings)?, out, config, holdout, &crate::io::backend(device)?)
}
