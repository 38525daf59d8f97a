//! [`GpuBackend`]: saescope's math as WGSL dispatches, planned around the binding limit.

use crate::context::{chunks, div_ceil, Gpu, GpuOptions};
use crate::kernels::{Kernel, Pipelines, MATVEC_MAX_ROWS};
use crate::params::{ArgminParams, DecodeParams, MatmulParams, ShaderParams, SparseDotsParams, TopkParams};
use crate::train::GpuTraining;
use saescope_core::backend::{Backend, ClusterOps, CooccurrenceOps, EncodeOps, SearchOps, TrainOps};
use saescope_core::codes::SparseCodes;
use saescope_core::cooccurrence::Cooccurrence;
use saescope_core::kmeans::{point_norms, Assignment, Metric, Points};
use saescope_core::sae::check_embeddings;
use saescope_core::search::{check_search_args, Corpus, Hits, Storage};
use saescope_core::topk::merge;
use saescope_core::train::{StepStats, TrainState};
use saescope_core::{Error, Matrix, Result, Sae};
use std::sync::Arc;

/// The radix-select kernel keeps its candidates in workgroup memory, so k is bounded.
pub const MAX_TOP_K: usize = 128;
/// k-means keeps `clusters x points` dot products per chunk; this bounds the chunk plan.
pub const MAX_CLUSTERS: usize = 1024;
/// Rows per submission: bounds memory and keeps the browser responsive between chunks.
const MAX_CHUNK_ROWS: usize = 16384;
/// WebGPU's guaranteed maximum workgroups per dispatch dimension.
pub(crate) const MAX_GROUPS: usize = 65535;

pub struct GpuBackend {
    pub gpu: Gpu,
    pipelines: Pipelines,
    /// Bound where an optional input (bias, shift) is absent.
    pub(crate) dummy: wgpu::Buffer,
}

/// One range of latents, with its rows of `W_enc^T` and `W_dec` (both `[latents, d_in]`).
pub(crate) struct LatentBlock {
    pub lo: usize,
    pub hi: usize,
    pub w_enc_t: wgpu::Buffer,
    pub w_dec: wgpu::Buffer,
}

pub struct GpuSae {
    pub(crate) d_in: usize,
    pub(crate) d_sae: usize,
    pub(crate) k: usize,
    pub(crate) blocks: Vec<LatentBlock>,
    pub(crate) b_enc: wgpu::Buffer,
    pub(crate) b_dec: wgpu::Buffer,
}

impl GpuSae {
    /// Uploads `sae`'s weights in latent blocks that each fit one binding.
    pub(crate) fn upload(gpu: &Gpu, sae: &Sae) -> Result<Self> {
        GpuBackend::check_k(sae.k, "SAE")?;
        let per_block = gpu.rows_per_binding((sae.d_in * 4) as u64);
        let w_enc_t = saescope_core::sae::transpose(&sae.w_enc, sae.d_in, sae.d_sae);
        let blocks = chunks(sae.d_sae, per_block)
            .map(|r| LatentBlock {
                lo: r.start,
                hi: r.end,
                w_enc_t: gpu.storage_f32("W_enc^T block", &w_enc_t[r.start * sae.d_in..r.end * sae.d_in]),
                w_dec: gpu.storage_f32("W_dec block", &sae.w_dec[r.start * sae.d_in..r.end * sae.d_in]),
            })
            .collect();
        Ok(GpuSae {
            d_in: sae.d_in,
            d_sae: sae.d_sae,
            k: sae.k,
            blocks,
            b_enc: gpu.storage_f32("b_enc", &sae.b_enc),
            b_dec: gpu.storage_f32("b_dec", &sae.b_dec),
        })
    }
}

struct GpuShard {
    rows: usize,
    offset: usize,
    buffer: wgpu::Buffer,
    f16: bool,
}

pub struct GpuCorpus {
    dim: usize,
    rows: usize,
    shards: Vec<GpuShard>,
}

enum PointChunk {
    Dense { rows: usize, data: wgpu::Buffer },
    Sparse { rows: usize, idx: wgpu::Buffer, val: wgpu::Buffer },
}

pub struct GpuPoints {
    dim: usize,
    k: usize,
    chunks: Vec<(PointChunk, wgpu::Buffer)>,
}

