//! saescope-embed: text -> embedding with all-MiniLM-L6-v2, reproducing sentence-transformers:
//! WordPiece tokens (no padding, no truncation from tokenizer.json; truncated here to 256 with
//! [SEP] kept last), BERT (candle-transformers), mean pooling over real tokens, L2 normalisation.
//! Bytes in, no filesystem: the same code runs natively and in the browser (wasm32, CPU).

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use saescope_core::{Error, Matrix, Result};
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
    /// Loads the model from `model.safetensors` (f32 or f16), `tokenizer.json` and `config.json`.
    pub fn from_bytes(weights: &[u8], tokenizer_json: &[u8], config_json: &[u8]) -> Result<Self> {
        let config: Config = serde_json::from_slice(config_json).map_err(|e| err("embedder config.json", e))?;
        let tokenizer = load_tokenizer(tokenizer_json)?;
        let vb = VarBuilder::from_slice_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| err("embedder weights", e))?;
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

/// The bundle files of the query embedder: (path, role, bytes), weights as f16.
pub fn bundle_files(
    weights: &[u8],
    tokenizer_json: &[u8],
    config_json: &[u8],
) -> Result<Vec<(&'static str, Role, Vec<u8>)>> {
    Ok(vec![
        ("embedder/model.safetensors", Role::EmbedderWeights, weights_to_f16(weights)?),
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

/// The model's weights with every f32 tensor stored as f16: half the download for the browser,
/// cosine >= 0.999 to the f32 model's embeddings (tested).
pub fn weights_to_f16(weights: &[u8]) -> Result<Vec<u8>> {
    use safetensors::{tensor::TensorView, Dtype, SafeTensors};
    let st = SafeTensors::deserialize(weights).map_err(|e| err("embedder weights", e))?;
    let converted: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let (dtype, data) = match view.dtype() {
                Dtype::F32 => (
                    Dtype::F16,
                    view.data()
                        .chunks_exact(4)
                        .flat_map(|c| half::f16::from_f32(f32::from_le_bytes([c[0], c[1], c[2], c[3]])).to_le_bytes())
                        .collect(),
                ),
                other => (other, view.data().to_vec()),
            };
            (name, dtype, view.shape().to_vec(), data)
        })
        .collect();
    let views = converted
        .iter()
        .map(|(name, dtype, shape, data)| TensorView::new(*dtype, shape.clone(), data).map(|v| (name.as_str(), v)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| err("converting embedder weights", e))?;
    safetensors::serialize(views, None).map_err(|e| err("converting embedder weights", e))
}
