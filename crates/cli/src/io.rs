//! Files, progress bars and the choice of compute backend.

use saescope_format::prelude::*;
use crate::Device;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use saescope_core::{Matrix, Sae};
use saescope_format::npy;
use std::path::Path;

pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes every file of a bundle, then its manifest (last, so a half-written bundle never has
/// a manifest that promises files it lacks).
/// Files the previous manifest listed and the new one does not are removed (a rebuilt bundle
/// keeps no stale files); anything else in the folder is left alone.
pub fn write_bundle(out: &Path, bundle: saescope_format::bundle::BundleBuilder) -> Result<()> {
    let (manifest, files) = bundle.finish();
    let previous = std::fs::read(out.join("manifest.json")).ok().and_then(|bytes| saescope_format::manifest::Manifest::parse(&bytes).ok());
    for old in previous.iter().flat_map(|m| &m.files) {
        if !files.iter().any(|(path, _)| *path == old.path) {
            let _ = std::fs::remove_file(out.join(&old.path));
        }
    }
    for (path, bytes) in files {
        write(&out.join(path), &bytes)?;
    }
    write(&out.join("manifest.json"), &manifest.to_json())
}

pub fn read_matrix(path: &Path) -> Result<Matrix> {
    npy::read_matrix(&read(path)?).with_context(|| format!("{}", path.display()))
}

/// An SAE directory (SAELens layout), or a `.safetensors` file whose sibling `cfg.json` says k.
pub fn read_sae(path: &Path) -> Result<Sae> {
    let dir = if path.is_dir() { path } else { path.parent().unwrap_or(Path::new(".")) };
    let weights = if path.is_dir() { dir.join("sae_weights.safetensors") } else { path.to_path_buf() };
    Sae::from_saelens(&read(&dir.join("cfg.json"))?, &read(&weights)?).with_context(|| format!("SAE {}", path.display()))
}

pub fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len).with_message(what.to_owned());
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

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

pub fn device_name(d: Device) -> &'static str {
    match d {
        Device::Cpu => "cpu",
        Device::Gpu => "gpu",
    }
}