/// How a product reads its operands (see `shaders/matmul.wgsl`).
#[derive(Clone, Copy)]
pub(crate) enum Operands {
    /// `(A - shift) B^T`: A `[m, k]`, B `[n, k]` (f32, or f16 packed in pairs).
    ABt { b_f16: bool },
    /// `A[:, a_col0..a_col0 + m]^T (B - shift)`: A `[k, a_stride]`, B `[k, n]`.
    AtB { a_stride: usize, a_col0: usize },
}

/// `C[:, c_col0..c_col0 + n] (+)= op(A, B) + bias`, C with rows of `c_stride`.
pub(crate) struct Matmul<'a> {
    pub a: &'a wgpu::Buffer,
    pub b: &'a wgpu::Buffer,
    pub operands: Operands,
    pub bias: Option<&'a wgpu::Buffer>,
    pub shift: Option<&'a wgpu::Buffer>,
    pub c: &'a wgpu::Buffer,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub c_stride: usize,
    pub c_col0: usize,
    /// Add to C instead of overwriting it.
    pub accumulate: bool,
}

pub(crate) fn read_u32(bytes: &[u8]) -> Vec<u32> {
    bytemuck::pod_collect_to_vec(bytes)
}

pub(crate) fn read_f32(bytes: &[u8]) -> Vec<f32> {
    bytemuck::pod_collect_to_vec(bytes)
}

impl GpuBackend {
    pub async fn new(options: GpuOptions) -> Result<Self> {
        let gpu = Gpu::new(options).await?;
        let dummy = gpu.storage("unused", &[0u8; 16]);
        Ok(Self { gpu, pipelines: Pipelines::default(), dummy })
    }

    fn pipeline(&self, kernel: Kernel) -> &wgpu::ComputePipeline {
        self.pipelines.get(&self.gpu.device, kernel)
    }

    /// Records one dispatch of `kernel`: `params` at binding 0, `storage` at bindings 1.. in the
    /// order of [`Kernel::layout`].
    pub(crate) fn dispatch<P: ShaderParams>(
        &self,
        enc: &mut wgpu::CommandEncoder,
        kernel: Kernel,
        params: &P,
        storage: &[&wgpu::Buffer],
        groups: (u32, u32, u32),
    ) {
        let layout = kernel.layout();
        debug_assert_eq!(P::LAYOUT.name, layout.params.name, "the params of {kernel:?}");
        debug_assert_eq!(storage.len(), layout.storage.len(), "the storage buffers of {kernel:?}");
        let uniform = self.gpu.uniform(params);
        let buffers: Vec<&wgpu::Buffer> = std::iter::once(&uniform).chain(storage.iter().copied()).collect();
        self.gpu.dispatch(enc, self.pipeline(kernel), &buffers, groups);
    }

    pub(crate) fn matmul(&self, enc: &mut wgpu::CommandEncoder, op: Matmul) {
        let few_rows = op.m <= MATVEC_MAX_ROWS;
        let (kernel, a_stride, a_col0) = match op.operands {
            Operands::ABt { b_f16: false } if few_rows => (Kernel::MatvecF32, 0, 0),
            Operands::ABt { b_f16: true } if few_rows => (Kernel::MatvecF16, 0, 0),
            Operands::ABt { b_f16: false } => (Kernel::MatmulF32, 0, 0),
            Operands::ABt { b_f16: true } => (Kernel::MatmulF16, 0, 0),
            Operands::AtB { a_stride, a_col0 } => (Kernel::MatmulAtB, a_stride, a_col0),
        };
        let groups = if matches!(kernel, Kernel::MatvecF32 | Kernel::MatvecF16) {
            (div_ceil(op.n, 64), 1, 1)
        } else {
            (div_ceil(op.n, 64), div_ceil(op.m, 64), 1)
        };
        let params = MatmulParams {
            m: op.m as u32,
            n: op.n as u32,
            k: op.k as u32,
            c_stride: op.c_stride as u32,
            c_col0: op.c_col0 as u32,
            use_bias: op.bias.is_some() as u32,
            use_shift: op.shift.is_some() as u32,
            accumulate: op.accumulate as u32,
            a_stride: a_stride as u32,
            a_col0: a_col0 as u32,
            _pad: [0; 2],
        };
        let storage = [op.a, op.b, op.bias.unwrap_or(&self.dummy), op.shift.unwrap_or(&self.dummy), op.c];
        self.dispatch(enc, kernel, &params, &storage, groups);
    }

