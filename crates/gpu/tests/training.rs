//! GPU training behaviour that the shared suite cannot hold against the CPU reference: the
//! limits of float32 sums (the reference sums losses in float64).

use saescope_conformance::random_sae;
use saescope_core::train::{TrainConfig, TrainState};
use saescope_core::{Error, Matrix, TrainOps};
use saescope_gpu::{GpuBackend, GpuOptions};

/// A step whose squared error overflows float32 fails with a reason and leaves the resident
/// state as it was. No file may hold values that large (they are refused on upload), so the run
/// gets there by diverging: one step at an absurd learning rate moves every parameter by ~lr.
#[test]
fn a_step_whose_loss_overflows_is_refused_and_changes_nothing() {
    let backend = pollster::block_on(GpuBackend::new(GpuOptions::default()))
        .expect("a wgpu adapter (install mesa-vulkan-drivers)");
    let batch = Matrix::new(16, 24, (0..16 * 24).map(|i| 0.1 * (i % 5) as f32).collect()).unwrap();
    let config = TrainConfig { k: 4, latents: 80, batch: 16, lr: 1e30, ..Default::default() };
    let state = TrainState::fresh(random_sae(24, 80, 4, 5), config, 1).unwrap();
    let mut training = pollster::block_on(backend.train_begin(&state)).unwrap();
    let first = pollster::block_on(backend.train_step(&mut training, &batch)).unwrap();
    assert!(first.loss.is_finite(), "{first:?}");
    // The diverged state holds values beyond 1e6, so reading it back says where the first one is.
    let diverged = pollster::block_on(backend.train_read(&training)).unwrap_err().to_string();
    let err = pollster::block_on(backend.train_step(&mut training, &batch)).unwrap_err();
    assert!(matches!(err, Error::NonFinite(_)), "{err}");
    assert!(err.to_string().contains("step 2"), "{err}");
    let after = pollster::block_on(backend.train_read(&training)).unwrap_err().to_string();
    assert_eq!(after, diverged, "the refused step changed the state");
}
