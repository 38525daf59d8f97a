//! Top-k sparse autoencoders: the type, its validation, and the CPU reference of encode and
//! decode (reading and writing the SAELens and paper layouts is `saescope-format`'s `saelens`).
//!
//! Math (Gao et al. 2024, as in arXiv 2408.00657):
//! `pre = (x - b_dec) W_enc + b_enc`, keep the k largest of `pre`, ReLU them -> `z`;
//! `x_hat = z W_dec + b_dec`. `b_dec` is the paper's `b_pre`.

use crate::codes::SparseCodes;
use crate::error::{Error, Result};
use crate::matrix::{check_finite, Matrix};
use crate::topk::top_k;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq)]
pub struct Sae {
    pub d_in: usize,
    pub d_sae: usize,
    pub k: usize,
    /// `[d_in, d_sae]` row-major.
    pub w_enc: Vec<f32>,
    /// `[d_sae]`.
    pub b_enc: Vec<f32>,
    /// `[d_sae, d_in]` row-major: row `j` is latent `j`'s decoder direction.
    pub w_dec: Vec<f32>,
    /// `[d_in]`.
    pub b_dec: Vec<f32>,
}

/// Decoder health, reported by `saescope metrics` and the page.
#[derive(Clone, Debug, Serialize)]
pub struct SaeReport {
    pub d_in: usize,
    pub d_sae: usize,
    pub k: usize,
    pub decoder_norm_min: f32,
    pub decoder_norm_mean: f32,
    pub decoder_norm_max: f32,
}

/// Transposes a row-major `[rows, cols]` buffer.
pub fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

impl Sae {
    /// Builds an SAE, checking that every shape agrees and every value is finite.
    pub fn new(k: usize, w_enc: Matrix, b_enc: Vec<f32>, w_dec: Matrix, b_dec: Vec<f32>) -> Result<Self> {
        let (d_in, d_sae) = (w_enc.rows, w_enc.cols);
        if (w_dec.rows, w_dec.cols) != (d_sae, d_in) {
            return Err(Error::Shape(format!(
                "W_dec is {}x{}, expected {d_sae}x{d_in} (the transpose of W_enc)",
                w_dec.rows, w_dec.cols
            )));
        }
        if b_enc.len() != d_sae || b_dec.len() != d_in {
            return Err(Error::Shape(format!(
                "b_enc has {} values (expected {d_sae}), b_dec has {} (expected {d_in})",
                b_enc.len(),
                b_dec.len()
            )));
        }
        if k == 0 || k > d_sae {
            return Err(Error::Invalid(format!("k={k} must be between 1 and d_sae={d_sae}")));
        }
        w_enc.check_finite("W_enc")?;
        w_dec.check_finite("W_dec")?;
        check_finite(&b_enc, d_sae, "b_enc")?;
        check_finite(&b_dec, d_in, "b_dec")?;
        Ok(Self { d_in, d_sae, k, w_enc: w_enc.data, b_enc, w_dec: w_dec.data, b_dec })
    }