    /// Top-k of each of `rows` rows of length `n` in `scores`, into `[rows, k]` outputs.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn top_k(
        &self,
        enc: &mut wgpu::CommandEncoder,
        scores: &wgpu::Buffer,
        rows: usize,
        n: usize,
        k: usize,
        relu: bool,
        idx: &wgpu::Buffer,
        val: &wgpu::Buffer,
    ) {
        for range in chunks(rows, MAX_GROUPS) {
            let params = TopkParams {
                rows: rows as u32,
                n: n as u32,
                k: k as u32,
                relu: relu as u32,
                row0: range.start as u32,
                _pad: [0; 3],
            };
            self.dispatch(enc, Kernel::TopkRows, &params, &[scores, idx, val], (range.len() as u32, 1, 1));
        }
    }

    pub(crate) fn check_k(k: usize, what: &str) -> Result<()> {
        if k > MAX_TOP_K {
            return Err(Error::Invalid(format!("{what} k={k} exceeds the GPU top-k limit of {MAX_TOP_K}")));
        }
        Ok(())
    }

    /// `pre[rows, d_sae] = (x - b_dec) W_enc + b_enc`, one product per latent block.
    pub(crate) fn pre_activations(
        &self,
        enc: &mut wgpu::CommandEncoder,
        sae: &GpuSae,
        x: &wgpu::Buffer,
        rows: usize,
        pre: &wgpu::Buffer,
    ) {
        for block in &sae.blocks {
            self.matmul(
                enc,
                Matmul {
                    a: x,
                    b: &block.w_enc_t,
                    operands: Operands::ABt { b_f16: false },
                    bias: Some(&sae.b_enc),
                    shift: Some(&sae.b_dec),
                    c: pre,
                    m: rows,
                    n: block.hi - block.lo,
                    k: sae.d_in,
                    c_stride: sae.d_sae,
                    c_col0: block.lo,
                    accumulate: false,
                },
            );
        }
    }

    /// `out[rows, d_in] = z W_dec`, plus `b_dec` when `with_bias`, else added to what `out`
    /// holds, for `[rows, k]` codes; one pass per latent block.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn decode_into(
        &self,
        enc: &mut wgpu::CommandEncoder,
        sae: &GpuSae,
        idx: &wgpu::Buffer,
        val: &wgpu::Buffer,
        k: usize,
        rows: usize,
        out: &wgpu::Buffer,
        with_bias: bool,
    ) {
        for (b, block) in sae.blocks.iter().enumerate() {
            for range in chunks(rows, MAX_GROUPS) {
                let params = DecodeParams {
                    rows: rows as u32,
                    k: k as u32,
                    d_in: sae.d_in as u32,
                    lo: block.lo as u32,
                    hi: block.hi as u32,
                    first: (with_bias && b == 0) as u32,
                    row0: range.start as u32,
                    _pad: 0,
                };
                let storage = [idx, val, &block.w_dec, &sae.b_dec, out];
                self.dispatch(enc, Kernel::Decode, &params, &storage, (div_ceil(sae.d_in, 64), range.len() as u32, 1));
            }
        }
    }

    /// Top-k codes of one chunk of rows.
    async fn encode_chunk(&self, sae: &GpuSae, x: &Matrix) -> Result<SparseCodes> {
        let g = &self.gpu;
        let rows = x.rows;
        let x_buf = g.storage_f32("embeddings", &x.data);
        let pre = g.output("pre-activations", (rows * sae.d_sae * 4) as u64);
        let idx = g.output("code indices", (rows * sae.k * 4) as u64);
        let val = g.output("code values", (rows * sae.k * 4) as u64);
        let mut enc = g.encoder();
        self.pre_activations(&mut enc, sae, &x_buf, rows, &pre);
        self.top_k(&mut enc, &pre, rows, sae.d_sae, sae.k, true, &idx, &val);
        let bytes = (rows * sae.k * 4) as u64;
        let out = g.submit_and_read(enc, &[(&idx, bytes), (&val, bytes)]).await?;
        SparseCodes::new(sae.k, sae.d_sae, read_u32(&out[0]), read_f32(&out[1]))
    }

    /// Rows per chunk such that `[rows, d_sae]` and `[rows, d_in]` buffers fit one binding.
    pub(crate) fn encode_rows_per_chunk(&self, sae: &GpuSae) -> usize {
        let g = &self.gpu;
        g.rows_per_binding((sae.d_sae * 4) as u64)
            .min(g.rows_per_binding((sae.d_in * 4) as u64))
            .min(MAX_CHUNK_ROWS)
            .min(MAX_GROUPS)
    }

    async fn decode_chunk(&self, sae: &GpuSae, codes: &SparseCodes, rows: std::ops::Range<usize>) -> Result<Vec<f32>> {
        let g = &self.gpu;
        let n = rows.len();
        let idx =
            g.storage("code indices", bytemuck::cast_slice(&codes.indices[rows.start * codes.k..rows.end * codes.k]));
        let val = g.storage_f32("code values", &codes.values[rows.start * codes.k..rows.end * codes.k]);
        let out = g.output("reconstructions", (n * sae.d_in * 4) as u64);
        let mut enc = g.encoder();
        self.decode_into(&mut enc, sae, &idx, &val, codes.k, n, &out, true);
        let read = g.submit_and_read(enc, &[(&out, (n * sae.d_in * 4) as u64)]).await?;
        Ok(read_f32(&read[0]))
    }

    async fn search_chunk(&self, corpus: &GpuCorpus, queries: &Matrix, k: usize) -> Result<Vec<Vec<(u32, f32)>>> {
        let g = &self.gpu;
        let nq = queries.rows;
        let q_buf = g.storage_f32("queries", &queries.data);
        let mut enc = g.encoder();
        let mut outputs = Vec::new();
        for shard in &corpus.shards {
            let ks = k.min(shard.rows);
            let scores = g.output("scores", (nq * shard.rows * 4) as u64);
            self.matmul(
                &mut enc,
                Matmul {
                    a: &q_buf,
                    b: &shard.buffer,
                    operands: Operands::ABt { b_f16: shard.f16 },
                    bias: None,
                    shift: None,
                    c: &scores,
                    m: nq,
                    n: shard.rows,
                    k: corpus.dim,
                    c_stride: shard.rows,
                    c_col0: 0,
                    accumulate: false,
                },
            );
            let idx = g.output("hit indices", (nq * ks * 4) as u64);
            let val = g.output("hit scores", (nq * ks * 4) as u64);
            self.top_k(&mut enc, &scores, nq, shard.rows, ks, false, &idx, &val);
            outputs.push((idx, val, ks, shard.offset));
        }
        let reads: Vec<(&wgpu::Buffer, u64)> = outputs
            .iter()
            .flat_map(|(idx, val, ks, _)| [(idx, (nq * ks * 4) as u64), (val, (nq * ks * 4) as u64)])
            .collect();
        let bytes = g.submit_and_read(enc, &reads).await?;
        let per_shard: Vec<(Vec<u32>, Vec<f32>, usize, usize)> = outputs
            .iter()
            .enumerate()
            .map(|(s, (_, _, ks, offset))| (read_u32(&bytes[2 * s]), read_f32(&bytes[2 * s + 1]), *ks, *offset))
            .collect();
        Ok((0..nq)
            .map(|q| {
                let lists = per_shard.iter().map(|(idx, val, ks, offset)| {
                    (q * ks..(q + 1) * ks).map(|e| (idx[e] + *offset as u32, val[e])).collect::<Vec<_>>()
                });
                merge(lists, k)
            })
            .collect())
    }
}

