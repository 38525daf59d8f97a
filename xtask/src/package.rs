//! The app as things to ship: the wasm engine's JS bindings in `pkg/` (`build_wasm`), the npm
//! package (`package`), and a self-contained static site with one bundle (`site`).

use crate::{cargo, copy_dir, root, run, setup};
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the wasm crate (release) and generates its JS bindings into `pkg/`, with the
/// wasm-bindgen library at the version Cargo.lock pins (its output is byte for byte the CLI's
/// `--target web`; the library checks the schema version against the wasm's own).
pub fn build_wasm() -> Result<()> {
    build_wasm_logging_to(None)
}

/// `build_wasm`, with cargo's output into `log` when given (when it runs beside other work).
pub fn build_wasm_logging_to(log: Option<&Path>) -> Result<()> {
    setup::wasm_target()?;
    let mut build = cargo();
    build.args(["build", "--release", "-p", "saescope-wasm", "--target", "wasm32-unknown-unknown"]);
    if let Some(log) = log {
        let file = std::fs::File::create(log).with_context(|| format!("cannot write {}", log.display()))?;
        build.stdout(file.try_clone()?).stderr(file);
    }
    run(&mut build).with_context(|| match log {
        Some(log) => format!("the wasm build failed: see {}", log.display()),
        None => "the wasm build failed".into(),
    })?;
    let wasm = root().join("target/wasm32-unknown-unknown/release/saescope_wasm.wasm");
    eprintln!("$ wasm-bindgen --target web --out-dir pkg {}", wasm.display());
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen.input_path(&wasm).web(true)?.typescript(true).omit_default_module_path(false);
    bindgen.generate(root().join("pkg")).context("wasm-bindgen failed")?;
    Ok(())
}

/// What the package ships of `web/`: the worker client (`engine.js`), the worker that owns the
/// engine and what it imports, and the data types the answers have.
const CLIENT: &[&str] = &["engine.js", "worker.js", "fetch.js", "store.js", "types.js", "engine-types.d.ts"];

/// The files of `pkg/` a page loads (the rest are declarations).
const ENGINE: &[&str] = &["saescope_wasm.js", "saescope_wasm_bg.wasm"];

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path).with_context(|| format!("{} is missing", path.display()))?.len())
}

fn node_tool(path: &str) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg(root().join("tests/browser/node_modules").join(path));
    cmd
}

