//! `saescope convert`: the paper's PyTorch state dict (arXiv 2408.00657, saved with
//! `torch.save(model.state_dict(), path)`) to the SAELens layout (`cfg.json` +
//! `sae_weights.safetensors`), without Python.
//!
//! # The file
//!
//! Since torch 1.6, `torch.save` writes a zip archive (entries stored, not compressed) holding
//! `<root>/data.pkl`, a pickle of the state dict, and one raw little-endian storage per
//! `<root>/data/<key>`. In the pickle every tensor is
//! `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, ...)` and every storage
//! is the persistent id `('storage', torch.FloatStorage, '<key>', 'cpu', numel)`. The `zip` crate
//! opens the archive; [`pickle`] below reads the pickle with a small stack machine that builds
//! values for the opcodes pickle protocols 2 to 5 use and never calls anything.
//!
//! # Why not `candle_core::pickle`
//!
//! candle-core 0.11.1's `pickle::PthTensors` reads these files correctly (checked on the fixtures
//! in `tests/fixtures`, strided and shared storages included), but it cannot be used here:
//! - it panics on damaged input: `rebuild_args` takes the pickled argument tuples apart with
//!   `Vec::remove`, so `tests/fixtures/paper_sae_malformed.pth` (a `_rebuild_tensor_v2` call with
//!   one argument) kills the process with "removal index (is 3) should be < len (is 1)", where
//!   this command must answer every bad file with a one-line reason;
//! - an entry it cannot interpret is printed to stderr (`skipping: {err:?}`) and dropped, so a
//!   damaged `decoder.weight` would be reported as missing;
//! - even with `default-features = false` it adds about 150 crates to the build (gemm, rayon, rand,
//!   float8, tokenizers, ...) and zip 9, whose rust-version (1.89) is above the workspace's 1.87.
//!
//! The reader below needs only `zip` and checks every index and length before using it.

use anyhow::{anyhow, bail, Context, Result};
use pickle::Value;
use saescope_build::files::write;
use saescope_core::sae::transpose;
use saescope_core::{Matrix, Sae};
use saescope_format::prelude::*;
use saescope_format::WeightDType;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;
use zip::ZipArchive;

/// How `convert` stores the weights it writes (`--dtype`).
#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum OutDType {
    F32,
    F16,
}

impl From<OutDType> for WeightDType {
    fn from(d: OutDType) -> Self {
        match d {
            OutDType::F32 => WeightDType::F32,
            OutDType::F16 => WeightDType::F16,
        }
    }
}

const ENCODER: &str = "encoder.weight";
const DECODER: &str = "decoder.weight";
const PRE_BIAS: &str = "pre_bias";
const LATENT_BIAS: &str = "latent_bias";
/// The paper's tensor names: `encoder.weight [n, d]`, `decoder.weight [d, n]`, `pre_bias [d]`,
/// `latent_bias [n]`.
const PAPER_NAMES: [&str; 4] = [ENCODER, DECODER, PRE_BIAS, LATENT_BIAS];

/// Largest `data.pkl` read: a state dict's pickle is about 100 bytes per tensor.
const MAX_PICKLE_BYTES: u64 = 256 << 20;
/// Most state-dict entries (nested dicts included) walked before giving up.
const MAX_ENTRIES: usize = 1 << 20;

pub fn run(pth: &Path, out: &Path, k: usize, dtype: OutDType) -> Result<()> {
    let converted = read_paper_sae(pth, k).with_context(|| pth.display().to_string()).map_err(printable)?;
    let sae = &converted.sae;
    let (cfg, weights) = sae.to_saelens(dtype.into(), None)?;
    write(&out.join("cfg.json"), &cfg)?;
    write(&out.join("sae_weights.safetensors"), &weights)?;
    let prefix = match converted.prefix.as_str() {
        "" => String::new(),
        p => format!(", key prefix {p:?}"),
    };
    eprintln!(
        "converted {} ({}{prefix}) into {}: d_in={}, d_sae={}, k={}, {}",
        pth.display(),
        converted.source_dtype,
        out.display(),
        sae.d_in,
        sae.d_sae,
        sae.k,
        match dtype {
            OutDType::F32 => "float32",
            OutDType::F16 => "float16",
        }
    );
    println!("{}", serde_json::to_string_pretty(&sae.report())?);
    Ok(())
}

/// The error as one line of visible text: names read from the file may hold control characters
/// (a damaged pickle), which are escaped rather than printed.
fn printable(e: anyhow::Error) -> anyhow::Error {
    let text: String = format!("{e:#}")
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                c.escape_default().to_string()
            } else {
                c.into()
            }
        })
        .collect();
    anyhow!(text)
}

struct Converted {
    sae: Sae,
    /// The key prefix the paper's names carried (`""`, `"sae."`, ...).
    prefix: String,
    /// The stored dtype of the four tensors, e.g. `"float16"`.
    source_dtype: String,
}

