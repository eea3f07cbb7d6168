//! The sdk's error type.

use thiserror::Error;

/// Errors from tensor operations, modules, optimizers and checkpoints.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{Error, SafetensorsError, StateDictError};
/// let e = Error::Checkpoint { path: "run/model.safetensors".into(), msg: "permission denied".into() };
/// assert_eq!(e.to_string(), "checkpoint run/model.safetensors: permission denied");
/// let e: Error = SafetensorsError::TooShort { len: 3 }.into();
/// assert_eq!(e.to_string(), "safetensors: file is 3 bytes, shorter than the 8-byte header length");
/// let e: Error = StateDictError { missing: vec!["fc.bias".into()], ..Default::default() }.into();
/// assert_eq!(e.to_string(), "load_state_dict: missing keys [\"fc.bias\"]");
/// ```
#[derive(Debug, Error)]
pub enum Error {
    /// The core rejected a call (bad shape, dtype, missing kernel, autograd misuse...).
    #[error("{0}")]
    Host(String),
    /// An argument was invalid before reaching the core.
    #[error("{0}")]
    Invalid(String),
    /// A checkpoint could not be read or written.
    #[error("checkpoint {path}: {msg}")]
    Checkpoint {
        /// File involved.
        path: String,
        /// What went wrong.
        msg: String,
    },
    /// `Module::load_state_dict` found missing or unexpected keys or shape mismatches; nothing
    /// was copied.
    #[error(transparent)]
    StateDict(#[from] StateDictError),
    /// A safetensors file is malformed; see [`SafetensorsError`] for each case.
    #[error("safetensors{}: {kind}", .path.as_ref().map(|p| format!(" {p}")).unwrap_or_default())]
    Safetensors {
        /// File involved (`None` when validating bytes).
        path: Option<String>,
        /// What is wrong with it (part of the message, so not also reported as a source).
        kind: SafetensorsError,
    },
}

impl From<SafetensorsError> for Error {
    fn from(kind: SafetensorsError) -> Error {
        Error::Safetensors { path: None, kind }
    }
}

/// A parameter or buffer whose shape differs between a module and a state dict.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{ShapeMismatch, StateDictError};
/// let m = ShapeMismatch { name: "fc.weight".into(), expected: vec![10, 32], got: vec![10, 16] };
/// let e = StateDictError { shape_mismatch: vec![m], ..Default::default() };
/// assert_eq!(e.to_string(), "load_state_dict: size mismatch for fc.weight: module has [10, 32], state dict has [10, 16]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// Dotted name (`features.0.weight`).
    pub name: String,
    /// Shape in the module.
    pub expected: Vec<usize>,
    /// Shape in the state dict.
    pub got: Vec<usize>,
}

/// Why a state dict could not be loaded (PyTorch's `load_state_dict` error, with the same
/// categories). `missing`/`unexpected` only count when loading strictly; shape mismatches and
/// duplicate keys always fail.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::StateDictError;
/// let e = StateDictError { unexpected: vec!["extra".into()], duplicate: vec!["w".into()], ..Default::default() };
/// assert_eq!(e.to_string(), "load_state_dict: unexpected keys [\"extra\"]; duplicate keys [\"w\"]");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Error)]
#[error("load_state_dict: {}", self.summary())]
pub struct StateDictError {
    /// Keys of the module absent from the state dict.
    pub missing: Vec<String>,
    /// Keys of the state dict the module does not have.
    pub unexpected: Vec<String>,
    /// Keys present on both sides with different shapes.
    pub shape_mismatch: Vec<ShapeMismatch>,
    /// Keys that appear more than once in the state dict.
    pub duplicate: Vec<String>,
}

impl StateDictError {
    /// True when nothing is wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::StateDictError;
    /// assert!(StateDictError::default().is_empty());
    /// assert!(!StateDictError { missing: vec!["w".into()], ..Default::default() }.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.shape_mismatch.is_empty() && self.duplicate.is_empty()
    }

    fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!("missing keys {:?}", self.missing));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!("unexpected keys {:?}", self.unexpected));
        }
        for m in &self.shape_mismatch {
            parts.push(format!("size mismatch for {}: module has {:?}, state dict has {:?}", m.name, m.expected, m.got));
        }
        if !self.duplicate.is_empty() {
            parts.push(format!("duplicate keys {:?}", self.duplicate));
        }
        parts.join("; ")
    }
}

