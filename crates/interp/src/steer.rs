//! Steering a query through the SAE (arXiv 2408.00657, "steering semantic search"): encode the
//! query, change some feature activations, decode, and search with the result.
//!
//! Two modes. [`SteerMode::Rebuild`] searches with the decoded steered code alone (the paper's
//! app): the query becomes what the SAE can express. [`SteerMode::KeepError`] keeps the query's
//! reconstruction error, `q' = q + W_dec (z' - z)` (the paper's evaluation): with no edit the
//! query is unchanged, so the results only move as far as the edits ask.

use saescope_core::codes::SparseCodes;
use saescope_core::error::{Error, Result};
use saescope_core::matrix::{dot, norm};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteerMode {
    Rebuild,
    KeepError,
}

impl SteerMode {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "rebuild" => Ok(Self::Rebuild),
            "keep-error" => Ok(Self::KeepError),
            other => {
                Err(Error::Invalid(format!("unknown steering mode {other:?} (use \"rebuild\" or \"keep-error\")")))
            }
        }
    }
}

/// `code` with each edited feature's activation set to its value (0 removes it). Activations
/// are post-ReLU, so negative or non-finite values are refused.
pub fn apply_edits(code: &[(u32, f32)], edits: &[(u32, f32)], d_sae: usize) -> Result<Vec<(u32, f32)>> {
    let mut out: Vec<(u32, f32)> = code.to_vec();
    for &(feature, value) in edits {
        saescope_core::sae::check_features([feature], d_sae)?;
        if !(value.is_finite() && value >= 0.0) {
            return Err(Error::Invalid(format!("feature {feature}: activation {value} must be a finite number >= 0")));
        }
        match out.iter_mut().find(|(j, _)| *j == feature) {
            Some(entry) => entry.1 = value,
            None => out.push((feature, value)),
        }
    }
    out.retain(|&(_, v)| v > 0.0);
    Ok(out)
}

/// Several sparse rows of different lengths as one [`SparseCodes`] (padded with zero
/// activations, which decode to nothing), so that one decode call serves them all.
pub fn rows_to_codes(rows: &[&[(u32, f32)]], d_sae: usize) -> Result<SparseCodes> {
    let width = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
    let (mut indices, mut values) = (Vec::with_capacity(rows.len() * width), Vec::with_capacity(rows.len() * width));
    for row in rows {
        for i in 0..width {
            let (j, v) = row.get(i).copied().unwrap_or((0, 0.0));
            indices.push(j);
            values.push(v);
        }
    }
    SparseCodes::new(width, d_sae, indices, values)
}

/// The steered query from the query `q`, the decoding of its own code (`recon`) and of the
/// steered code (`steered_recon`).
pub fn steered_query(q: &[f32], recon: &[f32], steered_recon: &[f32], mode: SteerMode) -> Vec<f32> {
    match mode {
        SteerMode::Rebuild => steered_recon.to_vec(),
        SteerMode::KeepError => q.iter().zip(recon).zip(steered_recon).map(|((q, r), s)| q + (s - r)).collect(),
    }
}

/// Cosine similarity; 0 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let n = norm(a) * norm(b);
    if n > 0.0 {
        dot(a, b) / n
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saescope_core::synth::PlantedData;

    #[test]
    fn edits_set_add_and_remove_features() {
        let code = [(3, 1.0), (7, 0.5)];
        let out = apply_edits(&code, &[(7, 0.0), (9, 2.0), (3, 1.5)], 10).unwrap();
        assert_eq!(out, vec![(3, 1.5), (9, 2.0)]);
        assert!(apply_edits(&code, &[(10, 1.0)], 10).unwrap_err().to_string().contains("does not exist"));
        assert!(apply_edits(&code, &[(1, f32::NAN)], 10).is_err());
        assert!(apply_edits(&code, &[(1, -1.0)], 10).is_err());
    }

    #[test]
    fn keep_error_without_edits_is_the_query_itself() {
        let planted = PlantedData::generate(16, 24, 3, 4, 1);
        let sae = &planted.sae;
        let q = planted.embeddings.row(0).to_vec();
        let z: Vec<(u32, f32)> = sae.encode(&planted.embeddings.slice_rows(0, 1)).unwrap().active(0).collect();
        let steered = apply_edits(&z, &[], sae.d_sae).unwrap();
        let codes = rows_to_codes(&[&z, &steered], sae.d_sae).unwrap();
        let recon = sae.decode(&codes).unwrap();
        let q2 = steered_query(&q, recon.row(0), recon.row(1), SteerMode::KeepError);
        assert!(q.iter().zip(&q2).all(|(a, b)| (a - b).abs() < 1e-6));
        // Rebuild gives the reconstruction instead.
        assert_eq!(steered_query(&q, recon.row(0), recon.row(1), SteerMode::Rebuild), recon.row(1));
    }

    #[test]
    fn boosting_a_feature_moves_the_query_along_its_decoder_direction() {
        let planted = PlantedData::generate(16, 24, 3, 4, 2);
        let sae = &planted.sae;
        let q = planted.embeddings.row(0).to_vec();
        let z: Vec<(u32, f32)> = sae.encode(&planted.embeddings.slice_rows(0, 1)).unwrap().active(0).collect();
        let absent = (0..sae.d_sae as u32).find(|j| !z.iter().any(|(i, _)| i == j)).unwrap();
        let steered = apply_edits(&z, &[(absent, 3.0)], sae.d_sae).unwrap();
        let recon = sae.decode(&rows_to_codes(&[&z, &steered], sae.d_sae).unwrap()).unwrap();
        let q2 = steered_query(&q, recon.row(0), recon.row(1), SteerMode::KeepError);
        let moved: Vec<f32> = q2.iter().zip(&q).map(|(a, b)| a - b).collect();
        assert!((cosine(&moved, sae.decoder_row(absent as usize)) - 1.0).abs() < 1e-5);
        assert!((norm(&moved) - 3.0).abs() < 1e-4, "decoder rows are unit norm");
    }

    #[test]
    fn modes_parse_by_name() {
        assert_eq!(SteerMode::parse("keep-error").unwrap(), SteerMode::KeepError);
        assert_eq!(SteerMode::parse("rebuild").unwrap(), SteerMode::Rebuild);
        assert!(SteerMode::parse("sideways").is_err());
    }
}