/// Reads the paper's four tensors from a `.pth` state dict and builds the SAE
/// (`W_enc = encoder.weight^T`, `b_enc = latent_bias`, `W_dec = decoder.weight^T`,
/// `b_dec = pre_bias`).
fn read_paper_sae(path: &Path, k: usize) -> Result<Converted> {
    let mut pth = PthFile::open(path)?;
    let entries = pth.state_dict()?;
    let tensors: Vec<(&str, std::result::Result<TensorMeta, String>)> =
        entries.iter().filter_map(|(name, v)| Some((name.as_str(), tensor_meta(v)?))).collect();
    let prefix = find_prefix(&tensors.iter().map(|t| t.0).collect::<Vec<_>>())?;

    let meta = |name: &str| -> Result<TensorMeta> {
        let full = format!("{prefix}{name}");
        let found = tensors.iter().find(|t| t.0 == full).map(|t| t.1.clone());
        let found = found.ok_or_else(|| anyhow!("missing tensor {full}"))?;
        found.map_err(|e| anyhow!("tensor {full} cannot be read: {e}"))
    };
    let [enc, dec, pre, lat] = [meta(ENCODER)?, meta(DECODER)?, meta(PRE_BIAS)?, meta(LATENT_BIAS)?];

    // Shapes first, so a mismatch is reported before any data is read.
    let [n, d] = enc.size[..] else {
        bail!("tensor {prefix}{ENCODER} must be 2-d [n_latents, d_in], but has shape {:?}", enc.size);
    };
    let expect = |name: &str, m: &TensorMeta, want: &[usize], what: &str| -> Result<()> {
        if m.size != want {
            bail!(
                "shape mismatch: {prefix}{name} has shape {:?}, expected {want:?} ({what}, from {prefix}{ENCODER} {:?} = [n_latents, d_in])",
                m.size,
                enc.size
            );
        }
        Ok(())
    };
    expect(DECODER, &dec, &[d, n], "[d_in, n_latents]")?;
    expect(PRE_BIAS, &pre, &[d], "[d_in]")?;
    expect(LATENT_BIAS, &lat, &[n], "[n_latents]")?;
    if k == 0 || k > n {
        bail!("--k {k} is out of range: the SAE has {n} latents ({prefix}{ENCODER} is [{n}, {d}]), so k must be between 1 and {n}");
    }

    let mut source: Vec<&str> = [&enc, &dec, &pre, &lat].iter().map(|m| m.type_label.as_str()).collect();
    source.sort_unstable();
    source.dedup();
    let source_dtype = source.join("/");
    let mut read = |name: &str, m: &TensorMeta| pth.read_tensor(&format!("{prefix}{name}"), m);
    let (enc, dec, pre, lat) =
        (read(ENCODER, &enc)?, read(DECODER, &dec)?, read(PRE_BIAS, &pre)?, read(LATENT_BIAS, &lat)?);
    let sae = Sae::new(k, Matrix::new(d, n, transpose(&enc, n, d))?, lat, Matrix::new(n, d, transpose(&dec, d, n))?, pre)
        .context(
            "the converted SAE is invalid (W_enc is encoder.weight transposed, W_dec is decoder.weight transposed, b_enc is latent_bias, b_dec is pre_bias)",
        )?;
    Ok(Converted { sae, prefix, source_dtype })
}

