//! Files and progress bars: the pipeline's and the CLI's way to the disk.

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use saescope_core::{Matrix, Sae};
use saescope_format::bundle::BundleLoader;
use saescope_format::npy;
use saescope_format::prelude::*;
use std::path::Path;

/// `println!` that returns an error instead of panicking when stdout is a closed pipe
/// (`saescope inspect b | head -1`) or a full disk; `main` exits quietly on a closed pipe.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err(|e| anyhow::Error::new(e).context("cannot write to stdout"))
    }};
}

/// Whether `error` is a write to a pipe whose reader has gone (then there is no one to tell).
pub fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// A whole regular file (a FIFO or a device such as /dev/zero is refused, not read forever).
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    read_bounded(path, &meta, meta.len())
}

/// At most `limit` bytes of a regular file; more is an error (so a file that grows, or a
/// manifest's size that is wrong, cannot make us read without end).
fn read_bounded(path: &Path, meta: &std::fs::Metadata, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(meta.len().min(limit) as usize)
        .with_context(|| format!("{} does not fit in memory", path.display()))?;
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!("{} is longer than {limit} bytes", path.display());
    }
    Ok(bytes)
}

/// One file of a bundle, read only if it is a regular file inside the bundle (a link that
/// leaves it is refused without reading or measuring the target) and at most one byte longer
/// than the manifest says, so a link to /dev/zero or a FIFO cannot hang or exhaust memory.
pub fn read_bundle_file(bundle: &Path, entry: &saescope_format::manifest::FileEntry) -> Result<Vec<u8>> {
    let path = bundle.join(&entry.path);
    let root = bundle.canonicalize().with_context(|| format!("cannot read {}", bundle.display()))?;
    let real = path.canonicalize().with_context(|| format!("cannot read {}", path.display()))?;
    if !real.starts_with(&root) {
        bail!("{}: refused, it is a link to a file outside the bundle", entry.path);
    }
    let meta = std::fs::metadata(&real).with_context(|| format!("cannot read {}", path.display()))?;
    read_bounded(&path, &meta, entry.bytes)
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
            remove_inside(out, &old.path);
        }
    }
    for (path, bytes) in files {
        write(&out.join(path), &bytes)?;
    }
    write(&out.join("manifest.json"), &manifest.to_json())
}

/// Removes `out/relative` if it is a file or a link inside `out`, never following a link on the
/// way (an old manifest naming `link/victim.txt`, with `link` pointing elsewhere, must not
/// delete `victim.txt`). `relative` is a manifest path: plain, relative, without `..`.
fn remove_inside(out: &Path, relative: &str) {
    let mut path = out.to_path_buf();
    let parts: Vec<&str> = relative.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let Ok(meta) = std::fs::symlink_metadata(&path) else { return };
        let last = i + 1 == parts.len();
        if meta.file_type().is_symlink() && !last {
            eprintln!("not removing stale {relative}: {} is a link", path.display());
            return;
        }
        if last && (meta.is_file() || meta.file_type().is_symlink()) {
            // A link itself is removed, never what it points to.
            let _ = std::fs::remove_file(&path);
        }
    }
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

/// Progress bars for a run of stages that report `saescope_pipeline::analyse::Progress`: one bar
/// per stage, replaced when the stage changes, cleared by `finish`.
#[derive(Default)]
pub struct StageBars {
    bar: Option<(&'static str, ProgressBar)>,
}

impl StageBars {
    pub fn update(&mut self, p: saescope_pipeline::analyse::Progress) {
        if self.bar.as_ref().is_none_or(|(stage, _)| *stage != p.stage) {
            self.finish();
            self.bar = Some((p.stage, progress(p.total as u64, p.stage)));
        }
        if let Some((_, bar)) = &self.bar {
            bar.set_position(p.done as u64);
        }
    }

