//! Files and progress bars: the pipeline's and the CLI's way to the disk.

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use saescope_core::{Matrix, Sae};
use saescope_format::bundle::BundleLoader;
use saescope_format::npy;
use saescope_format::prelude::*;
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
    let previous = std::fs::read(out.join("manifest.json"))
        .ok()
        .and_then(|bytes| saescope_format::manifest::Manifest::parse(&bytes).ok());
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
    Sae::from_saelens(&read(&dir.join("cfg.json"))?, &read(&weights)?)
        .with_context(|| format!("SAE {}", path.display()))
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

/// Reads a bundle, verifying every file against its manifest (all problems in one error).
pub fn load_bundle(bundle: &Path) -> Result<saescope_format::bundle::Bundle> {
    let manifest = read(&bundle.join("manifest.json"))?;
    let mut loader = BundleLoader::new(&manifest)?;
    let files: Vec<_> = loader.manifest.files.iter().map(|f| (f.path.clone(), f.bytes)).collect();
    let bar = progress(files.iter().map(|f| f.1).sum(), "verify");
    let mut problems = Vec::new();
    for (path, bytes) in &files {
        match read(&bundle.join(path)).and_then(|b| loader.add(path, b).map_err(Into::into)) {
            Ok(()) => {}
            Err(e) => problems.push(format!("{e:#}")),
        }
        bar.inc(*bytes);
    }
    bar.finish_and_clear();
    if !problems.is_empty() {
        bail!("{} of {} files failed verification: {}", problems.len(), files.len(), problems.join("; "));
    }
    Ok(loader.finish()?)
}
