//! Compiled compute pipelines, created on first use (shader compilation is not free in the
//! browser, and a page that never clusters should not pay for k-means).

use std::cell::OnceCell;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    MatmulF32,
    MatmulF16,
    TopkRows,
    Decode,
    SparseDots,
    Argmin,
    MaskColumns,
    Cooccurrence,
}

const MATMUL: &str = include_str!("shaders/matmul_abt.wgsl");

impl Kernel {
    const ALL: [Kernel; 8] = [
        Kernel::MatmulF32,
        Kernel::MatmulF16,
        Kernel::TopkRows,
        Kernel::Decode,
        Kernel::SparseDots,
        Kernel::Argmin,
        Kernel::MaskColumns,
        Kernel::Cooccurrence,
    ];

    fn source(self) -> String {
        match self {
            Kernel::MatmulF32 => MATMUL.replace("B_ELEM", "f32").replace("LOAD_B", "return b[row * p.k + col];"),
            // Two f16 per u32; k is even whenever this variant is used.
            Kernel::MatmulF16 => MATMUL.replace("B_ELEM", "u32").replace(
                "LOAD_B",
                "let e = row * p.k + col;\n    return unpack2x16float(b[e >> 1u])[e & 1u];",
            ),
            Kernel::TopkRows => include_str!("shaders/topk_rows.wgsl").into(),
            Kernel::Decode => include_str!("shaders/decode.wgsl").into(),
            Kernel::SparseDots => include_str!("shaders/sparse_dots.wgsl").into(),
            Kernel::Argmin => include_str!("shaders/argmin.wgsl").into(),
            Kernel::MaskColumns => include_str!("shaders/mask_columns.wgsl").into(),
            Kernel::Cooccurrence => include_str!("shaders/cooccurrence.wgsl").into(),
        }
    }
}

#[derive(Default)]
pub struct Pipelines {
    compiled: [OnceCell<wgpu::ComputePipeline>; 8],
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
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            })
        })
    }
}