/// The prefix (`""` or ending in `.`) under which all four paper names appear; otherwise an error
/// naming what is missing and what the file holds.
fn find_prefix(names: &[&str]) -> Result<String> {
    let mut prefixes: Vec<&str> = Vec::new();
    for name in names {
        for want in PAPER_NAMES {
            if let Some(p) = name.strip_suffix(want) {
                if (p.is_empty() || p.ends_with('.')) && !prefixes.contains(&p) {
                    prefixes.push(p);
                }
            }
        }
    }
    let present = |p: &str| -> Vec<&str> {
        PAPER_NAMES.iter().copied().filter(|w| names.contains(&format!("{p}{w}").as_str())).collect()
    };
    let complete: Vec<&str> = prefixes.iter().copied().filter(|p| present(p).len() == PAPER_NAMES.len()).collect();
    match complete[..] {
        [p] => Ok(p.to_owned()),
        [] => {
            let held = list_names(names);
            let Some(best) = prefixes.iter().copied().max_by_key(|p| (present(p).len(), std::cmp::Reverse(p.len())))
            else {
                bail!(
                    "no tensor of the paper's state dict (encoder.weight, decoder.weight, pre_bias, latent_bias) is in the file, which holds {held}"
                );
            };
            let have = present(best);
            let missing: Vec<String> =
                PAPER_NAMES.iter().filter(|w| !have.contains(w)).map(|w| format!("{best}{w}")).collect();
            bail!(
                "missing tensor{} {} (the paper's state dict has encoder.weight, decoder.weight, pre_bias and latent_bias); the file holds {held}",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", ")
            )
        }
        _ => bail!(
            "the file holds more than one SAE (tensors under the key prefixes {}); convert reads a state dict with one",
            complete.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn list_names(names: &[&str]) -> String {
    const SHOWN: usize = 12;
    match names.len() {
        0 => "no tensors".into(),
        n if n <= SHOWN => format!("the tensors {}", names.join(", ")),
        n => format!("{n} tensors: {}, ...", names[..SHOWN].join(", ")),
    }
}

/// Element types a tensor may be stored in for `convert` to read it.
use saescope_format::floats::FloatKind as Elem;

/// From a legacy storage class (`torch.FloatStorage`) or a dtype (`torch.float32`).
fn elem_from_torch_name(name: &str) -> Option<Elem> {
    match name {
        "FloatStorage" | "float32" | "float" => Some(Elem::F32),
        "HalfStorage" | "float16" | "half" => Some(Elem::F16),
        "BFloat16Storage" | "bfloat16" => Some(Elem::BF16),
        "DoubleStorage" | "float64" | "double" => Some(Elem::F64),
        _ => None,
    }
}

/// Where a tensor's values are: a view (`offset`, `size`, `stride`, in elements) of a storage.
#[derive(Clone, Debug)]
struct TensorMeta {
    storage_key: String,
    /// `None` for element types `convert` does not read (int64 buffers and the like).
    elem: Option<Elem>,
    /// The element type as the file names it, for messages.
    type_label: String,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

/// The tensor a state-dict value rebuilds, if it is one: `None` for other values (strings,
/// numbers, nested configs), an error for a tensor call whose arguments make no sense.
fn tensor_meta(v: &Value) -> Option<std::result::Result<TensorMeta, String>> {
    let (callable, args) = v.as_call()?;
    let (module, name) = callable.as_global()?;
    let args = || args.as_tuple().ok_or_else(|| format!("{module}.{name} was pickled without an argument tuple"));
    match (module, name) {
        ("torch._utils", "_rebuild_tensor" | "_rebuild_tensor_v2" | "_rebuild_tensor_v3") => {
            Some(args().and_then(|a| rebuild_args(name, a)))
        }
        // nn.Parameter(tensor, ...), as saved when a state dict keeps its Parameters.
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            Some(args().and_then(|a| match a.first().and_then(tensor_meta) {
                Some(inner) => inner,
                None => Err(format!("{name} does not wrap a tensor")),
            }))
        }
        // Tensor subclasses: _rebuild_from_type_v2(func, new_type, args, state) calls func(*args).
        ("torch._tensor", "_rebuild_from_type_v2") => Some(args().and_then(|a| {
            let [func, _, inner_args, ..] = a else {
                return Err(format!("{name} has {} arguments, expected 4 (func, type, args, state)", a.len()));
            };
            match (func.as_global(), inner_args.as_tuple()) {
                (
                    Some(("torch._utils", f @ ("_rebuild_tensor" | "_rebuild_tensor_v2" | "_rebuild_tensor_v3"))),
                    Some(t),
                ) => rebuild_args(f, t),
                _ => Err(format!("{name} does not rebuild a plain tensor")),
            }
        })),
        _ => None,
    }
}

/// `_rebuild_tensor*(storage, storage_offset, size, stride, [requires_grad, backward_hooks,
/// [dtype (v3), ...]])`.
fn rebuild_args(func: &str, a: &[Value]) -> std::result::Result<TensorMeta, String> {
    let [storage, offset, size, stride, ..] = a else {
        return Err(format!(
            "{func} has {} argument{}, expected at least 4 (storage, storage_offset, size, stride)",
            a.len(),
            if a.len() == 1 { "" } else { "s" }
        ));
    };
    let bad_storage = || format!("the first argument of {func} is not a torch.save storage reference");
    // ('storage', torch.FloatStorage, '<key>', '<location>', numel)
    let pid = storage.as_persistent_id().and_then(Value::as_tuple).ok_or_else(bad_storage)?;
    let [tag, class, key, ..] = pid else { return Err(bad_storage()) };
    if tag.as_str() != Some("storage") {
        return Err(bad_storage());
    }
    let (_, class) = class.as_global().ok_or_else(bad_storage)?;
    let storage_key = match key {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        _ => return Err(bad_storage()),
    };
    // A typed storage names its element type; an untyped one (v3) leaves it to the dtype argument.
    let (elem, type_label) = match elem_from_torch_name(class) {
        Some(e) => (Some(e), e.label().to_owned()),
        None if class == "UntypedStorage" => match a.get(6).and_then(Value::as_global) {
            Some((_, dtype)) => (elem_from_torch_name(dtype), format!("torch.{dtype}")),
            None => (None, "an untyped storage without a dtype".to_owned()),
        },
        None => (None, format!("torch.{class}")),
    };
    let index = |v: &Value, what: &str| {
        v.as_index().ok_or_else(|| format!("the {what} of {func} is not a non-negative integer"))
    };
    let indices = |v: &Value, what: &str| -> std::result::Result<Vec<usize>, String> {
        let t = v.as_tuple().ok_or_else(|| format!("the {what} of {func} is not a tuple"))?;
        t.iter().map(|x| index(x, what)).collect()
    };
    let meta = TensorMeta {
        storage_key,
        elem,
        type_label,
        offset: index(offset, "storage_offset")?,
        size: indices(size, "size")?,
        stride: indices(stride, "stride")?,
    };
    if meta.size.len() != meta.stride.len() {
        return Err(format!(
            "{func} has a size of {} dimensions but a stride of {}",
            meta.size.len(),
            meta.stride.len()
        ));
    }
    Ok(meta)
}

/// An opened `torch.save` archive.
struct PthFile {
    zip: ZipArchive<BufReader<File>>,
    /// `<root>/`, the folder holding `data.pkl` and `data/`.
    root: String,
    file_len: u64,
}

impl PthFile {
    fn open(path: &Path) -> Result<Self> {
        let mut file = File::open(path).context("cannot open the file")?;
        let file_len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        let mut head = Vec::with_capacity(16);
        (&mut file).take(16).read_to_end(&mut head).context("cannot read the file")?;
        file.rewind().context("cannot read the file")?;
        let zip = match ZipArchive::new(BufReader::new(file)) {
            Ok(zip) => zip,
            Err(e) => bail!("not a PyTorch .pth file: {}", why_not_zip(&head, &e)),
        };
        let pickles: Vec<&str> = zip
            .file_names()
            .filter(|n| n.strip_suffix("data.pkl").is_some_and(|root| root.is_empty() || root.ends_with('/')))
            .collect();
        // torch.save puts everything under one folder; prefer the shallowest data.pkl.
        let Some(pkl) = pickles.iter().copied().min_by_key(|n| n.matches('/').count()) else {
            bail!(
                "not a PyTorch .pth file: it is a zip archive, but without the <name>/data.pkl that torch.save writes (it holds {} entries)",
                zip.len()
            );
        };
        let root = pkl.strip_suffix("data.pkl").unwrap_or_default().to_owned();
        Ok(Self { zip, root, file_len })
    }

    /// The whole of one archive entry, with `limit` on its size.
    fn entry(&mut self, name: &str, limit: u64) -> Result<Vec<u8>> {
        let mut entry = self.zip.by_name(name).map_err(|e| anyhow!("cannot open archive entry {name}: {e}"))?;
        let size = entry.size();
        if size > limit {
            bail!("archive entry {name} claims {size} bytes, more than the {limit} this reader accepts");
        }
        let mut bytes = Vec::with_capacity(size.min(self.file_len) as usize);
        entry.read_to_end(&mut bytes).map_err(|e| {
            anyhow!("cannot read archive entry {name} (the file is probably truncated or damaged): {e}")
        })?;
        Ok(bytes)
    }

    /// The pickled object, flattened to `(name, value)` entries: nested dicts (a checkpoint
    /// holding `{"model": state_dict}`) become dotted names.
    fn state_dict(&mut self) -> Result<Vec<(String, Value)>> {
        let byteorder = format!("{}byteorder", self.root);
        if self.zip.index_for_name(&byteorder).is_some() {
            let order = self.entry(&byteorder, 64)?;
            if order.trim_ascii() != b"little" {
                bail!(
                    "the tensors were saved {:?}-endian (archive entry {byteorder}); convert reads little-endian files",
                    String::from_utf8_lossy(order.trim_ascii())
                );
            }
        }
        let pkl_name = format!("{}data.pkl", self.root);
        let pkl = self.entry(&pkl_name, MAX_PICKLE_BYTES)?;
        let top = pickle::load(&pkl).map_err(|e| anyhow!("cannot read {pkl_name}: {e}"))?;
        if top.as_dict().is_none() {
            let what = match top.as_call().or_else(|| top.as_built()).and_then(|(c, _)| c.as_global()) {
                Some((m, n)) => format!("a {m}.{n} object"),
                None => format!("a {}", top.kind()),
            };
            bail!("{pkl_name} holds {what}, not a state dict (save model.state_dict(), not the model)");
        }
        let mut entries = Vec::new();
        let mut visited = 0;
        flatten(&top, "", &mut entries, &mut visited)?;
        Ok(entries)
    }

    /// A tensor's values as `f32`, in row-major order of its shape.
    fn read_tensor(&mut self, name: &str, meta: &TensorMeta) -> Result<Vec<f32>> {
        let Some(elem) = meta.elem else {
            bail!(
                "tensor {name} is stored as {}; convert reads float32, float16, bfloat16 and float64 tensors",
                meta.type_label
            );
        };
        let key = format!("{}data/{}", self.root, meta.storage_key);
        let bytes = self.entry(&key, self.file_len).with_context(|| format!("storage of tensor {name}"))?;
        let stored = bytes.len() / elem.size();
        let count = meta.size.iter().try_fold(1usize, |acc, &s| acc.checked_mul(s));
        // A state-dict tensor never has more elements than its storage (no broadcast views), which
        // also bounds what is allocated below by the file's size.
        let count = count.filter(|&c| c <= stored).ok_or_else(|| {
            anyhow!("tensor {name} of shape {:?} has more elements than its storage {key} holds ({stored})", meta.size)
        })?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let last = meta
            .size
            .iter()
            .zip(&meta.stride)
            .try_fold(meta.offset, |acc, (&s, &st)| (s - 1).checked_mul(st).and_then(|x| acc.checked_add(x)));
        if last.is_none_or(|l| l >= stored) {
            bail!(
                "tensor {name} (offset {}, shape {:?}, stride {:?}) reaches past the end of its storage {key} ({stored} {} values); the file is damaged",
                meta.offset,
                meta.size,
                meta.stride,
                elem.label()
            );
        }
        let row_major = {
            let mut expected = 1;
            let mut ok = true;
            for (&s, &st) in meta.size.iter().zip(&meta.stride).rev() {
                ok &= s == 1 || st == expected;
                expected *= s;
            }
            ok
        };
        if row_major {
            return Ok((meta.offset..meta.offset + count).map(|i| elem.read(&bytes, i)).collect());
        }
        // Any other strides (a transposed view, as a tied decoder saves): walk the indices.
        let mut index = vec![0usize; meta.size.len()];
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            let at = meta.offset + index.iter().zip(&meta.stride).map(|(i, s)| i * s).sum::<usize>();
            values.push(elem.read(&bytes, at));
            for (i, &s) in index.iter_mut().zip(&meta.size).rev() {
                *i += 1;
                if *i < s {
                    break;
                }
                *i = 0;
            }
        }
        Ok(values)
    }
}

/// Explains why `ZipArchive::new` refused a file, from its first bytes.
fn why_not_zip(head: &[u8], e: &zip::result::ZipError) -> String {
    if head.is_empty() {
        "the file is empty".into()
    } else if head.starts_with(b"PK") {
        format!(
            "it starts like a zip archive but cannot be read as one ({e}); the file is probably truncated or damaged"
        )
    } else if head[0] == 0x80 {
        "it is a bare pickle (torch < 1.6 or _use_new_zipfile_serialization=False), not the zip archive torch.save writes; re-save it with torch >= 1.6".into()
    } else if head.len() >= 9 && head[8] == b'{' {
        "it looks like a safetensors file, not a torch.save zip archive; saescope reads paper-layout safetensors files directly (cfg.json beside them gives k)".into()
    } else {
        format!("it is not a zip archive ({e}), as every torch.save file since torch 1.6 is")
    }
}

fn flatten(v: &Value, prefix: &str, out: &mut Vec<(String, Value)>, visited: &mut usize) -> Result<()> {
    let Some(items) = v.as_dict() else { return Ok(()) };
    for (key, value) in items {
        *visited += 1;
        if *visited > MAX_ENTRIES {
            bail!("the state dict has more than {MAX_ENTRIES} entries");
        }
        let key = match key {
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            _ => continue,
        };
        let name = format!("{prefix}{key}");
        if value.as_dict().is_some() {
            flatten(value, &format!("{name}."), out, visited)?;
        } else {
            out.push((name, value.clone()));
        }
    }
    Ok(())
}

/// Just enough of Python's unpickler to read `torch.save` pickles: builds values for the
/// opcodes of protocols 2 to 5 (no text-protocol opcodes, no out-of-band buffers) and never calls
/// anything; a call (`REDUCE`, `NEWOBJ`) stays a [`Value::Call`] for the caller to recognise.
/// Every read is bounds-checked and nesting is limited, so damaged input gives an error.
pub mod pickle {
    use std::collections::HashMap;
    use std::rc::Rc;

    /// Deepest nesting of containers accepted (also bounds recursion when values are dropped).
    const MAX_DEPTH: u32 = 100;

    pub type Result<T> = std::result::Result<T, String>;

    #[derive(Clone, Debug)]
    pub enum Value {
        Mark,
        None,
        // Payloads a tensor's description never needs are not kept.
        Bool,
        Int(i64),
        /// An integer beyond 64 bits.
        BigInt,
        Float,
        Str(Rc<str>),
        Bytes,
        /// `(module, name)` of a global.
        Global(Rc<(String, String)>),
        /// Containers and calls carry their nesting depth.
        Tuple(Rc<Vec<Value>>, u32),
        List(Rc<Vec<Value>>, u32),
        Dict(Rc<Vec<(Value, Value)>>, u32),
        /// `callable(*args)`, not called.
        Call(Rc<(Value, Value)>, u32),
        /// An object with a `BUILD` state applied: `(object, state)`.
        Built(Rc<(Value, Value)>, u32),
        PersistentId(Rc<Value>, u32),
    }

    impl Value {
        fn depth(&self) -> u32 {
            match self {
                Value::Tuple(_, d)
                | Value::List(_, d)
                | Value::Dict(_, d)
                | Value::Call(_, d)
                | Value::Built(_, d)
                | Value::PersistentId(_, d) => *d,
                _ => 0,
            }
        }

        pub fn kind(&self) -> &'static str {
            match self {
                Value::Mark => "mark",
                Value::None => "None",
                Value::Bool => "bool",
                Value::Int(_) | Value::BigInt => "int",
                Value::Float => "float",
                Value::Str(_) => "str",
                Value::Bytes => "bytes",
                Value::Global(_) => "global",
                Value::Tuple(..) => "tuple",
                Value::List(..) => "list",
                Value::Dict(..) => "dict",
                Value::Call(..) => "call",
                Value::Built(..) => "object",
                Value::PersistentId(..) => "persistent id",
            }
        }

        pub fn as_str(&self) -> Option<&str> {
            match self {
                Value::Str(s) => Some(s),
                _ => None,
            }
        }

        pub fn as_index(&self) -> Option<usize> {
            match self {
                Value::Int(i) => usize::try_from(*i).ok(),
                _ => None,
            }
        }

        pub fn as_global(&self) -> Option<(&str, &str)> {
            match self {
                Value::Global(g) => Some((&g.0, &g.1)),
                _ => None,
            }
        }

        pub fn as_tuple(&self) -> Option<&[Value]> {
            match self {
                Value::Tuple(t, _) => Some(t),
                _ => None,
            }
        }

        pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
            match self {
                Value::Dict(d, _) => Some(d),
                _ => None,
            }
        }

        pub fn as_call(&self) -> Option<(&Value, &Value)> {
            match self {
                Value::Call(c, _) => Some((&c.0, &c.1)),
                _ => None,
            }
        }

        pub fn as_built(&self) -> Option<(&Value, &Value)> {
            match self {
                Value::Built(b, _) => Some((&b.0, &b.1)),
                _ => None,
            }
        }

        pub fn as_persistent_id(&self) -> Option<&Value> {
            match self {
                Value::PersistentId(p, _) => Some(p),
                _ => None,
            }
        }
    }

    /// The depth of a container holding `children`, or an error past [`MAX_DEPTH`].
    fn nest<'a>(children: impl IntoIterator<Item = &'a Value>) -> Result<u32> {
        let depth = 1 + children.into_iter().map(Value::depth).max().unwrap_or(0);
        if depth > MAX_DEPTH {
            return Err(format!("the pickle nests objects more than {MAX_DEPTH} levels deep"));
        }
        Ok(depth)
    }

    fn tuple(items: Vec<Value>) -> Result<Value> {
        let d = nest(&items)?;
        Ok(Value::Tuple(Rc::new(items), d))
    }

    fn pair(a: Value, b: Value, make: fn(Rc<(Value, Value)>, u32) -> Value) -> Result<Value> {
        let d = nest([&a, &b])?;
        Ok(make(Rc::new((a, b)), d))
    }

    fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>> {
        if !items.len().is_multiple_of(2) {
            return Err("the pickle builds a dict from an odd number of keys and values".into());
        }
        let mut it = items.into_iter();
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            out.push((k, v));
        }
        Ok(out)
    }

    /// Unpickles `data`, returning the object `STOP` leaves.
    pub fn load(data: &[u8]) -> Result<Value> {
        Machine { data, pos: 0, stack: Vec::new(), memo: HashMap::new() }.run()
    }

    struct Machine<'a> {
        data: &'a [u8],
        pos: usize,
        stack: Vec<Value>,
        memo: HashMap<u64, Value>,
    }

    const TRUNCATED: &str = "the pickle ends in the middle of an instruction (data.pkl is truncated)";
    const UNDERFLOW: &str = "the pickle is malformed (an instruction found too few objects on the stack)";

    impl<'a> Machine<'a> {
        fn take(&mut self, n: usize) -> Result<&'a [u8]> {
            let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or(TRUNCATED)?;
            let bytes = &self.data[self.pos..end];
            self.pos = end;
            Ok(bytes)
        }

        fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
            let mut out = [0u8; N];
            out.copy_from_slice(self.take(N)?);
            Ok(out)
        }

        fn u8(&mut self) -> Result<u8> {
            Ok(self.array::<1>()?[0])
        }

        fn u32(&mut self) -> Result<u32> {
            Ok(u32::from_le_bytes(self.array()?))
        }

        fn len64(&mut self) -> Result<usize> {
            usize::try_from(u64::from_le_bytes(self.array()?)).map_err(|_| TRUNCATED.to_owned())
        }

        fn line(&mut self) -> Result<String> {
            let rest = &self.data[self.pos..];
            let end = rest.iter().position(|&b| b == b'\n').ok_or(TRUNCATED)?;
            self.pos += end + 1;
            String::from_utf8(rest[..end].to_vec()).map_err(|_| "the pickle names a global that is not UTF-8".into())
        }

        fn string(&mut self, len: usize) -> Result<Value> {
            let bytes = self.take(len)?;
            let s = std::str::from_utf8(bytes).map_err(|_| "the pickle holds a string that is not UTF-8".to_owned())?;
            Ok(Value::Str(s.into()))
        }

        fn bytes(&mut self, len: usize) -> Result<Value> {
            self.take(len)?;
            Ok(Value::Bytes)
        }

        /// LONG1 / LONG4: little-endian two's complement.
        fn long(&mut self, len: usize) -> Result<Value> {
            let bytes = self.take(len)?;
            if len > 8 {
                return Ok(Value::BigInt);
            }
            let mut v: i64 = 0;
            for (i, &b) in bytes.iter().enumerate() {
                v |= (b as i64) << (8 * i);
            }
            if len > 0 && len < 8 && bytes[len - 1] & 0x80 != 0 {
                v -= 1i64 << (8 * len);
            }
            Ok(Value::Int(v))
        }

        fn pop(&mut self) -> Result<Value> {
            match self.stack.pop() {
                Some(Value::Mark) | None => Err(UNDERFLOW.into()),
                Some(v) => Ok(v),
            }
        }

        fn pop_n(&mut self, n: usize) -> Result<Vec<Value>> {
            let start = self.stack.len().checked_sub(n).ok_or(UNDERFLOW)?;
            let items = self.stack.split_off(start);
            if items.iter().any(|v| matches!(v, Value::Mark)) {
                return Err(UNDERFLOW.into());
            }
            Ok(items)
        }

        fn pop_mark(&mut self) -> Result<Vec<Value>> {
            let mark = self
                .stack
                .iter()
                .rposition(|v| matches!(v, Value::Mark))
                .ok_or("the pickle is malformed (MARK missing)")?;
            let items = self.stack.split_off(mark + 1);
            self.stack.pop();
            Ok(items)
        }

        fn top(&mut self) -> Result<&mut Value> {
            match self.stack.last_mut() {
                Some(Value::Mark) | None => Err(UNDERFLOW.into()),
                Some(v) => Ok(v),
            }
        }

        /// APPEND / APPENDS / ADDITEMS onto the list (or set) on top of the stack.
        fn extend_list(&mut self, items: Vec<Value>) -> Result<()> {
            let child = nest(&items)?;
            match self.top()? {
                Value::List(list, depth) => {
                    *depth = (*depth).max(child);
                    Rc::make_mut(list).extend(items);
                    Ok(())
                }
                other => Err(format!("the pickle appends to a {}, not a list", other.kind())),
            }
        }

        /// SETITEM / SETITEMS into the dict on top of the stack.
        fn set_items(&mut self, items: Vec<(Value, Value)>) -> Result<()> {
            let child = nest(items.iter().flat_map(|(k, v)| [k, v]))?;
            match self.top()? {
                Value::Dict(dict, depth) => {
                    *depth = (*depth).max(child);
                    Rc::make_mut(dict).extend(items);
                    Ok(())
                }
                other => Err(format!("the pickle sets items on a {}, not a dict", other.kind())),
            }
        }

        fn memo_get(&self, id: u64) -> Result<Value> {
            self.memo
                .get(&id)
                .cloned()
                .ok_or_else(|| format!("the pickle refers to memo entry {id}, which it never stored"))
        }

        /// REDUCE / NEWOBJ: dict-like classes become an empty dict that SETITEMS then fills;
        /// everything else stays a call.
        fn call(&mut self, callable: Value, args: Value) -> Result<Value> {
            if let Some(("collections", "OrderedDict" | "defaultdict") | ("builtins" | "__builtin__", "dict")) =
                callable.as_global()
            {
                return Ok(Value::Dict(Rc::new(Vec::new()), 1));
            }
            pair(callable, args, Value::Call)
        }

        fn run(mut self) -> Result<Value> {
            loop {
                let at = self.pos;
                let op = self.u8().map_err(|_| "the pickle ends without a STOP instruction (data.pkl is truncated)")?;
                // Each arm yields the value the opcode pushes, or `continue`s.
                let value = match op {
                    0x80 => {
                        self.u8()?; // PROTO
                        continue;
                    }
                    0x95 => {
                        self.take(8)?; // FRAME
                        continue;
                    }
                    b'.' => return self.pop(), // STOP
                    b'(' => Value::Mark,
                    b'N' => Value::None,
                    0x88 | 0x89 => Value::Bool, // NEWTRUE, NEWFALSE
                    b'J' => Value::Int(i32::from_le_bytes(self.array()?).into()),
                    b'K' => Value::Int(self.u8()?.into()),
                    b'M' => Value::Int(u16::from_le_bytes(self.array()?).into()),
                    0x8a => {
                        let n = self.u8()?;
                        self.long(n.into())? // LONG1
                    }
                    0x8b => {
                        let n = self.u32()?;
                        self.long(n as usize)? // LONG4
                    }
                    b'G' => {
                        self.take(8)?; // BINFLOAT
                        Value::Float
                    }
                    b'X' => {
                        let n = self.u32()?;
                        self.string(n as usize)? // BINUNICODE
                    }
                    0x8c => {
                        let n = self.u8()?;
                        self.string(n.into())? // SHORT_BINUNICODE
                    }
                    0x8d => {
                        let n = self.len64()?;
                        self.string(n)? // BINUNICODE8
                    }
                    b'C' | b'U' => {
                        let n = self.u8()?;
                        self.bytes(n.into())? // SHORT_BINBYTES, SHORT_BINSTRING
                    }
                    b'B' | b'T' => {
                        let n = self.u32()?;
                        self.bytes(n as usize)? // BINBYTES, BINSTRING
                    }
                    0x8e => {
                        let n = self.len64()?;
                        self.bytes(n)? // BINBYTES8
                    }
                    b')' => tuple(Vec::new())?,
                    b't' => tuple(self.pop_mark()?)?,
                    0x85..=0x87 => tuple(self.pop_n((op - 0x84) as usize)?)?, // TUPLE1..3
                    b']' | 0x8f => Value::List(Rc::new(Vec::new()), 1),       // EMPTY_LIST, EMPTY_SET
                    b'l' | 0x91 => {
                        // LIST, FROZENSET
                        let items = self.pop_mark()?;
                        let d = nest(&items)?;
                        Value::List(Rc::new(items), d)
                    }
                    b'a' => {
                        let v = self.pop()?;
                        self.extend_list(vec![v])?;
                        continue;
                    }
                    b'e' | 0x90 => {
                        // APPENDS, ADDITEMS
                        let items = self.pop_mark()?;
                        self.extend_list(items)?;
                        continue;
                    }
                    b'}' => Value::Dict(Rc::new(Vec::new()), 1),
                    b'd' => {
                        let items = pairs(self.pop_mark()?)?;
                        let d = nest(items.iter().flat_map(|(k, v)| [k, v]))?;
                        Value::Dict(Rc::new(items), d)
                    }
                    b's' => {
                        let v = self.pop()?;
                        let k = self.pop()?;
                        self.set_items(vec![(k, v)])?;
                        continue;
                    }
                    b'u' => {
                        let items = pairs(self.pop_mark()?)?;
                        self.set_items(items)?;
                        continue;
                    }
                    b'c' => {
                        let module = self.line()?;
                        let name = self.line()?;
                        Value::Global(Rc::new((module, name)))
                    }
                    0x93 => {
                        // STACK_GLOBAL
                        let name = self.pop()?;
                        let module = self.pop()?;
                        let (Some(module), Some(name)) = (module.as_str(), name.as_str()) else {
                            return Err("the pickle names a global with non-string parts".into());
                        };
                        Value::Global(Rc::new((module.to_owned(), name.to_owned())))
                    }
                    b'R' | 0x81 => {
                        // REDUCE, NEWOBJ
                        let args = self.pop()?;
                        let callable = self.pop()?;
                        self.call(callable, args)?
                    }
                    0x92 => {
                        // NEWOBJ_EX
                        let _kwargs = self.pop()?;
                        let args = self.pop()?;
                        let class = self.pop()?;
                        self.call(class, args)?
                    }
                    b'b' => {
                        // BUILD: a dict's state is its attributes (a state dict's `_metadata`),
                        // not items; other objects keep theirs alongside.
                        let state = self.pop()?;
                        let object = self.pop()?;
                        if object.as_dict().is_some() {
                            object
                        } else {
                            pair(object, state, Value::Built)?
                        }
                    }
                    b'Q' => {
                        // BINPERSID
                        let id = self.pop()?;
                        let d = nest([&id])?;
                        Value::PersistentId(Rc::new(id), d)
                    }
                    b'h' | b'j' => {
                        // BINGET, LONG_BINGET
                        let id = if op == b'h' { self.u8()?.into() } else { self.u32()?.into() };
                        self.memo_get(id)?
                    }
                    b'q' | b'r' | 0x94 => {
                        // BINPUT, LONG_BINPUT, MEMOIZE
                        let id = match op {
                            b'q' => self.u8()?.into(),
                            b'r' => self.u32()?.into(),
                            _ => self.memo.len() as u64,
                        };
                        let v = self.top()?.clone();
                        self.memo.insert(id, v);
                        continue;
                    }
                    b'0' => {
                        self.pop()?; // POP
                        continue;
                    }
                    b'1' => {
                        self.pop_mark()?; // POP_MARK
                        continue;
                    }
                    b'2' => self.top()?.clone(), // DUP
                    other => {
                        return Err(format!(
                            "the pickle uses opcode 0x{other:02x} at byte {at}, which torch.save pickles do not contain"
                        ))
                    }
                };
                self.stack.push(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pickle::{load, Value};
    use super::*;

    #[test]
    fn prefix_is_found_or_missing_names_are_listed() {
        let plain = ["pre_bias", "latent_bias", "encoder.weight", "decoder.weight", "stats"];
        assert_eq!(find_prefix(&plain).unwrap(), "");
        let prefixed =
            ["model.sae.encoder.weight", "model.sae.decoder.weight", "model.sae.pre_bias", "model.sae.latent_bias"];
        assert_eq!(find_prefix(&prefixed).unwrap(), "model.sae.");
        let err = find_prefix(&["sae.encoder.weight", "sae.pre_bias", "sae.latent_bias"]).unwrap_err().to_string();
        assert!(err.contains("missing tensor sae.decoder.weight"), "{err}");
        let err = find_prefix(&["a", "b"]).unwrap_err().to_string();
        assert!(err.contains("no tensor of the paper's state dict") && err.contains("a, b"), "{err}");
        let two: Vec<String> = ["x.", "y."].iter().flat_map(|p| PAPER_NAMES.map(|n| format!("{p}{n}"))).collect();
        let two: Vec<&str> = two.iter().map(String::as_str).collect();
        assert!(find_prefix(&two).unwrap_err().to_string().contains("more than one SAE"));
    }

    #[test]
    fn damaged_pickles_are_errors() {
        // pickle.dumps({"a": (1, -2)}, protocol=4) from CPython 3.11: FRAME, SHORT_BINUNICODE, MEMOIZE.
        let good = b"\x80\x04\x95\x11\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01J\xfe\xff\xff\xff\x86\x94s.";
        let v = load(good).unwrap();
        let d = v.as_dict().unwrap();
        assert_eq!(d[0].0.as_str(), Some("a"));
        assert!(matches!(d[0].1.as_tuple().unwrap(), [Value::Int(1), Value::Int(-2)]));
        for cut in 0..good.len() {
            assert!(load(&good[..cut]).is_err(), "prefix of {cut} bytes");
        }
        assert!(load(b"s.").unwrap_err().contains("too few"));
        assert!(load(b"h\x07.").unwrap_err().contains("memo entry 7"));
        assert!(load(b"\xff").unwrap_err().contains("opcode 0xff"));
        // Nesting deeper than the limit (a chain of one-element tuples) is refused, not recursed.
        let mut deep = vec![b')'];
        deep.extend(std::iter::repeat_n(0x85u8, 100_000));
        deep.push(b'.');
        assert!(load(&deep).unwrap_err().contains("levels deep"));
    }

    #[test]
    fn long_integers_are_signed() {
        assert!(matches!(load(b"\x8a\x02\xff\x7f.").unwrap(), Value::Int(0x7fff)));
        assert!(matches!(load(b"\x8a\x01\xff.").unwrap(), Value::Int(-1)));
        assert!(matches!(load(b"\x8a\x00.").unwrap(), Value::Int(0)));
        assert!(matches!(load(b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.").unwrap(), Value::BigInt));
    }
}
