//! Top-k sparse autoencoders: loading (SAELens layout, the paper's layout), validation, saving,
//! and the CPU reference of encode and decode.
//!
//! Math (Gao et al. 2024, as in arXiv 2408.00657):
//! `pre = (x - b_dec) W_enc + b_enc`, keep the k largest of `pre`, ReLU them -> `z`;
//! `x_hat = z W_dec + b_dec`. `b_dec` is the paper's `b_pre`.

use crate::codes::SparseCodes;
use crate::error::{Error, Result};
use crate::matrix::{check_finite, Matrix};
use crate::topk::top_k;
use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

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

/// How the weights are stored on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightDType {
    F32,
    F16,
}

/// The SAELens `cfg.json` fields saescope reads and writes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SaeLensConfig {
    pub architecture: String,
    pub d_in: usize,
    pub d_sae: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_fn_kwargs: Option<serde_json::Value>,
    #[serde(default)]
    pub dtype: Option<String>,
    #[serde(default)]
    pub apply_b_dec_to_input: Option<bool>,
    #[serde(default)]
    pub normalize_activations: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
}

impl SaeLensConfig {
    /// `k` from `k` (newer SAELens) or `activation_fn_kwargs.k` (older).
    pub fn top_k(&self) -> Result<usize> {
        if !matches!(self.architecture.as_str(), "topk" | "TopK") {
            let from_kwargs = self.activation_fn_kwargs.as_ref().and_then(|v| v.get("k")).is_some();
            if !from_kwargs {
                return Err(Error::Invalid(format!(
                    "cfg.json architecture is {:?}; saescope runs top-k SAEs (architecture \"topk\")",
                    self.architecture
                )));
            }
        }
        self.k
            .or_else(|| self.activation_fn_kwargs.as_ref()?.get("k")?.as_u64().map(|k| k as usize))
            .ok_or_else(|| Error::Missing("k in cfg.json (top-level \"k\" or activation_fn_kwargs.k)".into()))
    }
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

fn tensor_f32(st: &SafeTensors, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let view = st.tensor(name).map_err(|_| Error::Missing(format!("tensor {name:?} in the safetensors file")))?;
    if view.shape() != shape {
        return Err(Error::Shape(format!("tensor {name} has shape {:?}, expected {:?}", view.shape(), shape)));
    }
    let data = view.data();
    let values: Vec<f32> = match view.dtype() {
        Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::F16 => data.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::BF16 => data.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        other => return Err(Error::Format(format!("tensor {name} has dtype {other:?}; expected F32, F16 or BF16"))),
    };
    check_finite(&values, *shape.last().unwrap_or(&1), &format!("tensor {name}"))?;
    Ok(values)
}

fn shape_of(st: &SafeTensors, name: &str) -> Result<Vec<usize>> {
    st.tensor(name)
        .map(|v| v.shape().to_vec())
        .map_err(|_| Error::Missing(format!("tensor {name:?} in the safetensors file")))
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

    /// Loads SAELens `cfg.json` + `sae_weights.safetensors` (either tensor layout, see
    /// [`Sae::from_safetensors`]).
    pub fn from_saelens(cfg_json: &[u8], weights: &[u8]) -> Result<Self> {
        let cfg: SaeLensConfig =
            serde_json::from_slice(cfg_json).map_err(|e| Error::Format(format!("cfg.json: {e}")))?;
        let sae = Self::from_safetensors(weights, Some(cfg.top_k()?))?;
        if (sae.d_in, sae.d_sae) != (cfg.d_in, cfg.d_sae) {
            return Err(Error::Shape(format!(
                "cfg.json says d_in={}, d_sae={} but the weights are {}x{}",
                cfg.d_in, cfg.d_sae, sae.d_in, sae.d_sae
            )));
        }
        Ok(sae)
    }

    /// Loads weights in the SAELens layout (`W_enc [d_in,d_sae]`, `b_enc`, `W_dec [d_sae,d_in]`,
    /// `b_dec`) or the paper's (`encoder.weight [n,d]`, `decoder.weight [d,n]`, `pre_bias`,
    /// `latent_bias`). `k` must come from the config when the file does not say it.
    pub fn from_safetensors(weights: &[u8], k: Option<usize>) -> Result<Self> {
        let st = SafeTensors::deserialize(weights)
            .map_err(|e| Error::Format(format!("sae weights are not a valid safetensors file: {e}")))?;
        let k = k.ok_or_else(|| Error::Missing("k (the SAE's top-k)".into()))?;
        if st.tensor("W_enc").is_ok() {
            let s = shape_of(&st, "W_enc")?;
            let [d_in, d_sae] = s[..] else {
                return Err(Error::Shape(format!("W_enc must be 2-d, got {s:?}")));
            };
            Self::new(
                k,
                Matrix::new(d_in, d_sae, tensor_f32(&st, "W_enc", &[d_in, d_sae])?)?,
                tensor_f32(&st, "b_enc", &[d_sae])?,
                Matrix::new(d_sae, d_in, tensor_f32(&st, "W_dec", &[d_sae, d_in])?)?,
                tensor_f32(&st, "b_dec", &[d_in])?,
            )
        } else if st.tensor("encoder.weight").is_ok() {
            let s = shape_of(&st, "encoder.weight")?;
            let [d_sae, d_in] = s[..] else {
                return Err(Error::Shape(format!("encoder.weight must be 2-d, got {s:?}")));
            };
            let enc = tensor_f32(&st, "encoder.weight", &[d_sae, d_in])?;
            let dec = tensor_f32(&st, "decoder.weight", &[d_in, d_sae])?;
            Self::new(
                k,
                Matrix::new(d_in, d_sae, transpose(&enc, d_sae, d_in))?,
                tensor_f32(&st, "latent_bias", &[d_sae])?,
                Matrix::new(d_sae, d_in, transpose(&dec, d_in, d_sae))?,
                tensor_f32(&st, "pre_bias", &[d_in])?,
            )
        } else {
            Err(Error::Missing(format!(
                "SAE tensors: expected W_enc/b_enc/W_dec/b_dec (SAELens) or encoder.weight/decoder.weight/pre_bias/latent_bias (paper); found {:?}",
                st.names()
            )))
        }
    }

    /// Serialises to the SAELens layout: (`cfg.json`, `sae_weights.safetensors`).
    pub fn to_saelens(&self, dtype: WeightDType, model_name: Option<&str>) -> Result<(Vec<u8>, Vec<u8>)> {
        let cfg = SaeLensConfig {
            architecture: "topk".into(),
            d_in: self.d_in,
            d_sae: self.d_sae,
            k: Some(self.k),
            activation_fn_kwargs: Some(serde_json::json!({ "k": self.k })),
            dtype: Some(match dtype {
                WeightDType::F32 => "float32".into(),
                WeightDType::F16 => "float16".into(),
            }),
            apply_b_dec_to_input: Some(true),
            normalize_activations: Some("none".into()),
            model_name: model_name.map(str::to_owned),
        };
        let encode = |v: &[f32]| -> Vec<u8> {
            match dtype {
                WeightDType::F32 => bytemuck::cast_slice(v).to_vec(),
                WeightDType::F16 => v.iter().flat_map(|&x| f16::from_f32(x).to_le_bytes()).collect(),
            }
        };
        let st_dtype = match dtype {
            WeightDType::F32 => Dtype::F32,
            WeightDType::F16 => Dtype::F16,
        };
        let tensors = [
            ("W_enc", vec![self.d_in, self.d_sae], encode(&self.w_enc)),
            ("b_enc", vec![self.d_sae], encode(&self.b_enc)),
            ("W_dec", vec![self.d_sae, self.d_in], encode(&self.w_dec)),
            ("b_dec", vec![self.d_in], encode(&self.b_dec)),
        ];
        let views = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                safetensors::tensor::TensorView::new(st_dtype, shape.clone(), bytes).map(|v| (*name, v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Format(e.to_string()))?;
        let weights = safetensors::serialize(views, None).map_err(|e| Error::Format(e.to_string()))?;
        let cfg = serde_json::to_vec_pretty(&cfg).map_err(|e| Error::Format(e.to_string()))?;
        Ok((cfg, weights))
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
        crate::matrix::gemm(x.rows, self.d_in, self.d_sae, &centered.data, false, &self.w_enc, false, 1.0, &mut pre.data);
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
        return Err(Error::Shape(format!(
            "embeddings have dimension {}, but the SAE expects d_in={d_in}",
            x.cols
        )));
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

/// A k = 1 SAE with these decoder rows, tied encoder and zero biases (for tests of functions
/// that only look at the decoder).
#[cfg(test)]
pub(crate) fn tied_sae<const D: usize>(rows: &[[f32; D]]) -> Sae {
    let n = rows.len();
    let w_dec = Matrix::new(n, D, rows.iter().flatten().copied().collect()).unwrap();
    let w_enc = Matrix::new(D, n, transpose(&w_dec.data, n, D)).unwrap();
    Sae::new(1, w_enc, vec![0.0; n], w_dec, vec![0.0; D]).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    #[test]
    fn saelens_round_trip_f32_and_f16() {
        let sae = synth::planted_sae(16, 40, 4, 7);
        let (cfg, w) = sae.to_saelens(WeightDType::F32, None).unwrap();
        assert_eq!(Sae::from_saelens(&cfg, &w).unwrap(), sae);
        let (cfg, w) = sae.to_saelens(WeightDType::F16, None).unwrap();
        let half = Sae::from_saelens(&cfg, &w).unwrap();
        let worst = half.w_dec.iter().zip(&sae.w_dec).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-3, "f16 round trip error {worst}");
    }

    #[test]
    fn reads_paper_layout() {
        let sae = synth::planted_sae(8, 20, 3, 1);
        let enc = transpose(&sae.w_enc, sae.d_in, sae.d_sae); // [n, d]
        let dec = transpose(&sae.w_dec, sae.d_sae, sae.d_in); // [d, n]
        let views = [
            ("encoder.weight", vec![20, 8], bytemuck::cast_slice::<f32, u8>(&enc).to_vec()),
            ("decoder.weight", vec![8, 20], bytemuck::cast_slice::<f32, u8>(&dec).to_vec()),
            ("pre_bias", vec![8], bytemuck::cast_slice::<f32, u8>(&sae.b_dec).to_vec()),
            ("latent_bias", vec![20], bytemuck::cast_slice::<f32, u8>(&sae.b_enc).to_vec()),
        ];
        let tensors: Vec<_> = views
            .iter()
            .map(|(n, s, b)| (*n, safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b).unwrap()))
            .collect();
        let bytes = safetensors::serialize(tensors, None).unwrap();
        assert_eq!(Sae::from_safetensors(&bytes, Some(3)).unwrap(), sae);
    }

    #[test]
    fn rejects_bad_weights_with_reasons() {
        let sae = synth::planted_sae(8, 20, 3, 1);
        let (cfg, w) = sae.to_saelens(WeightDType::F32, None).unwrap();
        let truncated = Sae::from_saelens(&cfg, &w[..w.len() / 2]).unwrap_err().to_string();
        assert!(truncated.contains("safetensors"), "{truncated}");

        let mut nan = sae.clone();
        nan.w_dec[5] = f32::NAN;
        let (cfg2, w2) = nan.to_saelens(WeightDType::F32, None).unwrap();
        assert!(Sae::from_saelens(&cfg2, &w2).unwrap_err().to_string().contains("W_dec"));

        let wrong_cfg = String::from_utf8(cfg.clone()).unwrap().replace("\"d_sae\": 20", "\"d_sae\": 21");
        assert!(Sae::from_saelens(wrong_cfg.as_bytes(), &w).unwrap_err().to_string().contains("d_sae=21"));

        let x = Matrix::zeros(2, 9);
        assert!(sae.encode(&x).unwrap_err().to_string().contains("d_in=8"));
    }

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
}