/// `cargo xtask package`: the npm package `saescope` in `target/package/saescope/` and its
/// tarball (`npm pack`) beside it; returns the tarball. Layout: `pkg/` (the engine, wasm-opt
/// applied) and `web/` (the worker client) as in this repository, so their relative imports hold.
pub fn package() -> Result<PathBuf> {
    setup::npm_tools()?;
    build_wasm()?;
    let out = root().join("target/package");
    let dir = out.join("saescope");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(dir.join("pkg"))?;
    std::fs::create_dir_all(dir.join("web"))?;

    let (built, shipped) = (root().join("pkg/saescope_wasm_bg.wasm"), dir.join("pkg/saescope_wasm_bg.wasm"));
    // -O1: of binaryen's levels, the smallest once gzipped (1.76 MB against 1.81 MB at -O) and
    // 31 s against 113 s on 2 cores; LLVM has optimised the code already.
    run(node_tool("binaryen/bin/wasm-opt")
        .args(["-O1", "--strip-debug", "--strip-producers", "--enable-simd", "--enable-bulk-memory"])
        .args(["--enable-sign-ext", "--enable-mutable-globals", "--enable-nontrapping-float-to-int"])
        .args(["--enable-multivalue", "--enable-reference-types"])
        .arg(&built)
        .arg("-o")
        .arg(&shipped))?;
    for file in ["saescope_wasm.js", "saescope_wasm.d.ts", "saescope_wasm_bg.wasm.d.ts"] {
        std::fs::copy(root().join("pkg").join(file), dir.join("pkg").join(file))?;
    }
    for file in CLIENT {
        std::fs::copy(root().join("web").join(file), dir.join("web").join(file))?;
    }
    // Declarations of the worker client and its data types, from their JSDoc.
    let declarations = out.join("declarations");
    run(node_tool("typescript/bin/tsc")
        .args(["--allowJs", "--declaration", "--emitDeclarationOnly", "--skipLibCheck", "--strict", "false"])
        .args(["--target", "ES2022", "--module", "ES2022", "--moduleResolution", "bundler"])
        .args(["--lib", "ES2022,ESNext.Disposable,DOM,DOM.Iterable"])
        .arg("--outDir")
        .arg(&declarations)
        .args(["web/engine.js", "web/types.js"]))?;
    for file in ["engine.d.ts", "types.d.ts"] {
        std::fs::copy(declarations.join(file), dir.join("web").join(file))
            .with_context(|| format!("tsc wrote no web/{file}"))?;
    }
    std::fs::copy(root().join("crates/wasm/npm/README.md"), dir.join("README.md"))?;
    for file in ["LICENSE-MIT", "LICENSE-APACHE"] {
        std::fs::copy(root().join(file), dir.join(file))?;
    }
    std::fs::write(dir.join("package.json"), serde_json::to_string_pretty(&package_json())? + "\n")?;

    run(Command::new("npm").args(["pack", "--silent"]).arg(&dir).arg("--pack-destination").arg(&out))?;
    let tarball = out.join(format!("saescope-{}.tgz", env!("CARGO_PKG_VERSION")));
    println!(
        "package: {} ({} packed)\n  engine wasm {} after wasm-opt ({} before)",
        dir.display(),
        mb(size(&tarball)?),
        mb(size(&shipped)?),
        mb(size(&built)?),
    );
    Ok(tarball)
}

fn package_json() -> serde_json::Value {
    serde_json::json!({
        "name": "saescope",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Sparse autoencoders on text embeddings in the browser: top-k SAE inference, steered semantic search, clustering and training on WebGPU or the CPU, from static bundles.",
        "license": "MIT OR Apache-2.0",
        "type": "module",
        "main": "./pkg/saescope_wasm.js",
        "types": "./pkg/saescope_wasm.d.ts",
        "exports": {
            ".": { "types": "./pkg/saescope_wasm.d.ts", "default": "./pkg/saescope_wasm.js" },
            "./client": { "types": "./web/engine.d.ts", "default": "./web/engine.js" },
            "./types": { "types": "./web/types.d.ts" },
            "./saescope_wasm_bg.wasm": "./pkg/saescope_wasm_bg.wasm",
            "./package.json": "./package.json"
        },
        "files": ["pkg/", "web/", "README.md", "LICENSE-MIT", "LICENSE-APACHE"],
        "keywords": ["sparse-autoencoder", "embeddings", "interpretability", "webgpu", "wasm", "semantic-search"],
    })
}

/// Every file a bundle's manifest lists, and the manifest, checked to exist with their sizes.
fn bundle_files(bundle: &Path) -> Result<Vec<(PathBuf, u64)>> {
    let text = std::fs::read_to_string(bundle.join("manifest.json"))
        .with_context(|| format!("{} is not a bundle folder (no manifest.json)", bundle.display()))?;
    let manifest: serde_json::Value = serde_json::from_str(&text).context("manifest.json is not JSON")?;
    let files = manifest["files"].as_array().context("manifest.json lists no files")?;
    let mut out = vec![(PathBuf::from("manifest.json"), text.len() as u64)];
    for file in files {
        let path = file["path"].as_str().context("a manifest entry has no path")?;
        let bytes = file["bytes"].as_u64().with_context(|| format!("{path}: no byte size"))?;
        let relative = PathBuf::from(path);
        ensure!(
            relative.components().all(|c| matches!(c, std::path::Component::Normal(_))),
            "{path}: a manifest path must stay inside the bundle"
        );
        let got = size(&bundle.join(&relative))?;
        ensure!(got == bytes, "{path}: the manifest says {bytes} bytes, the file has {got}");
        out.push((relative, bytes));
    }
    Ok(out)
}

