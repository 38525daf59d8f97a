//! Reconstruction and sparsity metrics of arXiv 2408.00657: normalised MSE, L0, dead latents,
//! per-feature density and the log10-density histogram.

use crate::codes::SparseCodes;
use crate::matrix::Matrix;
use serde::{Deserialize, Serialize};

/// `sum((x_hat - x)^2) / sum((mean(x) - x)^2)`: 1.0 for predicting the mean, 0.0 for perfect.
pub fn normalized_mse(x: &Matrix, x_hat: &Matrix) -> f64 {
    let err: f64 = x.data.iter().zip(&x_hat.data).map(|(v, h)| (*h as f64 - *v as f64).powi(2)).sum();
    let base = centered_sum_sq(&x.data, x.rows, x.cols);
    if base > 0.0 {
        err / base
    } else {
        err
    }
}

/// `sum |r - mean_rows(r)|^2` over a row-major `[rows, cols]` buffer, in f64: the NMSE baseline
/// (the error of predicting every row by the mean row).
pub fn centered_sum_sq(data: &[f32], rows: usize, cols: usize) -> f64 {
    let mut mean = vec![0.0f64; cols];
    for r in 0..rows {
        for (m, v) in mean.iter_mut().zip(&data[r * cols..(r + 1) * cols]) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows.max(1) as f64);
    let mut s = 0.0;
    for r in 0..rows {
        for (m, v) in mean.iter().zip(&data[r * cols..(r + 1) * cols]) {
            s += (*v as f64 - m).powi(2);
        }
    }
    s
}

/// Fraction of documents on which each latent is active (value > 0).
pub fn feature_density(codes: &SparseCodes) -> Vec<f64> {
    let mut counts = vec![0u64; codes.d_sae];
    for r in 0..codes.rows() {
        for (j, _) in codes.active(r) {
            counts[j as usize] += 1;
        }
    }
    let n = codes.rows().max(1) as f64;
    counts.into_iter().map(|c| c as f64 / n).collect()
}

/// Histogram of log10(density) over live latents, with fixed bins from -7 to 0.
#[derive(ts_rs::TS, Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DensityHistogram {
    pub bin_edges: Vec<f64>,
    pub counts: Vec<u64>,
    /// Latents never active (log10 density undefined), counted apart.
    pub dead: u64,
}

pub fn density_histogram(density: &[f64], bins: usize) -> DensityHistogram {
    let (lo, hi) = (-7.0, 0.0);
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0u64; bins];
    let mut dead = 0;
    for &d in density {
        if d <= 0.0 {
            dead += 1;
            continue;
        }
        let b = ((d.log10() - lo) / width).floor().clamp(0.0, (bins - 1) as f64) as usize;
        counts[b] += 1;
    }
    DensityHistogram { bin_edges: (0..=bins).map(|i| lo + i as f64 * width).collect(), counts, dead }
}

/// A histogram over fixed, evenly spaced bins.
#[derive(ts_rs::TS, Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Histogram {
    pub bin_edges: Vec<f64>,
    pub counts: Vec<u64>,
}

/// Histogram of `values` over `bins` equal bins spanning [0, max(values)].
pub fn histogram(values: impl Iterator<Item = f32> + Clone, bins: usize) -> Histogram {
    let max = values.clone().fold(0.0f32, f32::max) as f64;
    let width = if max > 0.0 { max / bins as f64 } else { 1.0 };
    let mut counts = vec![0u64; bins];
    for v in values {
        let b = ((v as f64 / width).floor() as usize).min(bins - 1);
        counts[b] += 1;
    }
    Histogram { bin_edges: (0..=bins).map(|i| i as f64 * width).collect(), counts }
}

/// The activation histogram of one feature over the documents where it is active.
pub fn feature_activation_histogram(codes: &SparseCodes, feature: u32, bins: usize) -> Histogram {
    let values: Vec<f32> =
        (0..codes.rows()).flat_map(|r| codes.active(r).filter(|&(j, _)| j == feature).map(|(_, v)| v)).collect();
    histogram(values.into_iter(), bins)
}

