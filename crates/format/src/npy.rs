//! NumPy `.npy` (format 1.0-3.0, little-endian, C order) for embeddings, codes and search results.
//!
//! Hand-written rather than taken from a crate because the hot path here is bulk conversion of a
//! whole shard (bytemuck casts, one f16->f32 pass), and because every way a file can be wrong
//! must produce a sentence a user understands.

use crate::floats::FloatKind;
use half::f16;
use saescope_core::error::{Error, Result};
use saescope_core::format_err;

const MAGIC: &[u8] = b"\x93NUMPY";

/// The longest `.npy` header read (numpy writes under 200 bytes; its own reader refuses more
/// than 10,000 by default). Checked before a byte of it is allocated.
pub const MAX_HEADER_BYTES: usize = 1 << 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    F16,
    /// int8: quantised embedding shards (with their scales, see `saescope_core::search::Quantized`).
    I8,
    /// uint16: SAE code indices of SAEs up to 65,536 latents.
    U16,
    I32,
    U32,
    I64,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::F16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::I64 => 8,
        }
    }

    fn descr(self) -> &'static str {
        match self {
            DType::F32 => "<f4",
            DType::F16 => "<f2",
            DType::I8 => "|i1",
            DType::U16 => "<u2",
            DType::I32 => "<i4",
            DType::U32 => "<u4",
            DType::I64 => "<i8",
        }
    }

    fn parse(descr: &str) -> Result<Self> {
        Ok(match descr {
            "<f4" => DType::F32,
            "<f2" => DType::F16,
            "|i1" | "<i1" => DType::I8,
            "<u2" => DType::U16,
            "<i4" => DType::I32,
            "<u4" => DType::U32,
            "<i8" => DType::I64,
            ">f4" | ">f2" | ">u2" | ">i4" | ">u4" | ">i8" => {
                return Err(format_err!("big-endian npy ({descr}) is not supported; save it little-endian"))
            }
            other => {
                return Err(format_err!(
                    "unsupported npy dtype {other:?} (expected float32, float16, int8, uint16, int32, uint32 or int64)"
                ))
            }
        })
    }
}

/// What an `.npy` header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Byte offset of the first element.
    pub data_offset: usize,
}

impl Header {
    /// The number of elements (saturating: [`parse_header`] refuses shapes whose byte size
    /// overflows, so only a hand-made `Header` can saturate, and then it reads as truncated).
    pub fn len(&self) -> usize {
        self.shape.iter().fold(1usize, |n, &d| n.saturating_mul(d))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn data_bytes(&self) -> usize {
        self.len().saturating_mul(self.dtype.size())
    }

    /// The shape as `[rows, cols]`; a 1-d array is one column.
    pub fn matrix_shape(&self) -> Result<(usize, usize)> {
        match self.shape[..] {
            [n] => Ok((n, 1)),
            // Rows of no values would be read without consuming a byte: a 100-byte file could
            // claim 10^18 of them.
            [_, 0] => Err(Error::Shape(format!("a matrix needs at least one column, got shape {:?}", self.shape))),
            [r, c] => Ok((r, c)),
            _ => Err(Error::Shape(format!("expected a 1-d or 2-d array, got shape {:?}", self.shape))),
        }
    }
}

/// Parses the header from the first bytes of a file (at least the header must be present).
pub fn parse_header(bytes: &[u8]) -> Result<Header> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(format_err!("not an .npy file (missing the \\x93NUMPY magic)"));
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(format_err!("truncated .npy header"));
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(format_err!("unsupported .npy format version {v}")),
    };
    check_header_len(header_len)?;
    let end = start + header_len;
    if bytes.len() < end {
        return Err(format_err!("truncated .npy header: needs {end} bytes, have {}", bytes.len()));
    }
    let text = std::str::from_utf8(&bytes[start..end]).map_err(|_| format_err!("npy header is not text"))?;
    let descr = dict_value(text, "descr")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let dtype = DType::parse(descr)?;
    if dict_value(text, "fortran_order")?.trim() != "False" {
        return Err(format_err!("Fortran-order npy is not supported; save with np.ascontiguousarray"));
    }
    let shape_text = dict_value(text, "shape")?;
    let inner = shape_text.trim().trim_start_matches('(').trim_end_matches(')');
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format_err!("bad npy shape {shape_text:?}")))
        .collect::<Result<Vec<_>>>()?;
    // Sizes come from the file: the byte count must fit in memory arithmetic, or a tiny file
    // could claim (2^60, 16) and pass every later truncation check with a wrapped product.
    let fits = shape.iter().try_fold(dtype.size(), |n, &d| n.checked_mul(d)).is_some_and(|n| n <= isize::MAX as usize);
    if !fits {
        return Err(format_err!(
            "npy shape {shape:?} of {} is too large to address (its byte size overflows)",
            dtype.descr()
        ));
    }
    Ok(Header { dtype, shape, data_offset: end })
}

