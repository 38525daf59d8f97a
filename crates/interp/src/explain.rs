//! "How the SAE reads this text": one embedding taken through the top-k SAE step by step, with
//! every number the classroom explainer shows (arXiv 2408.00657, section 2):
//!
//! 1. pre-activations `h = (x - b_dec) W_enc + b_enc`, one per latent;
//! 2. the code `z = ReLU(TopK(h))`: the `k` largest pre-activations survive, the rest are 0;
//! 3. the reconstruction `x̂ = z W_dec + b_dec`, compared with `x`.
//!
//! Each kept feature's share of the reconstruction is its term of the cosine:
//! `cos(x, x̂) = Σ_j z_j (d_j · x) / (‖x‖ ‖x̂‖) + (b_dec · x) / (‖x‖ ‖x̂‖)`, so the shares and the
//! bias's term add up to the cosine exactly, and a feature whose decoder points away from the
//! text counts against it.

use saescope_core::error::{Error, Result};
use saescope_core::matrix::{dot, norm};
use saescope_core::sae::{codes_from_pre, Sae};
use saescope_core::Matrix;
use serde::Serialize;

/// The largest `k` the explainer re-encodes with: a slider over more than this shows nothing new
/// (the tail of the pre-activations is negative, and ReLU removes it).
pub const MAX_K: usize = 512;

/// One kept feature of the code.
#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize)]
pub struct KeptFeature {
    pub feature: u32,
    /// `z_j`, after ReLU (> 0).
    pub activation: f32,
    /// `z_j ‖d_j‖`: how far this feature moves the reconstruction.
    pub magnitude: f32,
    /// `z_j (d_j · x) / (‖x‖ ‖x̂‖)`: this feature's term of the cosine between text and
    /// reconstruction.
    pub cosine_share: f32,
}

/// Every number of the explainer for one embedding and one `k`.
#[derive(ts_rs::TS, Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    /// The `k` of this explanation (the SAE was trained with `trained_k`).
    pub k: u32,
    pub trained_k: u32,
    /// The embedding `x` as given (`d_in` values).
    pub embedding: Vec<f32>,
    /// All `d_sae` pre-activations, largest first (the curve the cut is drawn on).
    pub sorted_pre_activations: Vec<f32>,
    /// The k-th largest pre-activation: the cut. Latents below it are set to 0.
    pub threshold: f32,
    /// How many pre-activations are positive (ReLU alone would keep these).
    pub positive: u32,
    /// The kept features with a positive activation, largest activation first.
    pub kept: Vec<KeptFeature>,
    /// Kept by top-k but zeroed by ReLU (their pre-activation was <= 0).
    pub zeroed_by_relu: u32,
    /// `x̂` (`d_in` values).
    pub reconstruction: Vec<f32>,
    /// `(b_dec · x) / (‖x‖ ‖x̂‖)`: the decoder bias's term of the cosine.
    pub bias_cosine_share: f32,
    /// `cos(x, x̂)`.
    pub cosine: f32,
    /// `‖x̂ - x‖² / ‖x‖²`: the share of the embedding's energy the code misses.
    pub relative_error: f32,
}

