//! One error type for every way input can be wrong. Messages are meant for people: they name the
//! file or tensor, what was expected and what was found.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file is not of the format it claims (bad magic, bad header, truncated data).
    #[error("{0}")]
    Format(String),
    /// Dimensions that must agree do not.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// NaN or infinite values where finite numbers are required.
    #[error("non-finite values: {0}")]
    NonFinite(String),
    /// A file's bytes do not hash to what the manifest promised.
    #[error("checksum mismatch for {path}: manifest says {expected}, file hashes to {actual}")]
    Checksum { path: String, expected: String, actual: String },
    /// A required file, tensor or field is missing.
    #[error("missing {0}")]
    Missing(String),
    /// An argument is outside what the computation supports.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The compute device failed (GPU lost, out of memory, ...).
    #[error("device error: {0}")]
    Device(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand for building a [`Error::Format`] with `format!` syntax.
#[macro_export]
macro_rules! format_err {
    ($($arg:tt)*) => { $crate::error::Error::Format(format!($($arg)*)) };
}