fn check_header_len(len: usize) -> Result<()> {
    if len > MAX_HEADER_BYTES {
        return Err(format_err!("npy header claims {len} bytes, more than the {MAX_HEADER_BYTES} this reader accepts"));
    }
    Ok(())
}

/// The text of one value of the header's Python dict literal. A key given twice is refused:
/// numpy keeps the last, a naive reader the first, so the file means two different arrays.
fn dict_value<'a>(text: &'a str, key: &str) -> Result<&'a str> {
    let quoted = [format!("'{key}'"), format!("\"{key}\"")];
    let mut found = quoted.iter().flat_map(|q| text.match_indices(q.as_str()).map(move |(p, _)| p + q.len()));
    let pos = found.next().ok_or_else(|| format_err!("npy header has no {key:?}"))?;
    if found.next().is_some() {
        return Err(format_err!("ambiguous npy header: {key:?} appears more than once"));
    }
    let rest = text[pos..].trim_start().strip_prefix(':').ok_or_else(|| format_err!("bad npy header"))?;
    let rest = rest.trim_start();
    let end = if rest.starts_with('(') { rest.find(')').map(|p| p + 1) } else { rest.find([',', '}']) }
        .ok_or_else(|| format_err!("bad npy header"))?;
    Ok(&rest[..end])
}

/// A parsed array borrowed from its file bytes, checked for truncation.
pub struct Npy<'a> {
    pub header: Header,
    data: &'a [u8],
}

impl<'a> Npy<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let header = parse_header(bytes)?;
        let need = header.data_bytes();
        let have = bytes.len() - header.data_offset;
        if have < need {
            return Err(format_err!(
                "truncated .npy: header says shape {:?} of {} ({} bytes) but the file holds {} bytes of data",
                header.shape,
                header.dtype.descr(),
                need,
                have
            ));
        }
        Ok(Self { data: &bytes[header.data_offset..header.data_offset + need], header })
    }

    /// The values as f32 (f16 is widened; integer arrays are refused).
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        match self.header.dtype {
            DType::F32 => Ok(FloatKind::F32.decode(self.data)),
            DType::F16 => Ok(FloatKind::F16.decode(self.data)),
            d => Err(format_err!("expected a float array, got {}", d.descr())),
        }
    }

    /// The values of a float16 array as they are stored (no widening); other dtypes are refused.
    pub fn to_f16(&self) -> Result<Vec<f16>> {
        match self.header.dtype {
            DType::F16 => Ok(self.data.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect()),
            d => Err(format_err!("expected a float16 array, got {}", d.descr())),
        }
    }

    /// The values as u32 indices (from uint16, int32, uint32 or int64; negatives are refused).
    pub fn to_u32(&self) -> Result<Vec<u32>> {
        let bad = || format_err!("index array holds a negative or too large value");
        match self.header.dtype {
            DType::U16 => Ok(self.data.chunks_exact(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))).collect()),
            DType::U32 => Ok(self.data.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
            DType::I32 => self
                .data
                .chunks_exact(4)
                .map(|c| u32::try_from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])).map_err(|_| bad()))
                .collect(),
            DType::I64 => self
                .data
                .chunks_exact(8)
                .map(|c| u32::try_from(i64::from_le_bytes(c.try_into().expect("8 bytes"))).map_err(|_| bad()))
                .collect(),
            d => Err(format_err!("expected an integer array, got {}", d.descr())),
        }
    }

    /// The values of an int8 array; other dtypes are refused.
    pub fn to_i8(&self) -> Result<Vec<i8>> {
        match self.header.dtype {
            DType::I8 => Ok(bytemuck::cast_slice(self.data).to_vec()),
            d => Err(format_err!("expected an int8 array, got {}", d.descr())),
        }
    }

    /// Raw little-endian f16 bit patterns (for uploading f16 storage to the GPU unchanged).
    pub fn f16_bits(&self) -> Option<&'a [u8]> {
        (self.header.dtype == DType::F16).then_some(self.data)
    }
}