/// `cargo xtask site --bundle DIR --out SITE`: the page, the engine (as packaged), the service
/// worker and the bundle (under `bundle/`, opened when the URL names none) as plain files that
/// any static host serves, from a sub-path too, with no special headers.
pub fn site(args: &[String]) -> Result<()> {
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let (Some(bundle), Some(out)) = (value("--bundle"), value("--out")) else {
        bail!("usage: cargo xtask site --bundle BUNDLE_DIR --out SITE_DIR");
    };
    // A bad bundle or output folder fails before the package is built.
    bundle_files(&bundle)?;
    check_site_folder(&bundle, &out)?;
    package()?;
    export_site(&bundle, &out)
}

/// What an export writes at the top of its folder; an earlier export's are replaced, nothing
/// else there is touched (a Pages checkout keeps its `.git`, `CNAME`, `.nojekyll`).
const SITE_ENTRIES: &[&str] = &["index.html", "sw.js", "app.webmanifest", "pkg", "web", "bundle"];

/// `out` is new, empty, or an earlier export (and not where the bundle lives).
fn check_site_folder(bundle: &Path, out: &Path) -> Result<()> {
    if let (Ok(from), Ok(to)) = (bundle.canonicalize(), out.canonicalize()) {
        ensure!(
            !from.starts_with(&to),
            "the bundle {} is inside {}: export to another folder",
            bundle.display(),
            out.display()
        );
    }
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        ensure!(
            out.join("sw.js").exists() && out.join("bundle/manifest.json").exists(),
            "{} is not empty and holds no earlier saescope site; choose an empty or new folder",
            out.display()
        );
    }
    Ok(())
}

/// The site, with the engine as `package` left it in `target/package/`.
pub fn export_site(bundle: &Path, out: &Path) -> Result<()> {
    let files = bundle_files(bundle)?;
    check_site_folder(bundle, out)?;
    for entry in SITE_ENTRIES {
        let path = out.join(entry);
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else if path.exists() {
            std::fs::remove_file(&path)?;
        }
    }
    // The app's bytes, counted as written (the folder may hold other things, such as `.git`).
    let mut app_bytes = 0;
    let packaged = root().join("target/package/saescope/pkg");
    std::fs::create_dir_all(out.join("pkg"))?;
    for file in ENGINE {
        app_bytes += std::fs::copy(packaged.join(file), out.join("pkg").join(file))?;
    }
    let index = std::fs::read_to_string(root().join("index.html"))?;
    let default = r#"<meta name="saescope-bundle" content="bundles/demo/">"#;
    ensure!(index.contains(default), "index.html has no default-bundle <meta> to point at the site's bundle");
    let index = index.replace(default, r#"<meta name="saescope-bundle" content="bundle/">"#);
    std::fs::write(out.join("index.html"), &index)?;
    app_bytes += index.len() as u64;
    for file in ["sw.js", "app.webmanifest"] {
        app_bytes += std::fs::copy(root().join(file), out.join(file))?;
    }
    // The page's modules, stylesheet and icon, not the declarations.
    app_bytes += copy_dir(&root().join("web"), &out.join("web"), &|p| !p.to_string_lossy().ends_with(".d.ts"))?;
    let mut bundle_bytes = 0;
    for (relative, bytes) in &files {
        let target = out.join("bundle").join(relative);
        std::fs::create_dir_all(target.parent().expect("a file has a folder"))?;
        std::fs::copy(bundle.join(relative), &target)?;
        bundle_bytes += bytes;
    }
    println!(
        "site: {} (the app {}, the bundle {} in {} files)\n\
         Serve that folder with any static server, from any path, e.g.\n  python3 -m http.server -d {} 8000   # then open http://127.0.0.1:8000/",
        out.display(),
        mb(app_bytes),
        mb(bundle_bytes),
        files.len(),
        out.display()
    );
    Ok(())
}
