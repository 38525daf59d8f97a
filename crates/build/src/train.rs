//! SAE training with the paper's recipe on an embeddings matrix: a validation split, a
//! progress bar, a per-epoch log, and the SAE written in the SAELens layout.

use crate::files::{progress, write};
use anyhow::{bail, Result};
use saescope_core::fit::Trainer;
use saescope_core::metrics::normalized_mse;
use saescope_core::rng::SeededRng;
use saescope_core::train::TrainConfig;
use saescope_core::{Backend, Matrix, Sae};
use saescope_format::prelude::*;
use saescope_format::WeightDType;
use saescope_gpu::AnyBackend;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

#[derive(Serialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_nmse: f64,
    pub aux_loss: f64,
    pub l0: f64,
    pub dead_fraction: f64,
    pub val_nmse: f64,
    /// The epoch's steps and the state's read-back (validation not included).
    pub seconds: f64,
}

/// Splits rows into (train, validation) by a seeded permutation.
pub fn split(data: &Matrix, holdout: f64, seed: u64) -> (Matrix, Matrix) {
    let order = SeededRng::new(seed ^ 0x5eed).distinct(data.rows, data.rows);
    let n_val = ((data.rows as f64) * holdout).round() as usize;
    let take = |rows: &[usize]| {
        let mut m = Matrix::zeros(rows.len(), data.cols);
        rows.iter().enumerate().for_each(|(i, &r)| m.row_mut(i).copy_from_slice(data.row(r)));
        m
    };
    (take(&order[n_val..]), take(&order[..n_val]))
}

fn validation_nmse(sae: &Sae, val: &Matrix) -> Result<f64> {
    if val.rows == 0 {
        return Ok(f64::NAN);
    }
    let recon = sae.decode(&sae.encode(val)?)?;
    Ok(normalized_mse(val, &recon))
}

/// Trains on `backend` (every step runs there: forward, backward, Adam) and returns the SAE
/// with its per-epoch log.
pub async fn train<B: Backend>(
    backend: &B,
    data: &Matrix,
    config: &TrainConfig,
    holdout: f64,
) -> Result<(Sae, Vec<EpochLog>)> {
    if !(0.0..0.5).contains(&holdout) {
        bail!("--holdout must be in [0, 0.5), got {holdout}");
    }
    let (train, val) = split(data, holdout, config.seed);
    let mut trainer = Trainer::new(backend, &train, config.clone()).await?;
    let mut sae = None;
    let steps = saescope_core::fit::steps_per_epoch(train.rows, config.batch) * config.epochs;
    let bar = progress(steps as u64, "train");
    let mut log = Vec::with_capacity(config.epochs);
    for epoch in 0..config.epochs {
        let start = Instant::now();
        let mean = trainer
            .epoch(&train, |s| {
                bar.set_message(format!("nmse {:.3} dead {:.1}% L0 {:.1}", s.nmse, 100.0 * s.dead_fraction, s.l0));
                bar.inc(1);
            })
            .await?;
        // The state comes back from the device once per epoch, for validation and the log.
        let state = trainer.state().await?;
        let seconds = start.elapsed().as_secs_f64();
        log.push(EpochLog {
            epoch: epoch + 1,
            train_loss: mean.loss,
            train_nmse: mean.nmse,
            aux_loss: mean.aux_loss,
            l0: mean.l0,
            dead_fraction: state.dead_fraction(),
            val_nmse: validation_nmse(&state.sae, &val)?,
            seconds,
        });
        sae = Some(state.sae);
    }
    bar.finish_and_clear();
    let sae = match sae {
        Some(sae) => sae,
        None => trainer.state().await?.sae,
    };
    Ok((sae, log))
}

/// Trains on `data` and writes the SAE and its log into `out`.
pub fn run_on(data: &Matrix, out: &Path, config: TrainConfig, holdout: f64, backend: &AnyBackend) -> Result<()> {
    let (sae, log) = pollster::block_on(train(backend, data, &config, holdout))?;
    // Never write a model that loading would refuse.
    for (name, values) in sae.named_parameters() {
        saescope_core::matrix::check_finite(values, values.len().max(1), &format!("the trained {name}"))?;
    }
    let trained_on = backend.describe();
    let (cfg, weights) = sae.to_saelens(WeightDType::F32, None)?;
    write(&out.join("cfg.json"), &cfg)?;
    write(&out.join("sae_weights.safetensors"), &weights)?;
    let report = serde_json::json!({ "config": config, "holdout": holdout, "device": backend.kind(), "trained_on": trained_on, "epochs": log });
    write(&out.join("training_log.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    if let Some(last) = log.last() {
        eprintln!(
            "trained {} epochs: validation NMSE {:.4}, dead {:.1}%, L0 {:.1}; wrote {}",
            log.len(),
            last.val_nmse,
            100.0 * last.dead_fraction,
            last.l0,
            out.display()
        );
    }
    Ok(())
}
