//! The one encode loop: row chunks through a resident SAE, with progress.

use crate::files::progress;
use anyhow::Result;
use saescope_core::{EncodeOps, Matrix, Sae, SparseCodes};
use std::sync::Arc;

/// Rows encoded per step: bounds memory and paces the progress bar.
pub const CHUNK_ROWS: usize = 4096;

/// Encodes row chunks from `next` (until it yields `None`) with the SAE on `backend`, calling
/// `each` with every chunk's input, codes and reconstruction (when `decode` is set). `rows` is
/// the total, for the progress bar. The one encode loop of `encode`, `metrics` and `build`.
pub async fn encode_chunks<B: EncodeOps>(
    backend: &B,
    sae: &Arc<Sae>,
    rows: usize,
    mut next: impl FnMut() -> Result<Option<Matrix>>,
    decode: bool,
    mut each: impl FnMut(&Matrix, SparseCodes, Option<Matrix>),
) -> Result<()> {
    let dev = backend.upload_sae(sae).await?;
    let bar = progress(rows as u64, "encode");
    while let Some(x) = next()? {
        let codes = backend.encode(&dev, &x).await?;
        let recon = if decode { Some(backend.decode(&dev, &codes).await?) } else { None };
        bar.inc(x.rows as u64);
        each(&x, codes, recon);
    }
    bar.finish_and_clear();
    Ok(())
}
