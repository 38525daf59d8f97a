//! k-nearest-neighbour graphs under cosine distance (`1 - cos`), the first step of a map
//! ([`crate::layout`]): exact by blocked matrix products, or approximate by NN-descent (Dong,
//! Moses and Li 2011) seeded with random-projection trees, as pynndescent (umap-learn's) does.
//! Both are single-threaded apart from the matrix products and seeded, so a seed gives the same
//! graph every time.

use crate::error::{Error, Result};
use crate::matrix::{dot, gemm, normalize, Matrix};
use crate::rng::SeededRng;

/// Up to this many points, [`knn_graph`] is exact; above, it uses NN-descent, whose cost grows
/// about linearly instead of quadratically (umap-learn's threshold too). On the 20k demo
/// embeddings, 2 cores: exact 21 s, NN-descent 3.7 s with recall@14 0.95.
pub const EXACT_LIMIT: usize = 4_096;

/// Each point's `k` nearest other points, nearest first.
#[derive(Clone, Debug, PartialEq)]
pub struct KnnGraph {
    pub k: usize,
    /// `rows x k` neighbour ids.
    pub indices: Vec<u32>,
    /// `rows x k` cosine distances, ascending in each row.
    pub distances: Vec<f32>,
}

impl KnnGraph {
    pub fn rows(&self) -> usize {
        self.indices.len().checked_div(self.k).unwrap_or(0)
    }

    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let r = i * self.k..(i + 1) * self.k;
        (&self.indices[r.clone()], &self.distances[r])
    }
}

/// How a neighbour search reports progress: `(done, total)` in its own units.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

/// The `k` nearest neighbours of every row of `points` (cosine): exact up to [`EXACT_LIMIT`]
/// rows, NN-descent beyond.
pub fn knn_graph(points: &Matrix, k: usize, seed: u64, progress: Progress) -> Result<KnnGraph> {
    if points.rows <= EXACT_LIMIT {
        exact_knn(points, k, progress)
    } else {
        nn_descent(points, k, seed, progress)
    }
}

fn check_args(points: &Matrix, k: usize) -> Result<()> {
    if points.rows < 2 {
        return Err(Error::Invalid(format!("a neighbour graph needs at least 2 points, got {}", points.rows)));
    }
    if k == 0 || k >= points.rows {
        return Err(Error::Invalid(format!("k = {k} neighbours needs between 1 and {} (points - 1)", points.rows - 1)));
    }
    if points.rows > u32::MAX as usize {
        return Err(Error::Invalid(format!("{} points is more than a neighbour graph can index", points.rows)));
    }
    points.check_finite("points")
}

/// Unit-length copies of the rows, so that a dot product is a cosine.
fn unit_rows(points: &Matrix) -> Matrix {
    let mut unit = points.clone();
    for r in 0..unit.rows {
        normalize(unit.row_mut(r));
    }
    unit
}

/// The `k` best (smallest distance) distinct candidates, kept sorted: the neighbour list of one
/// point. Inserting is a scan of `k` entries, cheap for the k = 15 of a map. Start it with
/// `u32::MAX` ids and infinite distances; of equal distances, the first inserted stays ahead.
pub(crate) struct Nearest<'a> {
    pub(crate) ids: &'a mut [u32],
    pub(crate) dist: &'a mut [f32],
}

impl Nearest<'_> {
    /// Puts `id` at distance `d` into the list if it is nearer than the farthest and not
    /// already there; says whether the list changed.
    pub(crate) fn insert(&mut self, id: u32, d: f32) -> bool {
        let k = self.ids.len();
        if d >= self.dist[k - 1] || self.ids.contains(&id) {
            return false;
        }
        let mut at = k - 1;
        while at > 0 && self.dist[at - 1] > d {
            self.ids[at] = self.ids[at - 1];
            self.dist[at] = self.dist[at - 1];
            at -= 1;
        }
        self.ids[at] = id;
        self.dist[at] = d;
        true
    }
}

