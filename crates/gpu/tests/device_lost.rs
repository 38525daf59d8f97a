//! A GPU device lost in the middle of an operation (natively: Vulkan, on CI Mesa's lavapipe):
//! [`AnyBackend`] computes that operation and every later one on the CPU, with the CPU's answers,
//! and says why. The page's browser test does the same in WebGPU (tests/browser/hostile.test.mjs).

use saescope_conformance as conformance;
use saescope_core::backend::{Backend, EncodeOps, SearchOps};
use saescope_core::rng::SeededRng;
use saescope_core::search::{Corpus, Precision};
use saescope_core::{CpuBackend, Matrix};
use saescope_gpu::{AnyBackend, CpuBecause, DeviceChoice, GpuOptions};
use std::sync::Arc;

fn random(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = SeededRng::new(seed);
    Matrix::new(rows, cols, (0..rows * cols).map(|_| rng.normal()).collect()).unwrap()
}

#[test]
fn a_device_lost_mid_operation_falls_back_to_the_cpu_with_its_answers() {
    pollster::block_on(async {
        let (backend, why) = AnyBackend::open(DeviceChoice::Gpu, GpuOptions::default()).await;
        assert_eq!(why, None, "a wgpu adapter (install mesa-vulkan-drivers)");
        let sae = Arc::new(conformance::random_sae(48, 200, 8, 1));
        let corpus = Arc::new(Corpus::from_matrix(&random(500, 48, 2), 200, Precision::F32));
        let queries = random(7, 48, 3);
        let resident_sae = backend.upload_sae(&sae).await.unwrap();
        let resident_corpus = backend.upload_corpus(&corpus).await.unwrap();
        let cpu_sae = CpuBackend.upload_sae(&sae).await.unwrap();
        let want_codes = CpuBackend.encode(&cpu_sae, &queries).await.unwrap();
        let want_hits = CpuBackend.search(&corpus, &queries, 5).await.unwrap();

        backend.encode(&resident_sae, &queries).await.unwrap();
        assert_eq!((backend.kind(), backend.lost()), ("gpu", None));

        // Lost right after the search's first submission, before its results are read back.
        backend.lose_device_after(1).unwrap();
        let hits = backend.search(&resident_corpus, &queries, 5).await.unwrap();
        assert_eq!(backend.kind(), "cpu");
        let why = backend.lost().expect("the loss is reported");
        assert!(backend.describe().contains(&format!("GPU device was lost ({why}")), "{}", backend.describe());
        assert_eq!(hits, want_hits);

        // Every later operation runs on the CPU too, from the data uploaded before the loss.
        let codes = backend.encode(&resident_sae, &queries).await.unwrap();
        assert_eq!(codes, want_codes);
        // Data uploaded after the loss lives on the CPU.
        let later = backend.upload_corpus(&corpus).await.unwrap();
        assert_eq!(backend.search(&later, &queries, 5).await.unwrap(), want_hits);
    });
}

#[test]
fn auto_takes_the_cpu_path_over_a_gpu_emulated_on_the_cpu() {
    pollster::block_on(async {
        let (gpu, _) = AnyBackend::open(DeviceChoice::Gpu, GpuOptions::default()).await;
        let (auto, why) = AnyBackend::open(DeviceChoice::Auto, GpuOptions::default()).await;
        if gpu.is_software() {
            assert_eq!(auto.kind(), "cpu");
            assert!(matches!(&why, Some(CpuBecause::SoftwareGpu(_))), "{why:?}");
            assert!(why.unwrap().to_string().contains("emulated on the CPU"));
        } else {
            assert_eq!((auto.kind(), why), ("gpu", None));
        }
        let (cpu, why) = AnyBackend::open(DeviceChoice::Cpu, GpuOptions::default()).await;
        assert_eq!((cpu.kind(), why.clone()), ("cpu", Some(CpuBecause::Requested)));
        assert_eq!(why.unwrap().to_string(), "CPU requested");
        assert_eq!(DeviceChoice::parse("").unwrap(), DeviceChoice::Auto);
        assert!(DeviceChoice::parse("tpu").unwrap_err().to_string().contains("auto, gpu or cpu"));
    });
}