impl Backend for GpuBackend {
    fn describe(&self) -> String {
        self.gpu.describe()
    }
}

impl EncodeOps for GpuBackend {
    type Sae = GpuSae;

    async fn upload_sae(&self, sae: &Arc<Sae>) -> Result<GpuSae> {
        GpuSae::upload(&self.gpu, sae)
    }

    async fn encode(&self, sae: &GpuSae, x: &Matrix) -> Result<SparseCodes> {
        check_embeddings(x, sae.d_in)?;
        self.gpu
            .scoped(async {
                let mut codes = SparseCodes::empty(sae.k, sae.d_sae);
                for r in chunks(x.rows, self.encode_rows_per_chunk(sae)) {
                    codes.extend(self.encode_chunk(sae, &x.slice_rows(r.start, r.end)).await?);
                }
                Ok(codes)
            })
            .await
    }

    async fn decode(&self, sae: &GpuSae, codes: &SparseCodes) -> Result<Matrix> {
        if codes.d_sae != sae.d_sae {
            return Err(Error::Shape(format!("codes are for d_sae={}, SAE has {}", codes.d_sae, sae.d_sae)));
        }
        let g = &self.gpu;
        let rows_per_chunk =
            g.rows_per_binding((sae.d_in * 4) as u64).min(g.rows_per_binding((codes.k * 4) as u64)).min(MAX_CHUNK_ROWS);
        g.scoped(async {
            let mut data = Vec::with_capacity(codes.rows() * sae.d_in);
            for r in chunks(codes.rows(), rows_per_chunk) {
                data.extend(self.decode_chunk(sae, codes, r).await?);
            }
            Matrix::new(codes.rows(), sae.d_in, data)
        })
        .await
    }
}