/// Exact neighbours: blocks of rows against all rows as one matrix product each.
pub fn exact_knn(points: &Matrix, k: usize, progress: Progress) -> Result<KnnGraph> {
    check_args(points, k)?;
    let (n, dim) = (points.rows, points.cols);
    let unit = unit_rows(points);
    let mut indices = vec![u32::MAX; n * k];
    let mut distances = vec![f32::INFINITY; n * k];
    const BLOCK: usize = 128;
    let mut sims = vec![0f32; BLOCK * n];
    for start in (0..n).step_by(BLOCK) {
        let rows = BLOCK.min(n - start);
        let block = &unit.data[start * dim..(start + rows) * dim];
        gemm(rows, dim, n, block, false, &unit.data, true, 0.0, &mut sims[..rows * n]);
        for r in 0..rows {
            let i = start + r;
            let mut list = Nearest { ids: &mut indices[i * k..(i + 1) * k], dist: &mut distances[i * k..(i + 1) * k] };
            for (j, &s) in sims[r * n..(r + 1) * n].iter().enumerate() {
                if j != i {
                    list.insert(j as u32, (1.0 - s).max(0.0));
                }
            }
        }
        progress(start + rows, n);
    }
    Ok(KnnGraph { k, indices, distances })
}

/// The share of `exact`'s neighbours that `approx` found (recall@k).
pub fn recall(approx: &KnnGraph, exact: &KnnGraph) -> f64 {
    let rows = approx.rows().min(exact.rows());
    let found: usize = (0..rows)
        .map(|i| {
            let (want, _) = exact.row(i);
            approx.row(i).0.iter().filter(|j| want.contains(j)).count()
        })
        .sum();
    found as f64 / (rows * exact.k).max(1) as f64
}

