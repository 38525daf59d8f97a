//! `saescope convert`: the paper's PyTorch state dict (arXiv 2408.00657, saved with
//! `torch.save(model.state_dict(), path)`) to the SAELens layout (`cfg.json` +
//! `sae_weights.safetensors`), without Python. The reading is
//! [`saescope_format::pth::read_paper_sae`]; this module reads the file, writes the outputs and
//! words the messages.

use anyhow::{anyhow, bail, Context, Result};
use saescope_build::files::write;
use saescope_format::prelude::*;
use saescope_format::pth::read_paper_sae;
use saescope_format::WeightDType;
use std::io::Read;
use std::path::Path;

/// How `convert` stores the weights it writes (`--dtype`).
#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum OutDType {
    F32,
    F16,
}

impl From<OutDType> for WeightDType {
    fn from(d: OutDType) -> Self {
        match d {
            OutDType::F32 => WeightDType::F32,
            OutDType::F16 => WeightDType::F16,
        }
    }
}

/// Largest `.pth` file `convert` reads, 16 GiB: the file is read whole into memory, and the
/// converted SAE takes about as much again. Checked before a byte is read.
const MAX_PTH_BYTES: u64 = 16 << 30;

pub fn run(pth: &Path, out: &Path, k: usize, dtype: OutDType) -> Result<()> {
    let converted = read_file(pth)
        .and_then(|bytes| Ok(read_paper_sae(&bytes, k)?))
        .with_context(|| pth.display().to_string())
        .map_err(printable)?;
    let sae = &converted.sae;
    let (cfg, weights) = sae.to_saelens(dtype.into(), None)?;
    write(&out.join("cfg.json"), &cfg)?;
    write(&out.join("sae_weights.safetensors"), &weights)?;
    let prefix = match converted.prefix.as_str() {
        "" => String::new(),
        p => format!(", key prefix {p:?}"),
    };
    eprintln!(
        "converted {} ({}{prefix}) into {}: d_in={}, d_sae={}, k={}, {}",
        pth.display(),
        converted.source_dtype,
        out.display(),
        sae.d_in,
        sae.d_sae,
        sae.k,
        match dtype {
            OutDType::F32 => "float32",
            OutDType::F16 => "float16",
        }
    );
    saescope_build::out!("{}", serde_json::to_string_pretty(&sae.report())?)?;
    Ok(())
}

/// The whole file, refused past [`MAX_PTH_BYTES`] before it is read.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).context("cannot open the file")?;
    let len = file.metadata().context("cannot open the file")?.len();
    if len > MAX_PTH_BYTES {
        bail!("the file is {len} bytes, more than the {MAX_PTH_BYTES} convert reads");
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // `take` also stops a file that grows while it is read.
    file.take(MAX_PTH_BYTES + 1).read_to_end(&mut bytes).context("cannot read the file")?;
    if bytes.len() as u64 > MAX_PTH_BYTES {
        bail!("the file is more than the {MAX_PTH_BYTES} bytes convert reads");
    }
    Ok(bytes)
}

/// The error as one line of visible text: names read from the file may hold control characters
/// (a damaged pickle), which are escaped rather than printed.
fn printable(e: anyhow::Error) -> anyhow::Error {
    let text: String = format!("{e:#}")
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                c.escape_default().to_string()
            } else {
                c.into()
            }
        })
        .collect();
    anyhow!(text)
}
