//! Feature co-occurrence `C = A^T A` of the binary top-k activation matrix (`A[r, j] = 1` when
//! feature `j` is active, value > 0, in document `r`): `C[i, i]` counts the documents where `i`
//! fires and `C[i, j]` those where both do.
//!
//! A dense `d_sae x d_sae` matrix does not fit for 16384 latents (1 GiB of u32), but documents
//! activate only k features each, so `C` is sparse. It is counted in dense tiles of rows (the
//! GPU kernel does the same tiles) and each tile is compacted into a sparse upper triangle
//! before the next is counted.

use crate::codes::SparseCodes;
use crate::error::{Error, Result};

/// The symmetric co-occurrence counts: the diagonal and the non-zero upper triangle (`i < j`)
/// by row.
#[derive(Clone, Debug, PartialEq)]
pub struct Cooccurrence {
    pub d_sae: usize,
    pub documents: usize,
    /// `C[i, i]`: documents where feature `i` is active.
    pub diagonal: Vec<u32>,
    row_start: Vec<usize>,
    columns: Vec<u32>,
    counts: Vec<u32>,
}

impl Cooccurrence {
    /// The non-zero `C[i, j]` with `j > i`: (columns ascending, counts).
    pub fn upper_row(&self, i: usize) -> (&[u32], &[u32]) {
        let r = self.row_start[i]..self.row_start[i + 1];
        (&self.columns[r.clone()], &self.counts[r])
    }

    pub fn get(&self, i: u32, j: u32) -> u32 {
        if i == j {
            return self.diagonal[i as usize];
        }
        let (lo, hi) = (i.min(j), i.max(j));
        let (cols, counts) = self.upper_row(lo as usize);
        cols.binary_search(&hi).map_or(0, |p| counts[p])
    }

    /// Every non-zero off-diagonal pair once, as `(i, j, C[i, j])` with `i < j`.
    pub fn pairs(&self) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
        (0..self.d_sae).flat_map(move |i| {
            let (cols, counts) = self.upper_row(i);
            cols.iter().zip(counts).map(move |(&j, &c)| (i as u32, j, c))
        })
    }

    /// Number of non-zero off-diagonal pairs.
    pub fn pair_count(&self) -> usize {
        self.columns.len()
    }

    /// From explicit counts (hand-made cases, imports). Pairs may come in any order and either
    /// orientation; repeats are summed.
    pub fn from_pairs(
        d_sae: usize,
        documents: usize,
        diagonal: Vec<u32>,
        pairs: impl IntoIterator<Item = (u32, u32, u32)>,
    ) -> Result<Self> {
        if diagonal.len() != d_sae {
            return Err(Error::Shape(format!("diagonal has {} entries for d_sae={d_sae}", diagonal.len())));
        }
        let mut upper: Vec<(u32, u32, u32)> = Vec::new();
        for (i, j, c) in pairs {
            if i == j || i as usize >= d_sae || j as usize >= d_sae {
                return Err(Error::Invalid(format!(
                    "co-occurrence pair ({i}, {j}) is on the diagonal or out of range for d_sae={d_sae}"
                )));
            }
            upper.push((i.min(j), i.max(j), c));
        }
        upper.sort_unstable();
        let mut builder = CooccurrenceBuilder::new(d_sae, documents);
        builder.diagonal = diagonal;
        for (i, j, c) in upper {
            builder.fill_rows_to(i as usize);
            if builder.columns.last() == Some(&j) && builder.row_start[i as usize] < builder.columns.len() {
                *builder.counts.last_mut().expect("non-empty") += c;
            } else if c > 0 {
                builder.columns.push(j);
                builder.counts.push(c);
            }
        }
        builder.fill_rows_to(d_sae);
        Ok(builder.into_cooccurrence())
    }
}

/// Assembles a [`Cooccurrence`] from dense tiles of consecutive rows, in order.
pub struct CooccurrenceBuilder {
    d_sae: usize,
    documents: usize,
    diagonal: Vec<u32>,
    /// `row_start[i]` for every row begun so far (its length is the next row + 1).
    row_start: Vec<usize>,
    columns: Vec<u32>,
    counts: Vec<u32>,
}

impl CooccurrenceBuilder {
    pub fn new(d_sae: usize, documents: usize) -> Self {
        Self { d_sae, documents, diagonal: vec![0; d_sae], row_start: vec![0], columns: Vec::new(), counts: Vec::new() }
    }

    fn fill_rows_to(&mut self, rows: usize) {
        while self.row_start.len() <= rows {
            self.row_start.push(self.columns.len());
        }
    }

    /// Rows already added (the first row of the next tile).
    pub fn next_row(&self) -> usize {
        self.row_start.len() - 1
    }

    /// Adds a dense tile `[rows, d_sae]` of counts for rows `next_row()..next_row() + rows`;
    /// entries below the diagonal are ignored.
    pub fn add_tile(&mut self, tile: &[u32]) -> Result<()> {
        let d = self.d_sae;
        let lo = self.next_row();
        if d == 0 || !tile.len().is_multiple_of(d) || lo + tile.len() / d > d {
            return Err(Error::Shape(format!(
                "a co-occurrence tile of {} counts does not fit rows from {lo} of a {d} x {d} matrix",
                tile.len()
            )));
        }
        for (r, row) in tile.chunks_exact(d).enumerate() {
            let i = lo + r;
            self.diagonal[i] = row[i];
            for (j, &c) in row.iter().enumerate().skip(i + 1) {
                if c > 0 {
                    self.columns.push(j as u32);
                    self.counts.push(c);
                }
            }
            self.row_start.push(self.columns.len());
        }
        Ok(())
    }

