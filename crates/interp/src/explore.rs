//! What the explorer shows, computed live from the SAE and the codes: a feature's nearest and
//! farthest features by decoder direction and the features it fires with, and what sets each
//! cluster of documents apart.

use crate::analysis::{diff, DiffOrder};
use crate::steer::cosine;
use saescope_core::codes::SparseCodes;
use saescope_core::error::{Error, Result};
use saescope_core::sae::Sae;
use serde::Serialize;

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize)]
pub struct Neighbor {
    pub feature: u32,
    pub cosine: f32,
}

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize)]
pub struct Neighbors {
    /// Most similar decoder directions, most similar first (the feature itself excluded).
    pub nearest: Vec<Neighbor>,
    /// Most opposite decoder directions, most opposite first.
    pub farthest: Vec<Neighbor>,
}

fn check_feature(feature: u32, d_sae: usize) -> Result<()> {
    saescope_core::sae::check_features([feature], d_sae)
}

/// The `n` nearest and `n` farthest features of `feature` by cosine of decoder rows.
pub fn decoder_neighbors(sae: &Sae, feature: u32, n: usize) -> Result<Neighbors> {
    check_feature(feature, sae.d_sae)?;
    let own = sae.decoder_row(feature as usize);
    let mut all: Vec<Neighbor> = (0..sae.d_sae as u32)
        .filter(|&j| j != feature)
        .map(|j| Neighbor { feature: j, cosine: cosine(own, sae.decoder_row(j as usize)) })
        .collect();
    // Ties by lower index, so the lists are deterministic.
    all.sort_by(|a, b| b.cosine.total_cmp(&a.cosine).then(a.feature.cmp(&b.feature)));
    let nearest = all.iter().take(n).cloned().collect();
    let farthest = all.iter().rev().take(n).cloned().collect();
    Ok(Neighbors { nearest, farthest })
}

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize)]
pub struct CoFiring {
    pub feature: u32,
    /// Documents where both fire.
    pub together: u32,
    /// `together / documents where `feature` fires`: how often it comes along.
    pub share: f64,
}

/// The features that fire most often in the documents where `feature` fires (a row of the
/// co-occurrence matrix `AᵀA`, computed from the codes alone in O(documents x k)).
pub fn co_firing(codes: &SparseCodes, feature: u32, n: usize) -> Result<(u32, Vec<CoFiring>)> {
    check_feature(feature, codes.d_sae)?;
    let mut counts = vec![0u32; codes.d_sae];
    let mut own = 0u32;
    for r in 0..codes.rows() {
        if codes.active(r).any(|(j, _)| j == feature) {
            own += 1;
            codes.active(r).filter(|&(j, _)| j != feature).for_each(|(j, _)| counts[j as usize] += 1);
        }
    }
    let mut list: Vec<CoFiring> = counts
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(j, &c)| CoFiring { feature: j as u32, together: c, share: c as f64 / own.max(1) as f64 })
        .collect();
    list.sort_by(|a, b| b.together.cmp(&a.together).then(a.feature.cmp(&b.feature)));
    list.truncate(n);
    Ok((own, list))
}

/// The activation of `feature` in each of `docs` (0 where it does not fire).
pub fn activations_in(codes: &SparseCodes, feature: u32, docs: &[u32]) -> Result<Vec<f32>> {
    check_feature(feature, codes.d_sae)?;
    docs.iter()
        .map(|&d| {
            if d as usize >= codes.rows() {
                return Err(Error::Invalid(format!(
                    "document {d} does not exist (the codes have {} rows)",
                    codes.rows()
                )));
            }
            Ok(codes.active(d as usize).find(|&(j, _)| j == feature).map_or(0.0, |(_, v)| v))
        })
        .collect()
}

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize)]
pub struct Overrepresented {
    pub feature: u32,
    /// Firing rate inside the cluster.
    pub rate: f64,
    /// Firing rate in the other clustered documents.
    pub rest_rate: f64,
}

#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize)]
pub struct ClusterSummary {
    pub size: usize,
    /// The features whose firing rate most exceeds the rest's (dataset diffing of the cluster
    /// against the other clusters), most over-represented first: the cluster's name.
    pub features: Vec<Overrepresented>,
    /// Members that fire the top feature most strongly (or the first members, if none does).
    pub examples: Vec<u32>,
}

