//! Feature splitting across SAE sizes (arXiv 2408.00657): each feature of a larger SAE is
//! mapped to the most similar decoder direction (cosine) of a smaller SAE trained on the same
//! embeddings; the small features with several large matches are the ones that split.

use crate::error::{Error, Result};
use crate::matrix::{gemm, normalize};
use crate::sae::Sae;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeatureSplit {
    /// For each large feature, its most similar small feature (ties to the lower index).
    pub best_small: Vec<u32>,
    /// ... and their cosine similarity.
    pub cosine: Vec<f32>,
    pub small_features: usize,
}

/// Large-feature rows compared per block (bounds the block of similarities).
const BLOCK: usize = 1024;

fn unit_rows(sae: &Sae) -> Vec<f32> {
    let mut w = sae.w_dec.clone();
    w.chunks_exact_mut(sae.d_in).for_each(normalize);
    w
}

pub fn split_features(small: &Sae, large: &Sae) -> Result<FeatureSplit> {
    if small.d_in != large.d_in {
        return Err(Error::Shape(format!("the SAEs read different embeddings: d_in {} and {}", small.d_in, large.d_in)));
    }
    let (d, ns) = (small.d_in, small.d_sae);
    let (s, l) = (unit_rows(small), unit_rows(large));
    let mut best_small = Vec::with_capacity(large.d_sae);
    let mut cosine = Vec::with_capacity(large.d_sae);
    let mut sims = vec![0.0f32; BLOCK * ns];
    for start in (0..large.d_sae).step_by(BLOCK) {
        let rows = BLOCK.min(large.d_sae - start);
        gemm(rows, d, ns, &l[start * d..(start + rows) * d], false, &s, true, 0.0, &mut sims);
        for row in sims[..rows * ns].chunks_exact(ns) {
            let (j, c) = row.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (j, &c)| if c > best.1 { (j, c) } else { best });
            best_small.push(j as u32);
            cosine.push(c);
        }
    }
    Ok(FeatureSplit { best_small, cosine, small_features: ns })
}

impl FeatureSplit {
    /// The paper's format: `{small_id: [large ids]}` for every small feature (empty lists kept).
    pub fn to_paper_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut children = vec![Vec::new(); self.small_features];
        self.best_small.iter().enumerate().for_each(|(large, &small)| children[small as usize].push(large as u32));
        children.into_iter().enumerate().map(|(small, large)| (small.to_string(), serde_json::json!(large))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sae::tied_sae;
    use crate::Matrix;

    #[test]
    fn large_features_map_to_their_nearest_small_direction() {
        let small = tied_sae(&[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
        let large = tied_sae(&[[0.9, 0.1, 0.0], [0.8, -0.2, 0.1], [0.1, 0.9, 0.0], [0.0, 0.0, 1.0]]);
        let split = split_features(&small, &large).unwrap();
        assert_eq!(split.best_small, vec![0, 0, 1, 0], "the last is orthogonal to both: the lower index");
        assert!((split.cosine[0] - 0.9 / (0.82f32).sqrt()).abs() < 1e-6);
        let json = serde_json::Value::Object(split.to_paper_json());
        assert_eq!(json, serde_json::json!({"0": [0, 1, 3], "1": [2]}));
        let other = tied_sae(&[[1.0, 0.0, 0.0]]);
        let mismatch = Sae::new(1, Matrix::zeros(2, 1), vec![0.0], Matrix::zeros(1, 2), vec![0.0; 2]).unwrap();
        assert!(split_features(&other, &mismatch).is_err());
    }
}