/// The summary `saescope metrics` prints.
#[derive(ts_rs::TS, Clone, Debug, Serialize, Deserialize)]
pub struct Metrics {
    pub documents: usize,
    pub normalized_mse: f64,
    /// Mean number of active latents per document.
    pub l0: f64,
    pub dead_fraction: f64,
    pub density_histogram: DensityHistogram,
    /// All active (non-zero) activations.
    pub activation_histogram: Histogram,
}

/// Accumulates metrics over chunks, so a corpus never has to be in memory at once.
/// NMSE's baseline uses `sum |x - mean|^2 = sum |x|^2 - n |mean|^2`, in f64.
#[derive(Clone, Debug)]
pub struct MetricsAccumulator {
    rows: usize,
    sum: Vec<f64>,
    sum_sq: f64,
    err: f64,
    active: usize,
    fires: Vec<u64>,
    activations: Vec<f32>,
}

impl MetricsAccumulator {
    pub fn new(d_in: usize, d_sae: usize) -> Self {
        Self {
            rows: 0,
            sum: vec![0.0; d_in],
            sum_sq: 0.0,
            err: 0.0,
            active: 0,
            fires: vec![0; d_sae],
            activations: Vec::new(),
        }
    }

    pub fn add(&mut self, x: &Matrix, x_hat: &Matrix, codes: &SparseCodes) {
        for r in 0..x.rows {
            for ((s, v), h) in self.sum.iter_mut().zip(x.row(r)).zip(x_hat.row(r)) {
                *s += *v as f64;
                self.sum_sq += (*v as f64).powi(2);
                self.err += (*h as f64 - *v as f64).powi(2);
            }
            for (j, v) in codes.active(r) {
                self.fires[j as usize] += 1;
                self.active += 1;
                self.activations.push(v);
            }
        }
        self.rows += x.rows;
    }

