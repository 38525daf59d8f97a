//! SAE training (`saescope_pipeline::training`) run to the end behind a progress bar, and the SAE
//! written in the SAELens layout with its log.

use crate::files::{progress, write};
use anyhow::Result;
use saescope_core::train::TrainConfig;
use saescope_core::{Backend, Matrix, Sae};
use saescope_format::prelude::*;
use saescope_format::WeightDType;
use saescope_gpu::AnyBackend;
use saescope_pipeline::training::TrainingSession;
use std::path::Path;
use std::time::Instant;

/// Trains on `backend` (every step runs there: forward, backward, Adam) and returns the SAE
/// with its log (`training_log.json`).
pub async fn train<B: Backend>(
    backend: &B,
    data: &Matrix,
    config: &TrainConfig,
    holdout: f64,
) -> Result<(Sae, TrainingSession<B>)> {
    let started = Instant::now();
    let now = || started.elapsed().as_secs_f64();
    let mut session = TrainingSession::new(backend, data, config.clone(), holdout, now()).await?;
    let bar = progress(session.total_steps() as u64, "train");
    while !session.is_done() {
        let step = session.step(backend, now()).await?;
        let s = step.stats;
        bar.set_message(format!("nmse {:.3} dead {:.1}% L0 {:.1}", s.nmse, 100.0 * s.dead_fraction, s.l0));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let (sae, _) = session.finish(backend).await?;
    Ok((sae, session))
}

/// Trains on `data` and writes the SAE and its log into `out`.
pub fn run_on(data: &Matrix, out: &Path, config: TrainConfig, holdout: f64, backend: &AnyBackend) -> Result<()> {
    let (sae, session) = pollster::block_on(train(backend, data, &config, holdout))?;
    let (cfg, weights) = sae.to_saelens(WeightDType::F32, None)?;
    write(&out.join("cfg.json"), &cfg)?;
    write(&out.join("sae_weights.safetensors"), &weights)?;
    write(&out.join("training_log.json"), &session.log_json(backend.kind(), &backend.describe())?)?;
    if let Some(last) = session.log().last() {
        eprintln!(
            "trained {} epochs: validation NMSE {:.4}, dead {:.1}%, L0 {:.1}; wrote {}",
            session.log().len(),
            last.val_nmse,
            100.0 * last.dead_fraction,
            last.l0,
            out.display()
        );
    }
    Ok(())
}