    pub fn finish(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Reads a bundle (a folder, or one zip of it: `saescope_format::archive`), verifying every file
/// against its manifest (all problems in one error).
pub fn load_bundle(bundle: &Path) -> Result<saescope_format::bundle::Bundle> {
    if bundle.is_file() {
        let (manifest, files) =
            saescope_format::archive::read_zip(&read(bundle)?).with_context(|| format!("{}", bundle.display()))?;
        let mut loader = BundleLoader::new(&manifest)?;
        for (path, bytes) in files {
            loader.add(&path, bytes)?;
        }
        return loader.finish().with_context(|| format!("{}", bundle.display()));
    }
    let manifest_path = bundle.join("manifest.json");
    let meta = std::fs::metadata(&manifest_path).with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let manifest = read_bounded(&manifest_path, &meta, saescope_format::manifest::MAX_MANIFEST_BYTES)?;
    let mut loader = BundleLoader::new(&manifest)?;
    let files = loader.manifest.files.clone();
    let bar = progress(files.iter().map(|f| f.bytes).fold(0, u64::saturating_add), "verify");
    let mut problems = Vec::new();
    for entry in &files {
        match read_bundle_file(bundle, entry).and_then(|b| loader.add(&entry.path, b).map_err(Into::into)) {
            Ok(()) => {}
            Err(e) => problems.push(format!("{e:#}")),
        }
        bar.inc(entry.bytes);
    }
    bar.finish_and_clear();
    if !problems.is_empty() {
        bail!("{} of {} files failed verification: {}", problems.len(), files.len(), problems.join("; "));
    }
    Ok(loader.finish()?)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use saescope_core::synth::PlantedData;
    use saescope_format::bundle::BundleBuilder;
    use saescope_format::manifest::Role;
    use saescope_format::saelens::WeightDType;
    use std::os::unix::fs::symlink;

    fn bundle_with(extra: &[(&str, &[u8])]) -> BundleBuilder {
        let data = PlantedData::generate(8, 16, 2, 4, 1);
        let mut b = BundleBuilder::new("t", "", "planted", &data.sae, 4);
        let (cfg, w) = data.sae.to_saelens(WeightDType::F32, None).unwrap();
        b.add("sae/cfg.json", Role::SaeConfig, cfg);
        b.add("sae/sae_weights.safetensors", Role::SaeWeights, w);
        b.add("embeddings/000.npy", Role::Embeddings, npy::to_bytes(&[4, 8], &data.embeddings.data).unwrap());
        for (path, bytes) in extra {
            b.add(path, Role::Other, bytes.to_vec());
        }
        b
    }

    #[test]
    fn rebuilding_never_deletes_through_a_link() {
        // Defect 4: an old manifest listing `link/victim.txt`, `link` pointing outside, made the
        // rebuild delete the victim.
        let tmp = tempfile::tempdir().unwrap();
        let (out, elsewhere) = (tmp.path().join("out"), tmp.path().join("elsewhere"));
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("victim.txt"), b"keep me").unwrap();
        write_bundle(&out, bundle_with(&[("link/victim.txt", b"old"), ("stale.txt", b"old")])).unwrap();
        std::fs::remove_dir_all(out.join("link")).unwrap();
        symlink(&elsewhere, out.join("link")).unwrap();
        write_bundle(&out, bundle_with(&[])).unwrap();
        assert_eq!(std::fs::read(elsewhere.join("victim.txt")).unwrap(), b"keep me");
        assert!(!out.join("stale.txt").exists(), "stale files inside the bundle are still removed");
        load_bundle(&out).unwrap();
    }

    #[test]
    fn bundle_files_are_read_bounded_regular_and_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("b");
        let secret = tmp.path().join("secret.txt");
        std::fs::write(&secret, b"outside the bundle, 35 bytes long!!").unwrap();
        write_bundle(&out, bundle_with(&[("notes/a.txt", b"0123456789"), ("notes/b.txt", b"x")])).unwrap();
        let error = |out: &Path| format!("{:#}", load_bundle(out).unwrap_err());
        // Defect 6: a link leaving the bundle is refused without revealing the target's size.
        std::fs::remove_file(out.join("notes/a.txt")).unwrap();
        symlink(&secret, out.join("notes/a.txt")).unwrap();
        let e = error(&out);
        assert!(
            e.contains("notes/a.txt: refused, it is a link to a file outside the bundle") && !e.contains("35"),
            "{e}"
        );
        // Defect 5: a link to /dev/zero (outside, and endless) and a FIFO (would hang).
        std::fs::remove_file(out.join("notes/a.txt")).unwrap();
        symlink("/dev/zero", out.join("notes/a.txt")).unwrap();
        assert!(error(&out).contains("outside the bundle"));
        std::fs::remove_file(out.join("notes/a.txt")).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(out.join("notes/a.txt")).status().unwrap().success());
        assert!(error(&out).contains("a.txt is not a regular file"), "{}", error(&out));
        // A file longer than declared is read only one byte past the declared size.
        std::fs::remove_file(out.join("notes/a.txt")).unwrap();
        std::fs::write(out.join("notes/a.txt"), vec![b'0'; 1 << 20]).unwrap();
        assert!(error(&out).contains("a.txt is longer than 10 bytes"), "{}", error(&out));
        // A link inside the bundle is fine.
        std::fs::remove_file(out.join("notes/a.txt")).unwrap();
        std::fs::write(out.join("notes/real.txt"), b"0123456789").unwrap();
        symlink("real.txt", out.join("notes/a.txt")).unwrap();
        load_bundle(&out).unwrap();
    }
}
