//! The dataset-level analyses of arXiv 2512.10092 on SAE codes: dataset diffing (which features
//! fire more in one set of documents than in another), concept correlations (NPMI of binarised
//! features), property retrieval (documents ranked by chosen features) and clustering along
//! chosen features.

use saescope_core::backend::ClusterOps;
use saescope_core::codes::SparseCodes;
use saescope_core::cooccurrence::Cooccurrence;
use saescope_core::error::{Error, Result};
use saescope_core::fit::kmeans;
use saescope_core::kmeans::{KMeansConfig, Metric, Points};
use saescope_core::matrix::Matrix;
use serde::Serialize;

fn check_documents(codes: &SparseCodes, docs: &[u32], what: &str) -> Result<()> {
    if docs.is_empty() {
        return Err(Error::Invalid(format!("{what} holds no documents")));
    }
    match docs.iter().find(|&&d| d as usize >= codes.rows()) {
        Some(d) => Err(Error::Invalid(format!("{what}: document {d} is out of range ({} documents)", codes.rows()))),
        None => Ok(()),
    }
}

fn check_features(d_sae: usize, features: &[u32]) -> Result<()> {
    if features.is_empty() {
        return Err(Error::Invalid("no features chosen".into()));
    }
    saescope_core::sae::check_features(features.iter().copied(), d_sae)
}

/// How many of `docs` each feature fires on.
pub fn firing_counts(codes: &SparseCodes, docs: &[u32]) -> Vec<u32> {
    let mut counts = vec![0u32; codes.d_sae];
    for &d in docs {
        codes.active(d as usize).for_each(|(j, _)| counts[j as usize] += 1);
    }
    counts
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiffRow {
    pub feature: u32,
    pub rate_a: f64,
    pub rate_b: f64,
    /// `rate_a - rate_b`.
    pub difference: f64,
    /// `rate_a / rate_b` with add-half smoothing (`(count + 0.5) / (n + 1)`), finite even for
    /// a feature that never fires in one set.
    pub ratio: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffOrder {
    /// Largest `|difference|` first.
    Absolute,
    /// Largest `|ln ratio|` first.
    Relative,
}

impl DiffOrder {
    /// "absolute" or "relative" (the CLI's words).
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "absolute" => Ok(Self::Absolute),
            "relative" => Ok(Self::Relative),
            other => Err(Error::Invalid(format!("unknown order {other:?} (use \"absolute\" or \"relative\")"))),
        }
    }
}

