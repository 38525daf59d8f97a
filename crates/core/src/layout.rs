//! A 2D map of the documents: UMAP (McInnes, Healy and Melville 2018) as umap-learn computes it
//! for `metric="cosine"`, read top to bottom:
//!
//! 1. [`knn_graph`]: each point's nearest neighbours (exact or NN-descent, `crate::knn`);
//! 2. [`fuzzy_graph`]: neighbour distances become edge weights (each point's distances are
//!    shifted by its nearest one and scaled so the weights sum to log2(k)), symmetrised by the
//!    fuzzy union `a + b - ab`;
//! 3. [`pca_init`]: a start from the data's two principal axes (umap-learn's `init="pca"`);
//! 4. [`optimize`]: stochastic gradient descent that pulls each edge's ends together in
//!    proportion to its weight and pushes random pairs apart (negative sampling).
//!
//! Single-threaded and seeded (the matrix products aside), so a seed gives the same map on the
//! same platform; the browser computes it with the same code. `quality` measures a map against
//! the neighbours it should keep.

use crate::error::{Error, Result};
use crate::knn::{knn_graph, KnnGraph};
use crate::matrix::{gemm, Matrix};
use crate::rng::SeededRng;

/// UMAP's settings; the defaults are umap-learn's.
#[derive(Clone, Debug)]
pub struct UmapParams {
    /// Neighbourhood size, counting the point itself, as umap-learn's `n_neighbors` does.
    pub neighbors: usize,
    pub min_dist: f32,
    pub spread: f32,
    /// Optimisation epochs; `None` is umap-learn's choice (500 up to 10k points, else 200).
    pub epochs: Option<usize>,
    pub negative_sample_rate: usize,
    pub learning_rate: f32,
    pub seed: u64,
}

impl Default for UmapParams {
    fn default() -> Self {
        Self {
            neighbors: 15,
            min_dist: 0.1,
            spread: 1.0,
            epochs: None,
            negative_sample_rate: 5,
            learning_rate: 1.0,
            seed: 0,
        }
    }
}

impl UmapParams {
    pub fn epochs_for(&self, points: usize) -> usize {
        self.epochs.unwrap_or(if points <= 10_000 { 500 } else { 200 })
    }
}

/// Where a layout is: `stage` ("neighbours", "graph", "start", "optimise"), `done` of `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutProgress {
    pub stage: &'static str,
    pub done: usize,
    pub total: usize,
}

/// Bumped when the layout's method changes, so stored maps are recomputed.
pub const METHOD_VERSION: u32 = 2;

/// The most epochs a layout runs (umap-learn's defaults are 200 and 500).
pub const MAX_EPOCHS: usize = 10_000;

/// The 2D map of `points` (rows), `rows x 2`.
pub fn umap(points: &Matrix, params: &UmapParams, progress: &mut dyn FnMut(LayoutProgress)) -> Result<Matrix> {
    points.check_finite("points to lay out")?;
    if !(2..=200).contains(&params.neighbors) {
        return Err(Error::Invalid(format!("neighbors must be between 2 and 200, got {}", params.neighbors)));
    }
    let epochs = params.epochs_for(points.rows);
    if epochs == 0 || epochs > MAX_EPOCHS {
        return Err(Error::Invalid(format!("epochs must be between 1 and {MAX_EPOCHS}, got {epochs}")));
    }
    if !(params.min_dist >= 0.0 && params.spread > 0.0 && params.min_dist < params.spread * 3.0) {
        return Err(Error::Invalid(format!(
            "min_dist {} and spread {} do not make a curve",
            params.min_dist, params.spread
        )));
    }
    match points.rows {
        0 => return Ok(Matrix::zeros(0, 2)),
        // One point sits at the origin; too few points for a neighbourhood lie on a line.
        n if n <= 3 => return Matrix::new(n, 2, (0..n).flat_map(|i| [i as f32, 0.0]).collect()),
        _ => {}
    }
    let k = (params.neighbors - 1).min(points.rows - 1);
    let knn = knn_graph(points, k, params.seed, &mut |done, total| {
        progress(LayoutProgress { stage: "neighbours", done, total })
    })?;
    progress(LayoutProgress { stage: "graph", done: 0, total: 1 });
    let graph = fuzzy_graph(&knn, epochs);
    progress(LayoutProgress { stage: "graph", done: 1, total: 1 });
    progress(LayoutProgress { stage: "start", done: 0, total: 1 });
    let start = pca_init(points, params.seed);
    progress(LayoutProgress { stage: "start", done: 1, total: 1 });
    optimize(&graph, start, epochs, params, &mut |done, total| {
        progress(LayoutProgress { stage: "optimise", done, total })
    })
}

