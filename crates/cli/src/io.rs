//! The choice of compute backend.

use crate::Device;

/// The chosen backend: the CPU reference, or the GPU (an error, not a silent fallback, when
/// no adapter opens).
pub fn backend(device: Device) -> anyhow::Result<saescope_gpu::AnyBackend> {
    Ok(match device {
        Device::Cpu => saescope_gpu::AnyBackend::Cpu(saescope_core::CpuBackend),
        Device::Gpu => {
            let gpu = pollster::block_on(saescope_gpu::GpuBackend::new(Default::default()))
                .map_err(|e| anyhow::anyhow!("{e} (use --device cpu to run without a GPU)"))?;
            eprintln!("{}", saescope_core::Backend::describe(&gpu));
            saescope_gpu::AnyBackend::Gpu(gpu)
        }
    })
}
