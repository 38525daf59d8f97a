//! The paper's PyTorch state dict (arXiv 2408.00657, saved with
//! `torch.save(model.state_dict(), path)`) read into an [`Sae`], without Python: what
//! `saescope convert --pth` runs.
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
//! in `crates/cli/tests/fixtures`, strided and shared storages included), but it cannot be used
//! here:
//! - it panics on damaged input: `rebuild_args` takes the pickled argument tuples apart with
//!   `Vec::remove`, so `paper_sae_malformed.pth` (a `_rebuild_tensor_v2` call with one argument)
//!   kills the process with "removal index (is 3) should be < len (is 1)", where this reader must
//!   answer every bad file with a one-line reason;
//! - an entry it cannot interpret is printed to stderr (`skipping: {err:?}`) and dropped, so a
//!   damaged `decoder.weight` would be reported as missing;
//! - even with `default-features = false` it adds about 150 crates to the build (gemm, rayon, rand,
//!   float8, tokenizers, ...) and zip 9, whose rust-version (1.89) is above the workspace's 1.87.
//!
//! The reader below needs only `zip`, checks every index and length before using it, and takes
//! time and memory linear in the file's size (see [`pickle::MAX_VALUES`] and the limits below).

use crate::floats::FloatKind as Elem;
use pickle::Value;
use saescope_core::error::Result;
use saescope_core::format_err;
use saescope_core::sae::transpose;
use saescope_core::{Matrix, Sae};
use std::collections::HashSet;
use std::io::{Cursor, Read, Seek, SeekFrom};
use zip::ZipArchive;

const ENCODER: &str = "encoder.weight";
const DECODER: &str = "decoder.weight";
const PRE_BIAS: &str = "pre_bias";
const LATENT_BIAS: &str = "latent_bias";
/// The paper's tensor names: `encoder.weight [n, d]`, `decoder.weight [d, n]`, `pre_bias [d]`,
/// `latent_bias [n]`.
pub const PAPER_NAMES: [&str; 4] = [ENCODER, DECODER, PRE_BIAS, LATENT_BIAS];

/// Largest `data.pkl` read, 256 MiB: a state dict's pickle is about 100 bytes per tensor.
pub const MAX_PICKLE_BYTES: u64 = 256 << 20;
/// Most state-dict entries (nested dicts included) walked before giving up: 2^20.
pub const MAX_ENTRIES: usize = 1 << 20;
/// Most bytes of entry names (the dotted paths of nested dicts, all entries together) built
/// before giving up: 64 MiB. Shared sub-dicts under long keys could otherwise spell out far more
/// text than the pickle holds.
pub const MAX_NAME_BYTES: usize = 64 << 20;
/// Most dimensions a tensor may have: 64 (torch's own limit).
pub const MAX_DIMS: usize = 64;

/// The SAE read from a `.pth` state dict, with what `convert` reports about the file.
#[derive(Clone, Debug)]
pub struct PaperSae {
    pub sae: Sae,
    /// The key prefix the paper's names carried (`""`, `"sae."`, ...).
    pub prefix: String,
    /// The stored dtype of the four tensors, e.g. `"float16"` (`"float16/float32"` when mixed).
    pub source_dtype: String,
}

/// Reads the paper's four tensors from the bytes of a `.pth` file (a `torch.save` zip archive)
/// and builds the top-`k` SAE (`W_enc = encoder.weight^T`, `b_enc = latent_bias`,
/// `W_dec = decoder.weight^T`, `b_dec = pre_bias`). Every way the bytes can be wrong is an
/// [`Error::Format`](saescope_core::error::Error::Format) with a one-sentence reason.
pub fn read_paper_sae(bytes: &[u8], k: usize) -> Result<PaperSae> {
    read_paper_sae_from(Cursor::new(bytes), k)
}