impl TrainOps for GpuBackend {
    type Training = GpuTraining;

    async fn train_begin(&self, state: &TrainState) -> Result<GpuTraining> {
        GpuTraining::begin(self, state).await
    }

    async fn train_step(&self, training: &mut GpuTraining, batch: &Matrix) -> Result<StepStats> {
        training.step(self, batch).await
    }

    async fn train_read(&self, training: &GpuTraining) -> Result<TrainState> {
        training.read(self).await
    }
}

impl SearchOps for GpuBackend {
    type Corpus = GpuCorpus;

    async fn upload_corpus(&self, corpus: &Arc<Corpus>) -> Result<GpuCorpus> {
        let g = &self.gpu;
        let dim = corpus.dim;
        let mut shards = Vec::new();
        let mut offset = 0;
        for shard in &corpus.shards {
            // f16 stays f16 on the device when rows pack into whole u32 words.
            let f16 = matches!(shard.storage, Storage::F16(_)) && dim.is_multiple_of(2);
            let per = g.rows_per_binding((dim * if f16 { 2 } else { 4 }) as u64);
            for r in chunks(shard.rows, per) {
                let buffer = match &shard.storage {
                    Storage::F16(v) if f16 => {
                        g.storage("corpus shard (f16)", bytemuck::cast_slice(&v[r.start * dim..r.end * dim]))
                    }
                    Storage::F16(v) => {
                        let wide: Vec<f32> = v[r.start * dim..r.end * dim].iter().map(|h| h.to_f32()).collect();
                        g.storage_f32("corpus shard", &wide)
                    }
                    Storage::F32(v) => g.storage_f32("corpus shard", &v[r.start * dim..r.end * dim]),
                    // No int8 kernel: the device holds the values it would score, widened.
                    Storage::I8(_) => {
                        let mut wide = vec![0f32; r.len() * dim];
                        shard.rows_into(dim, r.clone(), &mut wide);
                        g.storage_f32("corpus shard", &wide)
                    }
                };
                shards.push(GpuShard { rows: r.len(), offset: offset + r.start, buffer, f16 });
            }
            offset += shard.rows;
        }
        Ok(GpuCorpus { dim, rows: offset, shards })
    }

    async fn search(&self, corpus: &GpuCorpus, queries: &Matrix, k: usize) -> Result<Hits> {
        let k = check_search_args(corpus.dim, corpus.rows, queries, k)?;
        Self::check_k(k, "search")?;
        let g = &self.gpu;
        let widest = corpus.shards.iter().map(|s| s.rows).max().unwrap_or(1);
        let per_chunk = g.rows_per_binding((widest * 4) as u64).min(1024);
        g.scoped(async {
            let mut lists = Vec::with_capacity(queries.rows);
            for r in chunks(queries.rows, per_chunk) {
                lists.extend(self.search_chunk(corpus, &queries.slice_rows(r.start, r.end), k).await?);
            }
            Ok(Hits::from_lists(k, lists))
        })
        .await
    }
}

impl ClusterOps for GpuBackend {
    type Points<'a> = GpuPoints;

