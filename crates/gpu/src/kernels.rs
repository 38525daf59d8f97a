//! Compiled compute pipelines, created on first use (shader compilation is not free in the
//! browser, and a page that never clusters should not pay for k-means).

use std::cell::OnceCell;

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

const MATMUL: &str = include_str!("shaders/matmul.wgsl");
const MATVEC: &str = include_str!("shaders/matvec_abt.wgsl");
/// The most rows of A the matvec entry point takes (its accumulator array's length).
pub const MATVEC_MAX_ROWS: usize = 8;

/// B's element type and how `load_r` reads it, for the A B^T variants: f32, or f16 packed two
/// per u32 (k is even whenever this variant is used).
fn b_elements(f16: bool) -> (&'static str, &'static str) {
    if f16 {
        ("u32", "let e = j * p.k + kk;\n    return unpack2x16float(b[e >> 1u])[e & 1u];")
    } else {
        ("f32", "return b[j * p.k + kk];")
    }
}

impl Kernel {
    const ALL: [Kernel; 22] = [
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

    fn source(self) -> String {
        // A B^T reads both operands as [*, k]; its loads walk k. A^T B's operands are [k, *].
        let a_bt = |f16: bool, source: String| {
            let (elem, load_r) = b_elements(f16);
            source
                .replace("K_MAJOR_OPERANDS", "false")
                .replace("LOAD_L", "return shifted(a[i * p.k + kk], kk);")
                .replace("LOAD_R", load_r)
                .replace("B_ELEM", elem)
        };
        // The matvec entry point reuses matmul.wgsl's declarations (everything before `main`).
        let matvec = || format!("{}{MATVEC}", &MATMUL[..MATMUL.find("@compute").expect("matmul.wgsl has an entry point")]);
        match self {
            Kernel::MatmulF32 => a_bt(false, MATMUL.into()),
            Kernel::MatmulF16 => a_bt(true, MATMUL.into()),
            Kernel::MatvecF32 => a_bt(false, matvec()),
            Kernel::MatvecF16 => a_bt(true, matvec()),
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
            Kernel::Cooccurrence => include_str!("shaders/cooccurrence.wgsl").into(),
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
