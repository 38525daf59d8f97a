//! Exact maximum-inner-product search over a corpus held in shards (f32, f16 or int8 storage).

use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::topk::{merge, top_k};
use half::f16;

/// How a shard's rows are stored. Scores are always f32, computed on the stored values widened to
/// f32 (so every storage gives the exact search over the values it holds).
#[derive(Clone, Debug, PartialEq)]
pub enum Storage {
    F32(Vec<f32>),
    /// Half the bytes of f32. Holds finite values only (the loaders check, `Corpus::from_matrix`
    /// saturates): the search widens f16 without branches, and reads infinities as 65,536.
    F16(Vec<f16>),
    /// A quarter of the bytes of f32: each dimension scaled into int8 (see `Quantized`).
    I8(Quantized),
}

/// Int8 scalar quantisation with a scale and an offset per dimension: value `d` of a row is
/// `values[d] as f32 * scale[d] + offset[d]`. Search folds the scale into the query and the
/// offset into one constant per query, so scoring reads one byte per value.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    pub values: Vec<i8>,
    pub scale: Vec<f32>,
    pub offset: Vec<f32>,
}

impl Quantized {
    /// Quantises `rows` (row-major, `dim` wide; finite) with each dimension's range over these
    /// rows mapped onto -127..=127 (a constant dimension gets scale 0 and is stored exactly).
    pub fn new(rows: &[f32], dim: usize) -> Self {
        let mut low = vec![f32::INFINITY; dim];
        let mut high = vec![f32::NEG_INFINITY; dim];
        for row in rows.chunks_exact(dim) {
            for d in 0..dim {
                low[d] = low[d].min(row[d]);
                high[d] = high[d].max(row[d]);
            }
        }
        // Halves before sums and differences: no overflow for any finite range.
        let offset: Vec<f32> =
            low.iter().zip(&high).map(|(l, h)| if l.is_finite() { l / 2.0 + h / 2.0 } else { 0.0 }).collect();
        let scale: Vec<f32> =
            low.iter().zip(&high).map(|(l, h)| if h > l { h / 254.0 - l / 254.0 } else { 0.0 }).collect();
        let values = rows
            .chunks_exact(dim)
            .flat_map(|row| {
                row.iter().zip(scale.iter().zip(&offset)).map(|(v, (s, o))| {
                    if *s > 0.0 {
                        ((v - o) / s).round().clamp(-127.0, 127.0) as i8
                    } else {
                        0
                    }
                })
            })
            .collect();
        Self { values, scale, offset }
    }

    fn widen_into(&self, dim: usize, i: usize, out: &mut [f32]) {
        for (d, (o, &v)) in out.iter_mut().zip(&self.values[i * dim..(i + 1) * dim]).enumerate() {
            *o = v as f32 * self.scale[d] + self.offset[d];
        }
    }
}

/// How `Corpus::from_matrix` stores rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    F16,
    I8,
}