/// Names each of `clusters` clusters by its `n_features` most over-represented features and
/// picks `n_examples` example documents. `assignments[doc]` is the document's cluster, or
/// `None` for a document left out of the clustering.
pub fn describe_clusters(
    codes: &SparseCodes,
    assignments: &[Option<u32>],
    clusters: usize,
    n_features: usize,
    n_examples: usize,
) -> Result<Vec<ClusterSummary>> {
    if assignments.len() != codes.rows() {
        return Err(Error::Shape(format!("{} assignments for {} documents", assignments.len(), codes.rows())));
    }
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); clusters];
    for (doc, c) in assignments.iter().enumerate() {
        if let Some(c) = *c {
            members
                .get_mut(c as usize)
                .ok_or_else(|| Error::Invalid(format!("cluster {c} of {clusters}")))?
                .push(doc as u32);
        }
    }
    (0..clusters)
        .map(|c| {
            let inside = &members[c];
            let rest: Vec<u32> =
                members.iter().enumerate().filter(|&(o, _)| o != c).flat_map(|(_, m)| m.iter().copied()).collect();
            let features: Vec<Overrepresented> = if inside.is_empty() || rest.is_empty() {
                Vec::new()
            } else {
                diff(codes, inside, &rest, 0.0, DiffOrder::Absolute)?
                    .into_iter()
                    .filter(|r| r.difference > 0.0)
                    .take(n_features)
                    .map(|r| Overrepresented { feature: r.feature, rate: r.rate_a, rest_rate: r.rate_b })
                    .collect()
            };
            let mut examples = inside.clone();
            if let Some(top) = features.first() {
                let strength = activations_in(codes, top.feature, inside)?;
                let mut ranked: Vec<(u32, f32)> = inside.iter().copied().zip(strength).collect();
                ranked.sort_by(saescope_core::topk::rank_order);
                examples = ranked.into_iter().map(|(d, _)| d).collect();
            }
            examples.truncate(n_examples);
            Ok(ClusterSummary { size: inside.len(), features, examples })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use saescope_core::synth::tied_sae;

    #[test]
    fn neighbors_by_decoder_cosine() {
        let s = std::f32::consts::FRAC_1_SQRT_2;
        let sae = tied_sae(&[[1.0, 0.0], [s, s], [0.0, 1.0], [-1.0, 0.0]]);
        let n = decoder_neighbors(&sae, 0, 2).unwrap();
        assert_eq!(n.nearest.iter().map(|x| x.feature).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(n.farthest[0].feature, 3);
        assert!((n.farthest[0].cosine + 1.0).abs() < 1e-6);
        assert!(decoder_neighbors(&sae, 4, 2).is_err());
    }

    #[test]
    fn co_firing_counts_documents_together() {
        // Rows: {0,1}, {0,2}, {0,1}, {1,2}.
        let codes = SparseCodes::new(2, 4, vec![0, 1, 0, 2, 0, 1, 1, 2], vec![1.0; 8]).unwrap();
        let (own, list) = co_firing(&codes, 0, 5).unwrap();
        assert_eq!(own, 3);
        assert_eq!(
            list,
            vec![
                CoFiring { feature: 1, together: 2, share: 2.0 / 3.0 },
                CoFiring { feature: 2, together: 1, share: 1.0 / 3.0 }
            ]
        );
        assert_eq!(activations_in(&codes, 2, &[0, 1, 3]).unwrap(), vec![0.0, 1.0, 1.0]);
        assert!(activations_in(&codes, 2, &[4]).is_err());
    }

    #[test]
    fn clusters_are_named_by_what_sets_them_apart() {
        // Documents 0..4 fire feature 0 (doc 2 most strongly), 4..8 fire feature 1; feature 2 fires everywhere.
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        for r in 0..8u32 {
            idx.extend([if r < 4 { 0 } else { 1 }, 2]);
            val.extend([if r == 2 { 3.0 } else { 1.0 }, 1.0]);
        }
        let codes = SparseCodes::new(2, 3, idx, val).unwrap();
        let assignments: Vec<Option<u32>> = (0..8).map(|r| Some(u32::from(r >= 4))).collect();
        let summary = describe_clusters(&codes, &assignments, 2, 5, 2).unwrap();
        assert_eq!(summary[0].size, 4);
        assert_eq!(summary[0].features, vec![Overrepresented { feature: 0, rate: 1.0, rest_rate: 0.0 }]);
        assert_eq!(summary[0].examples, vec![2, 0]);
        assert_eq!(summary[1].features[0].feature, 1);
        let mut left_out = assignments.clone();
        left_out[7] = None;
        assert_eq!(describe_clusters(&codes, &left_out, 2, 5, 2).unwrap()[1].size, 3);
        assert!(describe_clusters(&codes, &assignments[..7], 2, 5, 2).is_err());
    }
}
