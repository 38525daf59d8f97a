//! Compiled compute pipelines, created on first use (shader compilation is not free in the
//! browser, and a page that never clusters should not pay for k-means).

use std::cell::OnceCell;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    MatmulF32,
    MatmulF16,
    MatmulAtB,
    TopkRows,
    Decode,
    SparseDots,
    Argmin,
    /// Training's own kernels: entry points of `shaders/train.wgsl`.
    Train(TrainKernel),
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

const MATMUL: &str = include_str!("shaders/matmul.wgsl");

impl Kernel {
    const ALL: [Kernel; 19] = [
        Kernel::MatmulF32,
        Kernel::MatmulF16,
        Kernel::MatmulAtB,
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
    ];

    fn source(self) -> String {
        // A B^T reads both operands as [*, k]; its loads walk k. A^T B's operands are [k, *].
        let a_bt = |load_r: &str| {
            MATMUL
                .replace("K_MAJOR_OPERANDS", "false")
                .replace("LOAD_L", "return shifted(a[i * p.k + kk], kk);")
                .replace("LOAD_R", load_r)
        };
        match self {
            Kernel::MatmulF32 => a_bt("return b[j * p.k + kk];").replace("B_ELEM", "f32"),
            // Two f16 per u32; k is even whenever this variant is used.
            Kernel::MatmulF16 => {
                a_bt("let e = j * p.k + kk;\n    return unpack2x16float(b[e >> 1u])[e & 1u];").replace("B_ELEM", "u32")
            }
            Kernel::MatmulAtB => MATMUL
                .replace("K_MAJOR_OPERANDS", "true")
                .replace("LOAD_L", "return a[kk * p.a_stride + p.a_col0 + i];")
                .replace("LOAD_R", "return shifted(b[kk * p.n + j], j);")
                .replace("B_ELEM", "f32"),
            Kernel::TopkRows => include_str!("shaders/topk_rows.wgsl").into(),
            Kernel::Decode => include_str!("shaders/decode.wgsl").into(),
            Kernel::SparseDots => include_str!("shaders/sparse_dots.wgsl").into(),
            Kernel::Argmin => include_str!("shaders/argmin.wgsl").into(),
            Kernel::Train(_) => crate::train::shader_constants() + include_str!("shaders/train.wgsl"),
        }
    }

    fn entry_point(self) -> &'static str {
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
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&format!("{kernel:?}")),
                source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&format!("{kernel:?}")),
                layout: None,
                module: &module,
                entry_point: Some(kernel.entry_point()),
                compilation_options: Default::default(),
                cache: None,
            })
        })
    }
}
