//! Training on the GPU: [`GpuTraining`] keeps the parameters, their gradients, Adam's moments
//! and the dead-latent counters on the device. A step uploads the batch, records every pass
//! into one submission and reads back only a few statistics. The CPU reference is
//! `saescope_core::train::reference_step`; the shared suite holds the two together.
//!
//! One step, for a batch split into row chunks (R rows, n latents, d inputs):
//! 1. column sums of x over the whole batch (its mean, for the NMSE denominator);
//! 2. per chunk: centered squares of x; pre-activations per latent block (encode's product);
//!    top-k; active counts and fired flags; AuxK: live latents masked (from the since-fired
//!    counters), top `aux_k`; `err = x_hat - x` (decode), `aux_err = err + decode(aux codes)`;
//!    column sums of err, err^2 and aux_err^2;
//! 3. per chunk: centered squares of err (AuxK's denominator needs err's batch mean); then the
//!    losses and the backward scales `g_main`, `g_aux`;
//! 4. per chunk: `Dpre` (g * err . W_dec[j] at the selected latents, scattered dense [R, n]) ->
//!    `grad W_enc^T += Dpre^T (x - b_dec)`, `grad b_enc += sum_rows Dpre`; `Z` (g * z, dense)
//!    -> `grad W_dec += Z^T err`, and the same for AuxK's codes and `aux_err`;
//! 5. `grad b_dec`, the decoder projection with each latent's share of the squared norm, the
//!    global norm and clip factor, Adam on every parameter, decoder renormalisation, counters.
//!
//! Every [R, n] and [R, d] buffer and every latent block fits one binding; vectors of length n
//! (biases, counters) are bound whole, as `GpuSae` does (far below any real limit). A
//! non-finite loss leaves the state untouched (Adam, renormalisation and counters check a flag
//! the losses pass sets), as on the CPU.

use crate::backend::{read_f32, read_u32, GpuBackend, GpuSae, Matmul, Operands, MAX_GROUPS};
use crate::context::{chunks, div_ceil, Gpu};
use crate::kernels::{Kernel, TrainKernel};
use crate::params::{
    ActiveParams, AdamParams, BlockParams, ColumnSumParams, CountParams, CounterParams, LossParams, MaskParams,
    NormParams, RowParams, ScatterParams, ShaderParams,
};
use saescope_core::sae::{transpose, MASKED};
use saescope_core::train::{
    adam_bias_corrections, check_batch, Grads, StepStats, TrainConfig, TrainState, ADAM_BETA1, ADAM_BETA2, ADAM_EPS,
};
use saescope_core::{Error, Matrix, Result, Sae};

/// Slots of the step's float scalars.
mod scalar {
    pub const NMSE: usize = 0;
    pub const AUX_LOSS: usize = 1;
    pub const G_MAIN: usize = 2;
    pub const G_AUX: usize = 3;
    pub const GRAD_NORM: usize = 4;
    pub const CLIP: usize = 5;
    /// 1 when the losses are finite and the update is applied.
    pub const OK: usize = 6;
    pub const LEN: usize = 7;
}

/// Slots of the step's integer counts.
mod count {
    pub const ACTIVE: usize = 0;
    pub const AUX_ACTIVE: usize = 1;
    pub const DEAD: usize = 2;
    pub const LEN: usize = 3;
}

/// Per-column statistics over the batch, each `d_in` wide.
mod stat {
    pub const X_SUM: usize = 0;
    pub const X_CSQ: usize = 1;
    pub const E_SUM: usize = 2;
    pub const E_CSQ: usize = 3;
    pub const E_SQ: usize = 4;
    pub const A_SQ: usize = 5;
    pub const LEN: usize = 6;
}

/// "No slot" in a kernel parameter.
const NONE: u32 = u32::MAX;