/// The symmetric weighted neighbour graph UMAP optimises, both directions of every edge,
/// sorted by (head, tail).
#[derive(Clone, Debug, PartialEq)]
pub struct FuzzyGraph {
    pub points: usize,
    pub heads: Vec<u32>,
    pub tails: Vec<u32>,
    pub weights: Vec<f32>,
}

/// Edge weights from neighbour distances (umap-learn's `smooth_knn_dist` and
/// `fuzzy_simplicial_set` with `local_connectivity = 1`, `set_op_mix_ratio = 1`); edges too weak
/// to be sampled once in `epochs` are dropped, as umap-learn drops them.
pub fn fuzzy_graph(knn: &KnnGraph, epochs: usize) -> FuzzyGraph {
    let (n, k) = (knn.rows(), knn.k);
    // umap-learn's n_neighbors counts the point itself (at distance 0).
    let target = ((k + 1) as f64).log2();
    let mean_all = knn.distances.iter().map(|&d| d as f64).sum::<f64>() / (n * k).max(1) as f64;
    let mut directed: Vec<(u32, u32, f32)> = Vec::with_capacity(n * k);
    for i in 0..n {
        let (ids, dist) = knn.row(i);
        let rho = dist.iter().copied().find(|&d| d > 0.0).unwrap_or(0.0) as f64;
        let (mut lo, mut hi, mut sigma) = (0.0f64, f64::INFINITY, 1.0f64);
        for _ in 0..64 {
            let sum: f64 =
                dist.iter().map(|&d| d as f64 - rho).map(|d| if d > 0.0 { (-d / sigma).exp() } else { 1.0 }).sum();
            if (sum - target).abs() < 1e-5 {
                break;
            }
            if sum > target {
                hi = sigma;
                sigma = (lo + hi) / 2.0;
            } else {
                lo = sigma;
                sigma = if hi.is_infinite() { sigma * 2.0 } else { (lo + hi) / 2.0 };
            }
        }
        let mean_i = dist.iter().map(|&d| d as f64).sum::<f64>() / k as f64;
        let floor = 1e-3 * if rho > 0.0 { mean_i } else { mean_all };
        sigma = sigma.max(floor);
        for (&j, &d) in ids.iter().zip(dist) {
            let over = d as f64 - rho;
            let w = if over <= 0.0 || sigma == 0.0 { 1.0 } else { (-over / sigma).exp() };
            directed.push((i as u32, j, w as f32));
        }
    }
    // Fuzzy union: w(i,j) = a + b - ab, where a is i's weight for j and b is j's for i.
    let mut pairs: Vec<(u32, u32, f32)> =
        directed.iter().map(|&(i, j, w)| if i < j { (i, j, w) } else { (j, i, w) }).collect();
    pairs.sort_unstable_by_key(|e| (e.0, e.1));
    let mut edges: Vec<(u32, u32, f32)> = Vec::with_capacity(pairs.len() * 2);
    let mut at = 0;
    while at < pairs.len() {
        let (i, j, a) = pairs[at];
        let (w, step) = match pairs.get(at + 1) {
            Some(&(i2, j2, b)) if (i2, j2) == (i, j) => (a + b - a * b, 2),
            _ => (a, 1),
        };
        edges.push((i, j, w));
        edges.push((j, i, w));
        at += step;
    }
    let max = edges.iter().map(|e| e.2).fold(0.0f32, f32::max);
    edges.retain(|e| e.2 >= max / epochs as f32 && e.2 > 0.0);
    edges.sort_unstable_by_key(|e| (e.0, e.1));
    FuzzyGraph {
        points: n,
        heads: edges.iter().map(|e| e.0).collect(),
        tails: edges.iter().map(|e| e.1).collect(),
        weights: edges.iter().map(|e| e.2).collect(),
    }
}

