//! What a feature page shows about one feature, computed live from the SAE and the codes:
//! its nearest and farthest features by decoder direction, and the features it fires with.

use crate::codes::SparseCodes;
use crate::error::{Error, Result};
use crate::sae::Sae;
use crate::steer::cosine;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Neighbor {
    pub feature: u32,
    pub cosine: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Neighbors {
    /// Most similar decoder directions, most similar first (the feature itself excluded).
    pub nearest: Vec<Neighbor>,
    /// Most opposite decoder directions, most opposite first.
    pub farthest: Vec<Neighbor>,
}

fn check_feature(feature: u32, d_sae: usize) -> Result<()> {
    if feature as usize >= d_sae {
        return Err(Error::Invalid(format!("feature {feature} does not exist (the SAE has {d_sae})")));
    }
    Ok(())
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

#[derive(Clone, Debug, PartialEq, Serialize)]
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
                return Err(Error::Invalid(format!("document {d} does not exist (the codes have {} rows)", codes.rows())));
            }
            Ok(codes.active(d as usize).find(|&(j, _)| j == feature).map_or(0.0, |(_, v)| v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;

    fn sae_with_rows(rows: &[[f32; 2]]) -> Sae {
        let n = rows.len();
        let w_dec = Matrix::new(n, 2, rows.iter().flatten().copied().collect()).unwrap();
        let w_enc = Matrix::new(2, n, crate::sae::transpose(&w_dec.data, n, 2)).unwrap();
        Sae::new(1, w_enc, vec![0.0; n], w_dec, vec![0.0; 2]).unwrap()
    }

    #[test]
    fn neighbors_by_decoder_cosine() {
        let s = std::f32::consts::FRAC_1_SQRT_2;
        let sae = sae_with_rows(&[[1.0, 0.0], [s, s], [0.0, 1.0], [-1.0, 0.0]]);
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
        assert_eq!(list, vec![CoFiring { feature: 1, together: 2, share: 2.0 / 3.0 }, CoFiring { feature: 2, together: 1, share: 1.0 / 3.0 }]);
        assert_eq!(activations_in(&codes, 2, &[0, 1, 3]).unwrap(), vec![0.0, 1.0, 1.0]);
        assert!(activations_in(&codes, 2, &[4]).is_err());
    }
}