/// The host's slot numbers and constants as WGSL, prepended to `shaders/train.wgsl` so that
/// both sides share one definition.
pub(crate) fn shader_constants() -> String {
    let slots = [
        ("NMSE", scalar::NMSE),
        ("AUX_LOSS", scalar::AUX_LOSS),
        ("G_MAIN", scalar::G_MAIN),
        ("G_AUX", scalar::G_AUX),
        ("GRAD_NORM", scalar::GRAD_NORM),
        ("CLIP", scalar::CLIP),
        ("OK", scalar::OK),
        ("ACTIVE", count::ACTIVE),
        ("AUX_ACTIVE", count::AUX_ACTIVE),
        ("DEAD", count::DEAD),
        ("X_SUM", stat::X_SUM),
        ("X_CSQ", stat::X_CSQ),
        ("E_SUM", stat::E_SUM),
        ("E_CSQ", stat::E_CSQ),
        ("E_SQ", stat::E_SQ),
        ("A_SQ", stat::A_SQ),
    ];
    let mut out: String = slots.iter().map(|(name, v)| format!("const {name}: u32 = {v}u;\n")).collect();
    out += &format!("const NONE: u32 = {NONE}u;\nconst MASKED: f32 = {MASKED:e};\n");
    out
}

/// A parameter's gradient and Adam moments (same shape as the parameter).
struct Optim {
    grad: wgpu::Buffer,
    m: wgpu::Buffer,
    v: wgpu::Buffer,
    len: usize,
}

impl Optim {
    fn upload(gpu: &Gpu, what: &str, m: &[f32], v: &[f32]) -> Self {
        Self {
            grad: gpu.output(&format!("{what} gradient"), (m.len() * 4) as u64),
            m: gpu.storage_f32(&format!("{what} Adam m"), m),
            v: gpu.storage_f32(&format!("{what} Adam v"), v),
            len: m.len(),
        }
    }
}

/// The optimiser buffers of one latent block (its values are the `GpuSae` block's).
struct BlockOptim {
    w_enc_t: Optim,
    w_dec: Optim,
}

/// The buffers of one row chunk of a batch.
struct ChunkBuffers {
    x: wgpu::Buffer,
    err: wgpu::Buffer,
    aux_err: wgpu::Buffer,
    idx: wgpu::Buffer,
    val: wgpu::Buffer,
    aux_idx: wgpu::Buffer,
    aux_val: wgpu::Buffer,
}

impl ChunkBuffers {
    /// The chunk's top-k codes and AuxK codes.
    fn codes(&self, k: usize, aux_k: usize) -> (DeviceCodes<'_>, DeviceCodes<'_>) {
        (
            DeviceCodes { idx: &self.idx, val: &self.val, k },
            DeviceCodes { idx: &self.aux_idx, val: &self.aux_val, k: aux_k },
        )
    }
}

/// `[rows, k]` codes of a chunk on the device.
#[derive(Clone, Copy)]
struct DeviceCodes<'a> {
    idx: &'a wgpu::Buffer,
    val: &'a wgpu::Buffer,
    k: usize,
}

/// Per-batch buffers, kept between steps and grown when a batch has more rows.
struct Workspace {
    chunks: Vec<ChunkBuffers>,
    /// `[rows_per_chunk, n]`: pre-activations, then the dense `Dpre` and `Z` of the backward.
    dense: wgpu::Buffer,
}

/// A training state resident on the GPU.
pub struct GpuTraining {
    config: TrainConfig,
    dead_steps: u32,
    step: u64,
    aux_k: usize,
    sae: GpuSae,
    blocks: Vec<BlockOptim>,
    b_enc: Optim,
    b_dec: Optim,
    since_fired: wgpu::Buffer,
    /// Per latent: fired in this step's batch (u32 flags).
    fired: wgpu::Buffer,
    /// Per latent: its share of the squared gradient norm.
    norm_sq: wgpu::Buffer,
    column_stats: wgpu::Buffer,
    scalars: wgpu::Buffer,
    counts: wgpu::Buffer,
    rows_per_chunk: usize,
    workspace: Option<Workspace>,
}

/// A 2-d grid of at least `groups` workgroups (kernels index it with `group_index`).
fn grid(groups: usize) -> (u32, u32, u32) {
    let x = groups.clamp(1, MAX_GROUPS);
    (x as u32, groups.div_ceil(x) as u32, 1)
}

impl GpuTraining {
    pub(crate) async fn begin(backend: &GpuBackend, state: &TrainState) -> Result<Self> {
        state.validate()?;
        let aux_k = state.aux_k();
        GpuBackend::check_k(aux_k, "AuxK")?;
        let g = &backend.gpu;
        g.scoped(async { Self::upload(backend, state, aux_k) }).await
    }

