//! saescope-embed: text -> embedding with all-MiniLM-L6-v2, reproducing sentence-transformers:
//! WordPiece tokens (no padding, no truncation from tokenizer.json; truncated here to 256 with
//! [SEP] kept last), BERT (candle-transformers), mean pooling over real tokens, L2 normalisation.
//! Bytes in, no filesystem: the same code runs natively and in the browser (wasm32, CPU).

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use saescope_core::{Error, Matrix, Result};
use saescope_format::floats::FloatKind;
use saescope_format::manifest::{EmbedderInfo, Manifest, Role};
pub use tokenizers::Tokenizer;

/// The model this crate reproduces; bundles record it so queries and documents match.
pub const MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// sentence-transformers' `max_seq_length` for this model.
pub const MAX_TOKENS: usize = 256;

pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    dim: usize,
}

fn err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Format(format!("{what}: {e}"))
}

/// The model's `tokenizer.json` as the embedder uses it: the file bakes in padding and
/// truncation to 128; sentence-transformers uses neither. No weights are needed (the fuzz
/// target `saescope_fuzz::tokenizer` drives [`tokenize`] through this).
pub fn load_tokenizer(tokenizer_json: &[u8]) -> Result<Tokenizer> {
    let mut tokenizer = Tokenizer::from_bytes(tokenizer_json).map_err(|e| err("embedder tokenizer.json", e))?;
    tokenizer.with_padding(None);
    tokenizer.with_truncation(None).map_err(|e| err("embedder tokenizer.json", e))?;
    Ok(tokenizer)
}

/// Token ids of `text`, truncated to [`MAX_TOKENS`] with the final [SEP] kept.
pub fn tokenize(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    let encoding = tokenizer.encode(text, true).map_err(|e| err("tokenizing", e))?;
    let mut ids = encoding.get_ids().to_vec();
    if ids.len() > MAX_TOKENS {
        let sep = *ids.last().expect("non-empty");
        ids.truncate(MAX_TOKENS - 1);
        ids.push(sep);
    }
    Ok(ids)
}

impl Embedder {
    /// Loads the model from `model.safetensors` (f32, f16, or int8 as [`quantize_weights`]
    /// writes it), `tokenizer.json` and `config.json`.
    pub fn from_bytes(weights: &[u8], tokenizer_json: &[u8], config_json: &[u8]) -> Result<Self> {
        let config: Config = serde_json::from_slice(config_json).map_err(|e| err("embedder config.json", e))?;
        let tokenizer = load_tokenizer(tokenizer_json)?;
        let vb = VarBuilder::from_tensors(widen_weights(weights)?, DType::F32, &Device::Cpu);
        let model = BertModel::load(vb, &config).map_err(|e| err("embedder weights do not fit config.json", e))?;
        Ok(Self { model, tokenizer, dim: config.hidden_size })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Token ids of `text`, truncated to [`MAX_TOKENS`] with the final [SEP] kept.
    pub fn tokens(&self, text: &str) -> Result<Vec<u32>> {
        tokenize(&self.tokenizer, text)
    }

    /// The unit-norm embedding of one search query; blank text is refused (the page and
    /// `saescope steer` both embed queries through this).
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        if text.trim().is_empty() {
            return Err(Error::Invalid("type something to search for".into()));
        }
        Ok(self.embed(&[text])?.data)
    }

    /// Unit-norm embeddings of `texts`, one row each. Padding inside the batch is masked out,
    /// so a text's embedding does not depend on its batch.
    pub fn embed(&self, texts: &[&str]) -> Result<Matrix> {
        if texts.is_empty() {
            return Matrix::new(0, self.dim, Vec::new());
        }
        let tokens = texts.iter().map(|t| self.tokens(t)).collect::<Result<Vec<_>>>()?;
        let longest = tokens.iter().map(Vec::len).max().unwrap_or(1);
        let (mut ids, mut mask) =
            (Vec::with_capacity(texts.len() * longest), Vec::with_capacity(texts.len() * longest));
        for t in &tokens {
            ids.extend(t.iter().copied().chain(std::iter::repeat_n(0, longest - t.len())));
            mask.extend(std::iter::repeat_n(1u32, t.len()).chain(std::iter::repeat_n(0u32, longest - t.len())));
        }
        let run = || -> candle_core::Result<Vec<f32>> {
            let shape = (texts.len(), longest);
            let ids = Tensor::from_vec(ids, shape, &Device::Cpu)?;
            let mask = Tensor::from_vec(mask, shape, &Device::Cpu)?;
            let types = ids.zeros_like()?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?; // [B, T, dim]
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // [B, T, 1]
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // [B, dim]
            let counts = mask.sum(1)?; // [B, 1]
            let mean = summed.broadcast_div(&counts)?;
            let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
            mean.broadcast_div(&norms)?.flatten_all()?.to_vec1::<f32>()
        };
        let data = run().map_err(|e| Error::Device(format!("embedding failed: {e}")))?;
        Matrix::new(texts.len(), self.dim, data)
    }
}

