//! Valid starting inputs for every target, generated from the real writers (planted SAEs from
//! `saescope_core::synth`, `to_saelens`, `npy::to_bytes`, `BundleBuilder`) so that they follow
//! the formats as they change. `cargo run -p saescope-fuzz --example write_seeds -- DIR` writes
//! them as files (what `cargo xtask fuzz` starts libFuzzer from); the replay test runs them in
//! memory.

use crate::frame;
use half::{bf16, f16};
use saescope_core::sae::{transpose, Sae};
use saescope_core::synth::PlantedData;
use saescope_format::bundle::BundleBuilder;
use saescope_format::documents::gzip;
use saescope_format::manifest::Role;
use saescope_format::{npy, CodesFiles, SaeFiles, WeightDType};
use safetensors::{tensor::TensorView, Dtype};

/// The seeds of target `name` as (file name, bytes); empty for an unknown target.
pub fn seeds(name: &str) -> Vec<(String, Vec<u8>)> {
    let named = |list: Vec<(&str, Vec<u8>)>| list.into_iter().map(|(n, b)| (n.to_owned(), b)).collect();
    match name {
        "npy" | "npy_stream" => named(npy_files()),
        "sae_safetensors" => named(sae_inputs()),
        "manifest" => named(bundles().into_iter().map(|(n, b)| (n, split_first(&b[1..]))).collect()),
        "bundle" => named(bundles()),
        "pth" => pth_inputs(),
        "corpus" => named(corpus_inputs()),
        "documents" => named(documents_inputs()),
        "tokenizer" => named(tokenizer_inputs()),
        _ => Vec::new(),
    }
}

/// The first frame of framed bytes (the manifest of a bundle seed).
fn split_first(framed: &[u8]) -> Vec<u8> {
    crate::split_frames(framed)[0].to_vec()
}

/// An `.npy` header of numpy's layout for any descr (`to_bytes` only writes the dtypes saescope
/// writes), version 1 or 2.
fn with_header(descr: &str, shape: &str, version: u8, data: &[u8]) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let prefix = if version == 1 { 10 } else { 12 };
    let mut text = dict.into_bytes();
    while (prefix + text.len() + 1) % 64 != 0 {
        text.push(b' ');
    }
    text.push(b'\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(&text);
    out.extend_from_slice(data);
    out
}

fn npy_files() -> Vec<(&'static str, Vec<u8>)> {
    let values: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 2.0).collect();
    let halves: Vec<f16> = values.iter().map(|&v| f16::from_f32(v)).collect();
    let i64s: Vec<u8> = [3i64, 0, 7, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
    vec![
        ("f32_3x4.npy", npy::to_bytes(&[3, 4], &values).unwrap()),
        ("f16_2x6.npy", npy::to_bytes(&[2, 6], &halves).unwrap()),
        ("f32_vector.npy", npy::to_bytes(&[5], &values[..5]).unwrap()),
        ("i32_2x2.npy", npy::to_bytes(&[2, 2], &[0i32, 5, 3, 1]).unwrap()),
        ("u32_4.npy", npy::to_bytes(&[4], &[9u32, 8, 7, 6]).unwrap()),
        ("i64_2x2.npy", with_header("<i8", "(2, 2)", 1, &i64s)),
        ("f32_v2_2x2.npy", with_header("<f4", "(2, 2)", 2, bytemuck_f32(&values[..4]).as_slice())),
        ("f32_empty_0x4.npy", npy::to_bytes::<f32>(&[0, 4], &[]).unwrap()),
        ("f32_scalar.npy", with_header("<f4", "()", 1, &1.5f32.to_le_bytes())),
    ]
}

fn bytemuck_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Safetensors of named f32 tensors stored as `dtype` (F32, F16 or BF16).
fn safetensors_of(tensors: &[(&str, Vec<usize>, &[f32])], dtype: Dtype) -> Vec<u8> {
    let encoded: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| match dtype {
            Dtype::F16 => v.iter().flat_map(|&x| f16::from_f32(x).to_le_bytes()).collect(),
            Dtype::BF16 => v.iter().flat_map(|&x| bf16::from_f32(x).to_le_bytes()).collect(),
            _ => bytemuck_f32(v),
        })
        .collect();
    let views = tensors
        .iter()
        .zip(&encoded)
        .map(|((name, shape, _), bytes)| (*name, TensorView::new(dtype, shape.clone(), bytes).unwrap()))
        .collect::<Vec<_>>();
    safetensors::serialize(views, None).unwrap()
}

fn saelens_tensors(sae: &Sae) -> Vec<(&'static str, Vec<usize>, &[f32])> {
    vec![
        ("W_enc", vec![sae.d_in, sae.d_sae], &sae.w_enc[..]),
        ("b_enc", vec![sae.d_sae], &sae.b_enc[..]),
        ("W_dec", vec![sae.d_sae, sae.d_in], &sae.w_dec[..]),
        ("b_dec", vec![sae.d_in], &sae.b_dec[..]),
    ]
}

