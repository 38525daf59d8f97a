//! Little-endian floats as files store them (npy, safetensors, torch pickles): the one place
//! that widens f16, bf16 and f64 to the f32 saescope computes in.

use half::{bf16, f16};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatKind {
    F32,
    F16,
    BF16,
    F64,
}

impl FloatKind {
    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            FloatKind::F16 | FloatKind::BF16 => 2,
            FloatKind::F32 => 4,
            FloatKind::F64 => 8,
        }
    }

    /// The numpy / torch name: "float32", "float16", "bfloat16", "float64".
    pub fn label(self) -> &'static str {
        match self {
            FloatKind::F32 => "float32",
            FloatKind::F16 => "float16",
            FloatKind::BF16 => "bfloat16",
            FloatKind::F64 => "float64",
        }
    }

    /// Value `i` of `bytes`, widened (or for f64 narrowed) to f32; `i` must be in bounds.
    pub fn read(self, bytes: &[u8], i: usize) -> f32 {
        let at = i * self.size();
        match self {
            FloatKind::F32 => f32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]),
            FloatKind::F16 => f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32(),
            FloatKind::BF16 => bf16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32(),
            FloatKind::F64 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&bytes[at..at + 8]);
                f64::from_le_bytes(b) as f32
            }
        }
    }

    /// Every whole value of `bytes` as f32 (a trailing partial value is ignored; callers check
    /// lengths first).
    pub fn decode(self, bytes: &[u8]) -> Vec<f32> {
        // One match per buffer, not per value: bundle loading decodes millions of values.
        match self {
            FloatKind::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            FloatKind::F16 => bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            FloatKind::BF16 => bytes.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            FloatKind::F64 => {
                bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widens_each_kind() {
        let values = [1.5f32, -2.25, 0.0];
        let f32s: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let f16s: Vec<u8> = values.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()).collect();
        let bf16s: Vec<u8> = values.iter().flat_map(|&v| bf16::from_f32(v).to_le_bytes()).collect();
        let f64s: Vec<u8> = values.iter().flat_map(|&v| (v as f64).to_le_bytes()).collect();
        for (kind, bytes) in
            [(FloatKind::F32, f32s), (FloatKind::F16, f16s), (FloatKind::BF16, bf16s), (FloatKind::F64, f64s)]
        {
            assert_eq!(kind.decode(&bytes), values, "{kind:?}");
            assert_eq!(kind.read(&bytes, 1), -2.25);
        }
    }
}