/// The start of the optimisation: each point's coordinates on the data's first two principal
/// axes, scaled to [0, 10] per axis (umap-learn's `init="pca"`). The axes come from at most
/// 20k evenly spaced rows (plenty for a 2x2 answer) by orthogonal iteration on the covariance.
pub fn pca_init(points: &Matrix, seed: u64) -> Matrix {
    let (n, dim) = (points.rows, points.cols);
    let step = n.div_ceil(20_000).max(1);
    let sample: Vec<usize> = (0..n).step_by(step).collect();
    let mut mean = vec![0f64; dim];
    for &r in &sample {
        for (m, &v) in mean.iter_mut().zip(points.row(r)) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= sample.len() as f64);
    let mut centred = Vec::with_capacity(sample.len() * dim);
    for &r in &sample {
        centred.extend(points.row(r).iter().zip(&mean).map(|(&v, &m)| (v as f64 - m) as f32));
    }
    let mut cov = vec![0f32; dim * dim];
    gemm(dim, sample.len(), dim, &centred, true, &centred, false, 0.0, &mut cov);
    // Orthogonal iteration for the top two eigenvectors of the covariance.
    let mut rng = SeededRng::new(seed ^ 0x9e37_79b9);
    let mut axes: Vec<Vec<f64>> = (0..2).map(|_| (0..dim).map(|_| rng.normal() as f64).collect()).collect();
    for _ in 0..300 {
        for axis in axes.iter_mut() {
            let next: Vec<f64> = (0..dim)
                .map(|r| cov[r * dim..(r + 1) * dim].iter().zip(axis.iter()).map(|(&c, &a)| c as f64 * a).sum())
                .collect();
            *axis = next;
        }
        let (first, second) = axes.split_at_mut(1);
        let (u, v) = (&mut first[0], &mut second[0]);
        normalise(u);
        let along: f64 = u.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
        v.iter_mut().zip(u.iter()).for_each(|(b, a)| *b -= along * a);
        normalise(v);
    }
    let mut out = Matrix::zeros(n, 2);
    for r in 0..n {
        for (c, axis) in axes.iter().enumerate() {
            out.data[r * 2 + c] =
                points.row(r).iter().zip(axis).zip(&mean).map(|((&v, &a), &m)| (v as f64 - m) * a).sum::<f64>() as f32;
        }
    }
    // A whisper of noise separates duplicates, which would otherwise never move apart.
    for v in out.data.iter_mut() {
        *v += 1e-4 * rng.normal();
    }
    scale_to_box(&mut out, 10.0);
    out
}

