//! saescope-fuzz: one plain function per parser of outside bytes, `pub fn <target>(data: &[u8])`.
//!
//! Each feeds the bytes to the real parser and checks invariants: it must never panic, and where
//! a parse succeeds the result must be consistent (sizes agree with shapes, two readers of the
//! same file agree, re-serialising and parsing again gives the same value). A violated invariant
//! is a panic, so libFuzzer (the `fuzz/` runner) reports it as a crash and `cargo test` (the
//! replay of `fuzz/corpus` and `fuzz/regressions`) fails on it.
//!
//! Targets that need several inputs (a config and weights, a manifest and its files) cut the
//! bytes with [`split_frames`]: a little-endian `u16` length, then that many bytes, repeated.

use saescope_core::sae::Sae;
use saescope_format::SaeFiles;

pub mod seeds;

/// A fuzz target: bytes in, a panic on a broken invariant.
pub type Target = fn(&[u8]);

/// Every target by name, in the order `cargo xtask fuzz` runs them.
pub const TARGETS: &[(&str, Target)] = &[
    ("npy", npy),
    ("npy_stream", npy_stream),
    ("sae_safetensors", sae_safetensors),
    ("manifest", manifest),
    ("bundle", bundle),
    ("pth", pth),
    ("corpus", corpus),
    ("documents", documents),
    ("tokenizer", tokenizer),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Cuts `data` into parts: a little-endian `u16` length, then that many bytes, repeated. A length
/// that runs past the end takes what is left; a single trailing byte is dropped.
pub fn split_frames(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 {
        let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let body = &rest[2..];
        let (part, tail) = body.split_at(len.min(body.len()));
        parts.push(part);
        rest = tail;
    }
    parts
}

/// The inverse of [`split_frames`] (parts longer than `u16::MAX` are an error of the caller).
pub fn frame(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        let len = u16::try_from(part.len()).expect("a framed part is at most 65535 bytes");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// `.npy`: [`saescope_format::npy::Npy::parse`], its conversions and `read_matrix`. Checks that
/// the header's shape and dtype account for the data, that each conversion yields one value per
/// element, and that re-serialising the values reproduces the data bytes.
pub fn npy(data: &[u8]) {
    use saescope_format::npy::{self, DType, Npy};
    let parsed = match Npy::parse(data) {
        Ok(p) => p,
        Err(_) => {
            assert!(npy::read_matrix(data).is_err(), "read_matrix accepted what Npy::parse refused");
            return;
        }
    };
    let h = &parsed.header;
    assert_eq!(npy::parse_header(data).expect("Npy::parse accepted the header"), *h);
    let count = h.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).expect("element count overflows usize");
    let bytes = count.checked_mul(h.dtype.size()).expect("byte count overflows usize");
    assert_eq!((h.len(), h.data_bytes()), (count, bytes), "Header::len/data_bytes disagree with the shape");
    assert!(h.data_offset <= data.len() && data.len() - h.data_offset >= bytes, "data shorter than the header says");
    let raw = &data[h.data_offset..h.data_offset + bytes];
    let is_float = matches!(h.dtype, DType::F32 | DType::F16);
    let floats = parsed.to_f32();
    assert_eq!(floats.is_ok(), is_float, "to_f32 on {:?}", h.dtype);
    if let Ok(values) = &floats {
        assert_eq!(values.len(), count, "to_f32 length");
    }
    match parsed.to_u32() {
        Ok(ids) => assert_eq!(ids.len(), count, "to_u32 length"),
        Err(_) => assert!(is_float || !matches!(h.dtype, DType::U32 | DType::U16), "to_u32 refused a u32 or u16 array"),
    }
    assert_eq!(parsed.f16_bits().map(<[u8]>::len), (h.dtype == DType::F16).then_some(bytes), "f16_bits");
    match npy::read_matrix(data) {
        Ok(m) => {
            assert!(is_float && h.shape.len() <= 2 && !h.shape.is_empty(), "read_matrix accepted shape {:?}", h.shape);
            assert_eq!(m.rows.checked_mul(m.cols), Some(count));
            assert!(same_bits(&m.data, floats.as_ref().expect("float")), "read_matrix differs from to_f32");
        }
        Err(_) => assert!(!is_float || !matches!(h.shape.len(), 1 | 2), "read_matrix refused a float matrix"),
    }
    // Re-serialise what was read: the data bytes come back unchanged.
    let again = match h.dtype {
        DType::F32 => npy::to_bytes(&h.shape, floats.as_ref().expect("float")),
        DType::F16 => npy::to_bytes(&h.shape, &parsed.to_f16().expect("f16 array")),
        DType::I8 => npy::to_bytes(&h.shape, &parsed.to_i8().expect("int8 array")),
        DType::U16 => npy::to_bytes(
            &h.shape,
            &raw.chunks_exact(2).map(|c| u16::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>(),
        ),
        DType::I32 => npy::to_bytes(
            &h.shape,
            &raw.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>(),
        ),
        DType::U32 => npy::to_bytes(
            &h.shape,
            &raw.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>(),
        ),
        DType::I64 => return,
    };
    // A shape too long for a v1 header (what to_bytes writes) is not re-serialisable.
    if h.shape.iter().map(|d| d.to_string().len() + 2).sum::<usize>() > 60_000 {
        return;
    }
    let again = again.expect("re-serialising a parsed array");
    let reparsed = Npy::parse(&again).expect("parsing a re-serialised array");
    assert_eq!((&reparsed.header.shape, reparsed.header.dtype), (&h.shape, h.dtype), "header round trip");
    assert_eq!(&again[reparsed.header.data_offset..], raw, "data round trip");
}

/// `.npy` streamed: [`saescope_format::npy::RowReader`] reads every chunk (chunk size from the
/// input's length); the rows add up to the header's, and where the whole-file reader also reads
/// the matrix, both give the same values.
pub fn npy_stream(data: &[u8]) {
    use saescope_format::npy::{read_matrix, RowReader};
    let Ok(mut reader) = RowReader::new(data) else {
        return;
    };
    let (rows, cols) = (reader.rows, reader.cols);
    assert_eq!(reader.header.matrix_shape().expect("RowReader accepted the shape"), (rows, cols));
    let chunk = 1 + data.len() % 5;
    // Zero-width rows are read without consuming a byte: a header claiming 10^18 of them would
    // have the caller loop for ever. Such a stream must end (or fail) within a million chunks.
    if cols == 0 {
        assert!(
            rows / chunk < 1_000_000,
            "RowReader yields {rows} empty rows of shape ({rows}, 0) from a {}-byte file",
            data.len()
        );
    }
    let (mut seen, mut values) = (0usize, Vec::new());
    let complete = loop {
        match reader.next_chunk(chunk) {
            Ok(Some(m)) => {
                assert!(m.rows >= 1 && m.rows <= chunk && m.cols == cols, "chunk of {}x{}", m.rows, m.cols);
                assert_eq!(m.data.len(), m.rows * cols);
                seen += m.rows;
                assert!(seen <= rows, "streamed {seen} rows of {rows}");
                values.extend_from_slice(&m.data);
            }
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    if complete {
        assert_eq!(seen, rows, "the stream ended early without an error");
    }
    match read_matrix(data) {
        Ok(m) => {
            assert!(complete, "RowReader failed on a file read_matrix reads");
            assert_eq!((m.rows, m.cols), (rows, cols));
            assert!(same_bits(&m.data, &values), "RowReader and read_matrix differ");
        }
        Err(_) => assert!(!complete, "RowReader read a file read_matrix refuses"),
    }
}

fn check_sae(sae: &Sae) {
    let n = sae.d_in.checked_mul(sae.d_sae).expect("d_in * d_sae overflows");
    assert_eq!((sae.w_enc.len(), sae.w_dec.len()), (n, n), "weight sizes");
    assert_eq!((sae.b_enc.len(), sae.b_dec.len()), (sae.d_sae, sae.d_in), "bias sizes");
    assert!(sae.k >= 1 && sae.k <= sae.d_sae, "k={} of d_sae={}", sae.k, sae.d_sae);
    assert!(sae.named_parameters().iter().all(|(_, v)| v.iter().all(|x| x.is_finite())), "non-finite weight");
    // Written back as SAELens f32, the same SAE reads again, bit for bit.
    let (cfg, weights) = sae.to_saelens(saescope_format::WeightDType::F32, Some("fuzz")).expect("to_saelens");
    assert_eq!(&Sae::from_saelens(&cfg, &weights).expect("reading back to_saelens"), sae, "SAELens round trip");
    // As f16 values may overflow to infinity: an error then, never a panic.
    let (cfg, weights) = sae.to_saelens(saescope_format::WeightDType::F16, None).expect("to_saelens f16");
    let _ = Sae::from_saelens(&cfg, &weights);
}

/// SAE weights: byte 0 picks the entry point and byte 1 is `k`. Even byte 0: the rest is a
/// safetensors file for `Sae::from_safetensors(rest, Some(k))` (SAELens or paper tensor names;
/// `k == 0` passes `None`). Odd: the rest is two frames, `cfg.json` and the weights, for
/// `Sae::from_saelens`. A loaded SAE is checked and round-tripped through `to_saelens`.
pub fn sae_safetensors(data: &[u8]) {
    let [mode, k, rest @ ..] = data else {
        return;
    };
    let loaded = if mode % 2 == 0 {
        Sae::from_safetensors(rest, (*k != 0).then_some(*k as usize))
    } else {
        let parts = split_frames(rest);
        let (cfg, weights) = (parts.first().copied().unwrap_or_default(), parts.get(1).copied().unwrap_or_default());
        let sae = Sae::from_saelens(cfg, weights);
        if let Ok(sae) = &sae {
            // The config's own type: serde_json does not check escapes inside fields it skips,
            // so a `serde_json::Value` may refuse what the struct accepted (a lone surrogate).
            let cfg: saescope_format::saelens::SaeLensConfig =
                serde_json::from_slice(cfg).expect("from_saelens parsed cfg.json");
            assert_eq!((cfg.d_in, cfg.d_sae), (sae.d_in, sae.d_sae), "dimensions differ from cfg.json");
        }
        sae
    };
    if let Ok(sae) = loaded {
        check_sae(&sae);
    }
}

/// The bundle manifest: `Manifest::parse`; what parses serialises and parses to itself.
pub fn manifest(data: &[u8]) {
    use saescope_format::manifest::Manifest;
    let Ok(m) = Manifest::parse(data) else {
        return;
    };
    for f in &m.files {
        assert!(!f.path.is_empty() && !f.path.starts_with('/') && !f.path.split('/').any(|p| p == ".."), "{}", f.path);
    }
    for c in &m.coarse_saes {
        assert!(c.d_sae < m.sae.d_sae);
        for p in [&c.config, &c.weights, &c.split] {
            m.entry(p).expect("coarse SAE files are listed");
        }
    }
    let again = Manifest::parse(&m.to_json()).expect("a parsed manifest re-serialises to a valid one");
    assert_eq!(again, m, "manifest round trip");
}

/// A whole bundle through `BundleLoader`: byte 0 holds flags, the rest is frames: the manifest,
/// then one file per manifest entry in order. Flag bit 0: rewrite each entry's size and sha256 to
/// match its file (else almost every mutation stops at verification); bit 1: also add every file
/// under the next entry's path (mismatches must be refused). `finish()`'s bundle must agree with
/// its manifest.
pub fn bundle(data: &[u8]) {
    use saescope_format::bundle::BundleLoader;
    use saescope_format::manifest::{FileEntry, Manifest};
    let [flags, rest @ ..] = data else {
        return;
    };
    let parts = split_frames(rest);
    let Some((&manifest_json, files)) = parts.split_first() else {
        return;
    };
    let mut json = manifest_json.to_vec();
    if flags & 1 == 1 {
        let Ok(mut m) = Manifest::parse(manifest_json) else {
            return;
        };
        for (entry, bytes) in m.files.iter_mut().zip(files) {
            *entry = FileEntry::describe(&entry.path, entry.role, bytes);
        }
        json = m.to_json();
    }
    let Ok(mut loader) = BundleLoader::new(&json) else {
        return;
    };
    let paths: Vec<String> = loader.manifest.files.iter().map(|f| f.path.clone()).collect();
    for (i, (path, bytes)) in paths.iter().zip(files).enumerate() {
        if flags & 2 == 2 {
            if let Some(other) = paths.get(i + 1).filter(|p| *p != path) {
                let entry = loader.manifest.entry(other).expect("listed").clone();
                if loader.add(other, bytes.to_vec()).is_ok() {
                    assert!(entry.verify(bytes).is_ok(), "{other} accepted bytes that do not verify");
                }
            }
        }
        let _ = loader.add(path, bytes.to_vec());
    }
    let Ok(b) = loader.finish() else {
        return;
    };
    let m = &b.manifest;
    assert_eq!((b.sae.d_in, b.sae.d_sae, b.sae.k), (m.sae.d_in, m.sae.d_sae, m.sae.k), "SAE vs manifest");
    assert_eq!(b.corpus.dim, m.embedding.dim, "corpus dim vs manifest");
    assert_eq!(b.corpus.rows(), m.documents, "documents vs manifest");
    if let Some(codes) = &b.codes {
        assert_eq!((codes.rows(), codes.d_sae), (b.corpus.rows(), b.sae.d_sae), "codes vs corpus");
        assert!(codes.indices.iter().all(|&i| (i as usize) < codes.d_sae), "code index out of range");
    }
    assert_eq!(b.coarse.len(), m.coarse_saes.len(), "coarse SAEs vs manifest");
    for (c, info) in b.coarse.iter().zip(&m.coarse_saes) {
        assert_eq!((c.sae.d_in, c.sae.d_sae, c.sae.k), (b.sae.d_in, info.d_sae, info.k), "coarse SAE vs manifest");
        assert_eq!(c.split.best_small.len(), b.sae.d_sae, "split map covers the main SAE");
        assert!(c.split.best_small.iter().all(|&s| (s as usize) < c.sae.d_sae), "split map points outside");
    }
}

/// The paper's `.pth` state dict (`saescope_format::pth`): byte 0 picks the entry point. Even:
/// the rest is a `torch.save` zip for `read_paper_sae(rest, k)` with `k` = byte 1 (0 is an
/// error path). Odd: the rest (after byte 1) is a bare pickle for `pth::pickle::load`, whose
/// value is walked (within a budget: memo references may share sub-values, so the tree can be
/// exponentially larger than the pickle) and must nest no deeper than `pickle::MAX_DEPTH`.
pub fn pth(data: &[u8]) {
    use saescope_format::pth::{self, pickle};
    let [mode, k, rest @ ..] = data else {
        return;
    };
    if mode % 2 == 0 {
        let Ok(paper) = pth::read_paper_sae(rest, *k as usize) else {
            return;
        };
        assert_eq!(paper.sae.k, *k as usize);
        assert!(paper.prefix.is_empty() || paper.prefix.ends_with('.'), "prefix {:?}", paper.prefix);
        assert!(!paper.source_dtype.is_empty());
        check_sae(&paper.sae);
        return;
    }
    let Ok(value) = pickle::load(rest) else {
        return;
    };
    fn walk(v: &pickle::Value, depth: u32, budget: &mut usize) {
        assert!(depth <= pickle::MAX_DEPTH + 1, "pickle value nests {depth} deep");
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let _ = (v.kind(), v.as_str(), v.as_index(), v.as_global());
        let children: Vec<&pickle::Value> = if let Some(items) = v.as_tuple().or(v.as_list()) {
            items.iter().collect()
        } else if let Some(pairs) = v.as_dict() {
            pairs.iter().flat_map(|(k, v)| [k, v]).collect()
        } else if let Some((a, b)) = v.as_call().or(v.as_built()) {
            vec![a, b]
        } else {
            v.as_persistent_id().into_iter().collect()
        };
        for c in children {
            walk(c, depth + 1, budget);
        }
    }
    walk(&value, 1, &mut 100_000);
}

/// The corpus format a fuzz input's flag byte picks: bit 0 CSV, else bit 2 plain text, else JSON Lines.
pub fn corpus_format(flags: u8) -> saescope_format::corpus::CorpusFormat {
    use saescope_format::corpus::CorpusFormat;
    match (flags & 1, flags & 4) {
        (1, _) => CorpusFormat::Csv,
        (_, 4) => CorpusFormat::Text,
        _ => CorpusFormat::JsonLines,
    }
}

/// Corpus ingestion, `saescope_format::corpus::read`: byte 0 picks the format
/// ([`corpus_format`]), its bit 1 gzips the rest first (gzip is detected from the bytes, so the
/// raw path is fuzzed too). Every document read is usable (cleaned title or text, an id) and
/// survives a round trip through JSON Lines.
pub fn corpus(data: &[u8]) {
    use saescope_format::corpus::{embedding_text, read, CorpusFormat};
    use saescope_format::documents::gzip;
    let [flags, rest @ ..] = data else {
        return;
    };
    let format = corpus_format(*flags);
    let input = if flags & 2 == 2 { gzip(rest) } else { rest.to_vec() };
    let Ok(got) = read(&input[..], format) else {
        return;
    };
    let clean = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ") == s;
    for d in &got.documents {
        assert!(!d.id.trim().is_empty(), "empty id");
        assert!(!d.title.is_empty() || !d.text.is_empty(), "document with neither title nor text");
        assert!(clean(&d.title) && clean(&d.text), "uncleaned whitespace in {d:?}");
        assert!(!embedding_text(d).trim().is_empty());
    }
    let records: Vec<usize> = got.skipped.iter().map(|s| s.record).collect();
    assert!(records.windows(2).all(|w| w[0] < w[1]) && records.first().is_none_or(|&r| r >= 1), "{records:?}");
    // Written as JSON Lines (the bundle's documents format) and read again: the same documents
    // (ids compared trimmed: the JSON Lines reader trims ids, the CSV reader keeps them as they are).
    let mut jsonl = Vec::new();
    for d in &got.documents {
        jsonl.extend(serde_json::to_vec(d).expect("a document serialises"));
        jsonl.push(b'\n');
    }
    let again = read(&jsonl[..], CorpusFormat::JsonLines).expect("reading written JSON Lines");
    assert!(again.skipped.is_empty(), "written documents were skipped: {:?}", again.skipped);
    assert_eq!(again.documents.len(), got.documents.len());
    for (a, d) in again.documents.iter().zip(&got.documents) {
        assert_eq!((a.id.as_str(), &a.title, &a.text, &a.categories), (d.id.trim(), &d.title, &d.text, &d.categories));
    }
}

/// A bundle's documents file, `saescope_format::documents::parse_documents` (plain or gzip):
/// what parses, written back as JSON Lines (plain and gzip), parses to the same documents, and
/// split into heads and text shards (`split_documents`), its texts read back with `parse_texts`.
/// The same bytes as a texts shard either parse or are refused.
pub fn documents(data: &[u8]) {
    use saescope_format::documents::{gzip, parse_documents, parse_texts, split_documents};
    let _ = parse_texts("fuzz", data, 3);
    let Ok(docs) = parse_documents(data) else {
        return;
    };
    let mut jsonl = Vec::new();
    for d in &docs {
        jsonl.extend(serde_json::to_vec(d).expect("a document serialises"));
        jsonl.push(b'\n');
    }
    assert_eq!(parse_documents(&jsonl).expect("written documents parse"), docs, "documents round trip");
    assert_eq!(parse_documents(&gzip(&jsonl)).expect("gzipped documents parse"), docs, "gzip round trip");
    let (heads, shards) = split_documents(&docs, 2).expect("documents split");
    assert_eq!(parse_documents(&heads).expect("heads parse").len(), docs.len(), "one head per document");
    let texts: Vec<String> = shards
        .iter()
        .enumerate()
        .flat_map(|(s, shard)| {
            parse_texts("shard", shard, docs.len().saturating_sub(s * 2).min(2)).expect("texts parse")
        })
        .collect();
    assert_eq!(texts, docs.iter().map(|d| d.text.clone()).collect::<Vec<_>>(), "texts round trip");
}

/// The model folder `cargo xtask setup` fills (see `xtask/src/model.rs`); `SAESCOPE_MODEL_DIR`
/// overrides it.
fn model_dir() -> std::path::PathBuf {
    match std::env::var_os("SAESCOPE_MODEL_DIR") {
        Some(dir) => dir.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/models/all-MiniLM-L6-v2"),
    }
}

/// The query embedder's tokenizer (loaded once), or `None` when the model is not downloaded.
pub fn query_tokenizer() -> Option<&'static saescope_embed::Tokenizer> {
    static TOKENIZER: std::sync::OnceLock<Option<saescope_embed::Tokenizer>> = std::sync::OnceLock::new();
    TOKENIZER
        .get_or_init(|| {
            let path = model_dir().join("tokenizer.json");
            match std::fs::read(&path) {
                Ok(json) => Some(saescope_embed::load_tokenizer(&json).expect("the model's tokenizer.json loads")),
                Err(e) => {
                    eprintln!(
                        "saescope-fuzz: tokenizer target skipped: {} ({e}); run `cargo xtask setup` or set SAESCOPE_MODEL_DIR",
                        path.display()
                    );
                    None
                }
            }
        })
        .as_ref()
}

/// The query text the embedder tokenizes (`saescope_embed::tokenize`, as `Embedder::tokens`):
/// the bytes as UTF-8 when they are (invalid UTF-8 is refused by `str::from_utf8`, with an
/// error, before it reaches the tokenizer) and always their lossy decoding. At most
/// `MAX_TOKENS` ids, every one in the vocabulary, [CLS] first and [SEP] last. Skipped (with a
/// message, once) when the model files are absent.
pub fn tokenizer(data: &[u8]) {
    let Some(tok) = query_tokenizer() else {
        return;
    };
    let lossy = String::from_utf8_lossy(data);
    let texts = match std::str::from_utf8(data) {
        Ok(text) => vec![text],
        Err(_) => vec![lossy.as_ref()],
    };
    // get_vocab_size builds the whole vocabulary map: once, not per input.
    static VOCAB: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let vocab = *VOCAB.get_or_init(|| tok.get_vocab_size(true) as u32);
    let (cls, sep) = (tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]"));
    for text in texts {
        let Ok(ids) = saescope_embed::tokenize(tok, text) else {
            continue;
        };
        assert!(ids.len() >= 2 && ids.len() <= saescope_embed::MAX_TOKENS, "{} tokens", ids.len());
        assert!(ids.iter().all(|&i| i < vocab), "token id outside the vocabulary");
        assert_eq!((ids.first().copied(), ids.last().copied()), (cls, sep), "[CLS] ... [SEP]");
    }
}
