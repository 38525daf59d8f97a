//! Matrices as `.npy` files: SAE codes (`indices.npy` + `values.npy`) and embedding shards.

use crate::npy::{self, DType, Npy};
use half::f16;
use saescope_core::codes::SparseCodes;
use saescope_core::error::{Error, Result};
use saescope_core::search::{Corpus, Quantized, Shard, Storage};

/// Sparse codes as two `.npy` files.
pub trait CodesFiles: Sized {
    /// `indices.npy` (int32) and `values.npy` (float32), both `[rows, k]`: exact.
    fn to_npy(&self) -> Result<(Vec<u8>, Vec<u8>)>;
    /// The same as bundles store it: uint16 indices when every latent fits (int32 beyond
    /// 65,536), float16 values when every value stays finite and keeps being zero or nonzero in
    /// f16 (float32 otherwise). 4 bytes per value instead of 8; the page reads codes only to
    /// colour, count and rank, where f16's three significant digits are plenty.
    fn to_compact_npy(&self) -> Result<(Vec<u8>, Vec<u8>)>;
    /// Reads `indices.npy` + `values.npy` (`[rows, k]` each) for an SAE of `d_sae` latents.
    fn from_npy(indices: &[u8], values: &[u8], d_sae: usize) -> Result<Self>;
}

impl CodesFiles for SparseCodes {
    fn to_npy(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        let shape = [self.rows(), self.k];
        let idx: Vec<i32> = self.indices.iter().map(|&i| i as i32).collect();
        Ok((npy::to_bytes(&shape, &idx)?, npy::to_bytes(&shape, &self.values)?))
    }

    fn to_compact_npy(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        let shape = [self.rows(), self.k];
        let indices = if self.d_sae <= 1 << 16 {
            npy::to_bytes(&shape, &self.indices.iter().map(|&i| i as u16).collect::<Vec<_>>())?
        } else {
            npy::to_bytes(&shape, &self.indices.iter().map(|&i| i as i32).collect::<Vec<_>>())?
        };
        let halves: Vec<f16> = self.values.iter().map(|&v| f16::from_f32(v)).collect();
        let keeps = |(&v, h): (&f32, &f16)| h.is_finite() && (v == 0.0) == (h.to_f32() == 0.0);
        let values = if self.values.iter().zip(&halves).all(keeps) {
            npy::to_bytes(&shape, &halves)?
        } else {
            npy::to_bytes(&shape, &self.values)?
        };
        Ok((indices, values))
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

    /// Appends one int8 `.npy` shard `[rows, dim]` with its quantisation (`scale`: `[2, dim]`
    /// f32, each dimension's scale then offset; finite, scales not negative).
    fn push_quantized_npy(&mut self, name: &str, bytes: &[u8], scale_name: &str, scale: &[u8]) -> Result<()>;
}

impl CorpusFiles for Corpus {
    fn push_npy(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let npy = Npy::parse(bytes).map_err(|e| Error::Format(format!("{name}: {e}")))?;
        let (rows, cols) = npy.header.matrix_shape()?;
        if cols != self.dim {
            return Err(Error::Shape(format!("{name} has dimension {cols}, expected {}", self.dim)));
        }
        // f16 shards stay f16 (widening them to check and narrowing them back was a second pass
        // over every value of the page's cold load); the widened copy is made only to name a
        // non-finite value in the error.
        let storage = match npy.header.dtype {
            DType::F16 => {
                let halves = npy.to_f16()?;
                if halves.iter().any(|h| !h.is_finite()) {
                    saescope_core::matrix::check_finite(&npy.to_f32()?, cols, name)?;
                }
                Storage::F16(halves)
            }
            _ => {
                let values = npy.to_f32()?;
                saescope_core::matrix::check_finite(&values, cols, name)?;
                Storage::F32(values)
            }
        };
        self.shards.push(Shard { rows, storage });
        Ok(())
    }