/// Reads a float matrix `[rows, cols]` from a stream in chunks of rows, so a corpus larger
/// than memory can be encoded.
pub struct RowReader<R: std::io::Read> {
    reader: R,
    pub header: Header,
    pub rows: usize,
    pub cols: usize,
    read: usize,
}

impl<R: std::io::Read> RowReader<R> {
    pub fn new(mut reader: R) -> Result<Self> {
        let io = |e: std::io::Error| format_err!("reading .npy: {e}");
        let mut head = vec![0u8; 12];
        reader.read_exact(&mut head[..10]).map_err(|_| format_err!("not an .npy file (too short)"))?;
        if &head[..6] != MAGIC {
            return Err(format_err!("not an .npy file (missing the \\x93NUMPY magic)"));
        }
        let (len, start) = match head[6] {
            1 => (u16::from_le_bytes([head[8], head[9]]) as usize, 10),
            2 | 3 => {
                reader.read_exact(&mut head[10..12]).map_err(io)?;
                (u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize, 12)
            }
            v => return Err(format_err!("unsupported .npy format version {v}")),
        };
        check_header_len(len)?;
        head.truncate(start);
        head.resize(start + len, 0);
        reader.read_exact(&mut head[start..]).map_err(|_| format_err!("truncated .npy header"))?;
        let header = parse_header(&head)?;
        if !matches!(header.dtype, DType::F32 | DType::F16) {
            return Err(format_err!("expected a float32 or float16 array, got {}", header.dtype.descr()));
        }
        let (rows, cols) = header.matrix_shape()?;
        Ok(Self { reader, header, rows, cols, read: 0 })
    }

    /// The next up to `max_rows` rows, or `None` at the end.
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<saescope_core::Matrix>> {
        let n = max_rows.min(self.rows - self.read);
        if n == 0 {
            return Ok(None);
        }
        // Cannot overflow: the header's total byte size was checked when it was parsed. Read
        // what the stream holds instead of allocating what the header claims first: a 125-byte
        // file claiming rows of 7,777,777,777 values must not cost 31 GB (found by fuzzing).
        use std::io::Read;
        let want = n * self.cols * self.header.dtype.size();
        let mut bytes = Vec::new();
        let read = (&mut self.reader).take(want as u64).read_to_end(&mut bytes);
        read.ok().filter(|&got| got == want).ok_or_else(|| {
            format_err!(
                "truncated .npy: header says {} rows of {} but the data ends within rows {}..{}",
                self.rows,
                self.cols,
                self.read,
                self.read + n
            )
        })?;
        let values = match self.header.dtype {
            DType::F16 => FloatKind::F16.decode(&bytes),
            _ => FloatKind::F32.decode(&bytes),
        };
        self.read += n;
        saescope_core::Matrix::new(n, self.cols, values).map(Some)
    }
}

/// Reads a float matrix (`[rows, cols]`, or a vector as one column).
pub fn read_matrix(bytes: &[u8]) -> Result<saescope_core::Matrix> {
    let npy = Npy::parse(bytes)?;
    let (rows, cols) = npy.header.matrix_shape()?;
    saescope_core::Matrix::new(rows, cols, npy.to_f32()?)
}

