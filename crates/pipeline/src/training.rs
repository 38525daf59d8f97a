//! SAE training with the paper's recipe on an embeddings matrix, one step at a time: a seeded
//! validation split, a per-epoch log, and divergence caught with the last good SAE kept. The
//! native build runs it to the end behind a progress bar; the page's workshop steps it between
//! user events (so it can pause, resume and stop) and plots every step.

use anyhow::{bail, Result};
use saescope_core::fit::{StepMean, TrainingRun};
use saescope_core::metrics::normalized_mse;
use saescope_core::rng::SeededRng;
use saescope_core::train::{StepStats, TrainConfig};
use saescope_core::{Matrix, Sae, TrainOps};
use serde::{Deserialize, Serialize};

/// One epoch of the log (`training_log.json`).
#[derive(Clone, Debug, Serialize, Deserialize, ts_rs::TS)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_nmse: f64,
    pub aux_loss: f64,
    pub l0: f64,
    pub dead_fraction: f64,
    pub val_nmse: f64,
    /// The epoch's steps and the state's read-back (validation not included), by the caller's
    /// clock.
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

/// The normalised MSE of `sae` on held-out rows (NaN when there are none).
pub fn validation_nmse(sae: &Sae, val: &Matrix) -> Result<f64> {
    if val.rows == 0 {
        return Ok(f64::NAN);
    }
    let recon = sae.decode(&sae.encode(val)?)?;
    Ok(normalized_mse(val, &recon))
}

/// Settings for a small corpus (the page's workshop), and why: the paper's recipe is tuned for
/// hundreds of thousands of documents, where a 3,072-latent SAE sees each latent fire often.
/// With a few thousand documents, a dictionary as large as the corpus memorises it; so the
/// latents are about a quarter of the documents (at least 4k, so k leaves room to choose, at
/// most the paper's 3,072), k is 8 (the paper's smallest), batches are smaller so an epoch is
/// still several steps, and epochs are many (each is short) so the loss settles.
pub fn small_corpus_config(documents: usize) -> TrainConfig {
    let k = 8;
    let latents = (documents / 4).clamp(4 * k, 3072);
    let batch = if documents >= 4096 { 256 } else { 64 };
    let epochs = (20_000 / documents.max(1)).clamp(5, 50);
    TrainConfig { k, latents, batch, epochs, lr: 1e-3, ..TrainConfig::default() }
}

/// What one [`TrainingSession::step`] did.
#[derive(Clone, Debug, Serialize)]
pub struct SessionStep {
    /// Steps done so far, this one included.
    pub step: usize,
    /// The epoch this step belongs to (from 1).
    pub epoch: usize,
    pub stats: StepStats,
    /// The epoch's log line, when this step ended an epoch.
    pub epoch_log: Option<EpochLog>,
}

/// A training run on `B` that advances one step per call, keeping the training and validation
/// rows, the log and the last SAE that was whole (finite) at the end of an epoch.
pub struct TrainingSession<B: TrainOps> {
    run: TrainingRun<B>,
    train: Matrix,
    val: Matrix,
    config: TrainConfig,
    holdout: f64,
    steps_per_epoch: usize,
    steps_done: usize,
    epoch: StepMean,
    epoch_started: f64,
    log: Vec<EpochLog>,
    last_good: Option<Sae>,
    diverged: Option<String>,
}

impl<B: TrainOps> TrainingSession<B> {
    /// Splits off `holdout` of the rows for validation and puts a fresh SAE (the paper's
    /// initialisation, seeded by `config.seed`) on `backend`. `now` is the caller's clock in
    /// seconds (wall-clock time is the platform's business).
    pub async fn new(backend: &B, data: &Matrix, config: TrainConfig, holdout: f64, now: f64) -> Result<Self> {
        if !(0.0..0.5).contains(&holdout) {
            bail!("the held-out fraction must be in [0, 0.5), got {holdout}");
        }
        if config.epochs == 0 {
            bail!("training needs at least one epoch");
        }
        let (train, val) = split(data, holdout, config.seed);
        let run = TrainingRun::new(backend, &train, config.clone()).await?;
        let steps_per_epoch = saescope_core::fit::steps_per_epoch(train.rows, config.batch);
        Ok(Self {
            run,
            train,
            val,
            config,
            holdout,
            steps_per_epoch,
            steps_done: 0,
            epoch: StepMean::default(),
            epoch_started: now,
            log: Vec::new(),
            last_good: None,
            diverged: None,
        })
    }

