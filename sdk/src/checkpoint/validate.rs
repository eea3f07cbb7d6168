//! Strict validation of a safetensors file before any tensor is built from it.
//!
//! The format (huggingface/safetensors, `docs/source/index.mdx`): an 8-byte little-endian `u64`
//! header length `N`, `N` bytes of UTF-8 JSON mapping each tensor name to
//! `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the data buffer, which
//! starts right after the header) plus an optional `"__metadata__"` string map, then the data.
//!
//! Every check is done on the bytes actually present: nothing is allocated in proportion to a
//! declared length, nothing is indexed past the end, and every failure is a typed
//! [`SafetensorsError`] (field case C17: ollama#17148, ollama#16208).

use crate::abi::dtype::DType;
use crate::error::{Result, SafetensorsError};
use serde_json::Value;
use std::collections::HashMap;
use std::ops::Range;

/// Largest header accepted, as the reference implementation (`MAX_HEADER_SIZE`, 100 MB).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::checkpoint::{validate_safetensors, MAX_HEADER_LEN};
/// // A file declaring a header larger than the limit is refused before anything is read.
/// let mut bytes = (MAX_HEADER_LEN + 1).to_le_bytes().to_vec();
/// bytes.extend_from_slice(b"{}");
/// assert!(validate_safetensors(&bytes).is_err());
/// ```
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// One tensor of a validated file.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{checkpoint::validate_safetensors, DType};
/// let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
/// let mut file = (header.len() as u64).to_le_bytes().to_vec();
/// file.extend_from_slice(header);
/// file.extend_from_slice(&[0u8; 8]);
/// let recs = validate_safetensors(&file).unwrap();
/// assert_eq!((recs[0].name.as_str(), recs[0].dtype, recs[0].shape.clone()), ("w", DType::F32, vec![2]));
/// assert_eq!(recs[0].range, 8 + header.len()..file.len());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRecord {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Shape (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// Byte range of the tensor's data **within the whole file** (so `&bytes[range]` is its
    /// little-endian, row-major data).
    pub range: Range<usize>,
}

/// The safetensors dtype string for a Ferrite dtype (`"F32"`, `"BF16"`, `"BOOL"`, ...).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{checkpoint::dtype_to_safetensors, DType};
/// assert_eq!(dtype_to_safetensors(DType::BF16), Some("BF16"));
/// ```
pub fn dtype_to_safetensors(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::F32 => "F32",
        DType::F64 => "F64",
        DType::F16 => "F16",
        DType::BF16 => "BF16",
        DType::I64 => "I64",
        DType::I32 => "I32",
        DType::U8 => "U8",
        DType::BOOL => "BOOL",
        _ => return None,
    })
}

/// The Ferrite dtype for a safetensors dtype string; `None` for the ones Ferrite lacks
/// (`I8`, `U16`, `F8_E4M3`, ...) and for unknown strings.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{checkpoint::dtype_from_safetensors, DType};
/// assert_eq!(dtype_from_safetensors("I64"), Some(DType::I64));
/// assert_eq!(dtype_from_safetensors("F8_E4M3"), None);
/// ```
pub fn dtype_from_safetensors(s: &str) -> Option<DType> {
    DType::ALL.into_iter().find(|&d| dtype_to_safetensors(d) == Some(s))
}

fn bad(name: &str, reason: impl Into<String>) -> SafetensorsError {
    SafetensorsError::BadEntry { name: name.to_string(), reason: reason.into() }
}

/// Splits `bytes` into the header JSON and the data buffer, checking the length prefix.
fn split_header(bytes: &[u8]) -> Result<(&[u8], &[u8]), SafetensorsError> {
    let Some(prefix) = bytes.get(..8) else {
        return Err(SafetensorsError::TooShort { len: bytes.len() });
    };
    let mut le = [0u8; 8];
    le.copy_from_slice(prefix);
    let header_len = u64::from_le_bytes(le);
    if header_len > MAX_HEADER_LEN {
        return Err(SafetensorsError::HeaderTooLarge { header_len, max: MAX_HEADER_LEN });
    }
    let rest = &bytes[8..];
    // header_len <= 1e8 fits in usize on every supported target.
    let n = usize::try_from(header_len).map_err(|_| SafetensorsError::HeaderTooLarge { header_len, max: MAX_HEADER_LEN })?;
    if n > rest.len() {
        return Err(SafetensorsError::HeaderPastEof { header_len, available: rest.len() });
    }
    Ok(rest.split_at(n))
}

/// A non-negative JSON integer as `u64`.
fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64()
}

/// Parses one tensor entry (without range checks against the data).
fn parse_entry(name: &str, v: &Value) -> Result<(DType, Vec<u64>, u64, u64), SafetensorsError> {
    let obj = v.as_object().ok_or_else(|| bad(name, "entry is not a JSON object"))?;
    let dtype_s = obj.get("dtype").and_then(Value::as_str).ok_or_else(|| bad(name, "missing or non-string \"dtype\""))?;
    let shape_v = obj.get("shape").and_then(Value::as_array).ok_or_else(|| bad(name, "missing or non-array \"shape\""))?;
    let shape = shape_v
        .iter()
        .map(as_u64)
        .collect::<Option<Vec<u64>>>()
        .ok_or_else(|| bad(name, "\"shape\" must hold non-negative integers"))?;
    let offs = obj
        .get("data_offsets")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(name, "missing or non-array \"data_offsets\""))?;
    if offs.len() != 2 {
        return Err(bad(name, format!("\"data_offsets\" must hold exactly 2 integers, got {}", offs.len())));
    }
    let (begin, end) = match (as_u64(&offs[0]), as_u64(&offs[1])) {
        (Some(b), Some(e)) => (b, e),
        _ => return Err(bad(name, "\"data_offsets\" must hold non-negative integers")),
    };
    let dtype = dtype_from_safetensors(dtype_s)
        .ok_or_else(|| SafetensorsError::UnknownDtype { name: name.to_string(), dtype: dtype_s.to_string() })?;
    Ok((dtype, shape, begin, end))
}