    fn upload(backend: &GpuBackend, state: &TrainState, aux_k: usize) -> Result<Self> {
        let g = &backend.gpu;
        let sae = &state.sae;
        let (d, n) = (sae.d_in, sae.d_sae);
        let dev = GpuSae::upload(g, sae)?;
        let m_enc_t = transpose(&state.adam_m.w_enc, d, n);
        let v_enc_t = transpose(&state.adam_v.w_enc, d, n);
        let blocks = dev
            .blocks
            .iter()
            .map(|b| {
                let rows = b.lo * d..b.hi * d;
                BlockOptim {
                    w_enc_t: Optim::upload(g, "W_enc^T block", &m_enc_t[rows.clone()], &v_enc_t[rows.clone()]),
                    w_dec: Optim::upload(
                        g,
                        "W_dec block",
                        &state.adam_m.w_dec[rows.clone()],
                        &state.adam_v.w_dec[rows],
                    ),
                }
            })
            .collect();
        Ok(Self {
            config: state.config.clone(),
            dead_steps: state.dead_steps,
            step: state.step,
            aux_k,
            blocks,
            b_enc: Optim::upload(g, "b_enc", &state.adam_m.b_enc, &state.adam_v.b_enc),
            b_dec: Optim::upload(g, "b_dec", &state.adam_m.b_dec, &state.adam_v.b_dec),
            since_fired: g.storage("since fired", bytemuck::cast_slice(&state.since_fired)),
            fired: g.output("fired", (n * 4) as u64),
            norm_sq: g.output("gradient norm shares", (n * 4) as u64),
            column_stats: g.output("column statistics", (stat::LEN * d * 4) as u64),
            scalars: g.output("step scalars", (scalar::LEN * 4) as u64),
            counts: g.output("step counts", (count::LEN * 4) as u64),
            rows_per_chunk: backend.encode_rows_per_chunk(&dev),
            sae: dev,
            workspace: None,
        })
    }

    /// Makes the workspace fit a batch of `rows` rows (reallocated when an earlier one was
    /// smaller).
    fn ensure_workspace(&mut self, gpu: &Gpu, rows: usize) {
        let needed = rows.div_ceil(self.rows_per_chunk);
        if self.workspace.as_ref().is_none_or(|w| w.chunks.len() < needed) {
            let (d, n, rc) = (self.sae.d_in, self.sae.d_sae, self.rows_per_chunk);
            let (k, aux_k) = (self.sae.k, self.aux_k);
            let bytes = |cols: usize| (rc * cols * 4) as u64;
            let chunks = (0..needed)
                .map(|_| ChunkBuffers {
                    x: gpu.output("batch rows", bytes(d)),
                    err: gpu.output("reconstruction error", bytes(d)),
                    aux_err: gpu.output("AuxK error", bytes(d)),
                    idx: gpu.output("code indices", bytes(k)),
                    val: gpu.output("code values", bytes(k)),
                    aux_idx: gpu.output("AuxK indices", bytes(aux_k)),
                    aux_val: gpu.output("AuxK values", bytes(aux_k)),
                })
                .collect();
            self.workspace = Some(Workspace { chunks, dense: gpu.output("pre-activations / dense codes", bytes(n)) });
        }
    }

    pub(crate) async fn step(&mut self, backend: &GpuBackend, batch: &Matrix) -> Result<StepStats> {
        check_batch(batch, self.sae.d_in)?;
        let g = &backend.gpu;
        let (rows, d) = (batch.rows, self.sae.d_in);
        let rc = self.rows_per_chunk;
        self.ensure_workspace(g, rows);
        let ws = self.workspace.as_ref().expect("ensured above");
        let plan: Vec<(usize, &ChunkBuffers)> = chunks(rows, rc).zip(&ws.chunks).map(|(r, c)| (r.len(), c)).collect();
        for (r, (_, c)) in chunks(rows, rc).zip(&plan) {
            g.queue.write_buffer(&c.x, 0, bytemuck::cast_slice(&batch.data[r.start * d..r.end * d]));
        }
        let applied_step = self.step + 1;
        let pass = StepPass { backend, t: self, ws, plan: &plan, rows };
        let (scalars, counts) = g.scoped(pass.run(applied_step)).await?;

        let stats = StepStats {
            loss: scalars[scalar::NMSE] as f64 + self.config.aux_coeff as f64 * scalars[scalar::AUX_LOSS] as f64,
            nmse: scalars[scalar::NMSE] as f64,
            aux_loss: scalars[scalar::AUX_LOSS] as f64,
            l0: counts[count::ACTIVE] as f64 / rows as f64,
            dead_fraction: counts[count::DEAD] as f64 / self.sae.d_sae as f64,
            grad_norm: scalars[scalar::GRAD_NORM] as f64,
        };
        if scalars[scalar::OK] == 0.0 {
            return Err(Error::NonFinite(format!("training loss became {} at step {applied_step}", stats.loss)));
        }
        self.step = applied_step;
        Ok(stats)
    }