    async fn upload_points<'a>(&self, points: Points<'a>) -> Result<GpuPoints> {
        let g = &self.gpu;
        let dim = points.dim();
        let (k, row_bytes) = match points {
            Points::Dense(_) => (0, dim * 4),
            Points::Sparse(c) => (c.k, c.k * 4),
        };
        let per = g.rows_per_binding(row_bytes as u64).min(g.rows_per_binding((MAX_CLUSTERS * 4) as u64));
        let chunks = chunks(points.len(), per)
            .map(|r| {
                let norms: Vec<f32> = r
                    .clone()
                    .flat_map(|i| {
                        let (sq, inv) = point_norms(points, i);
                        [sq, inv]
                    })
                    .collect();
                let chunk = match points {
                    Points::Dense(m) => PointChunk::Dense {
                        rows: r.len(),
                        data: g.storage_f32("points", &m.data[r.start * dim..r.end * dim]),
                    },
                    Points::Sparse(c) => PointChunk::Sparse {
                        rows: r.len(),
                        idx: g.storage("point indices", bytemuck::cast_slice(&c.indices[r.start * k..r.end * k])),
                        val: g.storage_f32("point values", &c.values[r.start * k..r.end * k]),
                    },
                };
                (chunk, g.storage_f32("point norms", &norms))
            })
            .collect();
        Ok(GpuPoints { dim, k, chunks })
    }

    async fn assign(&self, points: &Self::Points<'_>, centroids: &Matrix, metric: Metric) -> Result<Assignment> {
        let g = &self.gpu;
        let clusters = centroids.rows;
        if centroids.cols != points.dim {
            return Err(Error::Shape(format!(
                "centroids have dimension {}, points have {}",
                centroids.cols, points.dim
            )));
        }
        if clusters > MAX_CLUSTERS || (clusters * points.dim * 4) as u64 > g.binding_limit {
            return Err(Error::Invalid(format!(
                "{clusters} centroids of dimension {} exceed the GPU plan (at most {MAX_CLUSTERS} clusters within one binding)",
                points.dim
            )));
        }
        g.scoped(async {
            let c_buf = g.storage_f32("centroids", &centroids.data);
            let c_norms: Vec<f32> =
                (0..clusters).map(|c| saescope_core::matrix::dot(centroids.row(c), centroids.row(c))).collect();
            let c_norm_buf = g.storage_f32("centroid norms", &c_norms);
            let mut enc = g.encoder();
            let mut outputs = Vec::new();
            for (chunk, norms) in &points.chunks {
                let rows = match chunk {
                    PointChunk::Dense { rows, .. } | PointChunk::Sparse { rows, .. } => *rows,
                };
                let dots = g.output("dots", (clusters * rows * 4) as u64);
                match chunk {
                    PointChunk::Dense { data, .. } => self.matmul(
                        &mut enc,
                        Matmul {
                            a: &c_buf,
                            b: data,
                            operands: Operands::ABt { b_f16: false },
                            bias: None,
                            shift: None,
                            c: &dots,
                            m: clusters,
                            n: rows,
                            k: points.dim,
                            c_stride: rows,
                            c_col0: 0,
                            accumulate: false,
                        },
                    ),
                    PointChunk::Sparse { idx, val, .. } => {
                        let params = SparseDotsParams {
                            points: rows as u32,
                            k: points.k as u32,
                            dim: points.dim as u32,
                            clusters: clusters as u32,
                        };
                        self.dispatch(
                            &mut enc,
                            Kernel::SparseDots,
                            &params,
                            &[idx, val, &c_buf, &dots],
                            (div_ceil(rows, 64), div_ceil(clusters, 4), 1),
                        );
                    }
                }
                let cluster = g.output("clusters", (rows * 4) as u64);
                let distance = g.output("distances", (rows * 4) as u64);
                let params = ArgminParams {
                    points: rows as u32,
                    clusters: clusters as u32,
                    cosine: (metric == Metric::Cosine) as u32,
                    _pad: 0,
                };
                self.dispatch(
                    &mut enc,
                    Kernel::Argmin,
                    &params,
                    &[&dots, &c_norm_buf, norms, &cluster, &distance],
                    (div_ceil(rows, 64), 1, 1),
                );
                outputs.push((cluster, distance, rows));
            }
            let reads: Vec<(&wgpu::Buffer, u64)> =
                outputs.iter().flat_map(|(c, d, rows)| [(c, (*rows * 4) as u64), (d, (*rows * 4) as u64)]).collect();
            let bytes = g.submit_and_read(enc, &reads).await?;
            let mut out = Assignment { cluster: Vec::new(), distance: Vec::new() };
            for pair in bytes.chunks(2) {
                out.cluster.extend(read_u32(&pair[0]));
                out.distance.extend(read_f32(&pair[1]));
            }
            Ok(out)
        })
        .await
    }
}

impl CooccurrenceOps for GpuBackend {
    async fn cooccurrence(&self, codes: &SparseCodes) -> Result<Cooccurrence> {
        self.cooccurrence_tiles(codes).await
    }
}