impl Precision {
    /// Bytes each stored value takes (what a shard's size in a GPU binding is counted in).
    pub fn bytes_per_value(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F16 => 2,
            Precision::I8 => 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Shard {
    pub rows: usize,
    pub storage: Storage,
}

impl Shard {
    /// Row `i` widened to f32 into `out`.
    pub fn row_into(&self, dim: usize, i: usize, out: &mut [f32]) {
        self.rows_into(dim, i..i + 1, out);
    }

    /// Rows `range` widened to f32 into `out` (`range.len() * dim` values).
    pub fn rows_into(&self, dim: usize, range: std::ops::Range<usize>, out: &mut [f32]) {
        let values = range.start * dim..range.end * dim;
        match &self.storage {
            Storage::F32(v) => out.copy_from_slice(&v[values]),
            Storage::F16(v) => {
                out.iter_mut().zip(&v[values]).for_each(|(o, h)| *o = f16_to_f32(h.to_bits()));
            }
            Storage::I8(q) => {
                for (row, o) in range.zip(out.chunks_exact_mut(dim)) {
                    q.widen_into(dim, row, o);
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

    /// `m` in shards of `shard_rows` rows stored at `precision` (f16 saturates at ±65,504; int8
    /// is quantised per shard).
    pub fn from_matrix(m: &Matrix, shard_rows: usize, precision: Precision) -> Self {
        let mut c = Corpus::new(m.cols);
        for start in (0..m.rows).step_by(shard_rows.max(1)) {
            let part = m.slice_rows(start, (start + shard_rows).min(m.rows));
            let storage = match precision {
                Precision::F32 => Storage::F32(part.data),
                Precision::F16 => Storage::F16(
                    part.data.iter().map(|&v| f16::from_f32(v.clamp(f16::MIN.to_f32(), f16::MAX.to_f32()))).collect(),
                ),
                Precision::I8 => Storage::I8(Quantized::new(&part.data, m.cols)),
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
            s.rows_into(self.dim, 0..s.rows, &mut m.data[r * self.dim..(r + s.rows) * self.dim]);
            r += s.rows;
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

/// Corpus rows scored per block on the CPU: the unit of work of a thread and of the top-k merge.
const CPU_BLOCK_ROWS: usize = 4096;

/// Up to this many queries are scored by direct dot products on the stored values (f16 and int8
/// widened inside the product); more share tiles widened once (`TILE_ROWS`).
const DOT_MAX_QUERIES: usize = 4;

/// f16 bits to f32 without branches, so that loops over it vectorise (wasm simd128, SSE2, AVX2):
/// the magnitude bits placed in an f32 and scaled by 2^112 move the exponent from f16's bias to
/// f32's, exactly for every finite f16, subnormals included.
#[inline(always)]
pub fn f16_to_f32(bits: u16) -> f32 {
    const REBIAS: f32 = f32::from_bits((127 + 112) << 23); // 2^112
    let h = bits as u32;
    f32::from_bits(((h & 0x8000) << 16) | ((h & 0x7fff) << 13)) * REBIAS
}

/// The rows of one block as stored: f16 as bits, int8 with the query already scaled.
#[derive(Clone, Copy)]
enum Rows<'a> {
    F32(&'a [f32]),
    F16(&'a [u16]),
    I8(&'a [i8]),
}

/// `out[i] = query . row i`, in eight independent sums per row (which compilers vectorise),
/// widening each stored value inside the product.
#[inline(always)]
fn score_rows<T: Copy>(query: &[f32], rows: &[T], out: &mut [f32], widen: impl Fn(T) -> f32 + Copy) {
    let dim = query.len();
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(dim)) {
        let mut lanes = [0f32; 8];
        let (cq, cr) = (query.chunks_exact(8), row.chunks_exact(8));
        let tail: f32 = cq.remainder().iter().zip(cr.remainder()).map(|(q, &x)| q * widen(x)).sum();
        for (q, x) in cq.zip(cr) {
            for l in 0..8 {
                lanes[l] += q[l] * widen(x[l]);
            }
        }
        *o = lanes.iter().sum::<f32>() + tail;
    }
}

#[inline(always)]
fn score_block_portable(query: &[f32], rows: Rows, out: &mut [f32]) {
    match rows {
        Rows::F32(v) => score_rows(query, v, out, |x| x),
        Rows::F16(v) => score_rows(query, v, out, f16_to_f32),
        Rows::I8(v) => score_rows(query, v, out, |x| x as f32),
    }
}

/// The same loop compiled for AVX2 (eight f32 lanes per instruction instead of SSE2's four).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn score_block_avx2(query: &[f32], rows: Rows, out: &mut [f32]) {
    score_block_portable(query, rows, out)
}

/// Scores one block against one query, with the widest vectors this CPU has (checked at run
/// time natively; wasm is built with simd128).
fn score_block(query: &[f32], rows: Rows, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { score_block_avx2(query, rows, out) };
    }
    score_block_portable(query, rows, out)
}

/// Scores a tile of f32 rows against queries `q0..q0 + 4` (fewer at the end) at once, each row
/// read once for the four, into `scores[q * stride + at + r]`. The same eight sums per query as
/// `score_rows`, so both paths give the same scores.
#[inline(always)]
fn score_tile_portable(queries: &Matrix, q0: usize, tile: &[f32], scores: &mut [f32], stride: usize, at: usize) {
    let dim = queries.cols;
    let n = (queries.rows - q0).min(4);
    let [a, b, c, d]: [&[f32]; 4] = std::array::from_fn(|i| queries.row(q0 + i.min(n - 1)));
    let whole = dim / 8 * 8;
    for (r, row) in tile.chunks_exact(dim).enumerate() {
        let (mut la, mut lb, mut lc, mut ld) = ([0f32; 8], [0f32; 8], [0f32; 8], [0f32; 8]);
        let chunks = row[..whole]
            .chunks_exact(8)
            .zip(a[..whole].chunks_exact(8))
            .zip(b[..whole].chunks_exact(8))
            .zip(c[..whole].chunks_exact(8))
            .zip(d[..whole].chunks_exact(8));
        for ((((x, qa), qb), qc), qd) in chunks {
            for l in 0..8 {
                la[l] += qa[l] * x[l];
                lb[l] += qb[l] * x[l];
                lc[l] += qc[l] * x[l];
                ld[l] += qd[l] * x[l];
            }
        }
        for (i, (lanes, query)) in [la, lb, lc, ld].iter().zip([a, b, c, d]).take(n).enumerate() {
            let tail: f32 = query[whole..].iter().zip(&row[whole..]).map(|(p, q)| p * q).sum();
            scores[(q0 + i) * stride + at + r] = lanes.iter().sum::<f32>() + tail;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn score_tile_avx2(queries: &Matrix, q0: usize, tile: &[f32], scores: &mut [f32], stride: usize, at: usize) {
    score_tile_portable(queries, q0, tile, scores, stride, at)
}

fn score_tile(queries: &Matrix, q0: usize, tile: &[f32], scores: &mut [f32], stride: usize, at: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { score_tile_avx2(queries, q0, tile, scores, stride, at) };
    }
    score_tile_portable(queries, q0, tile, scores, stride, at)
}

/// One block of rows to score: which shard, which rows, and the index of its first row.
struct Block<'a> {
    shard: &'a Shard,
    start: usize,
    rows: usize,
    first: u32,
}

/// Queries scored together: bounds the scores each thread holds (`QUERY_CHUNK` x a block).
const QUERY_CHUNK: usize = 256;

/// Rows per tile when many queries share a block: a tile (widened to f32) stays in the core's
/// cache while every query is scored against it, so the block is read from memory once.
const TILE_ROWS: usize = 32;

/// Each query's best `k` within `blocks`.
fn scan(dim: usize, queries: &Matrix, k: usize, blocks: &[Block]) -> Vec<Vec<(u32, f32)>> {
    let mut candidates: Vec<Vec<(u32, f32)>> = vec![Vec::new(); queries.rows];
    let mut tile = vec![0f32; TILE_ROWS * dim];
    let mut scores = Vec::new();
    let mut scaled = vec![0f32; dim];
    for b in blocks {
        let values = b.start * dim..(b.start + b.rows) * dim;
        scores.resize(queries.rows * b.rows, 0.0);
        if queries.rows <= DOT_MAX_QUERIES {
            for (q, out) in scores.chunks_exact_mut(b.rows).enumerate() {
                let query = queries.row(q);
                match &b.shard.storage {
                    Storage::F32(v) => score_block(query, Rows::F32(&v[values.clone()]), out),
                    Storage::F16(v) => {
                        use half::slice::HalfFloatSliceExt;
                        score_block(query, Rows::F16(v[values.clone()].reinterpret_cast()), out)
                    }
                    Storage::I8(quantized) => {
                        // query . (x * scale + offset) = (query * scale) . x + query . offset
                        scaled.iter_mut().zip(query.iter().zip(&quantized.scale)).for_each(|(s, (q, c))| *s = q * c);
                        score_block(&scaled, Rows::I8(&quantized.values[values.clone()]), out);
                        let shift = crate::matrix::dot(query, &quantized.offset);
                        out.iter_mut().for_each(|o| *o += shift);
                    }
                }
            }
        } else {
            // int8 is scored as with one query: the scale folded into the queries, the offset
            // added after, so a query's scores do not depend on how many are searched at once.
            let (scored, shifts) = match &b.shard.storage {
                Storage::I8(quantized) => {
                    let mut scaled = queries.clone();
                    for q in 0..scaled.rows {
                        scaled.row_mut(q).iter_mut().zip(&quantized.scale).for_each(|(v, c)| *v *= c);
                    }
                    let shifts =
                        (0..queries.rows).map(|q| crate::matrix::dot(queries.row(q), &quantized.offset)).collect();
                    (std::borrow::Cow::Owned(scaled), shifts)
                }
                _ => (std::borrow::Cow::Borrowed(queries), Vec::new()),
            };
            for first in (0..b.rows).step_by(TILE_ROWS) {
                let rows = TILE_ROWS.min(b.rows - first);
                let span = (b.start + first) * dim..(b.start + first + rows) * dim;
                let widened: &[f32] = match &b.shard.storage {
                    Storage::F32(v) => &v[span],
                    Storage::F16(_) => {
                        b.shard.rows_into(dim, b.start + first..b.start + first + rows, &mut tile[..rows * dim]);
                        &tile[..rows * dim]
                    }
                    Storage::I8(quantized) => {
                        tile[..rows * dim].iter_mut().zip(&quantized.values[span]).for_each(|(o, &x)| *o = x as f32);
                        &tile[..rows * dim]
                    }
                };
                for q0 in (0..queries.rows).step_by(4) {
                    score_tile(&scored, q0, widened, &mut scores, b.rows, first);
                }
            }
            for (out, shift) in scores.chunks_exact_mut(b.rows).zip(&shifts) {
                out.iter_mut().for_each(|o| *o += shift);
            }
        }
        for (q, list) in candidates.iter_mut().enumerate() {
            let best = top_k(&scores[q * b.rows..(q + 1) * b.rows], k).into_iter().map(|(i, v)| (i + b.first, v));
            *list = merge([std::mem::take(list), best.collect()], k);
        }
    }
    candidates
}

/// Threads for a scan of `blocks` blocks: natively the cores (up to one per block); one on wasm.
fn scan_threads(blocks: usize) -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    return std::thread::available_parallelism().map_or(1, |n| n.get()).min(blocks).max(1);
    #[cfg(target_arch = "wasm32")]
    {
        let _ = blocks;
        1
    }
}

/// CPU reference: exact top-k by dot product (direct dot products on the stored values for a
/// few queries; for more, tiles widened once and scored against every query), then per-query
/// selection; natively the blocks are split between the cores.
pub fn search(corpus: &Corpus, queries: &Matrix, k: usize) -> Result<Hits> {
    let k = check_search_args(corpus.dim, corpus.rows(), queries, k)?;
    let mut blocks = Vec::new();
    let mut first = 0usize;
    for shard in &corpus.shards {
        for start in (0..shard.rows).step_by(CPU_BLOCK_ROWS) {
            let rows = CPU_BLOCK_ROWS.min(shard.rows - start);
            blocks.push(Block { shard, start, rows, first: (first + start) as u32 });
        }
        first += shard.rows;
    }
    let threads = scan_threads(blocks.len());
    let per = blocks.len().div_ceil(threads);
    let mut lists = Vec::with_capacity(queries.rows);
    // Queries in chunks: each thread holds a chunk's scores for one block.
    for first in (0..queries.rows).step_by(QUERY_CHUNK) {
        let chunk = queries.slice_rows(first, (first + QUERY_CHUNK).min(queries.rows));
        if threads <= 1 {
            lists.extend(scan(corpus.dim, &chunk, k, &blocks));
            continue;
        }
        let chunk = &chunk;
        let parts: Vec<Vec<Vec<(u32, f32)>>> = std::thread::scope(|scope| {
            let running: Vec<_> =
                blocks.chunks(per).map(|part| scope.spawn(move || scan(corpus.dim, chunk, k, part))).collect();
            running.into_iter().map(|t| t.join().expect("a search thread panicked")).collect()
        });
        lists.extend((0..chunk.rows).map(|q| merge(parts.iter().map(|p| p[q].clone()), k)));
    }
    Ok(Hits::from_lists(k, lists))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    #[test]
    fn branchless_f16_widening_is_exact_for_every_finite_f16() {
        for bits in 0..=u16::MAX {
            let h = f16::from_bits(bits);
            if h.is_finite() {
                assert_eq!(f16_to_f32(bits).to_bits(), h.to_f32().to_bits(), "f16 bits {bits:#06x}");
            }
        }
    }

    fn planted(rows: usize, dim: usize, seed: u64) -> Matrix {
        let mut rng = SeededRng::new(seed);
        let mut m = Matrix::zeros(rows, dim);
        for r in 0..rows {
            for (d, v) in m.row_mut(r).iter_mut().enumerate() {
                // Dimensions of different ranges and centres, one of them constant.
                *v = if d == 3 { 0.25 } else { (rng.uniform() as f32 - 0.3) * (1.0 + d as f32 / 8.0) };
            }
        }
        m
    }

    #[test]
    fn int8_rows_are_within_half_a_step_and_constant_dimensions_exact() {
        let m = planted(300, 20, 1);
        let q = Quantized::new(&m.data, 20);
        assert_eq!(q.scale[3], 0.0);
        let corpus = Corpus::from_matrix(&m, 1000, Precision::I8);
        let back = corpus.to_matrix();
        for r in 0..m.rows {
            for d in 0..20 {
                let err = (back.row(r)[d] - m.row(r)[d]).abs();
                assert!(err <= q.scale[d] * 0.5 + 1e-6, "row {r} dim {d}: error {err}, step {}", q.scale[d]);
            }
            assert_eq!(back.row(r)[3], 0.25);
        }
    }

    /// Every storage, by direct products (1 and 3 queries) and by shared tiles (9 queries), both
    /// threaded over blocks natively, finds the exact top-k of the values it stores.
    #[test]
    fn every_storage_finds_the_exact_top_k_of_its_stored_values() {
        let docs = planted(CPU_BLOCK_ROWS * 2 + 300, 20, 2);
        let queries = planted(9, 20, 3);
        for precision in [Precision::F32, Precision::F16, Precision::I8] {
            let corpus = Corpus::from_matrix(&docs, CPU_BLOCK_ROWS + 1000, precision);
            let stored = corpus.to_matrix();
            // A query scores the same alone and in a batch (the two paths sum alike).
            let alone = search(&corpus, &queries.slice_rows(0, 1), 10).unwrap();
            let batch = search(&corpus, &queries, 10).unwrap();
            assert_eq!(alone.row(0), batch.row(0), "{precision:?}: alone and in a batch of 9");
            for nq in [1, 3, 9] {
                let q = queries.slice_rows(0, nq);
                let got = search(&corpus, &q, 10).unwrap();
                for i in 0..nq {
                    let mut all: Vec<(u32, f32)> =
                        (0..stored.rows).map(|r| (r as u32, crate::matrix::dot(q.row(i), stored.row(r)))).collect();
                    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    let (docs_got, scores_got) = got.row(i);
                    for (rank, ((d, s), want)) in docs_got.iter().zip(scores_got).zip(&all).enumerate() {
                        assert!(
                            (s - want.1).abs() <= 1e-4,
                            "{precision:?} {nq} queries, rank {rank}: {s} vs {}",
                            want.1
                        );
                        // The same document, or one scoring the same to rounding.
                        assert!(*d == want.0 || (s - want.1).abs() <= 1e-5, "{precision:?} rank {rank}");
                    }
                }
            }
        }
    }
}