    /// Reads the whole state back (parameters, moments, counters).
    pub(crate) async fn read(&self, backend: &GpuBackend) -> Result<TrainState> {
        let g = &backend.gpu;
        let (d, n) = (self.sae.d_in, self.sae.d_sae);
        let mut reads: Vec<(&wgpu::Buffer, u64)> = Vec::new();
        for (block, optim) in self.sae.blocks.iter().zip(&self.blocks) {
            let bytes = ((block.hi - block.lo) * d * 4) as u64;
            for buf in
                [&block.w_enc_t, &optim.w_enc_t.m, &optim.w_enc_t.v, &block.w_dec, &optim.w_dec.m, &optim.w_dec.v]
            {
                reads.push((buf, bytes));
            }
        }
        for (value, optim, len) in [(&self.sae.b_enc, &self.b_enc, n), (&self.sae.b_dec, &self.b_dec, d)] {
            for buf in [value, &optim.m, &optim.v] {
                reads.push((buf, (len * 4) as u64));
            }
        }
        reads.push((&self.since_fired, (n * 4) as u64));
        let bytes = g.scoped(g.submit_and_read(g.encoder(), &reads)).await?;
        let mut parts = bytes.iter();
        let mut next = || read_f32(parts.next().expect("one read per buffer"));
        // Six latent-major tensors, concatenated over blocks: W_enc^T, its m, v, W_dec, its m, v.
        let mut latent_major: [Vec<f32>; 6] = Default::default();
        for _ in &self.blocks {
            latent_major.iter_mut().for_each(|t| t.extend(next()));
        }
        let [w_enc_t, m_enc_t, v_enc_t, w_dec, m_dec, v_dec] = latent_major;
        let [b_enc, m_b_enc, v_b_enc, b_dec, m_b_dec, v_b_dec] = std::array::from_fn(|_| next());
        let since_fired = read_u32(parts.next().expect("the counters' read"));
        let sae = Sae::new(
            self.sae.k,
            Matrix::new(d, n, transpose(&w_enc_t, n, d))?,
            b_enc,
            Matrix::new(n, d, w_dec)?,
            b_dec,
        )?;
        let state = TrainState {
            config: self.config.clone(),
            sae,
            adam_m: Grads { w_enc: transpose(&m_enc_t, n, d), b_enc: m_b_enc, w_dec: m_dec, b_dec: m_b_dec },
            adam_v: Grads { w_enc: transpose(&v_enc_t, n, d), b_enc: v_b_enc, w_dec: v_dec, b_dec: v_b_dec },
            step: self.step,
            since_fired,
            dead_steps: self.dead_steps,
        };
        state.validate()?;
        Ok(state)
    }
}

/// The dispatches of one step, recorded into one command encoder.
struct StepPass<'a> {
    backend: &'a GpuBackend,
    t: &'a GpuTraining,
    ws: &'a Workspace,
    /// Rows and buffers of each chunk, in batch order.
    plan: &'a [(usize, &'a ChunkBuffers)],
    rows: usize,
}

