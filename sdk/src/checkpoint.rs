//! Checkpoints as safetensors files (huggingface/safetensors format), the format of every
//! Ferrite checkpoint (DESIGN.md, Conventions).
//!
//! * [`save_safetensors`] writes atomically: a temporary file in the same directory, `fsync`,
//!   `rename` over the target, then `fsync` of the directory, so a crash leaves either the old
//!   file or the new one, never a torn one.
//! * [`load_safetensors`] reads the file, validates it completely with [`validate_safetensors`]
//!   (field case C17) and only then builds tensors.

mod validate;
#[cfg(test)]
mod tests;

pub use validate::{
    dtype_from_safetensors, dtype_to_safetensors, validate_safetensors, validate_safetensors_with_metadata, TensorRecord,
    MAX_HEADER_LEN,
};

use crate::abi::dtype::DType;
use crate::abi::host::TensorHandle;
use crate::error::{Error, Result};
use crate::tensor::{check, Host, Tensor};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

fn ckpt_err(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Checkpoint { path: path.display().to_string(), msg: msg.to_string() }
}

/// Bytes of one tensor in the form the `safetensors` crate serialises.
struct RawTensor {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl safetensors::View for &RawTensor {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn st_dtype(dtype: DType) -> Option<safetensors::Dtype> {
    use safetensors::Dtype as S;
    Some(match dtype {
        DType::F32 => S::F32,
        DType::F64 => S::F64,
        DType::F16 => S::F16,
        DType::BF16 => S::BF16,
        DType::I64 => S::I64,
        DType::I32 => S::I32,
        DType::U8 => S::U8,
        DType::BOOL => S::BOOL,
        _ => return None,
    })
}

/// Reverses each `size`-byte element: safetensors is little-endian, so big-endian hosts swap.
fn to_from_le(bytes: &mut [u8], size: usize) {
    if cfg!(target_endian = "big") && size > 1 {
        bytes.chunks_exact_mut(size).for_each(<[u8]>::reverse);
    }
}

/// Row-major little-endian bytes of `t` (any supported dtype, any layout).
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::checkpoint::{tensor_from_le_bytes, tensor_to_le_bytes};
/// let t = host.from_slice(&[1.0f32, 2.0], &[2])?;
/// let bytes = tensor_to_le_bytes(&t)?;
/// assert_eq!(bytes.len(), 8);
/// let back = tensor_from_le_bytes(&host, DType::F32, &[2], &bytes)?;
/// assert_eq!(back.to_vec::<f32>()?, vec![1.0, 2.0]);
/// # Ok(())
/// # }
/// ```
pub fn tensor_to_le_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let dtype = t.dtype();
    let n = t.numel().checked_mul(dtype.size()).ok_or_else(|| Error::Invalid("tensor too large".into()))?;
    let mut bytes = vec![0u8; n];
    let api = t.host().api();
    check(api, (api.read)(t.handle(), bytes.as_mut_ptr(), n))?;
    to_from_le(&mut bytes, dtype.size());
    Ok(bytes)
}

/// A CPU tensor of `dtype` and `shape` from row-major little-endian bytes.
///
/// # Errors
/// [`Error::Invalid`] if `bytes.len()` is not `numel × dtype size`; [`Error::Host`] if the core
/// rejects it.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let t = ferrite_sdk::checkpoint::tensor_from_le_bytes(&host, DType::U8, &[3], &[1, 2, 3])?;
/// assert_eq!(t.to_vec::<u8>()?, vec![1, 2, 3]);
/// # Ok(())
/// # }
/// ```
pub fn tensor_from_le_bytes(host: &Host, dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<Tensor> {
    let need = shape.iter().try_fold(dtype.size(), |a, &d| a.checked_mul(d));
    if need != Some(bytes.len()) {
        crate::bail!("tensor_from_le_bytes: shape {shape:?} of {dtype} needs {need:?} bytes, got {}", bytes.len());
    }
    let owned;
    let data = if cfg!(target_endian = "big") && dtype.size() > 1 {
        let mut v = bytes.to_vec();
        to_from_le(&mut v, dtype.size());
        owned = v;
        &owned[..]
    } else {
        bytes
    };
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    let api = host.api();
    let mut out = TensorHandle::NULL;
    check(api, (api.from_data)(dtype, dims.as_ptr(), dims.len(), data.as_ptr(), data.len(), &mut out))?;
    // SAFETY: `from_data` succeeded and handed us one reference to a live tensor.
    Ok(unsafe { Tensor::from_raw(api, out) })
}

/// Serialises named tensors (with optional string metadata) to safetensors bytes.
///
/// # Errors
/// [`Error::Invalid`] for duplicate names, the reserved name `__metadata__`, or a dtype
/// safetensors cannot hold; [`Error::Host`] if a tensor cannot be read.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::checkpoint::{load_safetensors_bytes, to_safetensors_bytes};
/// let t = host.arange(3, DType::I64)?;
/// let bytes = to_safetensors_bytes(&[("ids".to_string(), t)], None)?;
/// let back = load_safetensors_bytes(&host, &bytes)?;
/// assert_eq!(back[0].1.to_vec::<i64>()?, vec![0, 1, 2]);
/// # Ok(())
/// # }
/// ```
pub fn to_safetensors_bytes(tensors: &[(String, Tensor)], metadata: Option<HashMap<String, String>>) -> Result<Vec<u8>> {
    let mut seen = HashSet::new();
    let mut raw = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        if name == "__metadata__" {
            crate::bail!("save_safetensors: tensor name \"__metadata__\" is reserved");
        }
        if !seen.insert(name.as_str()) {
            crate::bail!("save_safetensors: duplicate tensor name {name:?}");
        }
        let dtype = st_dtype(t.dtype()).ok_or_else(|| Error::Invalid(format!("save_safetensors: {name}: unsupported dtype {}", t.dtype())))?;
        raw.push((name.clone(), RawTensor { dtype, shape: t.shape(), bytes: tensor_to_le_bytes(t)? }));
    }
    safetensors::serialize(raw.iter().map(|(n, r)| (n.as_str(), r)), &metadata)
        .map_err(|e| Error::Invalid(format!("save_safetensors: {e}")))
}

/// A temporary path next to `path` (same directory, so `rename` is atomic).
fn temp_path(path: &Path) -> PathBuf {
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "checkpoint".into());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    path.with_file_name(format!(".{file}.tmp.{}.{nanos}", std::process::id()))
}

