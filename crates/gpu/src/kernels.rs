//! Compiled compute pipelines, created on first use (shader compilation is not free in the
//! browser, and a page that never clusters should not pay for k-means).

use crate::params::*;
use std::cell::OnceCell;
use std::num::NonZeroU64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    MatmulF32,
    MatmulF16,
    MatmulAtB,
    /// A B^T for at most [`MATVEC_MAX_ROWS`] rows of A (one thread per output column).
    MatvecF32,
    MatvecF16,
    TopkRows,
    Decode,
    SparseDots,
    Argmin,
    /// Training's own kernels: entry points of `shaders/train.wgsl`.
    Train(TrainKernel),
    Cooccurrence,
}

/// The entry points of `shaders/train.wgsl` (named as there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainKernel {
    ColumnSums,
    Residual,
    CountActive,
    MaskLive,
    ScatterCodes,
    GradBDec,
    ProjectDecoder,
    RenormalizeRows,
    FinishLosses,
    FinishGradNorm,
    Adam,
    UpdateCounters,
}

/// A kernel's bind group 0: its params struct as a uniform at binding 0, then storage buffers at
/// bindings 1.. in this order. Pipelines are built with exactly this layout (not one derived from
/// the shader), and `contracts.rs` holds each entry point's `@binding` declarations to it.
pub struct Layout {
    pub params: &'static ParamsLayout,
    pub storage: &'static [Access],
}

/// How a kernel's storage binding is declared in WGSL: `var<storage, read>` or `read_write`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

// The matmul variants are concatenations of real WGSL files: shared declarations, one operand
// file (binding 2's element type, K_MAJOR, load_l, load_r) and one entry point. The variants
// differ in code, not only in constants, so pipeline-overridable constants could not express
// them; and K_MAJOR is a plain `const` in each operand file rather than an `override` because it
// follows from the operands' storage order: an override would need the host to restate it by
// name. Every composition is parsed and validated by naga in `contracts.rs`.
const MATMUL_COMMON: &str = include_str!("shaders/matmul_common.wgsl");
const MATMUL_ABT_F32: &str = include_str!("shaders/matmul_abt_f32.wgsl");
const MATMUL_ABT_F16: &str = include_str!("shaders/matmul_abt_f16.wgsl");
const MATMUL_ATB: &str = include_str!("shaders/matmul_atb.wgsl");
const MATMUL: &str = include_str!("shaders/matmul.wgsl");
const MATVEC: &str = include_str!("shaders/matvec_abt.wgsl");
/// The most rows of A the matvec entry point takes (its accumulator array's length, `ROWS` there).
pub const MATVEC_MAX_ROWS: usize = 8;

impl Kernel {
    pub const ALL: [Kernel; 22] = [
        Kernel::MatmulF32,
        Kernel::MatmulF16,
        Kernel::MatmulAtB,
        Kernel::MatvecF32,
        Kernel::MatvecF16,
        Kernel::TopkRows,
        Kernel::Decode,
        Kernel::SparseDots,
        Kernel::Argmin,
        Kernel::Train(TrainKernel::ColumnSums),
        Kernel::Train(TrainKernel::Residual),
        Kernel::Train(TrainKernel::CountActive),
        Kernel::Train(TrainKernel::MaskLive),
        Kernel::Train(TrainKernel::ScatterCodes),
        Kernel::Train(TrainKernel::GradBDec),
        Kernel::Train(TrainKernel::ProjectDecoder),
        Kernel::Train(TrainKernel::RenormalizeRows),
        Kernel::Train(TrainKernel::FinishLosses),
        Kernel::Train(TrainKernel::FinishGradNorm),
        Kernel::Train(TrainKernel::Adam),
        Kernel::Train(TrainKernel::UpdateCounters),
        Kernel::Cooccurrence,
    ];

    pub fn source(self) -> String {
        match self {
            Kernel::MatmulF32 => [MATMUL_COMMON, MATMUL_ABT_F32, MATMUL].concat(),
            Kernel::MatmulF16 => [MATMUL_COMMON, MATMUL_ABT_F16, MATMUL].concat(),
            Kernel::MatmulAtB => [MATMUL_COMMON, MATMUL_ATB, MATMUL].concat(),
            Kernel::MatvecF32 => [MATMUL_COMMON, MATMUL_ABT_F32, MATVEC].concat(),
            Kernel::MatvecF16 => [MATMUL_COMMON, MATMUL_ABT_F16, MATVEC].concat(),
            Kernel::TopkRows => include_str!("shaders/topk_rows.wgsl").into(),
            Kernel::Decode => include_str!("shaders/decode.wgsl").into(),
            Kernel::SparseDots => include_str!("shaders/sparse_dots.wgsl").into(),
            Kernel::Argmin => include_str!("shaders/argmin.wgsl").into(),
            Kernel::Train(_) => crate::train::shader_constants() + include_str!("shaders/train.wgsl"),
            Kernel::Cooccurrence => include_str!("shaders/cooccurrence.wgsl").into(),
        }
    }

