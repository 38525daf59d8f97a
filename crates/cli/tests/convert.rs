//! `saescope convert` on PyTorch state dicts in torch.save's format. The fixtures are written by
//! `tests/fixtures/make_pth.py` (Python's own pickler, no torch); the values they hold are the
//! formulas in `expected_sae`, computed here independently of the reader.

use saescope_core::sae::transpose;
use saescope_core::{Matrix, Sae};
use saescope_format::SaeFiles;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const D: usize = 4;
const N: usize = 6;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The SAE the fixtures hold, built from the paper's tensors as the conversion must map them.
fn expected_sae(k: usize) -> Sae {
    let enc: Vec<f32> = (0..N * D).map(|i| i as f32 / 8.0 - 1.0).collect(); // encoder.weight [n, d]
    let dec: Vec<f32> = (0..D * N).map(|i| i as f32 / 16.0 - 0.5).collect(); // decoder.weight [d, n]
    let pre: Vec<f32> = (0..D).map(|j| j as f32 / 4.0 - 0.5).collect();
    let lat: Vec<f32> = (0..N).map(|i| -(i as f32) / 8.0).collect();
    Sae::new(
        k,
        Matrix::new(D, N, transpose(&enc, N, D)).unwrap(),
        lat,
        Matrix::new(N, D, transpose(&dec, D, N)).unwrap(),
        pre,
    )
    .unwrap()
}

fn convert(pth: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_saescope"))
        .arg("convert")
        .arg("--pth")
        .arg(pth)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("run saescope")
}

fn load(dir: &Path) -> (Sae, serde_json::Value) {
    let cfg = std::fs::read(dir.join("cfg.json")).unwrap();
    let weights = std::fs::read(dir.join("sae_weights.safetensors")).unwrap();
    (Sae::from_saelens(&cfg, &weights).unwrap(), serde_json::from_slice(&cfg).unwrap())
}

/// Asserts the command failed cleanly (exit 1, not a panic's 101) with one line naming `file`,
/// and returns that line.
fn one_line_error(out: &Output, file: &Path) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "expected a clean failure, got {:?}: {stderr}", out.status);
    let line = stderr.trim_end();
    assert!(!line.contains('\n') && line.starts_with("error: "), "not one error line: {stderr:?}");
    assert!(line.contains(&file.display().to_string()), "error does not name the file: {line}");
    line.to_owned()
}

#[test]
fn converts_the_paper_state_dict() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sae");
    let run = convert(&fixture("paper_sae.pth"), &out, &["--k", "2"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let (sae, cfg) = load(&out);
    assert_eq!(sae, expected_sae(2));
    assert_eq!(cfg["dtype"], "float32");
    assert_eq!(cfg["architecture"], "topk");

    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "summary is one line: {stderr}");
    assert!(stderr.contains("d_in=4, d_sae=6, k=2"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).expect("stdout is JSON");
    let want = expected_sae(2).report();
    assert_eq!(report["d_in"], 4);
    assert_eq!(report["d_sae"], 6);
    assert_eq!(report["k"], 2);
    for (key, value) in [("decoder_norm_min", want.decoder_norm_min), ("decoder_norm_max", want.decoder_norm_max)] {
        assert!((report[key].as_f64().unwrap() - value as f64).abs() < 1e-6, "{key}: {report}");
    }
}

/// float16 storages under the key prefix `sae.`, a column-major decoder (stride (1, d)), both
/// biases as offset views of one storage, and non-tensor entries to skip; written as f16.
#[test]
fn converts_prefixed_f16_strided_state_dict_to_f16() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sae16");
    let run = convert(&fixture("paper_sae_f16_sae.pth"), &out, &["--k", "3", "--dtype", "f16"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let (sae, cfg) = load(&out);
    // Every fixture value is exact in float16, so the round trip is exact too.
    assert_eq!(sae, expected_sae(3));
    assert_eq!(cfg["dtype"], "float16");
    assert!(String::from_utf8_lossy(&run.stderr).contains("key prefix \"sae.\""));
}

#[test]
fn truncated_file_fails_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("paper_sae.pth")).unwrap();
    for len in [bytes.len() / 2, 0, 10, bytes.len() - 1] {
        let pth = tmp.path().join(format!("cut{len}.pth"));
        std::fs::write(&pth, &bytes[..len]).unwrap();
        let run = convert(&pth, &tmp.path().join("out"), &["--k", "2"]);
        let line = one_line_error(&run, &pth);
        assert!(line.contains("not a PyTorch .pth file"), "{line}");
        if len == bytes.len() / 2 {
            assert!(line.contains("truncated"), "{line}");
        }
        assert!(!tmp.path().join("out").exists(), "nothing is written on failure");
    }
}

#[test]
fn missing_decoder_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let pth = fixture("paper_sae_no_decoder.pth");
    let line = one_line_error(&convert(&pth, &tmp.path().join("out"), &["--k", "2"]), &pth);
    assert!(line.contains("missing tensor decoder.weight"), "{line}");
    assert!(line.contains("encoder.weight") && line.contains("pre_bias"), "lists what the file holds: {line}");
}

#[test]
fn damaged_and_invalid_state_dicts_fail_with_reasons() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cases: [(&str, &[&str], &[&str]); 4] = [
        // A rebuild call with one argument: candle-core's reader panics on this file.
        ("paper_sae_malformed.pth", &["--k", "2"], &["decoder.weight", "expected at least 4"]),
        ("paper_sae_nan.pth", &["--k", "2"], &["NaN", "W_dec", "decoder.weight"]),
        ("paper_sae_bad_shape.pth", &["--k", "2"], &["shape mismatch", "pre_bias", "[5]", "[4]"]),
        ("paper_sae.pth", &["--k", "7"], &["--k 7", "between 1 and 6"]),
    ];
    for (name, args, wants) in cases {
        let pth = fixture(name);
        let line = one_line_error(&convert(&pth, &out, args), &pth);
        for want in wants {
            assert!(line.contains(want), "{name}: {want:?} not in {line}");
        }
    }

    let text = tmp.path().join("notes.pth");
    std::fs::write(&text, "not a checkpoint\n").unwrap();
    let line = one_line_error(&convert(&text, &out, &["--k", "2"]), &text);
    assert!(line.contains("not a PyTorch .pth file") && line.contains("not a zip archive"), "{line}");
    assert!(!out.exists());
}