/// Every way [`crate::checkpoint::validate_safetensors`] rejects a file. Layout checked:
/// `u64 little-endian header length N | N bytes of JSON | data buffer`.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{validate_safetensors, Error, SafetensorsError};
/// // A file whose header claims 64 bytes but holds 2.
/// let mut bytes = 64u64.to_le_bytes().to_vec();
/// bytes.extend_from_slice(b"{}");
/// match validate_safetensors(&bytes) {
///     Err(Error::Safetensors { kind: SafetensorsError::HeaderPastEof { header_len: 64, available: 2 }, .. }) => {}
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SafetensorsError {
    /// Fewer than the 8 bytes of the header length.
    #[error("file is {len} bytes, shorter than the 8-byte header length")]
    TooShort {
        /// File length.
        len: usize,
    },
    /// The declared header length exceeds the limit (100 MB, as the reference implementation).
    #[error("header length {header_len} exceeds the {max}-byte limit")]
    HeaderTooLarge {
        /// Declared length.
        header_len: u64,
        /// Limit.
        max: u64,
    },
    /// The declared header runs past the end of the file.
    #[error("header length {header_len} runs past the end of the file ({available} bytes after the length)")]
    HeaderPastEof {
        /// Declared length.
        header_len: u64,
        /// Bytes actually present after the 8-byte length.
        available: usize,
    },
    /// The header is not UTF-8 JSON.
    #[error("header is not valid JSON: {0}")]
    HeaderNotJson(String),
    /// The header is JSON but not of the expected structure (not an object, an entry without
    /// `dtype`/`shape`/`data_offsets`, offsets not exactly two integers, bad `__metadata__`).
    #[error("bad header entry {name:?}: {reason}")]
    BadEntry {
        /// Tensor name (or `__metadata__`, or empty for the header itself).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A dtype string Ferrite does not support (supported: F32, F64, F16, BF16, I64, I32, U8, BOOL).
    #[error("tensor {name:?}: unsupported dtype {dtype:?}")]
    UnknownDtype {
        /// Tensor name.
        name: String,
        /// The dtype string in the file.
        dtype: String,
    },
    /// `data_offsets` with `begin > end`.
    #[error("tensor {name:?}: inverted data_offsets [{begin}, {end}]")]
    InvertedOffsets {
        /// Tensor name.
        name: String,
        /// First offset.
        begin: u64,
        /// Second offset.
        end: u64,
    },
    /// `data_offsets` end past the data buffer (a truncated file).
    #[error("tensor {name:?}: data_offsets end {end} past the {data_len}-byte data buffer")]
    OffsetsPastData {
        /// Tensor name.
        name: String,
        /// End offset.
        end: u64,
        /// Bytes in the data buffer.
        data_len: usize,
    },
    /// `shape × dtype size` differs from the offset span (or overflows).
    #[error("tensor {name:?}: shape {shape:?} of {dtype} needs {} bytes, data_offsets span {span}", .needed.map_or("more than 2^64".to_string(), |n| n.to_string()))]
    SizeMismatch {
        /// Tensor name.
        name: String,
        /// Declared shape.
        shape: Vec<u64>,
        /// Dtype string.
        dtype: String,
        /// Bytes the shape needs (`None` on overflow).
        needed: Option<u64>,
        /// `end - begin`.
        span: u64,
    },
    /// Tensors overlap or leave a gap in the data buffer.
    #[error("tensor {name:?}: data starts at {begin}, expected {expected} (tensors must tile the data buffer)")]
    NotContiguous {
        /// Tensor name.
        name: String,
        /// Its begin offset.
        begin: u64,
        /// Where the previous tensor ended.
        expected: u64,
    },
    /// The tensors cover fewer bytes than the data buffer holds.
    #[error("tensors cover {covered} bytes but the data buffer has {data_len}")]
    TrailingData {
        /// Bytes covered by tensors.
        covered: u64,
        /// Bytes in the data buffer.
        data_len: usize,
    },
}

/// Result alias used throughout the sdk.
///
/// # Examples
///
/// ```
/// fn half(x: usize) -> ferrite_sdk::Result<usize> {
///     if x % 2 == 1 {
///         ferrite_sdk::bail!("{x} is odd");
///     }
///     Ok(x / 2)
/// }
/// assert_eq!(half(4).unwrap(), 2);
/// assert_eq!(half(3).unwrap_err().to_string(), "3 is odd");
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns `Err(Error::Invalid)` with a formatted message.
///
/// # Examples
///
/// ```
/// fn check_lr(lr: f64) -> ferrite_sdk::Result<f64> {
///     if !(lr >= 0.0) {
///         ferrite_sdk::bail!("lr must be >= 0, got {lr}");
///     }
///     Ok(lr)
/// }
/// assert!(matches!(check_lr(-1.0), Err(ferrite_sdk::Error::Invalid(m)) if m == "lr must be >= 0, got -1"));
/// ```
#[macro_export]
macro_rules! bail {
    ($($t:tt)*) => { return Err($crate::Error::Invalid(format!($($t)*))) };
}