/// The bundle files of the query embedder: (path, role, bytes), weights quantised ([`quantize_weights`]).
pub fn bundle_files(
    weights: &[u8],
    tokenizer_json: &[u8],
    config_json: &[u8],
) -> Result<Vec<(&'static str, Role, Vec<u8>)>> {
    Ok(vec![
        ("embedder/model.safetensors", Role::EmbedderWeights, quantize_weights(weights)?),
        ("embedder/tokenizer.json", Role::EmbedderTokenizer, tokenizer_json.to_vec()),
        ("embedder/config.json", Role::EmbedderConfig, config_json.to_vec()),
    ])
}

/// What a bundle built with this embedder records in its manifest.
pub fn embedder_info(dim: usize) -> EmbedderInfo {
    EmbedderInfo { model: MODEL_ID.into(), dim }
}

/// Why queries embedded by this crate would not land in the bundle's document space, if they
/// would not: no embedder in the bundle, a different model, or a different dimension.
pub fn check_compatible(manifest: &Manifest) -> Result<()> {
    let documents = &manifest.embedding;
    let Some(embedder) = &manifest.embedder else {
        return Err(Error::Missing("a query embedder in this bundle (search by document still works)".into()));
    };
    if embedder.model != documents.model || embedder.dim != documents.dim {
        return Err(Error::Invalid(format!(
            "the bundle's documents were embedded with {} ({}-d) but its query embedder is {} ({}-d): queries would land in another space",
            documents.model, documents.dim, embedder.model, embedder.dim
        )));
    }
    if embedder.model != MODEL_ID {
        return Err(Error::Invalid(format!(
            "the bundle's documents were embedded with {}; this embedder implements {MODEL_ID} only",
            documents.model
        )));
    }
    Ok(())
}

impl Embedder {
    /// The bundle's query embedder: checks that it matches the documents' model (see
    /// [`check_compatible`]) and verifies each file against the manifest before loading.
    pub fn from_bundle(manifest: &Manifest, weights: &[u8], tokenizer_json: &[u8], config_json: &[u8]) -> Result<Self> {
        check_compatible(manifest)?;
        for (role, bytes) in [
            (Role::EmbedderWeights, weights),
            (Role::EmbedderTokenizer, tokenizer_json),
            (Role::EmbedderConfig, config_json),
        ] {
            manifest.file(role)?.verify(bytes)?;
        }
        let embedder = Self::from_bytes(weights, tokenizer_json, config_json)?;
        if embedder.dim != manifest.embedding.dim {
            return Err(Error::Shape(format!(
                "the embedder makes {}-d vectors, the documents are {}-d",
                embedder.dim, manifest.embedding.dim
            )));
        }
        Ok(embedder)
    }
}

/// Values of a weight matrix's row that share one int8 scale ([`quantize_weights`]).
pub const QUANT_GROUP: usize = 64;
/// The scales of int8 tensor `name` are the f32 tensor `name` + this suffix, `[rows, cols / QUANT_GROUP]`.
const SCALE_SUFFIX: &str = ".int8_scale";

/// The model's weights as bundles carry them, a quarter of the f32 bytes: every weight matrix
/// (2D, at least 4,096 values, rows a multiple of [`QUANT_GROUP`] long) as int8 with one f32
/// scale per group of 64 values of a row (symmetric: the group's largest magnitude is 127), the
/// rest (layer norms, biases) as f16. Only the download is int8: [`Embedder::from_bytes`]
/// widens the weights to f32 once, so queries run exactly as with f32 weights of these values.
/// Cosine to the f32 model's embeddings: at least 0.999 (tests/reference.rs).
pub fn quantize_weights(weights: &[u8]) -> Result<Vec<u8>> {
    use safetensors::{tensor::TensorView, Dtype, SafeTensors};
    let st = SafeTensors::deserialize(weights).map_err(|e| err("embedder weights", e))?;
    let mut converted: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            converted.push((name, view.dtype(), view.shape().to_vec(), view.data().to_vec()));
            continue;
        }
        let values = FloatKind::F32.decode(view.data());
        match *view.shape() {
            [rows, cols] if rows * cols >= 4096 && cols % QUANT_GROUP == 0 => {
                let mut codes = Vec::with_capacity(values.len());
                let mut scales = Vec::with_capacity(values.len() / QUANT_GROUP);
                for group in values.chunks_exact(QUANT_GROUP) {
                    let scale = group.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
                    let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
                    codes.extend(group.iter().map(|v| (v * inverse).round().clamp(-127.0, 127.0) as i8 as u8));
                    scales.extend(scale.to_le_bytes());
                }
                converted.push((format!("{name}{SCALE_SUFFIX}"), Dtype::F32, vec![rows, cols / QUANT_GROUP], scales));
                converted.push((name, Dtype::I8, vec![rows, cols], codes));
            }
            _ => {
                let halves = values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
                converted.push((name, Dtype::F16, view.shape().to_vec(), halves));
            }
        }
    }
    let views = converted
        .iter()
        .map(|(name, dtype, shape, data)| TensorView::new(*dtype, shape.clone(), data).map(|v| (name.as_str(), v)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| err("converting embedder weights", e))?;
    safetensors::serialize(views, None).map_err(|e| err("converting embedder weights", e))
}

