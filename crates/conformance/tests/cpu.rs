//! The shared backend suite on the CPU reference backend (it must hold for the reference itself,
//! which proves the suite's cases and tolerances are satisfiable).

use saescope_conformance as conformance;
use saescope_core::CpuBackend;

#[test]
fn cpu_backend_passes_the_shared_suite() {
    for (name, outcome) in pollster::block_on(conformance::run_all(&CpuBackend)) {
        match outcome {
            Ok(report) => println!("{name}: {report}"),
            Err(e) => panic!("{name}: {e}"),
        }
    }
}