    /// The bindings of the kernel's entry point; the comments name them as the WGSL does.
    pub fn layout(self) -> Layout {
        use Access::{Read as R, ReadWrite as W};
        let (params, storage): (&'static ParamsLayout, &'static [Access]) = match self {
            // a, b, bias, shift, c
            Kernel::MatmulF32 | Kernel::MatmulF16 | Kernel::MatmulAtB | Kernel::MatvecF32 | Kernel::MatvecF16 => {
                (&MatmulParams::LAYOUT, &[R, R, R, R, W])
            }
            // scores, out_idx, out_val
            Kernel::TopkRows => (&TopkParams::LAYOUT, &[R, W, W]),
            // idx, val, w_dec, b_dec, out
            Kernel::Decode => (&DecodeParams::LAYOUT, &[R, R, R, R, W]),
            // idx, val, centroids, dots
            Kernel::SparseDots => (&SparseDotsParams::LAYOUT, &[R, R, R, W]),
            // dots, c_sq_norm, x_norms, cluster, distance
            Kernel::Argmin => (&ArgminParams::LAYOUT, &[R, R, R, W, W]),
            // indices, values, counts
            Kernel::Cooccurrence => (&CooccurrenceParams::LAYOUT, &[R, R, W]),
            Kernel::Train(t) => match t {
                // src, stats
                TrainKernel::ColumnSums => (&ColumnSumParams::LAYOUT, &[R, W]),
                // x, err, aux_err
                TrainKernel::Residual => (&CountParams::LAYOUT, &[R, W, W]),
                // idx, val, counts, fired
                TrainKernel::CountActive => (&ActiveParams::LAYOUT, &[R, R, W, W]),
                // values, since
                TrainKernel::MaskLive => (&MaskParams::LAYOUT, &[W, R]),
                // idx, val, diff, w_dec, scalars, dense
                TrainKernel::ScatterCodes => (&ScatterParams::LAYOUT, &[R, R, R, R, R, W]),
                // w_enc_t, g_b_enc, stats, scalars, g_b_dec
                TrainKernel::GradBDec => (&BlockParams::LAYOUT, &[R, R, R, R, W]),
                // w_dec, g_dec, g_enc_t, g_b_enc, norm_sq
                TrainKernel::ProjectDecoder => (&RowParams::LAYOUT, &[R, W, R, R, W]),
                // w_dec, scalars
                TrainKernel::RenormalizeRows => (&RowParams::LAYOUT, &[W, R]),
                // stats, counts, scalars
                TrainKernel::FinishLosses => (&LossParams::LAYOUT, &[R, R, W]),
                // norm_sq, g_b_dec, scalars
                TrainKernel::FinishGradNorm => (&NormParams::LAYOUT, &[R, R, W]),
                // param, grad, m, v, scalars
                TrainKernel::Adam => (&AdamParams::LAYOUT, &[W, R, W, W, R]),
                // since, fired, counts, scalars
                TrainKernel::UpdateCounters => (&CounterParams::LAYOUT, &[W, R, W, R]),
            },
        };
        Layout { params, storage }
    }

    /// The bind group layout entries of [`Kernel::layout`].
    fn layout_entries(self) -> Vec<wgpu::BindGroupLayoutEntry> {
        let layout = self.layout();
        let entry =
            |binding: usize, ty: wgpu::BufferBindingType, min_binding_size: Option<u64>| wgpu::BindGroupLayoutEntry {
                binding: binding as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty,
                    has_dynamic_offset: false,
                    min_binding_size: min_binding_size.and_then(NonZeroU64::new),
                },
                count: None,
            };
        let params = entry(0, wgpu::BufferBindingType::Uniform, Some(layout.params.size as u64));
        let storage = layout.storage.iter().enumerate().map(|(i, access)| {
            entry(i + 1, wgpu::BufferBindingType::Storage { read_only: *access == Access::Read }, None)
        });
        std::iter::once(params).chain(storage).collect()
    }

    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::Train(t) => match t {
                TrainKernel::ColumnSums => "column_sums",
                TrainKernel::Residual => "residual",
                TrainKernel::CountActive => "count_active",
                TrainKernel::MaskLive => "mask_live",
                TrainKernel::ScatterCodes => "scatter_codes",
                TrainKernel::GradBDec => "grad_b_dec",
                TrainKernel::ProjectDecoder => "project_decoder",
                TrainKernel::RenormalizeRows => "renormalize_rows",
                TrainKernel::FinishLosses => "finish_losses",
                TrainKernel::FinishGradNorm => "finish_grad_norm",
                TrainKernel::Adam => "adam",
                TrainKernel::UpdateCounters => "update_counters",
            },
            Kernel::MatvecF32 | Kernel::MatvecF16 => "matvec",
            _ => "main",
        }
    }
}

#[derive(Default)]
pub struct Pipelines {
    compiled: [OnceCell<wgpu::ComputePipeline>; Kernel::ALL.len()],
}

impl Pipelines {
    pub fn get(&self, device: &wgpu::Device, kernel: Kernel) -> &wgpu::ComputePipeline {
        let slot = Kernel::ALL.iter().position(|&k| k == kernel).expect("listed");
        self.compiled[slot].get_or_init(|| {
            let label = format!("{kernel:?}");
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&label),
                source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
            });
            let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(&label),
                entries: &kernel.layout_entries(),
            });
            let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(&label),
                bind_group_layouts: &[Some(&bind_group_layout)],
                immediate_size: 0,
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: Some(&layout),
                module: &module,
                entry_point: Some(kernel.entry_point()),
                compilation_options: Default::default(),
                cache: None,
            })
        })
    }
}