/// Takes `embedding` through `sae` keeping `k` latents (the SAE's own `k` when `None`).
pub fn explain(sae: &Sae, embedding: &[f32], k: Option<usize>) -> Result<Explanation> {
    let k = k.unwrap_or(sae.k);
    if k == 0 || k > sae.d_sae.min(MAX_K) {
        return Err(Error::Invalid(format!("k = {k} must be between 1 and {}", sae.d_sae.min(MAX_K))));
    }
    // Checks the embedding's dimension and finiteness.
    let pre = sae.pre_activations(&Matrix::new(1, embedding.len(), embedding.to_vec())?)?;
    let codes = codes_from_pre(&pre, k);
    let reconstruction = sae.decode(&codes)?.data;

    let mut sorted_pre_activations = pre.data.clone();
    sorted_pre_activations.sort_unstable_by(|a, b| b.total_cmp(a));
    let threshold = sorted_pre_activations[k - 1];
    let positive = pre.data.iter().filter(|&&h| h > 0.0).count() as u32;

    // Cosine shares are undefined for a zero vector on either side; they are 0 there, as the
    // cosine is (`steer::cosine`).
    let scale = norm(embedding) * norm(&reconstruction);
    let share = |v: f32| if scale > 0.0 { v / scale } else { 0.0 };
    // The code is in top-k's rank order (activation descending, then feature), which ReLU keeps.
    let kept: Vec<KeptFeature> = codes
        .active(0)
        .filter(|&(_, z)| z > 0.0)
        .map(|(j, z)| {
            let d = sae.decoder_row(j as usize);
            KeptFeature {
                feature: j,
                activation: z,
                magnitude: z * norm(d),
                cosine_share: share(z * dot(d, embedding)),
            }
        })
        .collect();
    let zeroed_by_relu = (k - kept.len()) as u32;

    let missed: f32 = embedding.iter().zip(&reconstruction).map(|(x, r)| (r - x) * (r - x)).sum();
    let energy: f32 = embedding.iter().map(|x| x * x).sum();
    Ok(Explanation {
        k: k as u32,
        trained_k: sae.k as u32,
        embedding: embedding.to_vec(),
        sorted_pre_activations,
        threshold,
        positive,
        zeroed_by_relu,
        bias_cosine_share: share(dot(&sae.b_dec, embedding)),
        cosine: crate::steer::cosine(embedding, &reconstruction),
        relative_error: if energy > 0.0 { missed / energy } else { 0.0 },
        kept,
        reconstruction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use saescope_core::synth::PlantedData;

    fn planted() -> PlantedData {
        PlantedData::generate(256, 64, 4, 50, 3)
    }

    #[test]
    fn a_planted_text_is_read_as_its_atoms() {
        let data = planted();
        for r in 0..8 {
            let e = explain(&data.sae, data.embeddings.row(r), None).unwrap();
            let mut got: Vec<u32> = e.kept.iter().map(|f| f.feature).collect();
            got.sort();
            assert_eq!(got, data.atoms_of(r), "row {r}");
            assert!(e.cosine > 0.97, "row {r}: cosine {}", e.cosine);
            assert!(e.relative_error < 0.06, "row {r}: error {}", e.relative_error);
            // The cut is the smallest kept pre-activation.
            assert_eq!(e.threshold, e.sorted_pre_activations[e.k as usize - 1]);
            assert!(e.kept.iter().all(|f| f.activation >= e.threshold));
        }
    }

    #[test]
    fn the_numbers_agree_with_encode_and_decode() {
        let data = planted();
        let x = data.embeddings.row(3);
        let e = explain(&data.sae, x, None).unwrap();
        let one = Matrix::new(1, x.len(), x.to_vec()).unwrap();
        let codes = data.sae.encode(&one).unwrap();
        assert_eq!(e.reconstruction, data.sae.decode(&codes).unwrap().data);
        let mut want: Vec<(u32, f32)> = codes.active(0).filter(|&(_, v)| v > 0.0).collect();
        want.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(e.kept.iter().map(|f| (f.feature, f.activation)).collect::<Vec<_>>(), want);
        let mut pre = data.sae.pre_activations(&one).unwrap().data;
        pre.sort_by(|a, b| b.total_cmp(a));
        assert_eq!(e.sorted_pre_activations, pre);
        assert_eq!(e.positive as usize, pre.iter().filter(|&&h| h > 0.0).count());
    }

    #[test]
    fn the_cosine_shares_add_up_to_the_cosine() {
        let data = planted();
        for k in [1, 2, 4, 9, 30] {
            let e = explain(&data.sae, data.embeddings.row(5), Some(k)).unwrap();
            let total: f32 = e.kept.iter().map(|f| f.cosine_share).sum::<f32>() + e.bias_cosine_share;
            assert!((total - e.cosine).abs() < 1e-5, "k = {k}: shares {total} vs cosine {}", e.cosine);
            assert_eq!(e.kept.len() + e.zeroed_by_relu as usize, k);
        }
    }

    #[test]
    fn more_latents_reconstruct_no_worse_up_to_the_planted_ones() {
        let data = planted();
        let x = data.embeddings.row(1);
        let errors: Vec<f32> = (1..=4).map(|k| explain(&data.sae, x, Some(k)).unwrap().relative_error).collect();
        assert!(errors.windows(2).all(|w| w[1] <= w[0] + 1e-6), "{errors:?}");
        assert!(errors[0] > 2.0 * errors[3], "{errors:?}");
    }

    #[test]
    fn bad_input_is_refused_with_the_numbers() {
        let data = planted();
        let x = data.embeddings.row(0);
        let short = explain(&data.sae, &x[..10], None).unwrap_err().to_string();
        assert!(short.contains("10") && short.contains(&data.sae.d_in.to_string()), "{short}");
        let mut nan = x.to_vec();
        nan[2] = f32::NAN;
        assert!(explain(&data.sae, &nan, None).is_err());
        let too_many = explain(&data.sae, x, Some(data.sae.d_sae + 1)).unwrap_err().to_string();
        assert!(too_many.contains(&(data.sae.d_sae + 1).to_string()), "{too_many}");
        assert!(explain(&data.sae, x, Some(0)).is_err());
    }
}