    pub fn finish(self) -> Result<Cooccurrence> {
        if self.next_row() != self.d_sae {
            return Err(Error::Shape(format!("co-occurrence has rows up to {} of {}", self.next_row(), self.d_sae)));
        }
        Ok(self.into_cooccurrence())
    }

    fn into_cooccurrence(self) -> Cooccurrence {
        Cooccurrence {
            d_sae: self.d_sae,
            documents: self.documents,
            diagonal: self.diagonal,
            row_start: self.row_start,
            columns: self.columns,
            counts: self.counts,
        }
    }
}

/// Rows per tile so that a tile of u32 counts stays within `max_bytes`.
pub fn tile_rows(d_sae: usize, max_bytes: u64) -> usize {
    ((max_bytes / (d_sae.max(1) as u64 * 4)) as usize).clamp(1, d_sae.max(1))
}

/// Tile size of the CPU path: bounds its working memory.
pub const CPU_TILE_BYTES: u64 = 64 << 20;

/// Counts rows `lo..lo + tile.len() / d_sae` of `C` into `tile` (added to what is there): for
/// each document, each active entry `a` with its feature `i` in the tile, and each active entry
/// `b` with feature `j > i`, or `b = a` (the diagonal). This is the reference of the GPU kernel,
/// which does exactly this per document with atomic adds. Entries are counted by position, so a
/// row that repeats an index (top-k codes never do) counts it each time.
pub fn count_tile(codes: &SparseCodes, lo: usize, tile: &mut [u32]) {
    let d = codes.d_sae;
    let hi = lo + tile.len() / d.max(1);
    for r in 0..codes.rows() {
        let (idx, val) = codes.row(r);
        for (a, (&i, &v)) in idx.iter().zip(val).enumerate() {
            let (i, active) = (i as usize, v > 0.0);
            if !active || i < lo || i >= hi {
                continue;
            }
            let row = &mut tile[(i - lo) * d..(i - lo + 1) * d];
            for (b, (&j, &w)) in idx.iter().zip(val).enumerate() {
                if w > 0.0 && (b == a || j as usize > i) {
                    row[j as usize] += 1;
                }
            }
        }
    }
}

/// The CPU reference: `C` of `codes`, tile by tile.
pub fn cooccurrence(codes: &SparseCodes) -> Result<Cooccurrence> {
    let d = codes.d_sae;
    let rows = tile_rows(d, CPU_TILE_BYTES);
    let mut builder = CooccurrenceBuilder::new(d, codes.rows());
    let mut tile = Vec::new();
    for lo in (0..d).step_by(rows) {
        tile.clear();
        tile.resize(rows.min(d - lo) * d, 0);
        count_tile(codes, lo, &mut tile);
        builder.add_tile(&tile)?;
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dense `A^T A` straight from the definition.
    fn dense(codes: &SparseCodes) -> Vec<u32> {
        let d = codes.d_sae;
        let mut c = vec![0u32; d * d];
        for r in 0..codes.rows() {
            let active: Vec<usize> = codes.active(r).map(|(j, _)| j as usize).collect();
            for &i in &active {
                for &j in &active {
                    c[i * d + j] += 1;
                }
            }
        }
        c
    }

    #[test]
    fn sparse_tiles_equal_the_dense_definition() {
        let data = crate::synth::PlantedData::generate(16, 37, 5, 200, 3);
        let mut codes = data.sae.encode(&data.embeddings).unwrap();
        codes.values.iter_mut().step_by(7).for_each(|v| *v = 0.0); // inactive entries
        let want = dense(&codes);
        for tile in [1, 5, 37] {
            let mut builder = CooccurrenceBuilder::new(37, codes.rows());
            for lo in (0..37).step_by(tile) {
                let mut t = vec![0; tile.min(37 - lo) * 37];
                count_tile(&codes, lo, &mut t);
                builder.add_tile(&t).unwrap();
            }
            let c = builder.finish().unwrap();
            for i in 0..37u32 {
                for j in 0..37u32 {
                    assert_eq!(c.get(i, j), want[i as usize * 37 + j as usize], "tile {tile}: C[{i},{j}]");
                }
            }
            assert_eq!(c, cooccurrence(&codes).unwrap());
        }
        let c = cooccurrence(&codes).unwrap();
        assert_eq!(c.pairs().count(), c.pair_count());
        assert!(c.pairs().all(|(i, j, n)| i < j && n > 0));
    }

    #[test]
    fn from_pairs_sums_and_orients() {
        let c =
            Cooccurrence::from_pairs(4, 10, vec![5, 4, 3, 0], [(1, 0, 2), (0, 1, 1), (2, 1, 3), (0, 2, 0)]).unwrap();
        assert_eq!((c.get(0, 1), c.get(1, 0), c.get(1, 2), c.get(0, 2), c.get(3, 3)), (3, 3, 3, 0, 0));
        assert_eq!(c.pair_count(), 2);
        assert!(Cooccurrence::from_pairs(4, 10, vec![0; 4], [(1, 1, 2)]).is_err());
        assert!(Cooccurrence::from_pairs(4, 10, vec![0; 3], []).is_err());
        let mut b = CooccurrenceBuilder::new(3, 1);
        assert!(b.add_tile(&[0; 4]).is_err());
        b.add_tile(&[0; 3]).unwrap();
        assert!(b.finish().is_err(), "rows missing");
    }
}
