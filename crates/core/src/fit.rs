//! The loops that drive a backend: k-means (Lloyd's iterations from a k-means++ start) and SAE
//! training epochs. The heavy steps are backend operations; what stays here is cheap and
//! sequential (centroid updates, shuffling, statistics), so every backend shares it.

use crate::backend::{ClusterOps, TrainOps};
use crate::error::Result;
use crate::kmeans::{check_clusters, kmeans_plus_plus, update_centroids, KMeansConfig, KMeansResult, Metric, Points};
use crate::matrix::Matrix;
use crate::rng::SeededRng;
use crate::train::{StepStats, TrainConfig, TrainState};

/// Lloyd's algorithm from a k-means++ start. An emptied cluster is re-seeded with the point
/// farthest from its centroid, so every cluster stays in use.
pub async fn kmeans<B: ClusterOps>(backend: &B, points: Points<'_>, config: &KMeansConfig) -> Result<KMeansResult> {
    check_clusters(config.clusters, points.len())?;
    crate::limits::check("k-means iterations", config.iterations, crate::limits::MAX_ITERATIONS)?;
    crate::limits::check("clusters", config.clusters, crate::limits::MAX_CLUSTERS)?;
    let mut rng = SeededRng::new(config.seed);
    let start = kmeans_plus_plus(points, config.clusters, config.metric, &mut rng);
    lloyd(backend, points, start, config.iterations, config.metric).await
}

/// Lloyd's iterations from the centroids `start`: `iterations` assignment steps (at least
/// one) with a centroid update between each two, so the last inertia is that of the centroids
/// after `iterations - 1` updates.
pub async fn lloyd<B: ClusterOps>(
    backend: &B,
    points: Points<'_>,
    start: Matrix,
    iterations: usize,
    metric: Metric,
) -> Result<KMeansResult> {
    let clusters = start.rows;
    check_clusters(clusters, points.len())?;
    crate::limits::check("k-means iterations", iterations, crate::limits::MAX_ITERATIONS)?;
    let mut centroids = start;
    let mut inertia = Vec::with_capacity(iterations);
    let resident = backend.upload_points(points).await?;
    let mut assignment = backend.assign(&resident, &centroids, metric).await?;
    for iteration in 0..iterations.max(1) {
        inertia.push(assignment.distance.iter().map(|&d| d as f64).sum());
        if iteration + 1 == iterations.max(1) {
            break;
        }
        centroids = update_centroids(points, &assignment, clusters, metric);
        assignment = backend.assign(&resident, &centroids, metric).await?;
    }
    let mut sizes = vec![0u32; clusters];
    assignment.cluster.iter().for_each(|&c| sizes[c as usize] += 1);
    Ok(KMeansResult { assignments: assignment.cluster, centroids, inertia, sizes })
}

/// A training run that advances one step at a time: the device state, the shuffling and where
/// the current epoch is. It holds no backend, so a caller that lives across calls (the page's
/// workshop, stepping between user events) can keep it; [`Trainer`] drives it an epoch at a time.
pub struct TrainingRun<B: TrainOps> {
    training: B::Training,
    batch: usize,
    rng: SeededRng,
    /// This epoch's row order and how far through it the run is (empty: draw a new order).
    order: Vec<usize>,
    at: usize,
}

/// One step of a [`TrainingRun`]: its statistics, and whether it ended an epoch.
#[derive(Clone, Copy, Debug)]
pub struct RunStep {
    pub stats: StepStats,
    pub epoch_ended: bool,
}

impl<B: TrainOps> TrainingRun<B> {
    /// Initialises from the training data with the paper's recipe (seeded by `config.seed`).
    pub async fn new(backend: &B, data: &Matrix, config: TrainConfig) -> Result<Self> {
        let mut rng = SeededRng::new(config.seed);
        let state = TrainState::init(data, config, &mut rng)?;
        Self::start(backend, &state, rng).await
    }

    /// Continues from `state` on `backend`, drawing batch orders from `rng`.
    pub async fn start(backend: &B, state: &TrainState, rng: SeededRng) -> Result<Self> {
        let training = backend.train_begin(state).await?;
        Ok(Self { training, batch: state.config.batch, rng, order: Vec::new(), at: 0 })
    }

