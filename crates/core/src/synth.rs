//! Planted sparse dictionaries: data with a known answer, for tests and for the self-made demo
//! bundle. Each row is a sum of `k` unit-norm atoms with positive weights, so the SAE whose
//! decoder *is* the dictionary (and whose encoder is its transpose) recovers the planted atoms
//! whenever the atoms are close enough to orthogonal.

use crate::matrix::{normalize, Matrix};
use crate::rng::SeededRng;
use crate::sae::{transpose, Sae};

/// `n` random unit-norm atoms in `d` dimensions, `[n, d]`.
pub fn unit_atoms(d: usize, n: usize, rng: &mut SeededRng) -> Matrix {
    let mut m = Matrix::zeros(n, d);
    for j in 0..n {
        let row = m.row_mut(j);
        row.iter_mut().for_each(|v| *v = rng.normal());
        normalize(row);
    }
    m
}

/// The SAE that encodes with the dictionary's transpose and decodes with the dictionary.
pub fn planted_sae(d: usize, n: usize, k: usize, seed: u64) -> Sae {
    let atoms = unit_atoms(d, n, &mut SeededRng::new(seed));
    sae_for_atoms(&atoms, k)
}

fn sae_for_atoms(atoms: &Matrix, k: usize) -> Sae {
    let (n, d) = (atoms.rows, atoms.cols);
    Sae::new(
        k,
        Matrix::new(d, n, transpose(&atoms.data, n, d)).expect("shape"),
        vec![0.0; n],
        atoms.clone(),
        vec![0.0; d],
    )
    .expect("planted SAE is valid")
}

pub struct PlantedData {
    pub sae: Sae,
    pub embeddings: Matrix,
    /// `[rows, k]` planted atom indices, each row sorted ascending.
    pub atoms: Vec<u32>,
    /// `[rows, k]` planted weights, aligned with `atoms`.
    pub weights: Vec<f32>,
}

impl PlantedData {
    /// `rows` embeddings of dimension `d`, each `k` atoms out of `n` with weights in [1, 2).
    pub fn generate(d: usize, n: usize, k: usize, rows: usize, seed: u64) -> Self {
        let mut rng = SeededRng::new(seed);
        let dictionary = unit_atoms(d, n, &mut rng);
        let mut embeddings = Matrix::zeros(rows, d);
        let mut atoms = Vec::with_capacity(rows * k);
        let mut weights = Vec::with_capacity(rows * k);
        for r in 0..rows {
            let mut chosen: Vec<u32> = rng.distinct(n, k).into_iter().map(|a| a as u32).collect();
            chosen.sort_unstable();
            for &a in &chosen {
                let w = 1.0 + rng.uniform() as f32;
                weights.push(w);
                for (e, v) in embeddings.row_mut(r).iter_mut().zip(dictionary.row(a as usize)) {
                    *e += w * v;
                }
            }
            atoms.extend(chosen);
        }
        Self { sae: sae_for_atoms(&dictionary, k), embeddings, atoms, weights }
    }

    pub fn atoms_of(&self, row: usize) -> Vec<u32> {
        let k = self.sae.k;
        self.atoms[row * k..(row + 1) * k].to_vec()
    }
}
