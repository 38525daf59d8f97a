//! k-means (k-means++ initialisation, Lloyd iterations, optional spherical/cosine variant) on
//! dense embeddings or sparse SAE codes.
//!
//! The types, the initialisation, the O(points x dim) centroid update and the CPU reference of
//! the assignment step. The assignment, O(points x clusters x dim), runs on a backend
//! ([`crate::backend::ClusterOps`]); [`crate::fit::kmeans`] drives the iterations.

use crate::codes::SparseCodes;
use crate::error::{Error, Result};
use crate::matrix::{dot, gemm, normalize, Matrix};
use crate::rng::SeededRng;
use serde::Serialize;

/// What k-means clusters.
#[derive(Clone, Copy)]
pub enum Points<'a> {
    Dense(&'a Matrix),
    /// Sparse codes, as vectors of dimension `d_sae`.
    Sparse(&'a SparseCodes),
}

impl Points<'_> {
    pub fn len(&self) -> usize {
        match self {
            Points::Dense(m) => m.rows,
            Points::Sparse(c) => c.rows(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dim(&self) -> usize {
        match self {
            Points::Dense(m) => m.cols,
            Points::Sparse(c) => c.d_sae,
        }
    }

    /// `x . c` for point `i`.
    pub fn dot(&self, i: usize, c: &[f32]) -> f32 {
        match self {
            Points::Dense(m) => dot(m.row(i), c),
            Points::Sparse(s) => s.active(i).map(|(j, v)| v * c[j as usize]).sum(),
        }
    }

    pub fn sq_norm(&self, i: usize) -> f32 {
        match self {
            Points::Dense(m) => dot(m.row(i), m.row(i)),
            Points::Sparse(s) => s.active(i).map(|(_, v)| v * v).sum(),
        }
    }

    /// Adds `scale * x_i` into `acc`.
    pub fn add_to(&self, i: usize, scale: f32, acc: &mut [f32]) {
        match self {
            Points::Dense(m) => acc.iter_mut().zip(m.row(i)).for_each(|(a, v)| *a += scale * v),
            Points::Sparse(s) => s.active(i).for_each(|(j, v)| acc[j as usize] += scale * v),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Squared Euclidean distance.
    Euclidean,
    /// `1 - cos(x, c)`; centroids are kept at unit norm.
    Cosine,
}

/// Each point's nearest centroid and its distance under the metric.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    pub cluster: Vec<u32>,
    pub distance: Vec<f32>,
}

/// Points with their norms, computed once for all the assignment steps of a run (the CPU
/// backend's resident points; recomputing them was a quarter of each step).
pub struct NormedPoints<'a> {
    pub points: Points<'a>,
    /// (`|x|^2`, `1/|x|`) per point, as [`point_norms`].
    norms: Vec<(f32, f32)>,
}

impl<'a> NormedPoints<'a> {
    pub fn new(points: Points<'a>) -> Self {
        Self { points, norms: (0..points.len()).map(|i| point_norms(points, i)).collect() }
    }
}

/// CPU reference of the assignment step. Ties go to the lower centroid index.
pub fn assign(points: Points, centroids: &Matrix, metric: Metric) -> Result<Assignment> {
    assign_normed(&NormedPoints::new(points), centroids, metric)
}

/// [`assign`] with the points' norms already known.
pub fn assign_normed(normed: &NormedPoints, centroids: &Matrix, metric: Metric) -> Result<Assignment> {
    let points = normed.points;
    check_dims(points, centroids)?;
    let c_norms: Vec<f32> = (0..centroids.rows).map(|c| dot(centroids.row(c), centroids.row(c))).collect();
    let mut out = Assignment { cluster: Vec::with_capacity(points.len()), distance: Vec::with_capacity(points.len()) };
    // Dense points: dot products a block at a time through SGEMM; sparse: k terms per dot.
    const BLOCK: usize = 1024;
    let mut dots = vec![0.0f32; BLOCK * centroids.rows];
    for start in (0..points.len()).step_by(BLOCK) {
        let rows = BLOCK.min(points.len() - start);
        match points {
            Points::Dense(m) => gemm(
                rows,
                m.cols,
                centroids.rows,
                &m.data[start * m.cols..],
                false,
                &centroids.data,
                true,
                0.0,
                &mut dots,
            ),
            Points::Sparse(_) => {
                for i in 0..rows {
                    for c in 0..centroids.rows {
                        dots[i * centroids.rows + c] = points.dot(start + i, centroids.row(c));
                    }
                }
            }
        }
        for i in 0..rows {
            let (x_norm, inv) = normed.norms[start + i];
            let (mut best, mut best_d) = (0u32, f32::INFINITY);
            for (c, &c_norm) in c_norms.iter().enumerate() {
                let d = distance(metric, dots[i * centroids.rows + c], x_norm, inv, c_norm);
                if d < best_d {
                    best = c as u32;
                    best_d = d;
                }
            }
            out.cluster.push(best);
            out.distance.push(best_d.max(0.0));
        }
    }
    Ok(out)
}

/// (`|x|^2`, `1/|x|`) of point `i` (the inverse is 0 for a zero vector).
pub fn point_norms(points: Points, i: usize) -> (f32, f32) {
    let sq = points.sq_norm(i);
    (sq, if sq > 0.0 { 1.0 / sq.sqrt() } else { 0.0 })
}

/// The distance from a point to a centroid given their dot product and norms.
pub fn distance(metric: Metric, xc: f32, x_sq_norm: f32, x_inv_norm: f32, c_sq_norm: f32) -> f32 {
    match metric {
        Metric::Euclidean => x_sq_norm - 2.0 * xc + c_sq_norm,
        Metric::Cosine => 1.0 - xc * x_inv_norm,
    }
}

fn check_dims(points: Points, centroids: &Matrix) -> Result<()> {
    if centroids.cols != points.dim() {
        return Err(Error::Shape(format!("centroids have dimension {}, points have {}", centroids.cols, points.dim())));
    }
    Ok(())
}

pub fn check_clusters(clusters: usize, points: usize) -> Result<()> {
    if clusters == 0 || clusters > points {
        return Err(Error::Invalid(format!("cannot make {clusters} clusters of {points} points")));
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub struct KMeansConfig {
    pub clusters: usize,
    pub iterations: usize,
    pub metric: Metric,
    pub seed: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct KMeansResult {
    pub assignments: Vec<u32>,
    #[serde(skip)]
    pub centroids: Matrix,
    /// Total distance after each iteration's assignment step.
    pub inertia: Vec<f64>,
    pub sizes: Vec<u32>,
}

/// k-means++: the first centroid uniformly, each next one with probability proportional to its
/// distance to the nearest centroid chosen so far.
pub fn kmeans_plus_plus(points: Points, clusters: usize, metric: Metric, rng: &mut SeededRng) -> Matrix {
    let n = points.len();
    let mut centroids = Matrix::zeros(clusters, points.dim());
    let mut nearest = vec![f32::INFINITY; n];
    let mut chosen = rng.below(n);
    let norms = NormedPoints::new(points).norms;
    for c in 0..clusters {
        set_to_point(points, chosen, metric, centroids.row_mut(c));
        let centroid = centroids.row(c);
        let c_norm = dot(centroid, centroid);
        for (i, near) in nearest.iter_mut().enumerate() {
            let (x_norm, inv) = norms[i];
            let d = distance(metric, points.dot(i, centroid), x_norm, inv, c_norm).max(0.0);
            *near = near.min(d);
        }
        let total: f64 = nearest.iter().map(|&d| d as f64).sum();
        if total <= 0.0 {
            chosen = rng.below(n);
            continue;
        }
        let mut target = rng.uniform() * total;
        chosen = n - 1;
        for (i, &d) in nearest.iter().enumerate() {
            target -= d as f64;
            if target < 0.0 {
                chosen = i;
                break;
            }
        }
    }
    centroids
}

fn set_to_point(points: Points, i: usize, metric: Metric, out: &mut [f32]) {
    out.iter_mut().for_each(|v| *v = 0.0);
    points.add_to(i, 1.0, out);
    if metric == Metric::Cosine {
        normalize(out);
    }
}

/// Mean of each cluster's points (re-normalised for the cosine metric).
pub fn update_centroids(points: Points, assignment: &Assignment, clusters: usize, metric: Metric) -> Matrix {
    let mut sums = Matrix::zeros(clusters, points.dim());
    let mut counts = vec![0u32; clusters];
    for (i, &c) in assignment.cluster.iter().enumerate() {
        let scale = match metric {
            Metric::Euclidean => 1.0,
            Metric::Cosine => point_norms(points, i).1,
        };
        points.add_to(i, scale, sums.row_mut(c as usize));
        counts[c as usize] += 1;
    }
    let mut by_distance: Vec<usize> = (0..points.len()).collect();
    by_distance.sort_by(|&a, &b| assignment.distance[b].total_cmp(&assignment.distance[a]).then(a.cmp(&b)));
    let mut far = by_distance.into_iter();
    for (c, &count) in counts.iter().enumerate() {
        let row = sums.row_mut(c);
        if count == 0 {
            if let Some(p) = far.next() {
                set_to_point(points, p, metric, row);
            }
            continue;
        }
        match metric {
            Metric::Euclidean => row.iter_mut().for_each(|v| *v /= count as f32),
            Metric::Cosine => normalize(row),
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::kmeans;
    use crate::CpuBackend;

    fn blobs() -> Matrix {
        // Three tight, well separated groups of 10 points.
        let mut rng = SeededRng::new(5);
        let centers = [[5.0, 0.0], [-5.0, 0.0], [0.0, 8.0]];
        let mut data = Vec::new();
        for c in centers {
            for _ in 0..10 {
                data.push(c[0] + 0.1 * rng.normal());
                data.push(c[1] + 0.1 * rng.normal());
            }
        }
        Matrix::new(30, 2, data).unwrap()
    }

    #[test]
    fn finds_separated_blobs() {
        let x = blobs();
        let cfg = KMeansConfig { clusters: 3, iterations: 10, metric: Metric::Euclidean, seed: 1 };
        let r = pollster::block_on(kmeans(&CpuBackend, Points::Dense(&x), &cfg)).unwrap();
        for g in 0..3 {
            let first = r.assignments[g * 10];
            assert!(r.assignments[g * 10..(g + 1) * 10].iter().all(|&a| a == first));
        }
        assert_eq!(r.sizes, vec![10, 10, 10]);
        assert!(r.inertia.windows(2).all(|w| w[1] <= w[0] + 1e-9), "{:?}", r.inertia);
        assert!(*r.inertia.last().unwrap() < 30.0 * 0.1);
    }

    #[test]
    fn sparse_points_match_their_dense_form() {
        let codes = SparseCodes::new(2, 5, vec![0, 3, 1, 4, 0, 2], vec![1.0, 2.0, 0.5, 0.0, 3.0, 1.0]).unwrap();
        let dense = Matrix::new(3, 5, vec![1., 0., 0., 2., 0., 0., 0.5, 0., 0., 0., 3., 0., 1., 0., 0.]).unwrap();
        let cents = Matrix::new(2, 5, vec![1., 0., 0., 1., 0., 0., 1., 1., 0., 0.]).unwrap();
        for metric in [Metric::Euclidean, Metric::Cosine] {
            assert_eq!(
                assign(Points::Sparse(&codes), &cents, metric).unwrap(),
                assign(Points::Dense(&dense), &cents, metric).unwrap()
            );
        }
    }

    #[test]
    fn refuses_more_clusters_than_points() {
        let x = blobs();
        let cfg = KMeansConfig { clusters: 31, iterations: 2, metric: Metric::Cosine, seed: 1 };
        assert!(pollster::block_on(kmeans(&CpuBackend, Points::Dense(&x), &cfg)).is_err());
    }
}
