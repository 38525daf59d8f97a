//! Matrices as `.npy` files: SAE codes (`indices.npy` + `values.npy`) and embedding shards.

use crate::npy::{self, DType, Npy};
use half::f16;
use saescope_core::codes::SparseCodes;
use saescope_core::error::{Error, Result};
use saescope_core::search::{Corpus, Shard, Storage};

/// Sparse codes as two `.npy` files.
pub trait CodesFiles: Sized {
    /// `indices.npy` (int32) and `values.npy` (float32), both `[rows, k]`.
    fn to_npy(&self) -> Result<(Vec<u8>, Vec<u8>)>;
    /// Reads `indices.npy` + `values.npy` (`[rows, k]` each) for an SAE of `d_sae` latents.
    fn from_npy(indices: &[u8], values: &[u8], d_sae: usize) -> Result<Self>;
}

impl CodesFiles for SparseCodes {
    fn to_npy(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        let shape = [self.rows(), self.k];
        let idx: Vec<i32> = self.indices.iter().map(|&i| i as i32).collect();
        Ok((npy::to_bytes(&shape, &idx)?, npy::to_bytes(&shape, &self.values)?))
    }

    fn from_npy(indices: &[u8], values: &[u8], d_sae: usize) -> Result<Self> {
        let idx = npy::Npy::parse(indices)?;
        let val = npy::Npy::parse(values)?;
        if idx.header.shape != val.header.shape {
            return Err(Error::Shape(format!(
                "indices {:?} and values {:?} differ in shape",
                idx.header.shape, val.header.shape
            )));
        }
        let (_, k) = idx.header.matrix_shape()?;
        SparseCodes::new(k, d_sae, idx.to_u32()?, val.to_f32()?)
    }
}

/// Embedding shards as `.npy` files.
pub trait CorpusFiles {
    /// Appends one `.npy` shard (f32 or f16 `[rows, dim]`), checking its dimension and values.
    fn push_npy(&mut self, name: &str, bytes: &[u8]) -> Result<()>;
}

impl CorpusFiles for Corpus {
    fn push_npy(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let npy = Npy::parse(bytes).map_err(|e| Error::Format(format!("{name}: {e}")))?;
        let (rows, cols) = npy.header.matrix_shape()?;
        if cols != self.dim {
            return Err(Error::Shape(format!("{name} has dimension {cols}, expected {}", self.dim)));
        }
        let values = npy.to_f32()?;
        saescope_core::matrix::check_finite(&values, cols, name)?;
        let storage = match npy.header.dtype {
            DType::F16 => Storage::F16(values.iter().map(|&v| f16::from_f32(v)).collect()),
            _ => Storage::F32(values),
        };
        self.shards.push(Shard { rows, storage });
        Ok(())
    }
}
