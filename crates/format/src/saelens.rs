//! SAE weights as files: the SAELens layout (`cfg.json` + `sae_weights.safetensors`, the
//! de-facto standard) and the paper's layout, read into and written from [`Sae`].

use crate::floats::FloatKind;
use half::f16;
use saescope_core::error::{Error, Result};
use saescope_core::matrix::{check_finite, Matrix};
use saescope_core::sae::{transpose, Sae};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

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

fn tensor_f32(st: &SafeTensors, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let view = st.tensor(name).map_err(|_| Error::Missing(format!("tensor {name:?} in the safetensors file")))?;
    if view.shape() != shape {
        return Err(Error::Shape(format!("tensor {name} has shape {:?}, expected {:?}", view.shape(), shape)));
    }
    let data = view.data();
    let values: Vec<f32> = match view.dtype() {
        Dtype::F32 => FloatKind::F32.decode(data),
        Dtype::F16 => FloatKind::F16.decode(data),
        Dtype::BF16 => FloatKind::BF16.decode(data),
        other => return Err(Error::Format(format!("tensor {name} has dtype {other:?}; expected F32, F16 or BF16"))),
    };
    check_finite(&values, *shape.last().unwrap_or(&1), &format!("tensor {name}"))?;
    Ok(values)
}

/// saescope encodes `(x - b_dec) W_enc + b_enc`; an SAE saved with `apply_b_dec_to_input: false`
/// encodes `x W_enc + b_enc`, which is the same with `b_enc + b_dec W_enc` as the encoder bias.
fn fold_b_dec_into_encoder(sae: &mut Sae) {
    for (i, &bd) in sae.b_dec.iter().enumerate() {
        let row = &sae.w_enc[i * sae.d_sae..(i + 1) * sae.d_sae];
        sae.b_enc.iter_mut().zip(row).for_each(|(b, &w)| *b += bd * w);
    }
}

fn shape_of(st: &SafeTensors, name: &str) -> Result<Vec<usize>> {
    st.tensor(name)
        .map(|v| v.shape().to_vec())
        .map_err(|_| Error::Missing(format!("tensor {name:?} in the safetensors file")))
}

/// Reading and writing an [`Sae`] in the SAELens and paper layouts (a trait so that the type,
/// which lives in `saescope-core`, keeps its constructor-like names: `Sae::from_saelens`).
pub trait SaeFiles: Sized {
    /// Loads SAELens `cfg.json` + `sae_weights.safetensors` (either tensor layout, see
    /// [`SaeFiles::from_safetensors`]).
    fn from_saelens(cfg_json: &[u8], weights: &[u8]) -> Result<Self>;
    /// Loads weights in the SAELens layout (`W_enc [d_in,d_sae]`, `b_enc`, `W_dec [d_sae,d_in]`,
    /// `b_dec`) or the paper's (`encoder.weight [n,d]`, `decoder.weight [d,n]`, `pre_bias`,
    /// `latent_bias`). `k` must come from the config when the file does not say it.
    fn from_safetensors(weights: &[u8], k: Option<usize>) -> Result<Self>;
    /// Serialises to the SAELens layout: (`cfg.json`, `sae_weights.safetensors`).
    fn to_saelens(&self, dtype: WeightDType, model_name: Option<&str>) -> Result<(Vec<u8>, Vec<u8>)>;
}

impl SaeFiles for Sae {
    /// Loads SAELens `cfg.json` + `sae_weights.safetensors` (either tensor layout, see
    /// [`Sae::from_safetensors`]).
    fn from_saelens(cfg_json: &[u8], weights: &[u8]) -> Result<Self> {
        let cfg: SaeLensConfig =
            serde_json::from_slice(cfg_json).map_err(|e| Error::Format(format!("cfg.json: {e}")))?;
        // Fields that change the forward pass: applied as SAELens applies them, or refused.
        match cfg.normalize_activations.as_deref() {
            None | Some("none") => {}
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "cfg.json normalize_activations is {other:?}: SAELens rescales each input by a statistic saescope does not have; only \"none\" is supported (fold the scaling into the weights, or save the SAE with normalize_activations \"none\")"
                )))
            }
        }
        let mut sae = Self::from_safetensors(weights, Some(cfg.top_k()?))?;
        if (sae.d_in, sae.d_sae) != (cfg.d_in, cfg.d_sae) {
            return Err(Error::Shape(format!(
                "cfg.json says d_in={}, d_sae={} but the weights are {}x{}",
                cfg.d_in, cfg.d_sae, sae.d_in, sae.d_sae
            )));
        }
        if cfg.apply_b_dec_to_input == Some(false) {
            fold_b_dec_into_encoder(&mut sae);
        }
        Ok(sae)
    }

    /// Loads weights in the SAELens layout (`W_enc [d_in,d_sae]`, `b_enc`, `W_dec [d_sae,d_in]`,
    /// `b_dec`) or the paper's (`encoder.weight [n,d]`, `decoder.weight [d,n]`, `pre_bias`,
    /// `latent_bias`). `k` must come from the config when the file does not say it.
    fn from_safetensors(weights: &[u8], k: Option<usize>) -> Result<Self> {
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
    fn to_saelens(&self, dtype: WeightDType, model_name: Option<&str>) -> Result<(Vec<u8>, Vec<u8>)> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use saescope_core::synth;

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
    fn config_fields_that_change_the_math_are_applied_or_refused() {
        // Defect 9: apply_b_dec_to_input false and normalize_activations were ignored.
        let mut sae = synth::planted_sae(16, 40, 4, 7);
        sae.b_dec = (0..16).map(|i| (i as f32 - 8.0) * 0.05).collect();
        let (cfg, w) = sae.to_saelens(WeightDType::F32, None).unwrap();
        let cfg = String::from_utf8(cfg).unwrap();
        assert!(cfg.contains("\"apply_b_dec_to_input\": true"), "{cfg}");
        let no_b_dec = Sae::from_saelens(
            cfg.replace("\"apply_b_dec_to_input\": true", "\"apply_b_dec_to_input\": false").as_bytes(),
            &w,
        )
        .unwrap();
        // Without b_dec on the input, x encodes as x + b_dec does with it.
        let x =
            saescope_core::Matrix::new(3, 16, (0..48).map(|v| ((v * 7 % 11) as f32 - 5.0) * 0.1).collect()).unwrap();
        let mut shifted = x.clone();
        for r in 0..3 {
            shifted.row_mut(r).iter_mut().zip(&sae.b_dec).for_each(|(v, b)| *v += b);
        }
        let (a, b) = (no_b_dec.pre_activations(&x).unwrap(), sae.pre_activations(&shifted).unwrap());
        assert!(a.data.iter().zip(&b.data).all(|(p, q)| (p - q).abs() < 1e-5));
        assert!(sae.pre_activations(&x).unwrap().data.iter().zip(&a.data).any(|(p, q)| (p - q).abs() > 1e-3));
        for scaling in ["expected_average_only_in", "constant_norm_rescale", "layer_norm"] {
            let scaled = cfg
                .replace("\"normalize_activations\": \"none\"", &format!("\"normalize_activations\": \"{scaling}\""));
            let err = Sae::from_saelens(scaled.as_bytes(), &w).unwrap_err().to_string();
            assert!(err.contains(scaling) && err.contains("only \"none\""), "{err}");
        }
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
    }
}