fn sae_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let sae = PlantedData::generate(4, 8, 2, 1, 11).sae;
    let enc = transpose(&sae.w_enc, sae.d_in, sae.d_sae);
    let dec = transpose(&sae.w_dec, sae.d_sae, sae.d_in);
    let paper = safetensors_of(
        &[
            ("encoder.weight", vec![8, 4], &enc),
            ("decoder.weight", vec![4, 8], &dec),
            ("pre_bias", vec![4], &sae.b_dec),
            ("latent_bias", vec![8], &sae.b_enc),
        ],
        Dtype::F32,
    );
    let direct = |k: u8, weights: Vec<u8>| [vec![0, k], weights].concat();
    let saelens = |cfg: &[u8], weights: &[u8]| [vec![1, 0], frame(&[cfg, weights])].concat();
    let (cfg32, w32) = sae.to_saelens(WeightDType::F32, Some("fuzz")).unwrap();
    let (cfg16, w16) = sae.to_saelens(WeightDType::F16, None).unwrap();
    let bf16 = safetensors_of(&saelens_tensors(&sae), Dtype::BF16);
    // Older SAELens: k only in activation_fn_kwargs, architecture not "topk".
    let old_cfg = br#"{"architecture": "standard", "d_in": 4, "d_sae": 8, "activation_fn_kwargs": {"k": 2}}"#;
    vec![
        ("saelens_f32", direct(2, w32.clone())),
        ("saelens_f16", direct(2, w16.clone())),
        ("saelens_bf16", direct(2, bf16.clone())),
        ("paper_f32", direct(2, paper)),
        ("cfg_f32", saelens(&cfg32, &w32)),
        ("cfg_f16", saelens(&cfg16, &w16)),
        ("cfg_bf16_old_kwargs", saelens(old_cfg, &bf16)),
    ]
}

/// Bundles as `bundle` inputs (flags byte, then manifest and files framed): a minimal one
/// (SAE and one shard) and a full one (f16 shard, codes, documents, a coarse SAE with its split
/// map, labels, an unknown role).
fn bundles() -> Vec<(&'static str, Vec<u8>)> {
    let data = PlantedData::generate(4, 8, 2, 5, 5);
    let sae = &data.sae;
    let emb = &data.embeddings;
    let (cfg, weights) = sae.to_saelens(WeightDType::F32, None).unwrap();

    let mut minimal = BundleBuilder::new("minimal", "", "planted", sae, 5);
    minimal.add("sae/cfg.json", Role::SaeConfig, cfg.clone());
    minimal.add("sae/sae_weights.safetensors", Role::SaeWeights, weights.clone());
    minimal.add("embeddings/000.npy", Role::Embeddings, npy::to_bytes(&[5, 4], &emb.data).unwrap());

    let mut full = BundleBuilder::new("full", "", "planted", sae, 5);
    full.add("sae/cfg.json", Role::SaeConfig, cfg);
    full.add("sae/sae_weights.safetensors", Role::SaeWeights, weights);
    full.add("embeddings/000.npy", Role::Embeddings, npy::to_bytes(&[3, 4], &emb.data[..12]).unwrap());
    let halves: Vec<f16> = emb.data[12..].iter().map(|&v| f16::from_f32(v)).collect();
    full.add("embeddings/001.npy", Role::Embeddings, npy::to_bytes(&[2, 4], &halves).unwrap());
    let (idx, val) = sae.encode(emb).unwrap().to_npy().unwrap();
    full.add("codes/indices.npy", Role::CodesIndices, idx);
    full.add("codes/values.npy", Role::CodesValues, val);
    let docs: String = (0..5)
        .map(|i| {
            format!("{{\"id\":\"d{i}\",\"title\":\"Doc {i}\",\"abstract\":\"text\",\"categories\":[\"cs.LG\"]}}\n")
        })
        .collect();
    full.add("documents.jsonl.gz", Role::Documents, gzip(docs.as_bytes()));
    full.add("labels.json", Role::Labels, b"[]".to_vec());
    let coarse = PlantedData::generate(4, 3, 2, 1, 6).sae;
    let split = saescope_core::splitting::split_features(&coarse, sae).unwrap();
    full.add_coarse_sae(&coarse, &split, WeightDType::F16, None).unwrap();

    // Compact JSON; with flag bit 0 the target rewrites sizes and hashes, so the seed leaves
    // them blank instead of carrying 64 hex digits per file through every mutation.
    let framed = |flags: u8, b: BundleBuilder| {
        let (mut manifest, files) = b.finish();
        if flags & 1 == 1 {
            for f in &mut manifest.files {
                (f.bytes, f.sha256) = (0, String::new());
            }
        }
        let json = serde_json::to_vec(&manifest).unwrap();
        let mut parts: Vec<&[u8]> = vec![&json];
        parts.extend(files.iter().map(|(_, bytes)| bytes.as_slice()));
        [vec![flags], frame(&parts)].concat()
    };
    vec![("minimal", framed(0, minimal)), ("full", framed(1, full))]
}

