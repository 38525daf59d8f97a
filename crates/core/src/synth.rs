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

    /// A planted 2D map with a known answer: each atom gets a random anchor in [0, 100]^2, and
    /// each document sits within 1.5 units of its strongest atom's anchor, so the documents
    /// around an anchor share that atom (the map's tests lasso them and expect it first).
    pub fn planted_layout(&self, seed: u64) -> Matrix {
        let mut rng = SeededRng::new(seed ^ 0x6c61_796f);
        let anchors: Vec<[f32; 2]> =
            (0..self.sae.d_sae).map(|_| [100.0 * rng.uniform() as f32, 100.0 * rng.uniform() as f32]).collect();
        let mut layout = Matrix::zeros(self.embeddings.rows, 2);
        for r in 0..self.embeddings.rows {
            let anchor = anchors[self.strongest_atom(r) as usize];
            let (angle, radius) = (std::f64::consts::TAU * rng.uniform(), 1.5 * rng.uniform().sqrt());
            layout.data[2 * r] = anchor[0] + (radius * angle.cos()) as f32;
            layout.data[2 * r + 1] = anchor[1] + (radius * angle.sin()) as f32;
        }
        layout
    }

    /// Each document's strongest planted atom (the one [`PlantedData::planted_layout`] places
    /// it by).
    pub fn strongest_atom(&self, row: usize) -> u32 {
        let k = self.sae.k;
        let weights = &self.weights[row * k..(row + 1) * k];
        let strongest = (0..k).max_by(|&a, &b| weights[a].total_cmp(&weights[b]).then(b.cmp(&a))).unwrap_or(0);
        self.atoms[row * k + strongest]
    }
}

/// Codes with planted feature families: a known answer for the family algorithm.
pub struct PlantedFamilies {
    pub codes: crate::codes::SparseCodes,
    /// (parent, children ascending) of each planted family, by parent.
    pub families: Vec<(u32, Vec<u32>)>,
}

/// `families` parents, each with `children` children (parent `f * (children + 1)`, children
/// the next indices), then `noise` independent features. Each document belongs to one family
/// (its parent and two of its children fire) and, one time in five, to a second one (its parent
/// and one child); each noise feature fires independently with probability 0.02. Activations
/// fall from parent to children to noise; rows are padded with inactive entries to k = 8.
pub fn planted_families(
    families: usize,
    children: usize,
    noise: usize,
    documents: usize,
    seed: u64,
) -> crate::Result<PlantedFamilies> {
    const K: usize = 8;
    if families < 2 || children < 2 {
        return Err(crate::Error::Invalid("planted families need at least two families of two children".into()));
    }
    let width = children + 1;
    let d_sae = families * width + noise;
    let mut rng = SeededRng::new(seed);
    let (mut indices, mut values) = (Vec::with_capacity(documents * K), Vec::with_capacity(documents * K));
    for _ in 0..documents {
        let mut row: Vec<(u32, f32)> = Vec::with_capacity(K);
        let first = rng.below(families);
        let add_family = |f: usize, picks: usize, rng: &mut SeededRng, row: &mut Vec<(u32, f32)>| {
            row.push(((f * width) as u32, 2.0 + rng.uniform() as f32));
            for c in rng.distinct(children, picks) {
                row.push(((f * width + 1 + c) as u32, 1.0 + rng.uniform() as f32 * 0.5));
            }
        };
        add_family(first, 2, &mut rng, &mut row);
        if rng.uniform() < 0.2 {
            let second = (first + 1 + rng.below(families - 1)) % families;
            add_family(second, 1, &mut rng, &mut row);
        }
        for n in 0..noise {
            if rng.uniform() < 0.02 {
                row.push(((families * width + n) as u32, 0.5 + rng.uniform() as f32 * 0.2));
            }
        }
        row.sort_by(crate::topk::rank_order);
        row.truncate(K);
        let mut pad = 0u32;
        while row.len() < K {
            if !row.iter().any(|e| e.0 == pad) {
                row.push((pad, 0.0));
            }
            pad += 1;
        }
        indices.extend(row.iter().map(|e| e.0));
        values.extend(row.iter().map(|e| e.1));
    }
    let planted =
        (0..families).map(|f| ((f * width) as u32, (1..=children).map(|c| (f * width + c) as u32).collect())).collect();
    Ok(PlantedFamilies { codes: crate::codes::SparseCodes::new(K, d_sae, indices, values)?, families: planted })
}

/// A k = 1 SAE with these decoder rows, tied encoder and zero biases (for tests of functions
/// that only look at the decoder).
pub fn tied_sae<const D: usize>(rows: &[[f32; D]]) -> Sae {
    let n = rows.len();
    let w_dec = Matrix::new(n, D, rows.iter().flatten().copied().collect()).unwrap();
    let w_enc = Matrix::new(D, n, transpose(&w_dec.data, n, D)).unwrap();
    Sae::new(1, w_enc, vec![0.0; n], w_dec, vec![0.0; D]).unwrap()
}