fn read_paper_sae_from<R: Read + Seek>(reader: R, k: usize) -> Result<PaperSae> {
    let mut pth = PthFile::open(reader)?;
    let entries = pth.state_dict()?;
    let tensors: Vec<(&str, std::result::Result<TensorMeta, String>)> =
        entries.iter().filter_map(|(name, v)| Some((name.as_str(), tensor_meta(v)?))).collect();
    let prefix = find_prefix(&tensors.iter().map(|t| t.0).collect::<Vec<_>>())?;

    let meta = |name: &str| -> Result<TensorMeta> {
        let full = format!("{prefix}{name}");
        let found = tensors.iter().find(|t| t.0 == full).map(|t| t.1.clone());
        let found = found.ok_or_else(|| format_err!("missing tensor {full}"))?;
        found.map_err(|e| format_err!("tensor {full} cannot be read: {e}"))
    };
    let [enc, dec, pre, lat] = [meta(ENCODER)?, meta(DECODER)?, meta(PRE_BIAS)?, meta(LATENT_BIAS)?];

    // Shapes first, so a mismatch is reported before any data is read.
    let [n, d] = enc.size[..] else {
        return Err(format_err!(
            "tensor {prefix}{ENCODER} must be 2-d [n_latents, d_in], but has shape {:?}",
            enc.size
        ));
    };
    let expect = |name: &str, m: &TensorMeta, want: &[usize], what: &str| -> Result<()> {
        if m.size != want {
            return Err(format_err!(
                "shape mismatch: {prefix}{name} has shape {:?}, expected {want:?} ({what}, from {prefix}{ENCODER} {:?} = [n_latents, d_in])",
                m.size,
                enc.size
            ));
        }
        Ok(())
    };
    expect(DECODER, &dec, &[d, n], "[d_in, n_latents]")?;
    expect(PRE_BIAS, &pre, &[d], "[d_in]")?;
    expect(LATENT_BIAS, &lat, &[n], "[n_latents]")?;
    if k == 0 || k > n {
        return Err(format_err!(
            "--k {k} is out of range: the SAE has {n} latents ({prefix}{ENCODER} is [{n}, {d}]), so k must be between 1 and {n}"
        ));
    }

    let mut source: Vec<&str> = [&enc, &dec, &pre, &lat].iter().map(|m| m.type_label.as_str()).collect();
    source.sort_unstable();
    source.dedup();
    let source_dtype = source.join("/");
    let mut read = |name: &str, m: &TensorMeta| pth.read_tensor(&format!("{prefix}{name}"), m);
    let (enc, dec, pre, lat) =
        (read(ENCODER, &enc)?, read(DECODER, &dec)?, read(PRE_BIAS, &pre)?, read(LATENT_BIAS, &lat)?);
    let sae = Sae::new(k, Matrix::new(d, n, transpose(&enc, n, d))?, lat, Matrix::new(n, d, transpose(&dec, d, n))?, pre)
        .map_err(|e| {
            format_err!(
                "the converted SAE is invalid (W_enc is encoder.weight transposed, W_dec is decoder.weight transposed, b_enc is latent_bias, b_dec is pre_bias): {e}"
            )
        })?;
    Ok(PaperSae { sae, prefix, source_dtype })
}

/// The prefix (`""` or ending in `.`) under which all four paper names appear; otherwise an error
/// naming what is missing and what the file holds.
fn find_prefix(names: &[&str]) -> Result<String> {
    let all: HashSet<&str> = names.iter().copied().collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut prefixes: Vec<&str> = Vec::new();
    for name in names {
        for want in PAPER_NAMES {
            if let Some(p) = name.strip_suffix(want) {
                if (p.is_empty() || p.ends_with('.')) && seen.insert(p) {
                    prefixes.push(p);
                }
            }
        }
    }
    let present = |p: &str| -> Vec<&str> {
        PAPER_NAMES.iter().copied().filter(|w| all.contains(format!("{p}{w}").as_str())).collect()
    };
    let complete: Vec<&str> = prefixes.iter().copied().filter(|p| present(p).len() == PAPER_NAMES.len()).collect();
    match complete[..] {
        [p] => Ok(p.to_owned()),
        [] => {
            let held = list_names(names);
            let Some(best) = prefixes.iter().copied().max_by_key(|p| (present(p).len(), std::cmp::Reverse(p.len())))
            else {
                return Err(format_err!(
                    "no tensor of the paper's state dict (encoder.weight, decoder.weight, pre_bias, latent_bias) is in the file, which holds {held}"
                ));
            };
            let have = present(best);
            let missing: Vec<String> =
                PAPER_NAMES.iter().filter(|w| !have.contains(w)).map(|w| format!("{best}{w}")).collect();
            Err(format_err!(
                "missing tensor{} {} (the paper's state dict has encoder.weight, decoder.weight, pre_bias and latent_bias); the file holds {held}",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", ")
            ))
        }
        _ => {
            const SHOWN: usize = 12;
            let mut shown: Vec<String> = complete.iter().take(SHOWN).map(|p| format!("{:?}", short(p))).collect();
            if complete.len() > SHOWN {
                shown.push("...".into());
            }
            Err(format_err!(
                "the file holds more than one SAE (tensors under the key prefixes {}); convert reads a state dict with one",
                shown.join(", ")
            ))
        }
    }
}

/// A name cut to at most 200 characters for a message.
fn short(name: &str) -> String {
    const MAX_CHARS: usize = 200;
    match name.char_indices().nth(MAX_CHARS) {
        Some((at, _)) => format!("{}...", &name[..at]),
        None => name.to_owned(),
    }
}

fn list_names(names: &[&str]) -> String {
    const SHOWN: usize = 12;
    let shown = || names.iter().take(SHOWN).map(|n| short(n)).collect::<Vec<_>>().join(", ");
    match names.len() {
        0 => "no tensors".into(),
        n if n <= SHOWN => format!("the tensors {}", shown()),
        n => format!("{n} tensors: {}, ...", shown()),
    }
}

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
    /// `None` for element types this reader does not read (int64 buffers and the like).
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
    match (module, name) {
        // nn.Parameter(tensor, ...), as saved when a state dict keeps its Parameters. One level
        // only (a Parameter never wraps a Parameter), so the work per entry is bounded.
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            Some(call_args(module, name, args).and_then(|a| match a.first().and_then(plain_tensor_meta) {
                Some(inner) => inner,
                None => Err(format!("{name} does not wrap a tensor")),
            }))
        }
        _ => plain_tensor_meta(v),
    }
}

