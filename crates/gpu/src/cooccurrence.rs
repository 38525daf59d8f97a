//! Feature co-occurrence on the GPU: the counts of `C = A^T A` in tiles of rows, each tile one
//! binding of u32 counters filled with atomic adds (one invocation per document), read back and
//! compacted by `saescope_core::cooccurrence::CooccurrenceBuilder` exactly as the CPU path does.

use crate::backend::GpuBackend;
use crate::context::{chunks, div_ceil};
use crate::kernels::Kernel;
use crate::params::CooccurrenceParams;
use saescope_core::cooccurrence::{tile_rows, Cooccurrence, CooccurrenceBuilder};
use saescope_core::{Result, SparseCodes};

/// Documents per dispatch: one invocation each, in workgroups of 64, at most 65535 groups.
const MAX_DOCUMENTS: usize = 65535 * 64;
/// A tile's counters, read back whole, stay within WebGPU's guaranteed binding size even where
/// the adapter allows more (a 16384-latent matrix would otherwise be one 1 GiB tile).
const MAX_TILE_BYTES: u64 = 128 << 20;

impl GpuBackend {
    pub(crate) async fn cooccurrence_tiles(&self, codes: &SparseCodes) -> Result<Cooccurrence> {
        let g = &self.gpu;
        let (d, k) = (codes.d_sae, codes.k);
        let rows_per_tile = tile_rows(d, g.binding_limit.min(MAX_TILE_BYTES));
        let docs_per_chunk = g.rows_per_binding((k * 4) as u64).min(MAX_DOCUMENTS);
        g.scoped(async {
            let documents: Vec<(usize, wgpu::Buffer, wgpu::Buffer)> = chunks(codes.rows(), docs_per_chunk)
                .map(|r| {
                    let span = r.start * k..r.end * k;
                    (
                        r.len(),
                        g.storage("code indices", bytemuck::cast_slice(&codes.indices[span.clone()])),
                        g.storage_f32("code values", &codes.values[span]),
                    )
                })
                .collect();
            let mut builder = CooccurrenceBuilder::new(d, codes.rows());
            for lo in (0..d).step_by(rows_per_tile) {
                let rows = rows_per_tile.min(d - lo);
                let bytes = (rows * d * 4) as u64;
                // New buffers start zeroed (WebGPU guarantees it).
                let counts = g.output("co-occurrence tile", bytes);
                let mut enc = g.encoder();
                for (n, idx, val) in &documents {
                    let params = CooccurrenceParams {
                        documents: *n as u32,
                        k: k as u32,
                        d_sae: d as u32,
                        lo: lo as u32,
                        hi: (lo + rows) as u32,
                        _pad: [0; 3],
                    };
                    self.dispatch(
                        &mut enc,
                        Kernel::Cooccurrence,
                        &params,
                        &[idx, val, &counts],
                        (div_ceil(*n, 64), 1, 1),
                    );
                }
                let read = g.submit_and_read(enc, &[(&counts, bytes)]).await?;
                builder.add_tile(&bytemuck::pod_collect_to_vec::<u8, u32>(&read[0]))?;
            }
            builder.finish()
        })
        .await
    }
}