fn corpus_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let jsonl = concat!(
        "{\"id\": \"2501.00001\", \"title\": \"A  title\", \"abstract\": \"Some\\n text.\", \"categories\": [\"cs.LG\", \"stat.ML\"]}\n",
        "{\"id\": 2501, \"title\": \"Snapshot\", \"text\": \"x\", \"categories\": \"astro-ph.GA astro-ph.CO\"}\n",
        "not json\n",
        "\n",
        "{\"id\": \"2501.00003\", \"categories\": \"cs.AI\"}\n",
        "{\"title\": \"No id\", \"abstract\": \"y\"}\n",
    );
    let csv = "id,title,abstract,categories\n1,First,\"Text, with comma\",cs.LG;stat.ML\n2,,,\n3,Third,More,astro-ph\n";
    let with_flags = |flags: u8, body: &[u8]| [vec![flags], body.to_vec()].concat();
    vec![
        ("jsonl", with_flags(0, jsonl.as_bytes())),
        ("csv", with_flags(1, csv.as_bytes())),
        ("jsonl_gzip", with_flags(2, jsonl.as_bytes())),
        ("csv_gzip", with_flags(3, csv.as_bytes())),
        ("csv_body_label", with_flags(1, b"ID,Body,Label\n7,\"multi\nline\",x\n")),
    ]
}

fn documents_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let text = "{\"id\":\"a\",\"title\":\"T\",\"abstract\":\"x\",\"categories\":[\"cs.LG\"]}\n\n{\"id\":\"b\",\"title\":\"U\"}\n";
    vec![("plain.jsonl", text.as_bytes().to_vec()), ("gzip.jsonl.gz", gzip(text.as_bytes()))]
}

fn tokenizer_inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("english", b"sparse autoencoders find interpretable features in galaxy spectra".to_vec()),
        ("unicode", "Caf\u{e9} na\u{ef}ve \u{3b1}-decay \u{5b66}\u{4e60} \u{1f680} \u{200b}x".as_bytes().to_vec()),
        ("long", "the quick brown fox jumps over the lazy dog ".repeat(40).into_bytes()),
        ("invalid_utf8", b"abc \xff\xfe \xc3( def".to_vec()),
        ("blank", b"  \t\n ".to_vec()),
    ]
}

/// The `.pth` fixtures the CLI's tests convert (written by `make_pth.py` without torch), each as a
/// zip for `read_paper_sae` (k = 3) and its `data.pkl` as a bare pickle, plus a small pickle.
fn pth_inputs() -> Vec<(String, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = vec![(
        "pickle_dict".to_owned(),
        // pickle.dumps({"a": (1, -2)}, protocol=4) from CPython 3.11.
        [
            &b"\x01\x00"[..],
            b"\x80\x04\x95\x11\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01J\xfe\xff\xff\xff\x86\x94s.",
        ]
        .concat(),
    )];
    for dir in ["crates/format/tests/fixtures", "crates/cli/tests/fixtures"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        // The valid files and the damaged pickle; the other damaged fixtures are one mutation away.
        let wanted = ["paper_sae", "paper_sae_f16_sae", "paper_sae_malformed"];
        for path in files.iter().filter(|p| p.file_stem().and_then(|s| s.to_str()).is_some_and(|s| wanted.contains(&s)))
        {
            let (Some(stem), Ok(bytes)) = (path.file_stem().and_then(|s| s.to_str()), std::fs::read(path)) else {
                continue;
            };
            if out.iter().any(|(n, _)| n == stem) {
                continue;
            }
            if let Some(pickle) = stored_entry(&bytes, "data.pkl").filter(|_| stem != "paper_sae_malformed") {
                out.push((format!("{stem}.pkl"), [&[1u8, 0][..], pickle].concat()));
            }
            out.push((stem.to_owned(), [&[0u8, 3][..], &bytes].concat()));
        }
    }
    out
}

/// The data of the first stored (uncompressed) zip entry whose name ends with `suffix`, found
/// by its local header (`PK\x03\x04`).
fn stored_entry<'a>(zip: &'a [u8], suffix: &str) -> Option<&'a [u8]> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(zip.get(at..at + 2)?.try_into().ok()?) as usize);
    let u32_at = |at: usize| Some(u32::from_le_bytes(zip.get(at..at + 4)?.try_into().ok()?) as usize);
    let mut at = 0;
    while zip.get(at..at + 4)? == b"PK\x03\x04" {
        let (size, name_len, extra_len) = (u32_at(at + 18)?, u16_at(at + 26)?, u16_at(at + 28)?);
        let name = zip.get(at + 30..at + 30 + name_len)?;
        let start = at + 30 + name_len + extra_len;
        if name.ends_with(suffix.as_bytes()) {
            return zip.get(start..start + size);
        }
        at = start + size;
    }
    None
}
