//! The shared backend suite on the GPU (natively: Vulkan; on CI, Mesa's lavapipe CPU driver).
//! Run twice: with the adapter's own limits, and with a 64 KiB binding limit that forces every
//! chunked path (latent blocks, row chunks, corpus sub-shards, point chunks).
//! There is no skip: a machine without a Vulkan adapter fails this test.

use saescope_conformance as conformance;
use saescope_gpu::{GpuBackend, GpuOptions};

fn run(options: GpuOptions) {
    let backend = pollster::block_on(GpuBackend::new(options)).expect("a wgpu adapter (install mesa-vulkan-drivers)");
    println!("{}", saescope_core::Backend::describe(&backend));
    let mut failures = Vec::new();
    for (name, outcome) in pollster::block_on(conformance::run_all(&backend)) {
        match outcome {
            Ok(report) => println!("{name}: {report}"),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn gpu_backend_passes_the_shared_suite() {
    run(GpuOptions::default());
}

#[test]
fn gpu_backend_passes_with_tiny_bindings() {
    run(GpuOptions { max_binding_bytes: Some(64 << 10) });
}