fn header_bytes(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let shape_text = match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut dict = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {shape_text}, }}", dtype.descr());
    // Pad so that the data starts on a 64-byte boundary, as numpy does.
    let total = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - total % 64) % 64));
    dict.push('\n');
    let mut out = Vec::with_capacity(10 + dict.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Anything that can be written as the data of an `.npy` file.
pub trait Element: bytemuck::Pod {
    const DTYPE: DType;
}
impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for f16 {
    const DTYPE: DType = DType::F16;
}
impl Element for i8 {
    const DTYPE: DType = DType::I8;
}
impl Element for u16 {
    const DTYPE: DType = DType::U16;
}
impl Element for i32 {
    const DTYPE: DType = DType::I32;
}
impl Element for u32 {
    const DTYPE: DType = DType::U32;
}

/// Serialises an array (little-endian hosts only, which is every target saescope builds for).
pub fn to_bytes<T: Element>(shape: &[usize], data: &[T]) -> Result<Vec<u8>> {
    if shape.iter().product::<usize>() != data.len() {
        return Err(Error::Shape(format!("npy shape {shape:?} does not hold {} values", data.len())));
    }
    let mut out = header_bytes(T::DTYPE, shape);
    out.extend_from_slice(bytemuck::cast_slice(data));
    Ok(out)
}

/// The header alone, for writers that stream the data after it.
pub fn header_for<T: Element>(shape: &[usize]) -> Vec<u8> {
    header_bytes(T::DTYPE, shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_f32_f16_and_indices() {
        let data = [1.0f32, -2.5, 3.25, 0.0, 7.0, 8.0];
        let bytes = to_bytes(&[2, 3], &data).unwrap();
        assert_eq!(bytes[..10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize].len() % 64, 0);
        let m = read_matrix(&bytes).unwrap();
        assert_eq!((m.rows, m.cols), (2, 3));
        assert_eq!(m.data, data);

        let halves: Vec<f16> = data.iter().map(|&v| f16::from_f32(v)).collect();
        assert_eq!(read_matrix(&to_bytes(&[6], &halves).unwrap()).unwrap().data, data);

        let idx = [0i32, 5, 3];
        assert_eq!(Npy::parse(&to_bytes(&[3], &idx).unwrap()).unwrap().to_u32().unwrap(), vec![0, 5, 3]);
    }

    #[test]
    fn reads_numpy_written_header() {
        // Exactly what numpy 1.26 writes for np.zeros((2, 2), np.float32).
        let mut bytes = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }".to_vec();
        bytes.resize(10 + 0x76 - 1, b' ');
        bytes.push(b'\n');
        bytes.extend_from_slice(&[0u8; 16]);
        let h = parse_header(&bytes).unwrap();
        assert_eq!((h.dtype, h.shape.clone(), h.data_offset), (DType::F32, vec![2, 2], 128));
    }

    #[test]
    fn streams_rows_in_chunks() {
        let data: Vec<f32> = (0..30).map(|v| v as f32).collect();
        let bytes = to_bytes(&[10, 3], &data).unwrap();
        let mut r = RowReader::new(&bytes[..]).unwrap();
        let mut got = Vec::new();
        while let Some(m) = r.next_chunk(4).unwrap() {
            got.extend(m.data);
        }
        assert_eq!(got, data);
        let mut short = RowReader::new(&bytes[..bytes.len() - 8]).unwrap();
        assert!(short.next_chunk(8).is_ok());
        assert!(short.next_chunk(8).unwrap_err().to_string().contains("truncated"));
    }

    /// A header of numpy's layout around `dict` (padded to 64 bytes), followed by `data` bytes.
    fn with_header(dict: &str, data: usize) -> Vec<u8> {
        let mut bytes = b"\x93NUMPY\x01\x00\x00\x00".to_vec();
        bytes.extend_from_slice(dict.as_bytes());
        while !(bytes.len() + 1).is_multiple_of(64) {
            bytes.push(b' ');
        }
        bytes.push(b'\n');
        let len = (bytes.len() - 10) as u16;
        bytes[8..10].copy_from_slice(&len.to_le_bytes());
        bytes.resize(bytes.len() + data, 0);
        bytes
    }

    #[test]
    fn sizes_that_overflow_are_refused_not_wrapped() {
        // Defect 1: (2^60, 16) float32 wraps to 0 bytes in unchecked arithmetic, so a 128-byte
        // file passed the truncation check.
        let huge = with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1152921504606846976, 16), }", 0);
        assert_eq!(huge.len(), 128);
        for err in [
            parse_header(&huge).unwrap_err().to_string(),
            Npy::parse(&huge).err().unwrap().to_string(),
            RowReader::new(&huge[..]).err().unwrap().to_string(),
        ] {
            assert!(err.contains("too large"), "{err}");
        }
        // Large but addressable: reads as truncated, and the streaming reader allocates one chunk.
        let big = with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 16), }", 128);
        assert!(Npy::parse(&big).err().unwrap().to_string().contains("truncated"));
        let mut rows = RowReader::new(&big[..]).unwrap();
        assert!(rows.next_chunk(2).unwrap().is_some());
        assert!(rows.next_chunk(2).unwrap_err().to_string().contains("truncated"));
        // Found by fuzzing: one chunk of rows 7,777,777,777 wide was allocated (31 GB) before a
        // byte of it was read.
        let wide = with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (7, 7777777777), }", 4);
        let err = RowReader::new(&wide[..]).unwrap().next_chunk(1).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn header_lengths_are_capped_before_allocating() {
        // Defect 2: a v2 header claiming 0xFFFFFFF0 bytes in a 12-byte file made the streaming
        // reader allocate 4.2 GB before reading.
        let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
        v2.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let err = RowReader::new(&v2[..]).err().unwrap().to_string();
        assert!(err.contains("header claims 4294967280 bytes"), "{err}");
        assert!(parse_header(&v2).unwrap_err().to_string().contains("header claims"));
        // Found by fuzzing: 10^18 rows of no columns, streamed without reading a byte.
        let empty_rows =
            with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000000000, 0), }", 0);
        assert!(RowReader::new(&empty_rows[..]).err().unwrap().to_string().contains("at least one column"));
        let mut v9 = v2.clone();
        v9[6] = 9;
        assert!(RowReader::new(&v9[..]).err().unwrap().to_string().contains("version 9"));
    }

    #[test]
    fn ambiguous_headers_are_refused() {
        // Defect 18: numpy reads the last of two 'shape' keys, a first-match reader the first.
        let twice = with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), 'shape': (2, 1), }", 8);
        assert!(parse_header(&twice).unwrap_err().to_string().contains("\"shape\" appears more than once"));
        let mixed = with_header("{'descr': '<f4', \"descr\": '<f2', 'fortran_order': False, 'shape': (2,), }", 8);
        assert!(parse_header(&mixed).unwrap_err().to_string().contains("ambiguous"));
        let single = with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", 8);
        assert_eq!(parse_header(&single).unwrap().shape, vec![1, 2]);
    }

    #[test]
    fn explains_bad_files() {
        let bytes = to_bytes(&[4, 4], &[0.5f32; 16]).unwrap();
        let err = Npy::parse(&bytes[..bytes.len() - 3]).err().unwrap().to_string();
        assert!(err.contains("truncated") && err.contains("[4, 4]"), "{err}");
        assert!(parse_header(b"PK\x03\x04 not numpy").unwrap_err().to_string().contains("not an .npy"));
        let mut fortran = bytes.clone();
        let at = fortran.windows(5).position(|w| w == b"False").unwrap();
        fortran[at..at + 5].copy_from_slice(b"True ");
        assert!(parse_header(&fortran).unwrap_err().to_string().contains("Fortran"));
        let negative = to_bytes(&[1], &[-1i32]).unwrap();
        assert!(Npy::parse(&negative).unwrap().to_u32().is_err());
    }
}
