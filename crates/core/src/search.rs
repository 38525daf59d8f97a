//! Exact maximum-inner-product search over a corpus held in shards (f32 or f16 storage).

use crate::error::{Error, Result};
use crate::matrix::{dot, Matrix};
use crate::topk::{merge, top_k};
use half::f16;

/// How a shard's rows are stored. f16 halves memory and bandwidth; scores are still f32.
#[derive(Clone, Debug, PartialEq)]
pub enum Storage {
    F32(Vec<f32>),
    F16(Vec<f16>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Shard {
    pub rows: usize,
    pub storage: Storage,
}

impl Shard {
    /// Row `i` widened to f32 into `out`.
    pub fn row_into(&self, dim: usize, i: usize, out: &mut [f32]) {
        match &self.storage {
            Storage::F32(v) => out.copy_from_slice(&v[i * dim..(i + 1) * dim]),
            Storage::F16(v) => {
                for (o, h) in out.iter_mut().zip(&v[i * dim..(i + 1) * dim]) {
                    *o = h.to_f32();
                }
            }
        }
    }
}

/// Document embeddings, split into shards in document order.
#[derive(Clone, Debug, PartialEq)]
pub struct Corpus {
    pub dim: usize,
    pub shards: Vec<Shard>,
}

impl Corpus {
    pub fn new(dim: usize) -> Self {
        Self { dim, shards: Vec::new() }
    }

    pub fn rows(&self) -> usize {
        self.shards.iter().map(|s| s.rows).sum()
    }

    pub fn from_matrix(m: &Matrix, shard_rows: usize, half: bool) -> Self {
        let mut c = Corpus::new(m.cols);
        for start in (0..m.rows).step_by(shard_rows.max(1)) {
            let part = m.slice_rows(start, (start + shard_rows).min(m.rows));
            let storage = if half {
                Storage::F16(part.data.iter().map(|&v| f16::from_f32(v)).collect())
            } else {
                Storage::F32(part.data)
            };
            c.shards.push(Shard { rows: part.rows, storage });
        }
        c
    }

    /// Document `i` as f32.
    pub fn row(&self, mut i: usize) -> Option<Vec<f32>> {
        for s in &self.shards {
            if i < s.rows {
                let mut out = vec![0.0; self.dim];
                s.row_into(self.dim, i, &mut out);
                return Some(out);
            }
            i -= s.rows;
        }
        None
    }

    /// Every document as one f32 matrix.
    pub fn to_matrix(&self) -> Matrix {
        let mut m = Matrix::zeros(self.rows(), self.dim);
        let mut r = 0;
        for s in &self.shards {
            for i in 0..s.rows {
                s.row_into(self.dim, i, m.row_mut(r));
                r += 1;
            }
        }
        m
    }
}

/// The best `k` documents for each query, `[queries, k]`, in rank order.
#[derive(Clone, Debug, PartialEq)]
pub struct Hits {
    pub k: usize,
    pub indices: Vec<u32>,
    pub scores: Vec<f32>,
}

impl Hits {
    pub fn queries(&self) -> usize {
        self.indices.len().checked_div(self.k).unwrap_or(0)
    }

    pub fn row(&self, q: usize) -> (&[u32], &[f32]) {
        let r = q * self.k..(q + 1) * self.k;
        (&self.indices[r.clone()], &self.scores[r])
    }

    pub fn from_lists(k: usize, lists: Vec<Vec<(u32, f32)>>) -> Self {
        let mut hits = Hits { k, indices: Vec::new(), scores: Vec::new() };
        for list in lists {
            for (i, s) in list {
                hits.indices.push(i);
                hits.scores.push(s);
            }
        }
        hits
    }
}

pub fn check_search_args(corpus_dim: usize, corpus_rows: usize, queries: &Matrix, k: usize) -> Result<usize> {
    if queries.cols != corpus_dim {
        return Err(Error::Shape(format!("queries have dimension {}, the corpus has {corpus_dim}", queries.cols)));
    }
    queries.check_finite("queries")?;
    if corpus_rows == 0 {
        // Not an empty answer: the queries would silently vanish from the output.
        return Err(Error::Invalid("the corpus has no documents to search".into()));
    }
    if k == 0 {
        return Err(Error::Invalid("k must be at least 1".into()));
    }
    Ok(k.min(corpus_rows))
}

/// Corpus rows scored per block on the CPU: bounds the f32 copy of an f16 shard.
const CPU_BLOCK_ROWS: usize = 4096;

/// Up to this many queries are scored by direct dot products: SGEMM would first pack the whole
/// block, a copy as large as the scan itself.
const DOT_MAX_QUERIES: usize = 4;

/// CPU reference: exact top-k by dot product (blocked SGEMM, or direct dot products for a few
/// queries, then per-query selection).
pub fn search(corpus: &Corpus, queries: &Matrix, k: usize) -> Result<Hits> {
    use half::slice::HalfFloatSliceExt;
    let k = check_search_args(corpus.dim, corpus.rows(), queries, k)?;
    let dim = corpus.dim;
    let mut candidates: Vec<Vec<(u32, f32)>> = vec![Vec::new(); queries.rows];
    let mut offset = 0usize;
    let mut widened = Vec::new();
    let mut scores = Vec::new();
    for s in &corpus.shards {
        for start in (0..s.rows).step_by(CPU_BLOCK_ROWS) {
            let rows = CPU_BLOCK_ROWS.min(s.rows - start);
            let range = start * dim..(start + rows) * dim;
            let block: &[f32] = match &s.storage {
                Storage::F32(v) => &v[range],
                Storage::F16(v) => {
                    widened.resize(rows * dim, 0.0);
                    v[range].convert_to_f32_slice(&mut widened);
                    &widened
                }
            };
            scores.resize(queries.rows * rows, 0.0);
            if queries.rows <= DOT_MAX_QUERIES {
                for (q, out) in scores.chunks_exact_mut(rows).enumerate() {
                    let query = queries.row(q);
                    out.iter_mut().zip(block.chunks_exact(dim)).for_each(|(o, row)| *o = dot(query, row));
                }
            } else {
                crate::matrix::gemm(queries.rows, dim, rows, &queries.data, false, block, true, 0.0, &mut scores);
            }
            let base = (offset + start) as u32;
            for (q, list) in candidates.iter_mut().enumerate() {
                let best = top_k(&scores[q * rows..(q + 1) * rows], k).into_iter().map(|(i, v)| (i + base, v));
                *list = merge([std::mem::take(list), best.collect()], k);
            }
        }
        offset += s.rows;
    }
    Ok(Hits::from_lists(k, candidates))
}
