//! Feature splitting across SAE sizes (arXiv 2408.00657): each feature of a larger SAE is
//! mapped to the most similar decoder direction (cosine) of a smaller SAE trained on the same
//! embeddings; the small features with several large matches are the ones that split.

use crate::error::{Error, Result};
use crate::matrix::{dot, gemm, normalize};
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
        return Err(Error::Shape(format!(
            "the SAEs read different embeddings: d_in {} and {}",
            small.d_in, large.d_in
        )));
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
            let (j, c) = row
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (j, &c)| if c > best.1 { (j, c) } else { best });
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

    /// One line: how many small features split into several large ones, and the mean cosine.
    pub fn summary(&self) -> String {
        let mut children = vec![0usize; self.small_features];
        self.best_small.iter().for_each(|&s| children[s as usize] += 1);
        let splitting = children.iter().filter(|&&n| n > 1).count();
        let mean = self.cosine.iter().map(|&c| c as f64).sum::<f64>() / self.cosine.len().max(1) as f64;
        format!(
            "{} large features onto {} small ones: {splitting} small features split into several, {} receive none; mean best cosine {mean:.3}",
            self.best_small.len(),
            self.small_features,
            children.iter().filter(|&&n| n == 0).count()
        )
    }

    /// Reads the paper's format back for two SAEs: every small feature a key, every large
    /// feature in exactly one list. The cosines are recomputed from the decoders (the format
    /// does not carry them). `what` names the file in errors.
    pub fn from_paper_json(bytes: &[u8], small: &Sae, large: &Sae, what: &str) -> Result<FeatureSplit> {
        let bad = |why: String| Error::Format(format!("{what}: {why}"));
        if small.d_in != large.d_in {
            return Err(bad(format!("the SAEs read different embeddings: d_in {} and {}", small.d_in, large.d_in)));
        }
        let map: std::collections::BTreeMap<String, Vec<u32>> =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("expected {{small_id: [large ids]}} ({e})")))?;
        if map.len() != small.d_sae {
            return Err(bad(format!("{} small features listed, the small SAE has {}", map.len(), small.d_sae)));
        }
        let mut best_small = vec![u32::MAX; large.d_sae];
        for (key, larges) in &map {
            let s: u32 = key
                .parse()
                .ok()
                .filter(|&s| (s as usize) < small.d_sae)
                .ok_or_else(|| bad(format!("{key:?} is not a feature of the small SAE")))?;
            for &l in larges {
                let slot = best_small.get_mut(l as usize).ok_or_else(|| {
                    bad(format!("feature {l} does not exist in the large SAE ({} latents)", large.d_sae))
                })?;
                if *slot != u32::MAX {
                    return Err(bad(format!("large feature {l} is mapped twice")));
                }
                *slot = s;
            }
        }
        if let Some(l) = best_small.iter().position(|&s| s == u32::MAX) {
            return Err(bad(format!("large feature {l} is mapped to no small feature")));
        }
        let (s, l) = (unit_rows(small), unit_rows(large));
        let d = small.d_in;
        let cosine = best_small
            .iter()
            .enumerate()
            .map(|(j, &i)| dot(&l[j * d..(j + 1) * d], &s[i as usize * d..(i as usize + 1) * d]))
            .collect();
        Ok(FeatureSplit { best_small, cosine, small_features: small.d_sae })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::tied_sae;
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
        assert!(
            split
                .summary()
                .starts_with("4 large features onto 2 small ones: 1 small features split into several, 0 receive none"),
            "{}",
            split.summary()
        );
        let read =
            FeatureSplit::from_paper_json(&serde_json::to_vec(&json).unwrap(), &small, &large, "split.json").unwrap();
        assert_eq!(read.best_small, split.best_small);
        assert!(read.cosine.iter().zip(&split.cosine).all(|(a, b)| (a - b).abs() < 1e-6));
        for (broken, why) in [
            (r#"{"0": [0, 1, 3]}"#, "1 small features listed"),
            (r#"{"0": [0, 1, 3], "2": [2]}"#, "\"2\" is not a feature"),
            (r#"{"0": [0, 1, 3], "1": [2, 9]}"#, "feature 9 does not exist"),
            (r#"{"0": [0, 1, 3], "1": [2, 0]}"#, "large feature 0 is mapped twice"),
            (r#"{"0": [0, 1], "1": [2]}"#, "large feature 3 is mapped to no small feature"),
            (r#"[1, 2]"#, "expected {small_id: [large ids]}"),
        ] {
            let error =
                FeatureSplit::from_paper_json(broken.as_bytes(), &small, &large, "split.json").unwrap_err().to_string();
            assert!(error.contains("split.json") && error.contains(why), "{broken}: {error}");
        }
        let other = tied_sae(&[[1.0, 0.0, 0.0]]);
        let mismatch = Sae::new(1, Matrix::zeros(2, 1), vec![0.0], Matrix::zeros(1, 2), vec![0.0; 2]).unwrap();
        assert!(split_features(&other, &mismatch).is_err());
    }
}