/// Approximate neighbours by NN-descent: start from the points that share a leaf of a few
/// random-projection trees, then repeatedly try each point's neighbours' neighbours, until an
/// iteration improves fewer than 0.1% of the entries.
pub fn nn_descent(points: &Matrix, k: usize, seed: u64, progress: Progress) -> Result<KnnGraph> {
    check_args(points, k)?;
    let n = points.rows;
    let unit = unit_rows(points);
    let mut rng = SeededRng::new(seed);
    let mut indices = vec![u32::MAX; n * k];
    let mut distances = vec![f32::INFINITY; n * k];
    // Whether each entry arrived since its point was last joined (NN-descent's "new" flag).
    let mut fresh = vec![true; n * k];
    let distance = |a: usize, b: usize| (1.0 - dot(unit.row(a), unit.row(b))).max(0.0);
    let insert = |indices: &mut [u32], distances: &mut [f32], fresh: &mut [bool], a: usize, b: usize, d: f32| {
        let r = a * k..(a + 1) * k;
        let mut list = Nearest { ids: &mut indices[r.clone()], dist: &mut distances[r.clone()] };
        if list.insert(b as u32, d) {
            // The new entry's flag: mark the whole row's position of b as fresh.
            let at = list.ids.iter().position(|&x| x == b as u32).expect("just inserted");
            let row = &mut fresh[r];
            // Flags shift with their entries: recompute by moving the tail one step.
            row[at..].rotate_right(1);
            row[at] = true;
            true
        } else {
            false
        }
    };

    // pynndescent's choices: 5 + n^(1/4) trees (at most 32), leaves of max(10, k) points,
    // max(5, log2 n) iterations.
    let trees = (5 + (n as f64).powf(0.25).round() as usize).min(32);
    let leaf_size = k.max(10);
    let iterations = ((n as f64).log2().round() as usize).max(5);
    let total = trees + iterations;
    for tree in 0..trees {
        for leaf in random_projection_leaves(&unit, leaf_size, &mut rng) {
            for (x, &a) in leaf.iter().enumerate() {
                for &b in &leaf[x + 1..] {
                    let d = distance(a, b);
                    insert(&mut indices, &mut distances, &mut fresh, a, b, d);
                    insert(&mut indices, &mut distances, &mut fresh, b, a, d);
                }
            }
        }
        progress(tree + 1, total);
    }
    // Points whose leaves were too small to fill their lists get random neighbours.
    for a in 0..n {
        while indices[a * k + k - 1] == u32::MAX {
            let b = rng.below(n);
            if b != a {
                let d = distance(a, b);
                insert(&mut indices, &mut distances, &mut fresh, a, b, d);
            }
        }
    }

    let max_candidates = k.min(60);
    for iteration in 0..iterations {
        // Each point's new and old candidates: its own neighbours and the points that list it
        // (reverse neighbours), at most `max_candidates` of each, picked by random priority.
        let mut new_cands: Vec<Vec<(f64, u32)>> = vec![Vec::new(); n];
        let mut old_cands: Vec<Vec<(f64, u32)>> = vec![Vec::new(); n];
        for a in 0..n {
            for slot in a * k..(a + 1) * k {
                let b = indices[slot] as usize;
                let priority = rng.uniform();
                let lists = if fresh[slot] { &mut new_cands } else { &mut old_cands };
                push_bounded(&mut lists[a], (priority, b as u32), max_candidates);
                push_bounded(&mut lists[b], (priority, a as u32), max_candidates);
            }
        }
        // Entries picked as new candidates become old.
        for (a, picked) in new_cands.iter().enumerate() {
            for slot in a * k..(a + 1) * k {
                if fresh[slot] && picked.iter().any(|&(_, b)| b == indices[slot]) {
                    fresh[slot] = false;
                }
            }
        }
        let mut updates = 0usize;
        for (new, old) in new_cands.iter().zip(&old_cands) {
            for (x, &(_, p)) in new.iter().enumerate() {
                let p = p as usize;
                let others = new[x + 1..].iter().chain(old.iter());
                for &(_, q) in others {
                    let q = q as usize;
                    if p == q {
                        continue;
                    }
                    let d = distance(p, q);
                    updates += insert(&mut indices, &mut distances, &mut fresh, p, q, d) as usize;
                    updates += insert(&mut indices, &mut distances, &mut fresh, q, p, d) as usize;
                }
            }
        }
        progress(trees + iteration + 1, total);
        if (updates as f64) < 0.001 * (n * k) as f64 {
            break;
        }
    }
    progress(total, total);
    Ok(KnnGraph { k, indices, distances })
}

/// Keeps the `cap` entries of highest priority (a sample of candidates that does not depend on
/// the order they come in).
fn push_bounded(list: &mut Vec<(f64, u32)>, entry: (f64, u32), cap: usize) {
    if list.iter().any(|&(_, id)| id == entry.1) {
        return;
    }
    if list.len() < cap {
        list.push(entry);
    } else if let Some((lowest, _)) =
        list.iter().enumerate().min_by(|a, b| a.1 .0.total_cmp(&b.1 .0)).filter(|(_, e)| e.0 < entry.0)
    {
        list[lowest] = entry;
    }
}

