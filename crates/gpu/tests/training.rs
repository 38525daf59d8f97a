//! GPU training behaviour that the shared suite cannot hold against the CPU reference: the
//! limits of float32 sums (the reference sums losses in float64).

use saescope_conformance::random_sae;
use saescope_core::train::{TrainConfig, TrainState};
use saescope_core::{Error, Matrix, TrainOps};
use saescope_gpu::{GpuBackend, GpuOptions};

/// A step whose squared error overflows float32 (here: huge encoder biases make huge
/// reconstructions) fails with a reason and leaves the resident state as it was, though its
/// gradients are not zero; after a reset of those biases, training goes on.
#[test]
fn a_step_whose_loss_overflows_is_refused_and_changes_nothing() {
    let backend = pollster::block_on(GpuBackend::new(GpuOptions::default()))
        .expect("a wgpu adapter (install mesa-vulkan-drivers)");
    let config = TrainConfig { k: 4, latents: 80, batch: 16, ..Default::default() };
    let mut state = TrainState::fresh(random_sae(24, 80, 4, 5), config, 1).unwrap();
    // No file may hold such values (they are refused on load), but a diverging run can reach them.
    state.sae.b_enc.iter_mut().take(10).for_each(|b| *b = 1e20);
    let batch = Matrix::new(16, 24, (0..16 * 24).map(|i| 0.1 * (i % 5) as f32).collect()).unwrap();

    let mut training = pollster::block_on(backend.train_begin(&state)).unwrap();
    let err = pollster::block_on(backend.train_step(&mut training, &batch)).unwrap_err();
    assert!(matches!(err, Error::NonFinite(_)), "{err}");
    assert!(err.to_string().contains("step 1"), "{err}");
    assert_eq!(pollster::block_on(backend.train_read(&training)).unwrap(), state);

    let mut sane = state.clone();
    sane.sae.b_enc.iter_mut().for_each(|b| *b = 0.0);
    let mut training = pollster::block_on(backend.train_begin(&sane)).unwrap();
    let stats = pollster::block_on(backend.train_step(&mut training, &batch)).unwrap();
    assert!(stats.loss.is_finite() && stats.grad_norm > 0.0, "{stats:?}");
    let after = pollster::block_on(backend.train_read(&training)).unwrap();
    assert_eq!(after.step, 1);
    assert_ne!(after.sae, sane.sae);
}