/// Writes `bytes` to `path` atomically: temporary file in the same directory, `fsync`, `rename`,
/// then `fsync` of the directory (POSIX durability recipe). On failure the temporary is removed
/// and any existing `path` is left untouched.
///
/// # Errors
/// [`Error::Checkpoint`] for any I/O failure.
///
/// # Examples
///
/// ```
/// let dir = std::env::temp_dir().join(format!("ferrite-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("out.bin");
/// ferrite_sdk::checkpoint::write_atomic(&path, b"hello").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello");
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path(path);
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(ckpt_err(path, e));
    }
    // Make the rename itself durable. Not every platform can open a directory; that is not fatal.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Saves named tensors as a safetensors file, atomically (see [`write_atomic`]). Tensors of any
/// of the eight Ferrite dtypes (F32, F64, F16, BF16, I64, I32, U8, BOOL) and any layout are
/// written row-major, little-endian; `metadata` goes to `__metadata__`. Matches
/// `safetensors.torch.save_file`.
///
/// # Errors
/// [`Error::Invalid`] for duplicate or reserved names; [`Error::Host`] if a tensor cannot be
/// read; [`Error::Checkpoint`] for I/O failures.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// use std::collections::HashMap;
/// let w = host.randn(&[3, 2], 0.0, 1.0, DType::F32)?;
/// let meta = HashMap::from([("epoch".to_string(), "3".to_string())]);
/// ferrite_sdk::save_safetensors("model.safetensors", &[("w".to_string(), w.clone())], Some(meta))?;
/// let back = ferrite_sdk::load_safetensors(&host, "model.safetensors")?;
/// assert_eq!(back[0].0, "w");
/// assert_eq!(back[0].1.to_vec::<f32>()?, w.to_vec::<f32>()?);
/// let meta = ferrite_sdk::checkpoint::load_safetensors_metadata("model.safetensors")?;
/// assert_eq!(meta["epoch"], "3");
/// # Ok(())
/// # }
/// ```
pub fn save_safetensors(path: impl AsRef<Path>, tensors: &[(String, Tensor)], metadata: Option<HashMap<String, String>>) -> Result<()> {
    let bytes = to_safetensors_bytes(tensors, metadata)?;
    write_atomic(path.as_ref(), &bytes)
}

/// Builds tensors from safetensors bytes after validating them completely; tensors come back
/// in file (data offset) order.
///
/// # Errors
/// [`Error::Safetensors`] for a malformed file (see [`validate_safetensors`]); [`Error::Host`] if
/// the core cannot create a tensor.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let bytes = std::fs::read("model.safetensors").unwrap();
/// let tensors = ferrite_sdk::checkpoint::load_safetensors_bytes(&host, &bytes)?;
/// # let _ = tensors;
/// # Ok(())
/// # }
/// ```
pub fn load_safetensors_bytes(host: &Host, bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
    let records = validate_safetensors(bytes)?;
    records
        .into_iter()
        .map(|r| Ok((r.name, tensor_from_le_bytes(host, r.dtype, &r.shape, &bytes[r.range])?)))
        .collect()
}

/// Loads every tensor of a safetensors file as CPU tensors (`safetensors.torch.load_file`),
/// in file order. The file is validated completely before any tensor is built.
///
/// # Errors
/// [`Error::Checkpoint`] if the file cannot be read; [`Error::Safetensors`] (with the path) if
/// it is malformed; [`Error::Host`] if the core cannot create a tensor.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let tensors = ferrite_sdk::load_safetensors(&host, "model.safetensors")?;
/// for (name, t) in &tensors {
///     println!("{name}: {:?} {}", t.shape(), t.dtype());
/// }
/// # Ok(())
/// # }
/// ```
pub fn load_safetensors(host: &Host, path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|e| ckpt_err(path, e))?;
    load_safetensors_bytes(host, &bytes).map_err(|e| match e {
        Error::Safetensors { kind, .. } => Error::Safetensors { path: Some(path.display().to_string()), kind },
        other => other,
    })
}

/// The `__metadata__` map of a safetensors file (empty if it has none), after validating it.
///
/// # Errors
/// As [`load_safetensors`].
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let meta = ferrite_sdk::checkpoint::load_safetensors_metadata("model.safetensors")?;
/// println!("{:?}", meta.get("epoch"));
/// # Ok(())
/// # }
/// ```
pub fn load_safetensors_metadata(path: impl AsRef<Path>) -> Result<HashMap<String, String>> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|e| ckpt_err(path, e))?;
    validate_safetensors_with_metadata(&bytes).map(|(_, m)| m).map_err(|e| match e {
        Error::Safetensors { kind, .. } => Error::Safetensors { path: Some(path.display().to_string()), kind },
        other => other,
    })
}