    /// The next step on `data` (the same rows every call): an epoch is one pass over them in a
    /// fresh random order.
    pub async fn step(&mut self, backend: &B, data: &Matrix) -> Result<RunStep> {
        if self.order.is_empty() {
            self.order = self.rng.distinct(data.rows, data.rows);
            self.order.truncate(rows_per_epoch(data.rows, self.batch));
            self.at = 0;
        }
        let end = (self.at + self.batch).min(self.order.len());
        let mut batch = Matrix::zeros(end - self.at, data.cols);
        for (i, &r) in self.order[self.at..end].iter().enumerate() {
            batch.row_mut(i).copy_from_slice(data.row(r));
        }
        let stats = backend.train_step(&mut self.training, &batch).await?;
        self.at = end;
        let epoch_ended = self.at == self.order.len();
        if epoch_ended {
            self.order.clear();
        }
        Ok(RunStep { stats, epoch_ended })
    }

    /// The current state, read back from `backend`.
    pub async fn state(&self, backend: &B) -> Result<TrainState> {
        backend.train_read(&self.training).await
    }
}

/// The training loop over any backend, an epoch at a time: the state lives on the backend;
/// this keeps the shuffling and the statistics.
pub struct Trainer<'b, B: TrainOps> {
    backend: &'b B,
    run: TrainingRun<B>,
}

/// The mean of steps' statistics (the dead fraction of the last step), as an epoch reports it.
#[derive(Default)]
pub struct StepMean {
    sum: StepStats,
    steps: f64,
}

impl StepMean {
    pub fn add(&mut self, s: &StepStats) {
        self.steps += 1.0;
        self.sum.loss += s.loss;
        self.sum.nmse += s.nmse;
        self.sum.aux_loss += s.aux_loss;
        self.sum.l0 += s.l0;
        self.sum.grad_norm += s.grad_norm;
        self.sum.dead_fraction = s.dead_fraction;
    }

    pub fn mean(&self) -> StepStats {
        let n = self.steps.max(1.0);
        StepStats {
            loss: self.sum.loss / n,
            nmse: self.sum.nmse / n,
            aux_loss: self.sum.aux_loss / n,
            l0: self.sum.l0 / n,
            grad_norm: self.sum.grad_norm / n,
            dead_fraction: self.sum.dead_fraction,
        }
    }
}

/// The rows an epoch trains on: all of them, but for a last batch of one row, which has no
/// spread, so its normalised MSE is undefined; that row waits for the next epoch's order (a
/// fresh permutation) instead.
pub fn rows_per_epoch(rows: usize, batch: usize) -> usize {
    if rows > 1 && batch > 1 && rows % batch == 1 {
        rows - 1
    } else {
        rows
    }
}

/// Optimiser steps per epoch (see [`rows_per_epoch`]).
pub fn steps_per_epoch(rows: usize, batch: usize) -> usize {
    rows_per_epoch(rows, batch).div_ceil(batch.max(1))
}

impl<'b, B: TrainOps> Trainer<'b, B> {
    /// Initialises from the training data with the paper's recipe (seeded by `config.seed`).
    pub async fn new(backend: &'b B, data: &Matrix, config: TrainConfig) -> Result<Self> {
        Ok(Self { backend, run: TrainingRun::new(backend, data, config).await? })
    }

    /// Continues from `state`, drawing batch orders from `rng`.
    pub async fn start(backend: &'b B, state: &TrainState, rng: SeededRng) -> Result<Self> {
        Ok(Self { backend, run: TrainingRun::start(backend, state, rng).await? })
    }

    /// One step on `batch`, outside the epoch's order (a warm-up); returns its statistics.
    pub async fn step(&mut self, batch: &Matrix) -> Result<StepStats> {
        self.backend.train_step(&mut self.run.training, batch).await
    }

    /// The current state, read back from the backend.
    pub async fn state(&self) -> Result<TrainState> {
        self.run.state(self.backend).await
    }

    /// One pass over `data` in a fresh random order; `on_step` sees each step's statistics.
    /// Returns the mean statistics (the dead fraction of the last step).
    pub async fn epoch(&mut self, data: &Matrix, mut on_step: impl FnMut(&StepStats)) -> Result<StepStats> {
        let mut mean = StepMean::default();
        loop {
            let step = self.run.step(self.backend, data).await?;
            on_step(&step.stats);
            mean.add(&step.stats);
            if step.epoch_ended {
                return Ok(mean.mean());
            }
        }
    }
}
