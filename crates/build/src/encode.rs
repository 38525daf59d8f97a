//! The one encode loop (`saescope_pipeline::analyse::encode_chunks`) behind a progress bar.

use crate::files::progress;
use anyhow::Result;
use saescope_core::{EncodeOps, Matrix, Sae, SparseCodes};
pub use saescope_pipeline::analyse::CHUNK_ROWS;
use std::sync::Arc;

/// Encodes row chunks from `next` (until it yields `None`) with the SAE on `backend`, calling
/// `each` with every chunk's input, codes and reconstruction (when `decode` is set). `rows` is
/// the total, for the progress bar.
pub async fn encode_chunks<B: EncodeOps>(
    backend: &B,
    sae: &Arc<Sae>,
    rows: usize,
    next: impl FnMut() -> Result<Option<Matrix>>,
    decode: bool,
    mut each: impl FnMut(&Matrix, SparseCodes, Option<Matrix>),
) -> Result<()> {
    let bar = progress(rows as u64, "encode");
    saescope_pipeline::analyse::encode_chunks(backend, sae, next, decode, |x, codes, recon| {
        bar.inc(x.rows as u64);
        each(x, codes, recon)
    })
    .await?;
    bar.finish_and_clear();
    Ok(())
}