/// Every tensor of `weights` as f32 (f32, f16, bf16, or int8 with its scales from
/// [`quantize_weights`]), each int8 tensor's scales checked against its shape.
fn widen_weights(weights: &[u8]) -> Result<std::collections::HashMap<String, Tensor>> {
    use safetensors::{Dtype, SafeTensors};
    let st = SafeTensors::deserialize(weights).map_err(|e| err("embedder weights", e))?;
    let tensor = |name: &str, values: Vec<f32>, shape: &[usize]| {
        Tensor::from_vec(values, shape, &Device::Cpu).map_err(|e| err(&format!("embedder weights: {name}"), e))
    };
    let mut out = std::collections::HashMap::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            _ if name.ends_with(SCALE_SUFFIX) => continue,
            Dtype::F32 => FloatKind::F32.decode(data),
            Dtype::F16 => FloatKind::F16.decode(data),
            Dtype::BF16 => FloatKind::BF16.decode(data),
            Dtype::I8 => {
                let scale_name = format!("{name}{SCALE_SUFFIX}");
                let scales = st
                    .tensor(&scale_name)
                    .map_err(|_| err("embedder weights", format!("int8 tensor {name} has no {scale_name}")))?;
                let fits = matches!(*view.shape(), [rows, cols] if cols % QUANT_GROUP == 0 && scales.shape() == [rows, cols / QUANT_GROUP]);
                if !fits || scales.dtype() != Dtype::F32 {
                    return Err(err(
                        "embedder weights",
                        format!(
                            "{scale_name} is {:?} {:?}, not f32 [rows, cols / {QUANT_GROUP}] for {name} {:?}",
                            scales.dtype(),
                            scales.shape(),
                            view.shape()
                        ),
                    ));
                }
                let scales = FloatKind::F32.decode(scales.data());
                data.chunks_exact(QUANT_GROUP)
                    .zip(scales)
                    .flat_map(|(group, scale)| group.iter().map(move |&q| f32::from(q as i8) * scale))
                    .collect()
            }
            // Buffers such as `embeddings.position_ids` (int64), which BERT does not load.
            Dtype::I64 | Dtype::I32 | Dtype::U8 | Dtype::BOOL => continue,
            other => {
                return Err(err(
                    "embedder weights",
                    format!("{name} has dtype {other:?} (expected f32, f16, bf16 or int8)"),
                ))
            }
        };
        out.insert(name.clone(), tensor(&name, values, view.shape())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::{tensor::TensorView, Dtype};

    fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        let views = tensors.iter().map(|(n, d, s, b)| (*n, TensorView::new(*d, s.clone(), b).unwrap()));
        safetensors::serialize(views, None).unwrap()
    }

    fn f32_bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn quantised_weights_widen_back_within_half_a_step() {
        let matrix: Vec<f32> = (0..64 * 128).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        let mut with_zero_group = matrix.clone();
        with_zero_group[..QUANT_GROUP].fill(0.0);
        let bias: Vec<f32> = (0..128).map(|i| i as f32 / 100.0).collect();
        let original = file(&[
            ("w", Dtype::F32, vec![64, 128], f32_bytes(&with_zero_group)),
            ("b", Dtype::F32, vec![128], f32_bytes(&bias)),
        ]);
        let small = quantize_weights(&original).unwrap();
        assert!(small.len() < original.len() / 3, "{} of {} bytes", small.len(), original.len());
        let wide = widen_weights(&small).unwrap();
        assert_eq!(wide.len(), 2, "the scales are not tensors of the model");
        let w: Vec<f32> = wide["w"].flatten_all().unwrap().to_vec1().unwrap();
        for (g, (got, want)) in w.chunks(QUANT_GROUP).zip(with_zero_group.chunks(QUANT_GROUP)).enumerate() {
            let step = want.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst <= step / 2.0 + 1e-7, "group {g}: error {worst}, step {step}");
        }
        let b: Vec<f32> = wide["b"].to_vec1().unwrap();
        assert!(b.iter().zip(&bias).all(|(a, x)| (a - x).abs() <= x.abs() / 1000.0), "biases as f16");
    }

    #[test]
    fn int8_weights_without_fitting_scales_are_refused() {
        let codes = vec![1u8; 2 * 128];
        let no_scale = file(&[("w", Dtype::I8, vec![2, 128], codes.clone())]);
        assert!(widen_weights(&no_scale).unwrap_err().to_string().contains("has no w.int8_scale"));
        let wrong = file(&[
            ("w", Dtype::I8, vec![2, 128], codes),
            ("w.int8_scale", Dtype::F32, vec![2, 3], f32_bytes(&[1.0; 6])),
        ]);
        assert!(widen_weights(&wrong).unwrap_err().to_string().contains("not f32 [rows, cols / 64]"));
    }
}