    fn push_quantized_npy(&mut self, name: &str, bytes: &[u8], scale_name: &str, scale: &[u8]) -> Result<()> {
        let npy = Npy::parse(bytes).map_err(|e| Error::Format(format!("{name}: {e}")))?;
        let (rows, cols) = npy.header.matrix_shape()?;
        if cols != self.dim {
            return Err(Error::Shape(format!("{name} has dimension {cols}, expected {}", self.dim)));
        }
        let values = npy.to_i8().map_err(|e| Error::Format(format!("{name}: {e}")))?;
        let quantisation = Npy::parse(scale).map_err(|e| Error::Format(format!("{scale_name}: {e}")))?;
        if quantisation.header.matrix_shape()? != (2, cols) {
            return Err(Error::Shape(format!(
                "{scale_name} has shape {:?}, expected [2, {cols}] (a scale and an offset per dimension)",
                quantisation.header.shape
            )));
        }
        let both = quantisation.to_f32().map_err(|e| Error::Format(format!("{scale_name}: {e}")))?;
        saescope_core::matrix::check_finite(&both, cols, scale_name)?;
        let (scale, offset) = both.split_at(cols);
        if scale.iter().any(|&s| s < 0.0) {
            return Err(Error::Invalid(format!("{scale_name} has a negative scale")));
        }
        let storage = Storage::I8(Quantized { values, scale: scale.to_vec(), offset: offset.to_vec() });
        self.shards.push(Shard { rows, storage });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_store_u16_indices_and_f16_values_when_nothing_is_lost() {
        let codes = SparseCodes::new(2, 70_000, vec![3, 65_535, 0, 1], vec![1.5, 0.25, 2.0, 0.0]).unwrap();
        let small = SparseCodes::new(2, 65_536, codes.indices.clone(), codes.values.clone()).unwrap();
        let (idx, val) = small.to_compact_npy().unwrap();
        assert_eq!(Npy::parse(&idx).unwrap().header.dtype, DType::U16);
        assert_eq!(Npy::parse(&val).unwrap().header.dtype, DType::F16);
        assert_eq!(SparseCodes::from_npy(&idx, &val, 65_536).unwrap(), small);
        let (idx, _) = codes.to_compact_npy().unwrap();
        assert_eq!(Npy::parse(&idx).unwrap().header.dtype, DType::I32, "index 65,535 of 70,000 latents");
        for kept_wide in [1e-9, 70_000.0] {
            let tiny = SparseCodes::new(2, 8, vec![0, 1, 2, 3], vec![kept_wide, 1.0, 1.0, 1.0]).unwrap();
            let (idx, val) = tiny.to_compact_npy().unwrap();
            assert_eq!(Npy::parse(&val).unwrap().header.dtype, DType::F32, "{kept_wide} would not survive f16");
            assert_eq!(SparseCodes::from_npy(&idx, &val, 8).unwrap(), tiny);
        }
    }

    #[test]
    fn f16_shards_stay_exact_and_non_finite_values_are_named() {
        let halves: Vec<f16> = [0.5f32, -1.25, 3.0, 0.0, 7.5, -0.125].iter().map(|&v| f16::from_f32(v)).collect();
        let mut corpus = Corpus::new(3);
        corpus.push_npy("a.npy", &npy::to_bytes(&[2, 3], &halves).unwrap()).unwrap();
        assert_eq!(corpus.shards[0].storage, Storage::F16(halves.clone()));
        let mut bad = halves;
        bad[4] = f16::INFINITY;
        let err = Corpus::new(3).push_npy("b.npy", &npy::to_bytes(&[2, 3], &bad).unwrap()).unwrap_err().to_string();
        assert!(err.contains("b.npy") && err.contains("non-finite"), "{err}");
    }

    #[test]
    fn int8_shards_load_with_their_scales_and_bad_scales_are_named() {
        let values: Vec<i8> = vec![-127, 0, 127, 5, -5, 1];
        let shard = npy::to_bytes(&[2, 3], &values).unwrap();
        let scale = |s: [f32; 6]| npy::to_bytes(&[2, 3], &s).unwrap();
        let mut corpus = Corpus::new(3);
        corpus.push_quantized_npy("e.npy", &shard, "e.scale.npy", &scale([0.5, 1.0, 0.0, 0.0, -1.0, 2.0])).unwrap();
        assert_eq!(corpus.row(0).unwrap(), vec![-63.5, -1.0, 2.0]);
        let fails =
            |s: &[u8]| Corpus::new(3).push_quantized_npy("e.npy", &shard, "e.scale.npy", s).unwrap_err().to_string();
        assert!(fails(&scale([f32::NAN, 1.0, 0.0, 0.0, 0.0, 0.0])).contains("non-finite"));
        assert!(fails(&scale([-0.5, 1.0, 0.0, 0.0, 0.0, 0.0])).contains("negative scale"));
        assert!(fails(&npy::to_bytes(&[1, 3], &[1f32, 1.0, 1.0]).unwrap()).contains("[2, 3]"));
        let f16_shard = npy::to_bytes(&[2, 3], &[half::f16::ONE; 6]).unwrap();
        let err = Corpus::new(3).push_quantized_npy("e.npy", &f16_shard, "e.scale.npy", &scale([1.0; 6])).unwrap_err();
        assert!(err.to_string().contains("int8"), "{err}");
    }
}