/// Parses and checks the header and the layout of a whole safetensors file held in `bytes`,
/// returning its tensors sorted by data offset and the `__metadata__` map (empty if absent).
///
/// # Errors
/// [`crate::Error::Safetensors`] with the [`SafetensorsError`] case: file shorter than 8 bytes,
/// header length over [`MAX_HEADER_LEN`] or past EOF, header not JSON or not an object of
/// well-formed entries, `data_offsets` not exactly two non-negative integers, inverted offsets,
/// offsets past the data buffer, `shape × dtype size ≠ end - begin` (including overflow), an
/// unsupported dtype, tensors that overlap, leave gaps or do not cover the whole data buffer
/// (the reference implementation's rules).
///
/// # Examples
///
/// ```
/// // A hand-written file: 8-byte header length, JSON header, then the data.
/// let header = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"step":"7"}}"#;
/// let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
/// bytes.extend_from_slice(header.as_bytes());
/// bytes.extend_from_slice(&[0u8; 8]);
/// let (records, meta) = ferrite_sdk::checkpoint::validate_safetensors_with_metadata(&bytes).unwrap();
/// assert_eq!(records.len(), 1);
/// assert_eq!(meta["step"], "7");
/// ```
pub fn validate_safetensors_with_metadata(bytes: &[u8]) -> Result<(Vec<TensorRecord>, HashMap<String, String>)> {
    Ok(validate_inner(bytes)?)
}

/// [`validate_safetensors_with_metadata`] without the metadata: the tensors of a well-formed
/// file (name, dtype, shape, byte range in the file), sorted by data offset.
///
/// # Errors
/// As [`validate_safetensors_with_metadata`]; never panics on any input.
///
/// # Examples
///
/// ```
/// // A hand-written file: 8-byte header length, JSON header, then the data.
/// let header = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"step":"7"}}"#;
/// let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
/// bytes.extend_from_slice(header.as_bytes());
/// bytes.extend_from_slice(&[0u8; 8]);
/// let records = ferrite_sdk::validate_safetensors(&bytes).unwrap();
/// assert_eq!(records[0].name, "w");
/// assert_eq!(records[0].dtype, ferrite_sdk::DType::F32);
/// assert_eq!(records[0].shape, vec![2]);
/// assert_eq!(bytes[records[0].range.clone()].len(), 8);
/// // Truncated data is refused with an error, never a panic.
/// assert!(ferrite_sdk::validate_safetensors(&bytes[..bytes.len() - 1]).is_err());
/// ```
pub fn validate_safetensors(bytes: &[u8]) -> Result<Vec<TensorRecord>> {
    Ok(validate_inner(bytes)?.0)
}

fn validate_inner(bytes: &[u8]) -> Result<(Vec<TensorRecord>, HashMap<String, String>), SafetensorsError> {
    let (header, data) = split_header(bytes)?;
    let data_start = bytes.len() - data.len();
    let json: Value = serde_json::from_slice(header).map_err(|e| SafetensorsError::HeaderNotJson(e.to_string()))?;
    let map = json.as_object().ok_or_else(|| bad("", "header is not a JSON object"))?;

    let mut metadata = HashMap::new();
    let mut entries = Vec::with_capacity(map.len());
    for (name, v) in map {
        if name == "__metadata__" {
            let m = v.as_object().ok_or_else(|| bad(name, "must be an object of strings"))?;
            for (k, s) in m {
                let s = s.as_str().ok_or_else(|| bad(name, format!("value of {k:?} is not a string")))?;
                metadata.insert(k.clone(), s.to_string());
            }
            continue;
        }
        let (dtype, shape, begin, end) = parse_entry(name, v)?;
        if begin > end {
            return Err(SafetensorsError::InvertedOffsets { name: name.clone(), begin, end });
        }
        if end > data.len() as u64 {
            return Err(SafetensorsError::OffsetsPastData { name: name.clone(), end, data_len: data.len() });
        }
        let needed = shape.iter().try_fold(dtype.size() as u64, |acc, &d| acc.checked_mul(d));
        if needed != Some(end - begin) {
            return Err(SafetensorsError::SizeMismatch {
                name: name.clone(),
                shape,
                dtype: dtype_to_safetensors(dtype).unwrap_or("?").to_string(),
                needed,
                span: end - begin,
            });
        }
        entries.push((name.clone(), dtype, shape, begin, end));
    }

    // The tensors must tile the data buffer exactly (no overlap, gap or trailing bytes).
    entries.sort_by(|a, b| (a.3, a.4, &a.0).cmp(&(b.3, b.4, &b.0)));
    let mut cursor = 0u64;
    let mut records = Vec::with_capacity(entries.len());
    for (name, dtype, shape, begin, end) in entries {
        if begin != cursor {
            return Err(SafetensorsError::NotContiguous { name, begin, expected: cursor });
        }
        cursor = end;
        // end <= data.len(), so every dimension and offset fits in usize.
        let shape = shape.into_iter().map(|d| d as usize).collect();
        let range = data_start + begin as usize..data_start + end as usize;
        records.push(TensorRecord { name, dtype, shape, range });
    }
    if cursor != data.len() as u64 {
        return Err(SafetensorsError::TrailingData { covered: cursor, data_len: data.len() });
    }
    Ok((records, metadata))
}