fn call_args<'a>(module: &str, name: &str, args: &'a Value) -> std::result::Result<&'a [Value], String> {
    args.as_tuple().ok_or_else(|| format!("{module}.{name} was pickled without an argument tuple"))
}

/// [`tensor_meta`] without the Parameter wrapper.
fn plain_tensor_meta(v: &Value) -> Option<std::result::Result<TensorMeta, String>> {
    let (callable, args) = v.as_call()?;
    let (module, name) = callable.as_global()?;
    let args = || call_args(module, name, args);
    match (module, name) {
        ("torch._utils", "_rebuild_tensor" | "_rebuild_tensor_v2" | "_rebuild_tensor_v3") => {
            Some(args().and_then(|a| rebuild_args(name, a)))
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
            Some((_, dtype)) => (elem_from_torch_name(dtype), format!("torch.{}", short(dtype))),
            None => (None, "an untyped storage without a dtype".to_owned()),
        },
        None => (None, format!("torch.{}", short(class))),
    };
    let index = |v: &Value, what: &str| {
        v.as_index().ok_or_else(|| format!("the {what} of {func} is not a non-negative integer"))
    };
    let indices = |v: &Value, what: &str| -> std::result::Result<Vec<usize>, String> {
        let t = v.as_tuple().ok_or_else(|| format!("the {what} of {func} is not a tuple"))?;
        if t.len() > MAX_DIMS {
            return Err(format!("the {what} of {func} has {} dimensions, more than {MAX_DIMS}", t.len()));
        }
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
struct PthFile<R> {
    zip: ZipArchive<R>,
    /// `<root>/`, the folder holding `data.pkl` and `data/`.
    root: String,
    file_len: u64,
}

impl<R: Read + Seek> PthFile<R> {
    fn open(mut reader: R) -> Result<Self> {
        let cannot_read = |e: std::io::Error| format_err!("cannot read the file: {e}");
        let file_len = reader.seek(SeekFrom::End(0)).map_err(cannot_read)?;
        reader.rewind().map_err(cannot_read)?;
        let mut head = Vec::with_capacity(16);
        (&mut reader).take(16).read_to_end(&mut head).map_err(cannot_read)?;
        reader.rewind().map_err(cannot_read)?;
        let zip = match ZipArchive::new(reader) {
            Ok(zip) => zip,
            Err(e) => return Err(format_err!("not a PyTorch .pth file: {}", why_not_zip(&head, &e))),
        };
        let pickles: Vec<&str> = zip
            .file_names()
            .filter(|n| n.strip_suffix("data.pkl").is_some_and(|root| root.is_empty() || root.ends_with('/')))
            .collect();
        // torch.save puts everything under one folder; prefer the shallowest data.pkl.
        let Some(pkl) = pickles.iter().copied().min_by_key(|n| n.matches('/').count()) else {
            return Err(format_err!(
                "not a PyTorch .pth file: it is a zip archive, but without the <name>/data.pkl that torch.save writes (it holds {} entries)",
                zip.len()
            ));
        };
        let root = pkl.strip_suffix("data.pkl").unwrap_or_default().to_owned();
        Ok(Self { zip, root, file_len })
    }

    /// The whole of one archive entry, with `limit` on its size.
    fn entry(&mut self, name: &str, limit: u64) -> Result<Vec<u8>> {
        let mut entry =
            self.zip.by_name(name).map_err(|e| format_err!("cannot open archive entry {}: {e}", short(name)))?;
        let size = entry.size();
        if size > limit {
            return Err(format_err!(
                "archive entry {} claims {size} bytes, more than the {limit} this reader accepts",
                short(name)
            ));
        }
        let mut bytes = Vec::with_capacity(size.min(self.file_len) as usize);
        entry.read_to_end(&mut bytes).map_err(|e| {
            format_err!("cannot read archive entry {} (the file is probably truncated or damaged): {e}", short(name))
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
                return Err(format_err!(
                    "the tensors were saved {:?}-endian (archive entry {}); convert reads little-endian files",
                    String::from_utf8_lossy(order.trim_ascii()),
                    short(&byteorder)
                ));
            }
        }
        let pkl_name = format!("{}data.pkl", self.root);
        let pkl = self.entry(&pkl_name, MAX_PICKLE_BYTES)?;
        let top = pickle::load(&pkl).map_err(|e| format_err!("cannot read {}: {e}", short(&pkl_name)))?;
        if top.as_dict().is_none() {
            let what = match top.as_call().or_else(|| top.as_built()).and_then(|(c, _)| c.as_global()) {
                Some((m, n)) => format!("a {}.{} object", short(m), short(n)),
                None => format!("a {}", top.kind()),
            };
            return Err(format_err!(
                "{} holds {what}, not a state dict (save model.state_dict(), not the model)",
                short(&pkl_name)
            ));
        }
        let mut walk = Flatten { out: Vec::new(), visited: 0, name_bytes: 0 };
        walk.dict(&top, "")?;
        Ok(walk.out)
    }

    /// A tensor's values as `f32`, in row-major order of its shape.
    fn read_tensor(&mut self, name: &str, meta: &TensorMeta) -> Result<Vec<f32>> {
        let Some(elem) = meta.elem else {
            return Err(format_err!(
                "tensor {name} is stored as {}; convert reads float32, float16, bfloat16 and float64 tensors",
                meta.type_label
            ));
        };
        let key = format!("{}data/{}", self.root, meta.storage_key);
        let bytes = self.entry(&key, self.file_len).map_err(|e| format_err!("storage of tensor {name}: {e}"))?;
        let stored = bytes.len() / elem.size();
        let count = meta.size.iter().try_fold(1usize, |acc, &s| acc.checked_mul(s));
        let key = short(&key);
        // A state-dict tensor never has more elements than its storage (no broadcast views), which
        // also bounds what is allocated below by the file's size.
        let count = count.filter(|&c| c <= stored).ok_or_else(|| {
            format_err!(
                "tensor {name} of shape {:?} has more elements than its storage {key} holds ({stored})",
                meta.size
            )
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
            return Err(format_err!(
                "tensor {name} (offset {}, shape {:?}, stride {:?}) reaches past the end of its storage {key} ({stored} {} values); the file is damaged",
                meta.offset,
                meta.size,
                meta.stride,
                elem.label()
            ));
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

/// The walk that flattens nested dicts into dotted names, within [`MAX_ENTRIES`] and
/// [`MAX_NAME_BYTES`].
struct Flatten {
    out: Vec<(String, Value)>,
    visited: usize,
    name_bytes: usize,
}

impl Flatten {
    fn dict(&mut self, v: &Value, prefix: &str) -> Result<()> {
        let Some(items) = v.as_dict() else { return Ok(()) };
        for (key, value) in items {
            self.visited += 1;
            if self.visited > MAX_ENTRIES {
                return Err(format_err!("the state dict has more than {MAX_ENTRIES} entries"));
            }
            let key = match key {
                Value::Str(s) => s.to_string(),
                Value::Int(i) => i.to_string(),
                _ => continue,
            };
            let name = format!("{prefix}{key}");
            self.name_bytes = self.name_bytes.saturating_add(name.len());
            if self.name_bytes > MAX_NAME_BYTES {
                return Err(format_err!("the state dict's entry names add up to more than {MAX_NAME_BYTES} bytes"));
            }
            if value.as_dict().is_some() {
                self.dict(value, &format!("{name}."))?;
            } else {
                self.out.push((name, value.clone()));
            }
        }
        Ok(())
    }
}

/// Just enough of Python's unpickler to read `torch.save` pickles: builds values for the
/// opcodes of protocols 2 to 5 (no text-protocol opcodes, no out-of-band buffers) and never calls
/// anything; a call (`REDUCE`, `NEWOBJ`) stays a [`Value::Call`] for the caller to recognise.
/// Every read is bounds-checked and nesting is limited, so damaged input gives an error.
///
/// # Time and memory
///
/// Every opcode does a constant amount of work, apart from moving the objects above a MARK into
/// the container it builds (each object is moved once) and copying a string's bytes out of the
/// pickle (each byte once), so loading takes time linear in the pickle's length. In particular
/// no container is ever copied: a list or dict that is still being filled (`EMPTY_LIST`, then
/// `APPEND`s) is one object that the stack and the memo refer to by index, as Python's unpickler
/// shares it, so memoizing it between appends costs nothing. It is frozen the first time it is
/// placed inside another object (or returned), and changing it after that is refused, which also
/// refuses self-referencing objects, so values never form cycles.
///
/// Memory is bounded by [`MAX_VALUES`]: MARKs are kept as stack positions (8 bytes each, not a
/// stack slot), and every push, MARK and memo store counts against that budget, so a pickle of
/// any length holds at most `MAX_VALUES` small records (about 100 bytes each) besides its own
/// bytes and the strings it spells out.
pub mod pickle {
    use std::collections::HashMap;
    use std::rc::Rc;

    /// Deepest nesting of containers accepted: 100 (also bounds recursion when values are
    /// dropped).
    pub const MAX_DEPTH: u32 = 100;

    /// Most objects one pickle may create: 2^22 (4,194,304). Every object pushed onto the stack,
    /// every MARK and every memo store counts one. Each costs at most about 100 bytes (a stack
    /// slot, a memo entry, the header of a tuple or list), so whatever its length a pickle makes
    /// the reader hold at most about 400 MiB besides the pickle's own bytes and the strings it
    /// spells out. A state dict needs about 20 per tensor.
    pub const MAX_VALUES: usize = 1 << 22;

    pub type Result<T> = std::result::Result<T, String>;

    #[derive(Clone, Debug)]
    pub enum Value {
        None,
        // Payloads a tensor's description never needs are not kept.
        Bool,
        Int(i64),
        /// An integer beyond 64 bits.
        BigInt,
        Float,
        Str(Rc<str>),
        Bytes,
        /// `(module, name)` of a global (shared with the strings `STACK_GLOBAL` took them from).
        Global(Rc<(Rc<str>, Rc<str>)>),
        /// Containers and calls carry their nesting depth.
        Tuple(Rc<Vec<Value>>, u32),
        /// Lists, sets and frozensets.
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

        pub fn as_list(&self) -> Option<&[Value]> {
            match self {
                Value::List(l, _) => Some(l),
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

    fn tuple(items: Vec<Value>) -> Result<Item> {
        let d = nest(&items)?;
        Ok(Item::Done(Value::Tuple(Rc::new(items), d)))
    }

    fn pair(a: Value, b: Value, make: fn(Rc<(Value, Value)>, u32) -> Value) -> Result<Item> {
        let d = nest([&a, &b])?;
        Ok(Item::Done(make(Rc::new((a, b)), d)))
    }

    fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>> {
        if !items.len().is_multiple_of(2) {
            return Err("the pickle builds a dict from an odd number of keys and values".into());
        }
        let mut it = items.into_iter();
        let mut out = Vec::with_capacity(it.len() / 2);
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            out.push((k, v));
        }
        Ok(out)
    }

    /// Unpickles `data`, returning the object `STOP` leaves.
    pub fn load(data: &[u8]) -> Result<Value> {
        Machine::new(data).run()
    }

    /// A stack slot or memo entry: a finished value, or a list or dict still being filled
    /// (an index into [`Machine::open`], shared by every slot that refers to it).
    #[derive(Clone, Debug)]
    enum Item {
        Done(Value),
        Open(usize),
    }

    /// A list or dict that `APPEND`/`SETITEM` and their batch forms may still fill.
    #[derive(Debug)]
    enum Open {
        List(Vec<Value>, u32),
        Dict(Vec<(Value, Value)>, u32),
        /// Placed in another object (or returned): this value from now on, never changed.
        Closed(Value),
    }

    struct Machine<'a> {
        data: &'a [u8],
        pos: usize,
        stack: Vec<Item>,
        /// Stack lengths at each MARK, innermost last: nothing below the last one may be popped.
        marks: Vec<usize>,
        memo: HashMap<u64, Item>,
        open: Vec<Open>,
        /// Objects created so far (pushes, MARKs, memo stores), at most [`MAX_VALUES`].
        created: usize,
    }

    const TRUNCATED: &str = "the pickle ends in the middle of an instruction (data.pkl is truncated)";
    const UNDERFLOW: &str = "the pickle is malformed (an instruction found too few objects on the stack)";

    impl<'a> Machine<'a> {
        fn new(data: &'a [u8]) -> Self {
            Machine {
                data,
                pos: 0,
                stack: Vec::new(),
                marks: Vec::new(),
                memo: HashMap::new(),
                open: Vec::new(),
                created: 0,
            }
        }

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

        fn line(&mut self) -> Result<Rc<str>> {
            let rest = &self.data[self.pos..];
            let end = rest.iter().position(|&b| b == b'\n').ok_or(TRUNCATED)?;
            self.pos += end + 1;
            std::str::from_utf8(&rest[..end])
                .map(Rc::from)
                .map_err(|_| "the pickle names a global that is not UTF-8".into())
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

        /// Counts one more object against [`MAX_VALUES`].
        fn count(&mut self) -> Result<()> {
            self.created += 1;
            if self.created > MAX_VALUES {
                return Err(format!(
                    "the pickle creates more than {MAX_VALUES} objects (stack entries, marks and memo entries), far more than a state dict needs"
                ));
            }
            Ok(())
        }

        /// The lowest stack position the current instruction may touch: the innermost MARK.
        fn floor(&self) -> usize {
            self.marks.last().copied().unwrap_or(0)
        }

        fn pop_item(&mut self) -> Result<Item> {
            if self.stack.len() <= self.floor() {
                return Err(UNDERFLOW.into());
            }
            self.stack.pop().ok_or_else(|| UNDERFLOW.into())
        }

        fn pop(&mut self) -> Result<Value> {
            let item = self.pop_item()?;
            Ok(self.close(item))
        }

        /// The finished value of `item`: an open list or dict is frozen now, for every slot that
        /// refers to it. Moves the container's items, never copies them.
        fn close(&mut self, item: Item) -> Value {
            match item {
                Item::Done(v) => v,
                Item::Open(i) => {
                    let slot = &mut self.open[i];
                    let v = match std::mem::replace(slot, Open::Closed(Value::None)) {
                        Open::List(items, d) => Value::List(Rc::new(items), d),
                        Open::Dict(items, d) => Value::Dict(Rc::new(items), d),
                        Open::Closed(v) => v,
                    };
                    *slot = Open::Closed(v.clone());
                    v
                }
            }
        }

        fn close_all(&mut self, items: Vec<Item>) -> Vec<Value> {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(self.close(item));
            }
            out
        }

        fn pop_n(&mut self, n: usize) -> Result<Vec<Value>> {
            let start = self.stack.len().checked_sub(n).filter(|&s| s >= self.floor()).ok_or(UNDERFLOW)?;
            let items = self.stack.split_off(start);
            Ok(self.close_all(items))
        }

        /// The objects above the innermost MARK, which is removed.
        fn pop_mark(&mut self) -> Result<Vec<Value>> {
            let mark = self.marks.pop().ok_or("the pickle is malformed (MARK missing)")?;
            let items = self.stack.split_off(mark);
            Ok(self.close_all(items))
        }

        fn top(&self) -> Result<&Item> {
            if self.stack.len() <= self.floor() {
                return Err(UNDERFLOW.into());
            }
            self.stack.last().ok_or_else(|| UNDERFLOW.into())
        }

        /// A new open container, as a stack item.
        fn open(&mut self, container: Open) -> Item {
            self.open.push(container);
            Item::Open(self.open.len() - 1)
        }

        /// The open container on top of the stack, for `what` ("appends to", "sets items on").
        fn target(&mut self, what: &str, wanted: &str) -> Result<&mut Open> {
            let i = match self.top()? {
                Item::Open(i) => *i,
                Item::Done(v) => return Err(format!("the pickle {what} a {}, not a {wanted}", v.kind())),
            };
            match &mut self.open[i] {
                Open::Closed(v) => Err(format!(
                    "the pickle changes a {} after placing it in another object (self-referencing objects are not read)",
                    v.kind()
                )),
                open => Ok(open),
            }
        }

        /// APPEND / APPENDS / ADDITEMS onto the list (or set) on top of the stack.
        fn extend_list(&mut self, items: Vec<Value>) -> Result<()> {
            let child = nest(&items)?;
            match self.target("appends to", "list")? {
                Open::List(list, depth) => {
                    *depth = (*depth).max(child);
                    list.extend(items);
                    Ok(())
                }
                _ => Err("the pickle appends to a dict, not a list".into()),
            }
        }

        /// SETITEM / SETITEMS into the dict on top of the stack.
        fn set_items(&mut self, items: Vec<(Value, Value)>) -> Result<()> {
            let child = nest(items.iter().flat_map(|(k, v)| [k, v]))?;
            match self.target("sets items on", "dict")? {
                Open::Dict(dict, depth) => {
                    *depth = (*depth).max(child);
                    dict.extend(items);
                    Ok(())
                }
                _ => Err("the pickle sets items on a list, not a dict".into()),
            }
        }

        fn memo_get(&self, id: u64) -> Result<Item> {
            self.memo
                .get(&id)
                .cloned()
                .ok_or_else(|| format!("the pickle refers to memo entry {id}, which it never stored"))
        }

        fn is_dict(&self, item: &Item) -> bool {
            match item {
                Item::Done(v) => v.as_dict().is_some(),
                Item::Open(i) => match &self.open[*i] {
                    Open::Dict(..) => true,
                    Open::List(..) => false,
                    Open::Closed(v) => v.as_dict().is_some(),
                },
            }
        }

        /// REDUCE / NEWOBJ: dict-like classes become an empty dict that SETITEMS then fills;
        /// everything else stays a call.
        fn call(&mut self, callable: Value, args: Value) -> Result<Item> {
            if let Some(("collections", "OrderedDict" | "defaultdict") | ("builtins" | "__builtin__", "dict")) =
                callable.as_global()
            {
                return Ok(self.open(Open::Dict(Vec::new(), 1)));
            }
            pair(callable, args, Value::Call)
        }

        fn run(&mut self) -> Result<Value> {
            loop {
                let at = self.pos;
                let op = self.u8().map_err(|_| "the pickle ends without a STOP instruction (data.pkl is truncated)")?;
                // Each arm yields the item the opcode pushes, or `continue`s.
                let item = match op {
                    0x80 => {
                        self.u8()?; // PROTO
                        continue;
                    }
                    0x95 => {
                        self.take(8)?; // FRAME
                        continue;
                    }
                    b'.' => return self.pop(), // STOP
                    b'(' => {
                        // MARK
                        self.count()?;
                        self.marks.push(self.stack.len());
                        continue;
                    }
                    b'N' => Item::Done(Value::None),
                    0x88 | 0x89 => Item::Done(Value::Bool), // NEWTRUE, NEWFALSE
                    b'J' => Item::Done(Value::Int(i32::from_le_bytes(self.array()?).into())),
                    b'K' => Item::Done(Value::Int(self.u8()?.into())),
                    b'M' => Item::Done(Value::Int(u16::from_le_bytes(self.array()?).into())),
                    0x8a => {
                        let n = self.u8()?;
                        Item::Done(self.long(n.into())?) // LONG1
                    }
                    0x8b => {
                        let n = self.u32()?;
                        Item::Done(self.long(n as usize)?) // LONG4
                    }
                    b'G' => {
                        self.take(8)?; // BINFLOAT
                        Item::Done(Value::Float)
                    }
                    b'X' => {
                        let n = self.u32()?;
                        Item::Done(self.string(n as usize)?) // BINUNICODE
                    }
                    0x8c => {
                        let n = self.u8()?;
                        Item::Done(self.string(n.into())?) // SHORT_BINUNICODE
                    }
                    0x8d => {
                        let n = self.len64()?;
                        Item::Done(self.string(n)?) // BINUNICODE8
                    }
                    b'C' | b'U' => {
                        let n = self.u8()?;
                        Item::Done(self.bytes(n.into())?) // SHORT_BINBYTES, SHORT_BINSTRING
                    }
                    b'B' | b'T' => {
                        let n = self.u32()?;
                        Item::Done(self.bytes(n as usize)?) // BINBYTES, BINSTRING
                    }
                    0x8e => {
                        let n = self.len64()?;
                        Item::Done(self.bytes(n)?) // BINBYTES8
                    }
                    b')' => tuple(Vec::new())?,
                    b't' => {
                        let items = self.pop_mark()?;
                        tuple(items)?
                    }
                    0x85..=0x87 => {
                        // TUPLE1..3
                        let items = self.pop_n((op - 0x84) as usize)?;
                        tuple(items)?
                    }
                    b']' | 0x8f => self.open(Open::List(Vec::new(), 1)), // EMPTY_LIST, EMPTY_SET
                    b'l' => {
                        // LIST
                        let items = self.pop_mark()?;
                        let d = nest(&items)?;
                        self.open(Open::List(items, d))
                    }
                    0x91 => {
                        // FROZENSET
                        let items = self.pop_mark()?;
                        let d = nest(&items)?;
                        Item::Done(Value::List(Rc::new(items), d))
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
                    b'}' => self.open(Open::Dict(Vec::new(), 1)),
                    b'd' => {
                        let items = pairs(self.pop_mark()?)?;
                        let d = nest(items.iter().flat_map(|(k, v)| [k, v]))?;
                        self.open(Open::Dict(items, d))
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
                        Item::Done(Value::Global(Rc::new((module, name))))
                    }
                    0x93 => {
                        // STACK_GLOBAL
                        let name = self.pop()?;
                        let module = self.pop()?;
                        let (Value::Str(module), Value::Str(name)) = (module, name) else {
                            return Err("the pickle names a global with non-string parts".into());
                        };
                        Item::Done(Value::Global(Rc::new((module, name))))
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
                        let object = self.pop_item()?;
                        if self.is_dict(&object) {
                            object
                        } else {
                            let object = self.close(object);
                            pair(object, state, Value::Built)?
                        }
                    }
                    b'Q' => {
                        // BINPERSID
                        let id = self.pop()?;
                        let d = nest([&id])?;
                        Item::Done(Value::PersistentId(Rc::new(id), d))
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
                        let item = self.top()?.clone();
                        self.count()?;
                        self.memo.insert(id, item);
                        continue;
                    }
                    b'0' => {
                        self.pop_item()?; // POP
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
                self.count()?;
                self.stack.push(item);
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn damaged_pickles_are_errors() {
            // pickle.dumps({"a": (1, -2)}, protocol=4) from CPython 3.11: FRAME, SHORT_BINUNICODE, MEMOIZE.
            let good =
                b"\x80\x04\x95\x11\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01J\xfe\xff\xff\xff\x86\x94s.";
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
            // Nothing below a MARK may be popped, as in CPython's unpickler.
            assert!(load(b"K\x01(.").unwrap_err().contains("too few"));
            assert!(load(b"K\x01(\x85.").unwrap_err().contains("too few"));
            assert!(load(b"]K\x01(a.").unwrap_err().contains("too few"));
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

        fn ints(v: &Value) -> Vec<i64> {
            v.as_list()
                .unwrap()
                .iter()
                .map(|x| match x {
                    Value::Int(i) => *i,
                    other => panic!("not an int: {other:?}"),
                })
                .collect()
        }

        /// The memo and the stack share a list that is still being filled, as in Python: what is
        /// appended after `MEMOIZE` is in the memo's list too. (The reader used to store a
        /// copy-on-write snapshot, so the next APPEND copied the whole list: quadratic time on
        /// memoize-then-append pickles.)
        #[test]
        fn memo_shares_a_list_being_filled() {
            // ], MEMOIZE, 1, APPEND, 2, APPEND, POP, BINGET 0, STOP: Python gives [1, 2].
            assert_eq!(ints(&load(b"]\x94K\x01aK\x02a0h\x00.").unwrap()), [1, 2]);
            // Same through DUP and a dict.
            let v = load(b"}2K\x01K\x02s0.").unwrap();
            assert_eq!(v.as_dict().unwrap().len(), 1);
        }

        /// Memoize-then-append, the attacker's pattern, in both forms (a new memo entry per
        /// append, and one entry re-stored per append): linear, with no container copied. The
        /// sizes are ones the copying reader took minutes on (1.5 MB: over 10^10 values cloned);
        /// the structural check is that every object the machine created came from one opcode
        /// (`created` <= input length) and the result is the one list, not a copy per store.
        #[test]
        fn memoize_then_append_is_linear() {
            const N: usize = 300_000;
            for step in [&b"\x94K\x07a"[..], &b"q\x00K\x07a"[..]] {
                let mut data = vec![b']'];
                for _ in 0..N {
                    data.extend_from_slice(step);
                }
                data.extend_from_slice(b"0h\x00.");
                let mut m = Machine::new(&data);
                let v = m.run().unwrap();
                assert_eq!(v.as_list().unwrap().len(), N);
                assert!(m.created <= data.len(), "{} objects from {} bytes", m.created, data.len());
                // The memo holds the same list (one allocation), not snapshots.
                let Some(Item::Open(i)) = m.memo.get(&0).cloned() else { panic!("memo entry 0 is not the list") };
                let (Value::List(result, _), Open::Closed(Value::List(memo, _))) = (&v, &m.open[i]) else {
                    panic!("the list was not closed")
                };
                assert!(Rc::ptr_eq(result, memo));
                assert_eq!(m.open.len(), 1);
            }
        }

        /// A list that contains itself (or is changed after being placed in another object) is
        /// refused instead of copied or turned into a reference cycle.
        #[test]
        fn self_referencing_lists_are_refused() {
            let err = load(b"]\x94h\x00a.").unwrap_err();
            assert!(err.contains("self-referencing"), "{err}");
            // l = []; t = (l,); l.append(t): pickled as ], MEMOIZE, BINGET 0, TUPLE1, APPEND.
            let err = load(b"]\x94h\x00\x85a.").unwrap_err();
            assert!(err.contains("self-referencing"), "{err}");
        }

        /// The memory a machine holds in its own records (stack, marks, memo, open containers),
        /// capacity included.
        fn held_bytes(m: &Machine) -> usize {
            use std::mem::size_of;
            m.stack.capacity() * size_of::<Item>()
                + m.marks.capacity() * size_of::<usize>()
                + m.memo.capacity() * (size_of::<(u64, Item)>() + 1)
                + m.open.capacity() * size_of::<Open>()
        }

        /// 64 MB of MARK opcodes (which used to take 1.6 GB, 24-byte stack slots for each) stop
        /// at the object budget, holding 8 bytes per MARK; so do 64 MB of pushes and of memo
        /// stores.
        #[test]
        fn long_runs_of_marks_pushes_and_memo_stores_are_bounded() {
            const LEN: usize = 64 << 20;
            let marks = vec![b'('; LEN];
            let mut pushes = vec![b'N'; LEN];
            pushes.push(b'.');
            let mut memo = vec![0x94u8; LEN];
            memo[0] = b'N';
            for (what, data) in [("marks", &marks), ("pushes", &pushes), ("memo stores", &memo)] {
                let mut m = Machine::new(data);
                let err = m.run().unwrap_err();
                assert!(err.contains(&format!("more than {MAX_VALUES} objects")), "{what}: {err}");
                assert_eq!(m.created, MAX_VALUES + 1, "{what}");
                assert!(m.pos <= MAX_VALUES + 1, "{what}: stopped at byte {}", m.pos);
                // At most ~100 bytes per object, whatever the input's length.
                assert!(held_bytes(&m) <= 100 * MAX_VALUES, "{what}: {} bytes held", held_bytes(&m));
            }
            let mut m = Machine::new(&marks);
            m.run().unwrap_err();
            assert_eq!((m.marks.len(), m.stack.len()), (MAX_VALUES, 0));
            assert!(held_bytes(&m) <= 8 * 2 * MAX_VALUES, "{} bytes for {MAX_VALUES} marks", held_bytes(&m));
        }

        /// `STACK_GLOBAL` shares the strings it names (a 1 MB string named a million times is
        /// held once).
        #[test]
        fn globals_share_their_strings() {
            let mut data = vec![b'X'];
            data.extend_from_slice(&(1u32 << 20).to_le_bytes());
            data.extend(std::iter::repeat_n(b'm', 1 << 20));
            data.extend_from_slice(b"\x94h\x00h\x00\x93h\x00h\x00\x93\x86.");
            let v = load(&data).unwrap();
            let [Value::Global(a), Value::Global(b)] = v.as_tuple().unwrap() else { panic!("{v:?}") };
            assert!(Rc::ptr_eq(&a.0, &b.1) && Rc::ptr_eq(&a.0, &a.1));
        }
    }
}

#[cfg(test)]
mod tests {
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
    fn bytes_that_are_not_an_archive_are_refused_with_reasons() {
        let err = |b: &[u8]| read_paper_sae(b, 1).unwrap_err().to_string();
        assert!(err(b"").contains("the file is empty"));
        assert!(err(b"\x80\x02}q\x00.").contains("bare pickle"));
        assert!(err(b"not a checkpoint\n").contains("not a zip archive"));
        assert!(err(b"PK\x03\x04 cut").contains("truncated or damaged"));
    }
}