fn normalise(v: &mut [f64]) {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Scales each column of an `n x 2` layout to [0, `size`].
fn scale_to_box(layout: &mut Matrix, size: f32) {
    for c in 0..layout.cols {
        let column = (0..layout.rows).map(|r| layout.data[r * layout.cols + c]);
        let (lo, hi) = column.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let span = if hi > lo { hi - lo } else { 1.0 };
        for r in 0..layout.rows {
            let v = &mut layout.data[r * layout.cols + c];
            *v = size * (*v - lo) / span;
        }
    }
}

/// The curve `1 / (1 + a d^(2b))` closest (least squares) to 1 below `min_dist` and
/// `exp(-(d - min_dist) / spread)` above, on 300 points of [0, 3 spread] (umap-learn's
/// `find_ab_params`), by Gauss-Newton from umap-learn's defaults.
pub fn find_ab(spread: f32, min_dist: f32) -> (f32, f32) {
    let xs: Vec<f64> = (0..300).map(|i| 3.0 * spread as f64 * i as f64 / 299.0).collect();
    let target = |x: f64| if x < min_dist as f64 { 1.0 } else { (-(x - min_dist as f64) / spread as f64).exp() };
    let curve = |a: f64, b: f64, x: f64| 1.0 / (1.0 + a * x.powf(2.0 * b));
    let (mut a, mut b) = (1.5f64, 0.9f64);
    for _ in 0..100 {
        // Normal equations of the 2-parameter linearised problem.
        let (mut jtj, mut jtr) = ([[0f64; 2]; 2], [0f64; 2]);
        for &x in &xs {
            if x == 0.0 {
                continue; // the curve is 1 there for every (a, b)
            }
            let p = x.powf(2.0 * b);
            let denom = (1.0 + a * p).powi(2);
            let da = -p / denom;
            let db = -a * p * 2.0 * x.ln() / denom;
            let r = target(x) - curve(a, b, x);
            let j = [da, db];
            for u in 0..2 {
                jtr[u] += j[u] * r;
                for v in 0..2 {
                    jtj[u][v] += j[u] * j[v];
                }
            }
        }
        let det = jtj[0][0] * jtj[1][1] - jtj[0][1] * jtj[1][0];
        if det.abs() < 1e-300 {
            break;
        }
        let step_a = (jtj[1][1] * jtr[0] - jtj[0][1] * jtr[1]) / det;
        let step_b = (jtj[0][0] * jtr[1] - jtj[1][0] * jtr[0]) / det;
        a = (a + step_a).max(1e-6);
        b = (b + step_b).max(1e-6);
        if step_a.abs() < 1e-12 && step_b.abs() < 1e-12 {
            break;
        }
    }
    (a as f32, b as f32)
}

/// umap-learn's gradient clip.
const CLIP: f32 = 4.0;

/// UMAP's stochastic gradient descent on `graph` from `start` (`n x 2`), as umap-learn's
/// `optimize_layout_euclidean` (both ends of an edge move; the learning rate falls linearly to
/// 0). `progress` is told after each epoch.
pub fn optimize(
    graph: &FuzzyGraph,
    start: Matrix,
    epochs: usize,
    params: &UmapParams,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Matrix> {
    if start.rows != graph.points || start.cols != 2 {
        return Err(Error::Shape(format!(
            "a start of {} x {} for a graph of {} points",
            start.rows, start.cols, graph.points
        )));
    }
    let (a, b) = find_ab(params.spread, params.min_dist);
    let n = graph.points;
    let max = graph.weights.iter().copied().fold(0.0f32, f32::max);
    let epochs_per_sample: Vec<f32> = graph.weights.iter().map(|&w| max / w).collect();
    let negative_rate = params.negative_sample_rate as f32;
    let epochs_per_negative: Vec<f32> = epochs_per_sample.iter().map(|&e| e / negative_rate).collect();
    let mut next_sample = epochs_per_sample.clone();
    let mut next_negative = epochs_per_negative.clone();
    let mut rng = SeededRng::new(params.seed);
    let mut layout = start;
    let xy = &mut layout.data;
    for epoch in 0..epochs {
        let alpha = params.learning_rate * (1.0 - epoch as f32 / epochs as f32);
        let now = epoch as f32;
        for e in 0..graph.heads.len() {
            if next_sample[e] > now {
                continue;
            }
            let (j, k) = (graph.heads[e] as usize, graph.tails[e] as usize);
            let (dx, dy) = (xy[2 * j] - xy[2 * k], xy[2 * j + 1] - xy[2 * k + 1]);
            let d2 = dx * dx + dy * dy;
            if d2 > 0.0 {
                // d2^(b-1) as d2^b / d2: one power instead of two in the hottest line.
                let pow_b = d2.powf(b);
                let coeff = -2.0 * a * b * (pow_b / d2) / (a * pow_b + 1.0);
                let (gx, gy) = ((coeff * dx).clamp(-CLIP, CLIP) * alpha, (coeff * dy).clamp(-CLIP, CLIP) * alpha);
                xy[2 * j] += gx;
                xy[2 * j + 1] += gy;
                xy[2 * k] -= gx;
                xy[2 * k + 1] -= gy;
            }
            next_sample[e] += epochs_per_sample[e];
            let negatives = ((now - next_negative[e]) / epochs_per_negative[e]).max(0.0) as usize;
            for _ in 0..negatives {
                let other = rng.below(n);
                if other == j {
                    continue;
                }
                let (dx, dy) = (xy[2 * j] - xy[2 * other], xy[2 * j + 1] - xy[2 * other + 1]);
                let d2 = dx * dx + dy * dy;
                let (gx, gy) = if d2 > 0.0 {
                    let coeff = 2.0 * b / ((0.001 + d2) * (a * d2.powf(b) + 1.0));
                    ((coeff * dx).clamp(-CLIP, CLIP), (coeff * dy).clamp(-CLIP, CLIP))
                } else {
                    (CLIP, CLIP) // two points on top of each other: push apart at full strength
                };
                xy[2 * j] += gx * alpha;
                xy[2 * j + 1] += gy * alpha;
            }
            next_negative[e] += negatives as f32 * epochs_per_negative[e];
        }
        progress(epoch + 1, epochs);
    }
    layout.check_finite("the layout")?;
    Ok(layout)
}

/// A layout read from outside must be `rows x 2` and finite.
pub fn check_layout(layout: &Matrix, rows: usize) -> Result<()> {
    if layout.cols != 2 || layout.rows != rows {
        return Err(Error::Shape(format!(
            "a layout has one 2D point per document: expected {rows} x 2, got {} x {}",
            layout.rows, layout.cols
        )));
    }
    layout.check_finite("the layout")
}

/// How well a 2D map keeps each point's high-dimensional neighbours (cosine there, Euclidean on
/// the map). Exact, so O(n^2): for samples of a few thousand points.
pub mod quality {
    use super::*;
    use crate::knn::{exact_knn, Nearest};

    /// Trustworthiness@k (Venna and Kaski; scikit-learn's `trustworthiness`): 1 minus a penalty
    /// for each point's map neighbours that are not among its `k` nearest in the data, by how
    /// far down the data's ranking they are.
    pub fn trustworthiness(high: &Matrix, low: &Matrix, k: usize) -> Result<f64> {
        let n = high.rows;
        check_pair(high, low, k)?;
        let map_neighbours = euclidean_knn(low, k);
        let unit = {
            let mut u = high.clone();
            (0..n).for_each(|r| crate::matrix::normalize(u.row_mut(r)));
            u
        };
        let mut penalty = 0f64;
        let mut sims = vec![0f32; n];
        let mut rank = vec![0usize; n];
        let mut order: Vec<u32> = Vec::with_capacity(n);
        for i in 0..n {
            gemm(1, high.cols, n, unit.row(i), false, &unit.data, true, 0.0, &mut sims);
            order.clear();
            order.extend((0..n as u32).filter(|&j| j as usize != i));
            order.sort_unstable_by(|&x, &y| sims[y as usize].total_cmp(&sims[x as usize]).then(x.cmp(&y)));
            for (r, &j) in order.iter().enumerate() {
                rank[j as usize] = r + 1;
            }
            for &j in &map_neighbours[i * k..(i + 1) * k] {
                let r = rank[j as usize];
                if r > k {
                    penalty += (r - k) as f64;
                }
            }
        }
        let (n, k) = (n as f64, k as f64);
        Ok(1.0 - 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) * penalty)
    }

    /// The share of each point's `k` nearest data neighbours that are among its `k` nearest on
    /// the map.
    pub fn neighbour_recall(high: &Matrix, low: &Matrix, k: usize) -> Result<f64> {
        check_pair(high, low, k)?;
        let data = exact_knn(high, k, &mut |_, _| {})?;
        let map = euclidean_knn(low, k);
        let found: usize =
            (0..high.rows).map(|i| data.row(i).0.iter().filter(|j| map[i * k..(i + 1) * k].contains(j)).count()).sum();
        Ok(found as f64 / (high.rows * k) as f64)
    }

    fn check_pair(high: &Matrix, low: &Matrix, k: usize) -> Result<()> {
        check_layout(low, high.rows)?;
        if k == 0 || 2 * high.rows <= 3 * k + 1 {
            return Err(Error::Invalid(format!("k = {k} is too large for {} points", high.rows)));
        }
        Ok(())
    }

    /// Each map point's `k` nearest other map points (brute force).
    fn euclidean_knn(low: &Matrix, k: usize) -> Vec<u32> {
        let n = low.rows;
        let mut ids = vec![u32::MAX; n * k];
        let mut dist = vec![f32::INFINITY; k];
        for (i, row) in ids.chunks_mut(k).enumerate() {
            dist.fill(f32::INFINITY);
            let mut nearest = Nearest { ids: row, dist: &mut dist };
            let (x, y) = (low.data[2 * i], low.data[2 * i + 1]);
            for j in (0..n).filter(|&j| j != i) {
                let (dx, dy) = (low.data[2 * j] - x, low.data[2 * j + 1] - y);
                nearest.insert(j as u32, dx * dx + dy * dy);
            }
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::quality::{neighbour_recall, trustworthiness};
    use super::*;

    /// `clusters` well-separated groups of `per` points in 24 dimensions.
    fn groups(clusters: usize, per: usize, seed: u64) -> (Matrix, Vec<usize>) {
        let mut rng = SeededRng::new(seed);
        let centres: Vec<Vec<f32>> = (0..clusters).map(|_| (0..24).map(|_| rng.normal()).collect()).collect();
        let mut data = Vec::new();
        let mut label = Vec::new();
        for i in 0..clusters * per {
            let c = i % clusters;
            data.extend(centres[c].iter().map(|&v| v + 0.15 * rng.normal()));
            label.push(c);
        }
        (Matrix::new(clusters * per, 24, data).unwrap(), label)
    }

    #[test]
    fn ab_params_match_umap_learn() {
        // umap-learn 0.5: find_ab_params(1.0, 0.1) = (1.5769, 0.8951).
        let (a, b) = find_ab(1.0, 0.1);
        assert!((a - 1.5769).abs() < 2e-3 && (b - 0.8951).abs() < 1e-3, "a {a} b {b}");
    }

    #[test]
    fn fuzzy_graph_is_symmetric_with_weights_in_unit_interval() {
        let (points, _) = groups(3, 40, 1);
        let knn = crate::knn::exact_knn(&points, 9, &mut |_, _| {}).unwrap();
        let g = fuzzy_graph(&knn, 500);
        let mut edges: Vec<(u32, u32, f32)> =
            (0..g.heads.len()).map(|e| (g.heads[e], g.tails[e], g.weights[e])).collect();
        for &(i, j, w) in &edges {
            assert!(w > 0.0 && w <= 1.0 && i != j);
        }
        let mut reversed: Vec<(u32, u32, f32)> = edges.iter().map(|&(i, j, w)| (j, i, w)).collect();
        edges.sort_by_key(|e| (e.0, e.1));
        reversed.sort_by_key(|e| (e.0, e.1));
        assert_eq!(edges, reversed);
        // Each point's nearest neighbour gets weight 1 (its distance is rho).
        for i in 0..points.rows {
            let nearest = knn.row(i).0[0];
            let e = (0..g.heads.len()).find(|&e| g.heads[e] == i as u32 && g.tails[e] == nearest).unwrap();
            assert!((g.weights[e] - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn clusters_stay_apart_on_the_map_and_a_seed_repeats_it() {
        let (points, label) = groups(4, 100, 2);
        let params = UmapParams { epochs: Some(200), seed: 3, ..Default::default() };
        let mut stages = Vec::new();
        let layout = umap(&points, &params, &mut |p| {
            if stages.last() != Some(&p.stage) {
                stages.push(p.stage)
            }
        })
        .unwrap();
        assert_eq!(stages, ["neighbours", "graph", "start", "optimise"]);
        assert_eq!((layout.rows, layout.cols), (400, 2));
        // Every point's nearest map neighbour is from its own group.
        let mut same = 0;
        for i in 0..400 {
            let nearest = (0..400)
                .filter(|&j| j != i)
                .min_by(|&p, &q| {
                    let d = |j: usize| {
                        (layout.data[2 * i] - layout.data[2 * j]).powi(2)
                            + (layout.data[2 * i + 1] - layout.data[2 * j + 1]).powi(2)
                    };
                    d(p).total_cmp(&d(q))
                })
                .unwrap();
            same += (label[nearest] == label[i]) as usize;
        }
        assert_eq!(same, 400);
        let t = trustworthiness(&points, &layout, 10).unwrap();
        assert!(t > 0.9, "trustworthiness {t}");
        assert_eq!(layout, umap(&points, &params, &mut |_| {}).unwrap(), "same seed, same map");
        assert_ne!(layout, umap(&points, &UmapParams { seed: 4, ..params }, &mut |_| {}).unwrap());
    }

    #[test]
    fn quality_measures_tell_a_good_map_from_a_scrambled_one() {
        // Data that is nearly flat (two wide axes, six thin ones): its principal-axes map keeps
        // the neighbours; the same points shuffled do not.
        let mut rng = SeededRng::new(1);
        let n = 400;
        let wide = |i: usize| match i % 8 {
            0 => 10.0,
            1 => 5.0,
            _ => 0.1,
        };
        let points = Matrix::new(n, 8, (0..n * 8).map(|i| rng.normal() * wide(i)).collect()).unwrap();
        let good = pca_init(&points, 1);
        let mut bad = good.clone();
        for i in (1..n).rev() {
            let j = rng.below(i + 1);
            bad.data.swap(2 * i, 2 * j);
            bad.data.swap(2 * i + 1, 2 * j + 1);
        }
        let (tg, tb) = (trustworthiness(&points, &good, 10).unwrap(), trustworthiness(&points, &bad, 10).unwrap());
        // A random map scores about 0.5.
        assert!(tg > 0.95 && (0.4..0.6).contains(&tb), "good {tg}, scrambled {tb}");
        let (rg, rb) = (neighbour_recall(&points, &good, 10).unwrap(), neighbour_recall(&points, &bad, 10).unwrap());
        assert!(rg > 0.25 && rb < 0.1, "good {rg}, scrambled {rb}");
    }

    #[test]
    fn tiny_and_bad_inputs() {
        let one = Matrix::new(1, 3, vec![1.0, 2.0, 3.0]).unwrap();
        assert_eq!(umap(&one, &UmapParams::default(), &mut |_| {}).unwrap().rows, 1);
        let nan = Matrix::new(5, 2, vec![0.0, 1.0, f32::NAN, 1.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0]).unwrap();
        assert!(umap(&nan, &UmapParams::default(), &mut |_| {}).is_err());
        let (points, _) = groups(2, 10, 1);
        assert!(umap(&points, &UmapParams { epochs: Some(0), ..Default::default() }, &mut |_| {}).is_err());
        assert!(umap(&points, &UmapParams { neighbors: 1, ..Default::default() }, &mut |_| {}).is_err());
        // Fewer points than neighbours: the neighbourhood shrinks to fit.
        assert_eq!(
            umap(&points, &UmapParams { epochs: Some(20), ..Default::default() }, &mut |_| {}).unwrap().rows,
            20
        );
        let wrong = Matrix::zeros(19, 2);
        assert!(check_layout(&wrong, 20).is_err());
        let mut inf = Matrix::zeros(20, 2);
        inf.data[7] = f32::INFINITY;
        assert!(check_layout(&inf, 20).unwrap_err().to_string().contains("non-finite"));
    }
}