/// Firing-rate differences between document sets `a` and `b`, for features whose
/// `|difference|` is at least `min_difference`, sorted by `order` (ties by feature).
pub fn diff(codes: &SparseCodes, a: &[u32], b: &[u32], min_difference: f64, order: DiffOrder) -> Result<Vec<DiffRow>> {
    check_documents(codes, a, "set A")?;
    check_documents(codes, b, "set B")?;
    let (ca, cb) = (firing_counts(codes, a), firing_counts(codes, b));
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let mut rows: Vec<DiffRow> = (0..codes.d_sae)
        .filter(|&j| ca[j] + cb[j] > 0)
        .map(|j| {
            let (rate_a, rate_b) = (ca[j] as f64 / na, cb[j] as f64 / nb);
            let ratio = ((ca[j] as f64 + 0.5) / (na + 1.0)) / ((cb[j] as f64 + 0.5) / (nb + 1.0));
            DiffRow { feature: j as u32, rate_a, rate_b, difference: rate_a - rate_b, ratio }
        })
        .filter(|r| r.difference.abs() >= min_difference)
        .collect();
    let key = |r: &DiffRow| match order {
        DiffOrder::Absolute => r.difference.abs(),
        DiffOrder::Relative => r.ratio.ln().abs(),
    };
    rows.sort_by(|x, y| key(y).total_cmp(&key(x)).then(x.feature.cmp(&y.feature)));
    Ok(rows)
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NpmiPair {
    pub a: u32,
    pub b: u32,
    pub npmi: f64,
    /// Documents where both fire.
    pub count: u32,
}

/// Normalised pointwise mutual information of two features' firing: `ln(p_ab / (p_a p_b)) /
/// -ln(p_ab)`, in [-1, 1]; -1 when they never fire together, 1 when they always do.
pub fn npmi(cooc: &Cooccurrence, a: u32, b: u32) -> f64 {
    let n = cooc.documents as f64;
    let (ca, cb, cab) = (cooc.diagonal[a as usize] as f64, cooc.diagonal[b as usize] as f64, cooc.get(a, b) as f64);
    if cab == 0.0 {
        return -1.0;
    }
    let p_ab = cab / n;
    if p_ab >= 1.0 {
        return 1.0;
    }
    (p_ab / ((ca / n) * (cb / n))).ln() / -p_ab.ln()
}

/// NPMI of every pair of `features` (each must fire somewhere), highest first.
pub fn npmi_among(cooc: &Cooccurrence, features: &[u32]) -> Result<Vec<NpmiPair>> {
    check_features(cooc.d_sae, features)?;
    if let Some(dead) = features.iter().find(|&&f| cooc.diagonal[f as usize] == 0) {
        return Err(Error::Invalid(format!("feature {dead} never fires, so its NPMI is undefined")));
    }
    let mut out = Vec::new();
    for (k, &a) in features.iter().enumerate() {
        for &b in &features[k + 1..] {
            if a != b {
                out.push(NpmiPair { a: a.min(b), b: a.max(b), npmi: npmi(cooc, a, b), count: cooc.get(a, b) });
            }
        }
    }
    sort_pairs(&mut out);
    Ok(out)
}

/// The `top` pairs by NPMI among pairs that fire together in at least `min_count` documents
/// (rare pairs reach NPMI 1 by chance).
pub fn top_npmi_pairs(cooc: &Cooccurrence, top: usize, min_count: u32) -> Vec<NpmiPair> {
    let mut out: Vec<NpmiPair> = cooc
        .pairs()
        .filter(|&(_, _, c)| c >= min_count.max(1))
        .map(|(a, b, count)| NpmiPair { a, b, npmi: npmi(cooc, a, b), count })
        .collect();
    sort_pairs(&mut out);
    out.truncate(top);
    out
}

fn sort_pairs(pairs: &mut [NpmiPair]) {
    pairs.sort_by(|x, y| y.npmi.total_cmp(&x.npmi).then((x.a, x.b).cmp(&(y.a, y.b))));
}

/// Property retrieval: documents where any weighted feature fires, ranked by
/// `sum(weight * activation)` (ties by document), the best `top`.
pub fn retrieve(codes: &SparseCodes, weights: &[(u32, f32)], top: usize) -> Result<Vec<(u32, f32)>> {
    check_features(codes.d_sae, &weights.iter().map(|w| w.0).collect::<Vec<_>>())?;
    if let Some(w) = weights.iter().find(|w| !w.1.is_finite()) {
        return Err(Error::Invalid(format!("weight {} of feature {} is not finite", w.1, w.0)));
    }
    let mut weight = vec![0.0f32; codes.d_sae];
    weights.iter().for_each(|&(f, w)| weight[f as usize] += w);
    let mut chosen = vec![false; codes.d_sae];
    weights.iter().for_each(|&(f, _)| chosen[f as usize] = true);
    let mut scored: Vec<(u32, f32)> = (0..codes.rows())
        .filter_map(|r| {
            let mut hit = false;
            let score = codes
                .active(r)
                .filter(|&(j, _)| chosen[j as usize])
                .inspect(|_| hit = true)
                .map(|(j, v)| weight[j as usize] * v)
                .sum();
            hit.then_some((r as u32, score))
        })
        .collect();
    scored.sort_by(saescope_core::topk::rank_order);
    scored.truncate(top);
    Ok(scored)
}

#[derive(Clone, Debug, Serialize)]
pub struct AxisClusters {
    pub features: Vec<u32>,
    /// Each document's cluster, or -1 where none of the features fires (not clustered).
    pub assignments: Vec<i32>,
    pub sizes: Vec<u32>,
    /// Each cluster's mean activation of each chosen feature (`[cluster][feature]`).
    pub centroids: Vec<Vec<f32>>,
    pub inertia: Vec<f64>,
    pub clustered: usize,
}

/// Clustering along an axis of interest: k-means (Euclidean) on the chosen features'
/// activations only, over the documents where at least one of them fires.
pub async fn cluster_along<B: ClusterOps>(
    backend: &B,
    codes: &SparseCodes,
    features: &[u32],
    clusters: usize,
    iterations: usize,
    seed: u64,
) -> Result<AxisClusters> {
    check_features(codes.d_sae, features)?;
    let mut column = vec![usize::MAX; codes.d_sae];
    for (c, &f) in features.iter().enumerate() {
        if column[f as usize] != usize::MAX {
            return Err(Error::Invalid(format!("feature {f} is chosen twice")));
        }
        column[f as usize] = c;
    }
    let m = features.len();
    let (mut data, mut rows) = (Vec::new(), Vec::new());
    for r in 0..codes.rows() {
        let mut row = vec![0.0f32; m];
        let mut hit = false;
        for (j, v) in codes.active(r).filter(|&(j, _)| column[j as usize] != usize::MAX) {
            row[column[j as usize]] = v;
            hit = true;
        }
        if hit {
            data.extend(row);
            rows.push(r);
        }
    }
    let points = Matrix::new(rows.len(), m, data)?;
    let config = KMeansConfig { clusters, iterations, metric: Metric::Euclidean, seed };
    let result = kmeans(backend, Points::Dense(&points), &config).await?;
    let mut assignments = vec![-1i32; codes.rows()];
    rows.iter().zip(&result.assignments).for_each(|(&r, &c)| assignments[r] = c as i32);
    Ok(AxisClusters {
        features: features.to_vec(),
        assignments,
        sizes: result.sizes,
        centroids: (0..clusters).map(|c| result.centroids.row(c).to_vec()).collect(),
        inertia: result.inertia,
        clustered: rows.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use saescope_core::cooccurrence::cooccurrence;

    /// Documents 0..50 fire features 0 and 1 together; 50..100 fire 2; 3 fires on even documents.
    fn codes() -> SparseCodes {
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        for r in 0..100u32 {
            let first = if r < 50 { [0, 1] } else { [2, 4] };
            idx.extend([first[0], first[1], 3]);
            val.extend([1.0 + r as f32 / 100.0, if r < 50 { 0.5 } else { 0.0 }, if r % 2 == 0 { 2.0 } else { 0.0 }]);
        }
        SparseCodes::new(3, 5, idx, val).unwrap()
    }

    #[test]
    fn diff_finds_what_separates_two_sets() {
        let c = codes();
        let (a, b): (Vec<u32>, Vec<u32>) = ((0..50).collect(), (50..100).collect());
        let rows = diff(&c, &a, &b, 0.1, DiffOrder::Absolute).unwrap();
        assert_eq!(rows.iter().map(|r| r.feature).collect::<Vec<_>>(), vec![0, 1, 2], "feature 3 fires alike in both");
        assert_eq!((rows[0].rate_a, rows[0].rate_b, rows[0].difference), (1.0, 0.0, 1.0));
        assert_eq!(rows[2].difference, -1.0);
        assert!((rows[0].ratio - (50.5 / 51.0) / (0.5 / 51.0)).abs() < 1e-9);
        assert_eq!(diff(&c, &a, &b, 0.0, DiffOrder::Relative).unwrap().last().unwrap().feature, 3);
        assert!(diff(&c, &[], &b, 0.1, DiffOrder::Absolute).is_err());
        assert!(diff(&c, &[100], &b, 0.1, DiffOrder::Absolute).unwrap_err().to_string().contains("out of range"));
    }

    #[test]
    fn npmi_on_known_pairs() {
        let cooc = cooccurrence(&codes()).unwrap();
        assert!((npmi(&cooc, 0, 1) - 1.0).abs() < 1e-12, "always together");
        assert_eq!(npmi(&cooc, 0, 2), -1.0, "never together");
        assert!(npmi(&cooc, 0, 3).abs() < 1e-12, "independent");
        let pairs = npmi_among(&cooc, &[3, 0, 1]).unwrap();
        assert_eq!((pairs[0].a, pairs[0].b, pairs[0].count), (0, 1, 50));
        assert_eq!(top_npmi_pairs(&cooc, 1, 10)[0].b, 1);
        assert!(npmi_among(&cooc, &[0, 4]).unwrap_err().to_string().contains("never fires"));
        assert!(npmi_among(&cooc, &[0, 9]).is_err());
    }

    #[test]
    fn retrieval_ranks_by_weighted_activation() {
        let c = codes();
        let hits = retrieve(&c, &[(0, 1.0)], 3).unwrap();
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![49, 48, 47]);
        // Feature 3 pushes even documents up; negative weights push documents down.
        let hits = retrieve(&c, &[(0, 1.0), (3, 1.0)], 2).unwrap();
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![48, 46]);
        let all = retrieve(&c, &[(2, -1.0)], 100).unwrap();
        assert_eq!((all.len(), all[0].0), (50, 50));
        assert!(retrieve(&c, &[(0, f32::NAN)], 3).is_err());
    }

    #[test]
    fn clustering_along_features_separates_their_groups() {
        let c = codes();
        let r = pollster::block_on(cluster_along(&saescope_core::CpuBackend, &c, &[0, 2], 2, 10, 1)).unwrap();
        assert_eq!(r.clustered, 100);
        assert!(r.assignments[..50].iter().all(|&a| a == r.assignments[0]));
        assert!(r.assignments[50..].iter().all(|&a| a == r.assignments[50] && a != r.assignments[0]));
        let r = pollster::block_on(cluster_along(&saescope_core::CpuBackend, &c, &[1], 1, 3, 1)).unwrap();
        assert_eq!((r.clustered, r.assignments[60]), (50, -1));
        assert!(pollster::block_on(cluster_along(&saescope_core::CpuBackend, &c, &[1, 1], 1, 3, 1)).is_err());
    }
}