    /// The parameters with their SAELens names, in the order `W_enc, b_enc, W_dec, b_dec`.
    pub fn named_parameters(&self) -> [(&'static str, &[f32]); 4] {
        [("W_enc", &self.w_enc), ("b_enc", &self.b_enc), ("W_dec", &self.w_dec), ("b_dec", &self.b_dec)]
    }

    pub fn decoder_row(&self, j: usize) -> &[f32] {
        &self.w_dec[j * self.d_in..(j + 1) * self.d_in]
    }

    pub fn report(&self) -> SaeReport {
        let norms: Vec<f32> = (0..self.d_sae).map(|j| crate::matrix::norm(self.decoder_row(j))).collect();
        SaeReport {
            d_in: self.d_in,
            d_sae: self.d_sae,
            k: self.k,
            decoder_norm_min: norms.iter().copied().fold(f32::INFINITY, f32::min),
            decoder_norm_mean: norms.iter().sum::<f32>() / norms.len().max(1) as f32,
            decoder_norm_max: norms.iter().copied().fold(0.0, f32::max),
        }
    }

    /// Pre-activations `(x - b_dec) W_enc + b_enc` for a block of rows, `[rows, d_sae]`.
    pub fn pre_activations(&self, x: &Matrix) -> Result<Matrix> {
        check_embeddings(x, self.d_in)?;
        let mut centered = x.clone();
        for r in 0..x.rows {
            centered.row_mut(r).iter_mut().zip(&self.b_dec).for_each(|(v, b)| *v -= b);
        }
        let mut pre = Matrix::zeros(x.rows, self.d_sae);
        for r in 0..x.rows {
            pre.row_mut(r).copy_from_slice(&self.b_enc);
        }
        crate::matrix::gemm(
            x.rows,
            self.d_in,
            self.d_sae,
            &centered.data,
            false,
            &self.w_enc,
            false,
            1.0,
            &mut pre.data,
        );
        Ok(pre)
    }

    /// Top-k encode: the CPU reference of the GPU encode kernel.
    pub fn encode(&self, x: &Matrix) -> Result<SparseCodes> {
        let pre = self.pre_activations(x)?;
        Ok(codes_from_pre(&pre, self.k))
    }

    /// Decode sparse codes to dense reconstructions `z W_dec + b_dec`.
    pub fn decode(&self, codes: &SparseCodes) -> Result<Matrix> {
        if codes.d_sae != self.d_sae {
            return Err(Error::Shape(format!("codes are for d_sae={}, SAE has {}", codes.d_sae, self.d_sae)));
        }
        let mut out = Matrix::zeros(codes.rows(), self.d_in);
        for r in 0..codes.rows() {
            let row = out.row_mut(r);
            row.copy_from_slice(&self.b_dec);
            for (j, v) in codes.active(r) {
                for (o, w) in row.iter_mut().zip(self.decoder_row(j as usize)) {
                    *o += v * w;
                }
            }
        }
        Ok(out)
    }
}

/// Errors unless `x` has `d_in` columns and only finite values.
pub fn check_embeddings(x: &Matrix, d_in: usize) -> Result<()> {
    if x.cols != d_in {
        return Err(Error::Shape(format!("embeddings have dimension {}, but the SAE expects d_in={d_in}", x.cols)));
    }
    x.check_finite("embeddings")
}

/// The forward selections of a training step: the top-k codes, and (when `aux` gives a dead
/// mask and a count) the top `aux_k` codes among dead latents only, both ReLU'd (the GPU
/// training step makes the same selections with its top-k and mask kernels).
pub fn select(sae: &Sae, x: &Matrix, aux: Option<(&[bool], usize)>) -> Result<(SparseCodes, Option<SparseCodes>)> {
    let mut pre = sae.pre_activations(x)?;
    let main = codes_from_pre(&pre, sae.k);
    let aux = match aux {
        Some((dead, aux_k)) => {
            check_mask(dead, sae.d_sae)?;
            for r in 0..pre.rows {
                pre.row_mut(r).iter_mut().zip(dead).filter(|(_, &d)| !d).for_each(|(v, _)| *v = MASKED);
            }
            Some(codes_from_pre(&pre, aux_k.min(sae.d_sae)))
        }
        None => None,
    };
    Ok((main, aux))
}

/// The value masked-out latents take before the AuxK selection (finite, so the GPU can use it).
pub const MASKED: f32 = -3.0e38;

pub fn check_mask(dead: &[bool], d_sae: usize) -> Result<()> {
    if dead.len() != d_sae {
        return Err(Error::Shape(format!("dead-latent mask has {} entries, the SAE {d_sae}", dead.len())));
    }
    Ok(())
}

/// Every one of `features` is a feature of an SAE with `d_sae` latents; the one message for
/// an index beyond it, wherever a feature index comes from a user or a file.
pub fn check_features(features: impl IntoIterator<Item = u32>, d_sae: usize) -> Result<()> {
    match features.into_iter().find(|&j| j as usize >= d_sae) {
        Some(j) => {
            Err(Error::Invalid(format!("feature {j} does not exist (out of range: the SAE has {d_sae} features)")))
        }
        None => Ok(()),
    }
}

/// Top-k then ReLU of each row of pre-activations.
pub fn codes_from_pre(pre: &Matrix, k: usize) -> SparseCodes {
    let mut indices = Vec::with_capacity(pre.rows * k);
    let mut values = Vec::with_capacity(pre.rows * k);
    for r in 0..pre.rows {
        for (i, v) in top_k(pre.row(r), k) {
            indices.push(i);
            values.push(v.max(0.0));
        }
    }
    SparseCodes { k, d_sae: pre.cols, indices, values }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    #[test]
    fn planted_codes_are_recovered_and_decoded() {
        let data = synth::PlantedData::generate(256, 64, 4, 50, 3);
        let codes = data.sae.encode(&data.embeddings).unwrap();
        for r in 0..data.embeddings.rows {
            let mut got: Vec<u32> = codes.active(r).map(|(i, _)| i).collect();
            got.sort();
            assert_eq!(got, data.atoms_of(r), "row {r}");
        }
        let recon = data.sae.decode(&codes).unwrap();
        let err = crate::metrics::normalized_mse(&data.embeddings, &recon);
        assert!(err < 0.05, "nmse {err}");
    }

    #[test]
    fn encode_names_the_expected_dimension() {
        let sae = synth::planted_sae(8, 20, 3, 1);
        let x = Matrix::zeros(2, 9);
        assert!(sae.encode(&x).unwrap_err().to_string().contains("d_in=8"));
    }
}