    pub fn train_rows(&self) -> usize {
        self.train.rows
    }

    pub fn validation_rows(&self) -> usize {
        self.val.rows
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.steps_per_epoch
    }

    pub fn total_steps(&self) -> usize {
        self.steps_per_epoch * self.config.epochs
    }

    pub fn steps_done(&self) -> usize {
        self.steps_done
    }

    /// Every epoch's log line so far.
    pub fn log(&self) -> &[EpochLog] {
        &self.log
    }

    /// Whether every epoch has run.
    pub fn is_done(&self) -> bool {
        self.steps_done >= self.total_steps()
    }

    /// One optimiser step. At the end of an epoch the state is read back, validated and logged.
    /// A step whose loss is not finite, or an epoch that ends with non-finite weights, stops the
    /// run with an error: nothing more can be learnt from it, and [`Self::finish`] then gives
    /// the SAE of the last epoch that ended whole.
    pub async fn step(&mut self, backend: &B, now: f64) -> Result<SessionStep> {
        if let Some(why) = &self.diverged {
            bail!("{why}");
        }
        if self.is_done() {
            bail!("training has finished all {} epochs", self.config.epochs);
        }
        // Backends refuse a step whose loss is not finite (before applying it).
        let step = match self.run.step(backend, &self.train).await {
            Err(saescope_core::Error::NonFinite(what)) => return Err(self.diverge(what)),
            other => other?,
        };
        self.steps_done += 1;
        let epoch = self.log.len() + 1;
        self.epoch.add(&step.stats);
        let mut epoch_log = None;
        if step.epoch_ended {
            let state = self.run.state(backend).await?;
            if let Some((name, _)) =
                state.sae.named_parameters().into_iter().find(|(_, v)| v.iter().any(|x| !x.is_finite()))
            {
                return Err(self.diverge(format!("{name} is no longer finite after epoch {epoch}")));
            }
            let mean = std::mem::take(&mut self.epoch).mean();
            let line = EpochLog {
                epoch,
                train_loss: mean.loss,
                train_nmse: mean.nmse,
                aux_loss: mean.aux_loss,
                l0: mean.l0,
                dead_fraction: state.dead_fraction(),
                val_nmse: validation_nmse(&state.sae, &self.val)?,
                seconds: now - self.epoch_started,
            };
            self.epoch_started = now;
            self.log.push(line.clone());
            self.last_good = Some(state.sae);
            epoch_log = Some(line);
        }
        Ok(SessionStep { step: self.steps_done, epoch, stats: step.stats, epoch_log })
    }

    fn diverge(&mut self, what: String) -> anyhow::Error {
        let kept = match self.log.last() {
            Some(line) => format!("the SAE as it was after epoch {} is kept", line.epoch),
            None => "no epoch had ended, so there is no SAE to keep; try a lower learning rate".to_string(),
        };
        let why = format!("training diverged: {what}; it was stopped and {kept}");
        self.diverged = Some(why.clone());
        anyhow::anyhow!(why)
    }

    /// The SAE as it is now (a run stopped mid-epoch included), or, after a divergence, the
    /// last one that was whole; with its held-out normalised MSE.
    pub async fn finish(&self, backend: &B) -> Result<(Sae, f64)> {
        let sae = match (&self.diverged, &self.last_good) {
            (Some(_), Some(sae)) => sae.clone(),
            (Some(why), None) => bail!("{why}"),
            (None, _) => {
                let state = self.run.state(backend).await?;
                for (name, values) in state.sae.named_parameters() {
                    saescope_core::matrix::check_finite(values, values.len().max(1), &format!("the trained {name}"))?;
                }
                state.sae
            }
        };
        let nmse = validation_nmse(&sae, &self.val)?;
        Ok((sae, nmse))
    }