impl StepPass<'_> {
    fn gpu(&self) -> &Gpu {
        &self.backend.gpu
    }

    fn dispatch<P: ShaderParams>(
        &self,
        enc: &mut wgpu::CommandEncoder,
        kernel: TrainKernel,
        params: &P,
        storage: &[&wgpu::Buffer],
        groups: (u32, u32, u32),
    ) {
        self.backend.dispatch(enc, Kernel::Train(kernel), params, storage, groups);
    }

    /// `stats[dst + c] += sum over rows` of `src[r, c]` (rows of `stride`), or of its squared deviation
    /// from `stats[mean + c] / batch rows` (`square`, `mean` = None for raw squares).
    #[allow(clippy::too_many_arguments)]
    fn column_sums(
        &self,
        enc: &mut wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        rows: usize,
        cols: usize,
        stride: usize,
        dst: (&wgpu::Buffer, usize),
        square: bool,
        mean: Option<usize>,
    ) {
        let params = ColumnSumParams {
            rows: rows as u32,
            cols: cols as u32,
            stride: stride as u32,
            dst: dst.1 as u32,
            mean: mean.map_or(NONE, |m| m as u32),
            square: square as u32,
            inv_rows: 1.0 / self.rows as f32,
            _pad: 0,
        };
        self.dispatch(enc, TrainKernel::ColumnSums, &params, &[src, dst.0], (div_ceil(cols, 256), 1, 1));
    }

    /// One of the per-column batch statistics of a `[rows, d_in]` chunk buffer.
    fn input_stat(
        &self,
        enc: &mut wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        rows: usize,
        slot: usize,
        square: bool,
        mean: Option<usize>,
    ) {
        let d = self.t.sae.d_in;
        self.column_sums(enc, src, rows, d, d, (&self.t.column_stats, slot * d), square, mean.map(|m| m * d));
    }

    fn count_active(&self, enc: &mut wgpu::CommandEncoder, codes: DeviceCodes, rows: usize, slot: usize, mark: bool) {
        let params = ActiveParams { rows: rows as u32, k: codes.k as u32, slot: slot as u32, mark: mark as u32 };
        let buffers = [codes.idx, codes.val, &self.t.counts, &self.t.fired];
        self.dispatch(enc, TrainKernel::CountActive, &params, &buffers, (div_ceil(codes.k, 64), rows as u32, 1));
    }

    /// Adds each active code's `scalars[scale] * value` (or, with `dot_with`, the scaled dot
    /// product of its row of that `[rows, d_in]` buffer with the latent's decoder row) into the
    /// dense `[rows, n]` workspace.
    fn scatter(
        &self,
        enc: &mut wgpu::CommandEncoder,
        codes: DeviceCodes,
        rows: usize,
        scale: usize,
        dot_with: Option<&wgpu::Buffer>,
    ) {
        let sae = &self.t.sae;
        let whole = [(0, sae.d_sae, &self.backend.dummy)];
        let ranges: Vec<(usize, usize, &wgpu::Buffer)> = match dot_with {
            Some(_) => sae.blocks.iter().map(|b| (b.lo, b.hi, &b.w_dec)).collect(),
            None => whole.to_vec(),
        };
        for (lo, hi, w_dec) in ranges {
            let params = ScatterParams {
                rows: rows as u32,
                k: codes.k as u32,
                n: sae.d_sae as u32,
                d_in: sae.d_in as u32,
                lo: lo as u32,
                hi: hi as u32,
                scale: scale as u32,
                with_dot: dot_with.is_some() as u32,
            };
            let diff = dot_with.unwrap_or(&self.backend.dummy);
            let buffers = [codes.idx, codes.val, diff, w_dec, &self.t.scalars, &self.ws.dense];
            self.dispatch(enc, TrainKernel::ScatterCodes, &params, &buffers, (div_ceil(codes.k, 64), rows as u32, 1));
        }
    }

    /// `grad[block] += dense[:, block]^T (rhs - shift)` for every latent block: the weight
    /// gradients, contracted over the chunk's rows.
    fn weight_grads(
        &self,
        enc: &mut wgpu::CommandEncoder,
        rows: usize,
        rhs: &wgpu::Buffer,
        shift: Option<&wgpu::Buffer>,
        grad_of: impl Fn(&BlockOptim) -> &wgpu::Buffer,
    ) {
        let sae = &self.t.sae;
        for (block, optim) in sae.blocks.iter().zip(&self.t.blocks) {
            self.backend.matmul(
                enc,
                Matmul {
                    a: &self.ws.dense,
                    b: rhs,
                    operands: Operands::AtB { a_stride: sae.d_sae, a_col0: block.lo },
                    bias: None,
                    shift,
                    c: grad_of(optim),
                    m: block.hi - block.lo,
                    n: sae.d_in,
                    k: rows,
                    c_stride: sae.d_in,
                    c_col0: 0,
                    accumulate: true,
                },
            );
        }
    }

    fn adam(&self, enc: &mut wgpu::CommandEncoder, param: &wgpu::Buffer, optim: &Optim, step: u64) {
        let (bias1, bias2) = adam_bias_corrections(step);
        let params = AdamParams {
            count: optim.len as u32,
            lr: self.t.config.lr,
            bias1,
            bias2,
            beta1: ADAM_BETA1,
            beta2: ADAM_BETA2,
            eps: ADAM_EPS,
            _pad: 0,
        };
        self.dispatch(
            enc,
            TrainKernel::Adam,
            &params,
            &[param, &optim.grad, &optim.m, &optim.v, &self.t.scalars],
            grid(optim.len.div_ceil(256)),
        );
    }

    /// Runs the step (`step` is the Adam update number it applies); returns the scalars and
    /// the counts.
    async fn run(self, step: u64) -> Result<(Vec<f32>, Vec<u32>)> {
        let mut enc = self.gpu().encoder();
        self.record(&mut enc, step);
        let t = self.t;
        let out = self
            .gpu()
            .submit_and_read(enc, &[(&t.scalars, (scalar::LEN * 4) as u64), (&t.counts, (count::LEN * 4) as u64)])
            .await?;
        Ok((read_f32(&out[0]), read_u32(&out[1])))
    }

    fn record(&self, enc: &mut wgpu::CommandEncoder, step: u64) {
        let t = self.t;
        let sae = &t.sae;
        let (d, n, k, aux_k) = (sae.d_in, sae.d_sae, sae.k, t.aux_k);
        let aux_on = t.config.aux_coeff > 0.0;
        for buf in [&t.column_stats, &t.counts, &t.fired, &t.b_enc.grad, &t.b_dec.grad] {
            enc.clear_buffer(buf, 0, None);
        }
        for optim in &t.blocks {
            enc.clear_buffer(&optim.w_enc_t.grad, 0, None);
            enc.clear_buffer(&optim.w_dec.grad, 0, None);
        }

        // 1. The batch mean.
        for &(rows, c) in self.plan {
            self.input_stat(enc, &c.x, rows, stat::X_SUM, false, None);
        }
        // 2. Forward.
        for &(rows, c) in self.plan {
            let (main, aux) = c.codes(k, aux_k);
            self.input_stat(enc, &c.x, rows, stat::X_CSQ, true, Some(stat::X_SUM));
            self.backend.pre_activations(enc, sae, &c.x, rows, &self.ws.dense);
            self.backend.top_k(enc, &self.ws.dense, rows, n, k, true, &c.idx, &c.val);
            self.count_active(enc, main, rows, count::ACTIVE, true);
            if aux_on {
                let params = MaskParams { rows: rows as u32, n: n as u32, dead_steps: t.dead_steps, _pad: 0 };
                self.dispatch(
                    enc,
                    TrainKernel::MaskLive,
                    &params,
                    &[&self.ws.dense, &t.since_fired],
                    (div_ceil(n, 256), rows as u32, 1),
                );
                self.backend.top_k(enc, &self.ws.dense, rows, n, aux_k, true, &c.aux_idx, &c.aux_val);
                self.count_active(enc, aux, rows, count::AUX_ACTIVE, false);
            }
            self.backend.decode_into(enc, sae, &c.idx, &c.val, k, rows, &c.err, true);
            let params = CountParams { count: (rows * d) as u32, _pad: [0; 3] };
            self.dispatch(
                enc,
                TrainKernel::Residual,
                &params,
                &[&c.x, &c.err, &c.aux_err],
                grid((rows * d).div_ceil(256)),
            );
            if aux_on {
                self.backend.decode_into(enc, sae, &c.aux_idx, &c.aux_val, aux_k, rows, &c.aux_err, false);
                self.input_stat(enc, &c.aux_err, rows, stat::A_SQ, true, None);
            }
            self.input_stat(enc, &c.err, rows, stat::E_SUM, false, None);
            self.input_stat(enc, &c.err, rows, stat::E_SQ, true, None);
        }
        // 3. Losses and the backward scales.
        for &(rows, c) in self.plan {
            self.input_stat(enc, &c.err, rows, stat::E_CSQ, true, Some(stat::E_SUM));
        }
        let params = LossParams { d_in: d as u32, _pad: [0; 2], aux_coeff: t.config.aux_coeff };
        self.dispatch(enc, TrainKernel::FinishLosses, &params, &[&t.column_stats, &t.counts, &t.scalars], (1, 1, 1));

        // 4. Backward, chunk by chunk, accumulating the gradients.
        for &(rows, c) in self.plan {
            let (main, aux) = c.codes(k, aux_k);
            enc.clear_buffer(&self.ws.dense, 0, None);
            self.scatter(enc, main, rows, scalar::G_MAIN, Some(&c.err));
            if aux_on {
                self.scatter(enc, aux, rows, scalar::G_AUX, Some(&c.aux_err));
            }
            self.weight_grads(enc, rows, &c.x, Some(&sae.b_dec), |o| &o.w_enc_t.grad);
            self.column_sums(enc, &self.ws.dense, rows, n, n, (&t.b_enc.grad, 0), false, None);

            enc.clear_buffer(&self.ws.dense, 0, None);
            self.scatter(enc, main, rows, scalar::G_MAIN, None);
            self.weight_grads(enc, rows, &c.err, None, |o| &o.w_dec.grad);
            if aux_on {
                enc.clear_buffer(&self.ws.dense, 0, None);
                self.scatter(enc, aux, rows, scalar::G_AUX, None);
                self.weight_grads(enc, rows, &c.aux_err, None, |o| &o.w_dec.grad);
            }
        }

        // 5. b_dec's gradient, projection, norm and clip, Adam, renormalisation, counters.
        for (b, (block, optim)) in sae.blocks.iter().zip(&t.blocks).enumerate() {
            let params =
                BlockParams { d_in: d as u32, lo: block.lo as u32, hi: block.hi as u32, first: (b == 0) as u32 };
            let buffers = [&block.w_enc_t, &t.b_enc.grad, &t.column_stats, &t.scalars, &t.b_dec.grad];
            self.dispatch(enc, TrainKernel::GradBDec, &params, &buffers, (div_ceil(d, 256), 1, 1));
            let latents = block.hi - block.lo;
            let params = RowParams { d_in: d as u32, lo: block.lo as u32, rows: latents as u32, _pad: 0 };
            let buffers = [&block.w_dec, &optim.w_dec.grad, &optim.w_enc_t.grad, &t.b_enc.grad, &t.norm_sq];
            self.dispatch(enc, TrainKernel::ProjectDecoder, &params, &buffers, grid(latents));
        }
        let params = NormParams { n: n as u32, d_in: d as u32, _pad: 0, clip_norm: t.config.clip_norm };
        self.dispatch(enc, TrainKernel::FinishGradNorm, &params, &[&t.norm_sq, &t.b_dec.grad, &t.scalars], (1, 1, 1));
        for (block, optim) in sae.blocks.iter().zip(&t.blocks) {
            self.adam(enc, &block.w_enc_t, &optim.w_enc_t, step);
            self.adam(enc, &block.w_dec, &optim.w_dec, step);
        }
        self.adam(enc, &sae.b_enc, &t.b_enc, step);
        self.adam(enc, &sae.b_dec, &t.b_dec, step);
        for block in &sae.blocks {
            let latents = block.hi - block.lo;
            let params = RowParams { d_in: d as u32, lo: block.lo as u32, rows: latents as u32, _pad: 0 };
            self.dispatch(enc, TrainKernel::RenormalizeRows, &params, &[&block.w_dec, &t.scalars], grid(latents));
        }
        let params = CounterParams { n: n as u32, dead_steps: t.dead_steps, _pad: [0; 2] };
        self.dispatch(
            enc,
            TrainKernel::UpdateCounters,
            &params,
            &[&t.since_fired, &t.fired, &t.counts, &t.scalars],
            (div_ceil(n, 256), 1, 1),
        );
    }
}
