//! Sparse SAE codes: for each document the `k` active latents and their activations.

use crate::error::{Error, Result};

/// Row-major `[rows, k]` latent indices and activations, each row in
/// [`crate::topk::rank_order`]. Activations are post-ReLU, so trailing entries may be 0.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseCodes {
    pub k: usize,
    pub d_sae: usize,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseCodes {
    pub fn new(k: usize, d_sae: usize, indices: Vec<u32>, values: Vec<f32>) -> Result<Self> {
        if indices.len() != values.len() || k == 0 || !indices.len().is_multiple_of(k) {
            return Err(Error::Shape(format!(
                "sparse codes need equal-length index and value arrays of whole rows of k={k}, got {} and {}",
                indices.len(),
                values.len()
            )));
        }
        if let Some(bad) = indices.iter().find(|&&i| i as usize >= d_sae) {
            return Err(Error::Shape(format!("latent index {bad} is out of range for d_sae={d_sae}")));
        }
        Ok(Self { k, d_sae, indices, values })
    }

    pub fn rows(&self) -> usize {
        self.indices.len() / self.k
    }

    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let r = i * self.k..(i + 1) * self.k;
        (&self.indices[r.clone()], &self.values[r])
    }

    /// Active (value > 0) latents of row `i`.
    pub fn active(&self, i: usize) -> impl Iterator<Item = (u32, f32)> + '_ {
        let (idx, val) = self.row(i);
        idx.iter().copied().zip(val.iter().copied()).filter(|&(_, v)| v > 0.0)
    }

    /// Appends the rows of `other` (same k and d_sae).
    pub fn extend(&mut self, other: SparseCodes) {
        debug_assert_eq!((self.k, self.d_sae), (other.k, other.d_sae));
        self.indices.extend(other.indices);
        self.values.extend(other.values);
    }

    pub fn empty(k: usize, d_sae: usize) -> Self {
        Self { k, d_sae, indices: Vec::new(), values: Vec::new() }
    }
}