    /// `training_log.json`: the settings, what trained it, and every epoch.
    pub fn log_json(&self, device: &str, trained_on: &str) -> Result<Vec<u8>> {
        let report = serde_json::json!({
            "config": self.config,
            "holdout": self.holdout,
            "device": device,
            "trained_on": trained_on,
            "epochs": self.log,
        });
        Ok(serde_json::to_vec_pretty(&report)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saescope_core::synth::PlantedData;
    use saescope_core::CpuBackend;

    fn planted(rows: usize) -> Matrix {
        PlantedData::generate(16, 64, 4, rows, 3).embeddings
    }

    fn run_all(session: &mut TrainingSession<CpuBackend>) -> Vec<SessionStep> {
        let mut steps = Vec::new();
        while !session.is_done() {
            steps.push(pollster::block_on(session.step(&CpuBackend, steps.len() as f64)).unwrap());
        }
        steps
    }

    #[test]
    fn a_session_steps_through_every_epoch_and_logs_each() {
        let data = planted(300);
        let config = TrainConfig { k: 4, latents: 64, batch: 32, epochs: 3, ..TrainConfig::default() };
        let mut session = pollster::block_on(TrainingSession::new(&CpuBackend, &data, config, 0.1, 0.0)).unwrap();
        assert_eq!((session.train_rows(), session.validation_rows()), (270, 30));
        let steps = run_all(&mut session);
        assert_eq!(steps.len(), session.total_steps());
        assert_eq!(steps.len(), 3 * 9);
        let ends: Vec<usize> = steps.iter().filter(|s| s.epoch_log.is_some()).map(|s| s.step).collect();
        assert_eq!(ends, vec![9, 18, 27]);
        assert_eq!(session.log().len(), 3);
        assert!(session.log()[2].val_nmse < session.log()[0].val_nmse, "{:?}", session.log());
        let (sae, nmse) = pollster::block_on(session.finish(&CpuBackend)).unwrap();
        assert_eq!(sae.d_sae, 64);
        assert_eq!(nmse, session.log()[2].val_nmse);
        assert!(pollster::block_on(session.step(&CpuBackend, 0.0)).is_err(), "no step after the last epoch");
    }

    #[test]
    fn the_session_trains_as_the_epoch_loop_does() {
        // The same seed gives the same SAE, stepped one at a time or an epoch at a time.
        let data = planted(200);
        let config = TrainConfig { k: 4, latents: 64, batch: 32, epochs: 2, ..TrainConfig::default() };
        let mut session =
            pollster::block_on(TrainingSession::new(&CpuBackend, &data, config.clone(), 0.0, 0.0)).unwrap();
        run_all(&mut session);
        let (stepped, _) = pollster::block_on(session.finish(&CpuBackend)).unwrap();
        // With nothing held out, the training rows are all rows, in the split's order.
        let (data, _) = split(&data, 0.0, config.seed);
        let mut trainer = pollster::block_on(saescope_core::fit::Trainer::new(&CpuBackend, &data, config)).unwrap();
        for _ in 0..2 {
            pollster::block_on(trainer.epoch(&data, |_| {})).unwrap();
        }
        let by_epoch = pollster::block_on(trainer.state()).unwrap().sae;
        assert_eq!(stepped, by_epoch);
    }

    #[test]
    fn divergence_stops_the_run_and_keeps_the_last_whole_sae() {
        let data = planted(200);
        // A learning rate this large sends the weights to infinity within a few epochs.
        let config = TrainConfig { k: 4, latents: 64, batch: 32, epochs: 40, lr: 1e36, ..TrainConfig::default() };
        let mut session = pollster::block_on(TrainingSession::new(&CpuBackend, &data, config, 0.1, 0.0)).unwrap();
        let mut failure = None;
        while !session.is_done() {
            if let Err(e) = pollster::block_on(session.step(&CpuBackend, 0.0)) {
                failure = Some(e.to_string());
                break;
            }
        }
        let failure = failure.expect("the run diverges");
        assert!(failure.starts_with("training diverged"), "{failure}");
        let again = pollster::block_on(session.step(&CpuBackend, 0.0)).unwrap_err().to_string();
        assert_eq!(again, failure, "a diverged run stays stopped");
        match session.log().last() {
            Some(line) => {
                let (sae, _) = pollster::block_on(session.finish(&CpuBackend)).unwrap();
                assert!(sae.named_parameters().iter().all(|(_, v)| v.iter().all(|x| x.is_finite())));
                assert!(failure.contains(&format!("after epoch {}", line.epoch)), "{failure}");
            }
            None => assert!(pollster::block_on(session.finish(&CpuBackend)).is_err()),
        }
    }

    #[test]
    fn small_corpus_settings_scale_with_the_corpus() {
        let c = small_corpus_config(2000);
        assert_eq!((c.k, c.latents, c.batch, c.epochs), (8, 500, 64, 10));
        let c = small_corpus_config(100);
        assert_eq!((c.latents, c.epochs), (32, 50));
        assert_eq!(small_corpus_config(50_000).latents, 3072);
    }
}