/// The leaves of one random-projection tree over unit vectors: each node splits its points by
/// the hyperplane between two random members (angular split, as pynndescent's), until at most
/// `leaf_size` remain.
fn random_projection_leaves(unit: &Matrix, leaf_size: usize, rng: &mut SeededRng) -> Vec<Vec<usize>> {
    let mut leaves = Vec::new();
    let mut stack = vec![(0..unit.rows).collect::<Vec<usize>>()];
    let mut normal = vec![0f32; unit.cols];
    while let Some(node) = stack.pop() {
        if node.len() <= leaf_size {
            leaves.push(node);
            continue;
        }
        let a = node[rng.below(node.len())];
        let mut b = node[rng.below(node.len())];
        if a == b {
            b = node[(node.iter().position(|&x| x == a).unwrap_or(0) + 1) % node.len()];
        }
        for ((n, x), y) in normal.iter_mut().zip(unit.row(a)).zip(unit.row(b)) {
            *n = x - y;
        }
        let (mut left, mut right): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
        for &p in &node {
            let side = dot(&normal, unit.row(p));
            let goes_left = if side == 0.0 { rng.uniform() < 0.5 } else { side > 0.0 };
            if goes_left {
                left.push(p);
            } else {
                right.push(p);
            }
        }
        if left.is_empty() || right.is_empty() {
            // Duplicates or a degenerate split: halve at random instead.
            let mut all = node;
            for i in (1..all.len()).rev() {
                all.swap(i, rng.below(i + 1));
            }
            right = all.split_off(all.len() / 2);
            left = all;
        }
        stack.push(left);
        stack.push(right);
    }
    leaves
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points on a few well-separated clusters in 32 dimensions, with noise.
    fn clustered(n: usize, seed: u64) -> Matrix {
        let mut rng = SeededRng::new(seed);
        let centres: Vec<Vec<f32>> = (0..8).map(|_| (0..32).map(|_| rng.normal()).collect()).collect();
        let mut data = Vec::with_capacity(n * 32);
        for i in 0..n {
            let c = &centres[i % 8];
            data.extend(c.iter().map(|&v| v + 0.4 * rng.normal()));
        }
        Matrix::new(n, 32, data).unwrap()
    }

    fn brute_force(points: &Matrix, k: usize) -> Vec<Vec<u32>> {
        let unit = unit_rows(points);
        (0..points.rows)
            .map(|i| {
                let mut all: Vec<(u32, f32)> = (0..points.rows)
                    .filter(|&j| j != i)
                    .map(|j| (j as u32, 1.0 - dot(unit.row(i), unit.row(j))))
                    .collect();
                all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
                all.truncate(k);
                all.into_iter().map(|(j, _)| j).collect()
            })
            .collect()
    }

    #[test]
    fn exact_neighbours_match_brute_force_and_are_sorted() {
        let points = clustered(300, 1);
        let graph = exact_knn(&points, 10, &mut |_, _| {}).unwrap();
        let truth = brute_force(&points, 10);
        let mut same = 0;
        for (i, want) in truth.iter().enumerate() {
            let (ids, dist) = graph.row(i);
            assert!(dist.windows(2).all(|w| w[0] <= w[1]), "row {i} sorted");
            assert!(!ids.contains(&(i as u32)), "a point is not its own neighbour");
            same += ids.iter().filter(|j| want.contains(j)).count();
        }
        // Ties at the k-th distance may pick either point; with continuous noise there are none.
        assert_eq!(same, 300 * 10);
    }

    #[test]
    fn nn_descent_finds_most_exact_neighbours_and_is_deterministic() {
        let points = clustered(2000, 2);
        let exact = exact_knn(&points, 15, &mut |_, _| {}).unwrap();
        let approx = nn_descent(&points, 15, 7, &mut |_, _| {}).unwrap();
        let r = recall(&approx, &exact);
        assert!(r > 0.95, "recall {r}");
        assert_eq!(approx, nn_descent(&points, 15, 7, &mut |_, _| {}).unwrap());
        for i in 0..approx.rows() {
            let (ids, dist) = approx.row(i);
            assert!(dist.windows(2).all(|w| w[0] <= w[1]));
            assert!(ids.iter().all(|&j| j as usize != i && (j as usize) < 2000));
        }
    }

    #[test]
    fn bad_arguments_are_refused() {
        let points = clustered(5, 3);
        assert!(exact_knn(&points, 5, &mut |_, _| {}).is_err());
        assert!(nn_descent(&points, 0, 1, &mut |_, _| {}).is_err());
        let one = Matrix::new(1, 2, vec![1.0, 0.0]).unwrap();
        assert!(exact_knn(&one, 1, &mut |_, _| {}).is_err());
        let nan = Matrix::new(3, 2, vec![1.0, 0.0, f32::NAN, 1.0, 0.0, 1.0]).unwrap();
        assert!(exact_knn(&nan, 1, &mut |_, _| {}).is_err());
    }
}
