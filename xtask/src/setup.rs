//! Idempotent installation of what a fresh machine lacks. Each step checks first, so a second
//! run costs seconds.

use crate::{root, run};
use anyhow::{bail, Result};
use std::process::Command;

fn succeeds(cmd: &mut Command) -> bool {
    cmd.output().map(|o| o.status.success()).unwrap_or(false)
}

fn stdout(cmd: &mut Command) -> String {
    cmd.output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// The wasm32 target: all `build` and `demo` need besides this crate. (The JS bindings are made
/// by the `wasm-bindgen-cli-support` library linked into xtask, at the version Cargo.lock pins
/// for `wasm-bindgen`: no `cargo install wasm-bindgen-cli`, which took 20 minutes here.)
pub fn wasm_target() -> Result<()> {
    if !stdout(Command::new("rustup").args(["target", "list", "--installed"])).contains("wasm32-unknown-unknown") {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
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

/// Debian's Chromium (never a downloaded browser) and the project's npm tools.
pub fn browser() -> Result<()> {
    apt_install(&["chromium"])?;
    npm_tools()
}

/// The npm packages of `tests/browser/package-lock.json`: playwright-core (drives Chromium),
/// TypeScript (the type check of `web/`, the package's declarations) and binaryen (wasm-opt for
/// `cargo xtask package`; Debian's binaryen 108 cannot read today's wasm).
pub fn npm_tools() -> Result<()> {
    let tests = root().join("tests/browser");
    if !["playwright-core", "typescript", "binaryen"].iter().all(|p| tests.join("node_modules").join(p).exists()) {
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix"]).arg(&tests))?;
    }
    Ok(())
}

pub fn all() -> Result<()> {
    wasm_target()?;
    vulkan()?;
    browser()?;
    crate::model::fetch()?;
    run(Command::new("rustup").args(["component", "add", "clippy"]))?;
    eprintln!("setup complete");
    Ok(())
}