    /// The metrics of every row added; none is an error (an empty set has no NMSE, and 0.0
    /// would read as a perfect SAE).
    pub fn finish(&self) -> crate::error::Result<Metrics> {
        if self.rows == 0 {
            return Err(crate::error::Error::Invalid("no embeddings to measure (0 rows)".into()));
        }
        let n = self.rows as f64;
        let base = self.sum_sq - self.sum.iter().map(|s| s * s).sum::<f64>() / n;
        let density: Vec<f64> = self.fires.iter().map(|&c| c as f64 / n).collect();
        Ok(Metrics {
            documents: self.rows,
            normalized_mse: if base > 0.0 { self.err / base } else { self.err },
            l0: self.active as f64 / n,
            dead_fraction: density.iter().filter(|&&d| d == 0.0).count() as f64 / density.len().max(1) as f64,
            density_histogram: density_histogram(&density, 28),
            activation_histogram: histogram(self.activations.iter().copied(), 32),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_rows_is_an_error_not_a_perfect_score() {
        // Defect 14: metrics on 0 rows reported normalised MSE 0.0.
        let acc = MetricsAccumulator::new(4, 8);
        assert!(acc.finish().unwrap_err().to_string().contains("0 rows"));
    }

    #[test]
    fn nmse_is_one_for_the_mean_and_zero_for_exact() {
        let x = Matrix::new(2, 2, vec![1.0, 0.0, 3.0, 2.0]).unwrap();
        let mean = Matrix::new(2, 2, vec![2.0, 1.0, 2.0, 1.0]).unwrap();
        assert!((normalized_mse(&x, &mean) - 1.0).abs() < 1e-12);
        assert_eq!(normalized_mse(&x, &x), 0.0);
    }

    #[test]
    fn accumulator_agrees_with_one_pass_nmse() {
        let x = Matrix::new(3, 2, vec![1.0, 0.0, 3.0, 2.0, -1.0, 0.5]).unwrap();
        let x_hat = Matrix::new(3, 2, vec![0.9, 0.1, 2.5, 2.0, -1.0, 0.0]).unwrap();
        let codes = SparseCodes::new(1, 2, vec![0, 1, 1], vec![1.0, 1.0, 0.0]).unwrap();
        let mut acc = MetricsAccumulator::new(2, 2);
        acc.add(
            &x.slice_rows(0, 2),
            &x_hat.slice_rows(0, 2),
            &SparseCodes::new(1, 2, vec![0, 1], vec![1.0, 1.0]).unwrap(),
        );
        acc.add(&x.slice_rows(2, 3), &x_hat.slice_rows(2, 3), &SparseCodes::new(1, 2, vec![1], vec![0.0]).unwrap());
        let m = acc.finish().unwrap();
        assert!((m.normalized_mse - normalized_mse(&x, &x_hat)).abs() < 1e-12);
        assert!((m.l0 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(feature_density(&codes), vec![1.0 / 3.0, 1.0 / 3.0]);
    }

    #[test]
    fn activation_histograms_bin_by_value() {
        let codes = SparseCodes::new(2, 3, vec![0, 1, 0, 2, 0, 1], vec![1.0, 0.5, 4.0, 0.0, 2.0, 3.9]).unwrap();
        let h = feature_activation_histogram(&codes, 0, 4);
        assert_eq!(h.counts, vec![0, 1, 1, 1]); // 1.0, 2.0 and 4.0 (the top edge, in the last bin)
        assert_eq!(h.bin_edges, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(feature_activation_histogram(&codes, 2, 4).counts, vec![0, 0, 0, 0]);
        // never active
    }

    #[test]
    fn density_and_histogram_count_live_and_dead() {
        let codes = SparseCodes::new(2, 4, vec![0, 1, 0, 2], vec![1.0, 0.5, 2.0, 0.0]).unwrap();
        assert_eq!(feature_density(&codes), vec![1.0, 0.5, 0.0, 0.0]);
        let h = density_histogram(&feature_density(&codes), 7);
        assert_eq!(h.dead, 2);
        assert_eq!(h.counts.iter().sum::<u64>(), 2);
        assert_eq!(h.counts[6], 2); // log10(1) = 0 and log10(0.5) = -0.3 fall in the top bin
    }
}

/// What a bundle records about each feature.
#[derive(ts_rs::TS, Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FeatureStats {
    pub feature: u32,
    pub density: f64,
    pub max_activation: f32,
    /// Activation histogram over `[0, max_activation]` of the documents where it is active.
    pub histogram: Vec<u64>,
    /// The documents with the highest activation: (document, activation), strongest first.
    pub top_documents: Vec<(u32, f32)>,
}

/// Each feature's active documents and activations, `(document, activation)` by document.
pub fn activations_by_feature(codes: &SparseCodes) -> Vec<Vec<(u32, f32)>> {
    let mut per: Vec<Vec<(u32, f32)>> = vec![Vec::new(); codes.d_sae];
    for r in 0..codes.rows() {
        for (j, v) in codes.active(r) {
            per[j as usize].push((r as u32, v));
        }
    }
    per
}

/// Density, activation histogram and top documents of every feature, in one pass over the codes.
pub fn feature_stats(codes: &SparseCodes, bins: usize, top: usize) -> Vec<FeatureStats> {
    let n = codes.rows().max(1) as f64;
    activations_by_feature(codes)
        .into_iter()
        .enumerate()
        .map(|(j, acts)| {
            let h = histogram(acts.iter().map(|a| a.1), bins);
            let max_activation = acts.iter().map(|a| a.1).fold(0.0, f32::max);
            let mut best = acts.clone();
            best.sort_by(crate::topk::rank_order);
            best.truncate(top);
            FeatureStats {
                feature: j as u32,
                density: acts.len() as f64 / n,
                max_activation,
                histogram: h.counts,
                top_documents: best,
            }
        })
        .collect()
}

#[cfg(test)]
mod feature_stats_tests {
    use super::*;

    #[test]
    fn stats_per_feature() {
        let codes = SparseCodes::new(2, 3, vec![0, 1, 0, 2, 0, 1], vec![1.0, 0.5, 4.0, 0.0, 2.0, 3.9]).unwrap();
        let stats = feature_stats(&codes, 4, 2);
        assert_eq!(stats[0].top_documents, vec![(1, 4.0), (2, 2.0)]);
        assert!((stats[0].density - 1.0).abs() < 1e-12);
        assert_eq!(stats[1].top_documents, vec![(2, 3.9), (0, 0.5)]);
        assert_eq!(stats[2].density, 0.0);
        assert!(stats[2].top_documents.is_empty());
    }
}
