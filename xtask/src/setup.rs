//! Idempotent installation of what a fresh machine lacks. Each step checks first, so a second
//! run costs seconds.

use crate::{cargo, root, run};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

fn succeeds(cmd: &mut Command) -> bool {
    cmd.output().map(|o| o.status.success()).unwrap_or(false)
}

fn stdout(cmd: &mut Command) -> String {
    cmd.output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// The wasm-bindgen version pinned in Cargo.lock (the CLI must match it exactly).
fn locked_wasm_bindgen() -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).context("Cargo.lock is missing")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \"")) {
                return Ok(v.trim_end_matches('"').to_owned());
            }
        }
    }
    bail!("wasm-bindgen is not in Cargo.lock")
}

pub fn wasm_bindgen_bin() -> PathBuf {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cargo"));
    home.join("bin/wasm-bindgen")
}

/// The wasm32 target and the wasm-bindgen CLI: all `build` and `demo` need.
pub fn wasm_tools() -> Result<()> {
    if !stdout(Command::new("rustup").args(["target", "list", "--installed"])).contains("wasm32-unknown-unknown") {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    let want = locked_wasm_bindgen()?;
    let have = stdout(Command::new(wasm_bindgen_bin()).arg("--version"));
    if have.split_whitespace().nth(1) != Some(want.as_str()) {
        // No --locked: one of the CLI's locked dependencies is no longer on the registry.
        run(cargo().args(["install", "wasm-bindgen-cli", "--version", &format!("={want}")]))?;
    }
    Ok(())
}

fn dpkg_installed(package: &str) -> bool {
    stdout(Command::new("dpkg-query").args(["-W", "-f=${Status}", package])).contains("install ok installed")
}

fn apt_install(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !dpkg_installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !succeeds(Command::new("apt-get").arg("--version")) {
        bail!("please install these Debian/Ubuntu packages: {}", missing.join(" "));
    }
    let sudo = !stdout(Command::new("id").arg("-u")).trim().eq("0");
    let apt = |args: &[&str]| {
        let mut c = if sudo { Command::new("sudo") } else { Command::new("apt-get") };
        if sudo {
            c.arg("apt-get");
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run(&mut apt(&["update", "-qq"]))?;
    let mut install = apt(&["install", "-y", "-qq", "--no-install-recommends"]);
    install.args(&missing);
    run(&mut install)
}

/// The Vulkan loader and Mesa's CPU driver (lavapipe), so the GPU kernels run without a GPU.
pub fn vulkan() -> Result<()> {
    apt_install(&["mesa-vulkan-drivers", "libvulkan1"])
}

/// Debian's Chromium (never a downloaded browser) and the tests' npm packages (playwright-core,
/// and TypeScript for the type check of `web/`).
pub fn browser() -> Result<()> {
    apt_install(&["chromium"])?;
    let tests = root().join("tests/browser");
    if !["playwright-core", "typescript"].iter().all(|p| tests.join("node_modules").join(p).exists()) {
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix"]).arg(&tests))?;
    }
    Ok(())
}

pub fn all() -> Result<()> {
    wasm_tools()?;
    vulkan()?;
    browser()?;
    crate::model::fetch()?;
    run(Command::new("rustup").args(["component", "add", "clippy"]))?;
    eprintln!("setup complete");
    Ok(())
}
