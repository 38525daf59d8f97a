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

/// The training loop over any backend: the state lives on the backend; this keeps the
/// shuffling and the statistics.
pub struct Trainer<'b, B: TrainOps> {
    backend: &'b B,
    training: B::Training,
    batch: usize,
    rng: SeededRng,
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
        let mut rng = SeededRng::new(config.seed);
        let state = TrainState::init(data, config, &mut rng)?;
        Self::start(backend, &state, rng).await
    }

    /// Continues from `state`, drawing batch orders from `rng`.
    pub async fn start(backend: &'b B, state: &TrainState, rng: SeededRng) -> Result<Self> {
        let training = backend.train_begin(state).await?;
        Ok(Self { backend, training, batch: state.config.batch, rng })
    }

    /// One step on `batch`; returns its statistics.
    pub async fn step(&mut self, batch: &Matrix) -> Result<StepStats> {
        self.backend.train_step(&mut self.training, batch).await
    }

    /// The current state, read back from the backend.
    pub async fn state(&self) -> Result<TrainState> {
        self.backend.train_read(&self.training).await
    }

    /// One pass over `data` in a fresh random order; `on_step` sees each step's statistics.
    /// Returns the mean statistics (the dead fraction of the last step).
    pub async fn epoch(&mut self, data: &Matrix, mut on_step: impl FnMut(&StepStats)) -> Result<StepStats> {
        let mut order = self.rng.distinct(data.rows, data.rows);
        order.truncate(rows_per_epoch(data.rows, self.batch));
        let mut mean = StepStats::default();
        let mut steps = 0.0;
        for chunk in order.chunks(self.batch) {
            let mut batch = Matrix::zeros(chunk.len(), data.cols);
            for (i, &r) in chunk.iter().enumerate() {
                batch.row_mut(i).copy_from_slice(data.row(r));
            }
            let s = self.step(&batch).await?;
            on_step(&s);
            steps += 1.0;
            mean.loss += s.loss;
            mean.nmse += s.nmse;
            mean.aux_loss += s.aux_loss;
            mean.l0 += s.l0;
            mean.grad_norm += s.grad_norm;
            mean.dead_fraction = s.dead_fraction;
        }
        for v in [&mut mean.loss, &mut mean.nmse, &mut mean.aux_loss, &mut mean.l0, &mut mean.grad_norm] {
            *v /= steps;
        }
        Ok(mean)
    }
}
