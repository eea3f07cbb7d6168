//! The core tensor: shared storage plus shape, strides (in elements) and offset, so that views
//! (reshape, permute, transpose, slice, expand) are free. Autograd metadata lives beside it.

pub mod copy;
pub mod fetch;
pub mod storage;
pub mod views;

use crate::autograd::AutogradMeta;
use crate::error::{invalid, Result};
use ferrite_sdk::abi::view::{TensorView, MAX_NDIM};
use ferrite_sdk::kernel::io::{load_f64, store_f64};
use ferrite_sdk::{DType, Device};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
pub use storage::Storage;

/// The data behind a [`Tensor`].
pub struct TensorImpl {
    /// Shared memory (views share it).
    pub storage: Arc<Storage>,
    /// Sizes, as `i64` so kernel views can point at them directly.
    pub shape: Vec<i64>,
    /// Strides in elements.
    pub strides: Vec<i64>,
    /// Offset of the first element, in elements.
    pub offset: usize,
    /// Element type.
    pub dtype: DType,
    /// Device.
    pub device: Device,
    /// Autograd state (requires_grad, grad, grad_fn, hooks).
    pub autograd: Mutex<AutogradMeta>,
}

/// A reference-counted tensor (cloning shares it).
#[derive(Clone)]
pub struct Tensor(pub Arc<TensorImpl>);

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor({:?}, {})", self.shape(), self.dtype())
    }
}

/// Row-major strides of a shape.
pub fn contiguous_strides(shape: &[i64]) -> Vec<i64> {
    let mut s = vec![1i64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1].max(1);
    }
    s
}

/// Checks the number of dimensions against the ABI limit ([`MAX_NDIM`]).
pub fn check_ndim(shape: &[i64]) -> Result<()> {
    if shape.len() > MAX_NDIM {
        return invalid!("tensor of shape {shape:?} has {} dimensions; at most {MAX_NDIM} are supported", shape.len());
    }
    Ok(())
}

fn checked_numel(shape: &[i64]) -> Result<usize> {
    check_ndim(shape)?;
    let mut n: usize = 1;
    for &d in shape {
        if d < 0 {
            return invalid!("negative dimension {d} in shape {shape:?}");
        }
        n = match n.checked_mul(d as usize) {
            Some(n) => n,
            None => return invalid!("shape {shape:?} has too many elements"),
        };
    }
    Ok(n)
}

impl Tensor {
    /// Wraps parts into a tensor with fresh autograd state.
    pub fn from_parts(storage: Arc<Storage>, shape: Vec<i64>, strides: Vec<i64>, offset: usize, dtype: DType) -> Tensor {
        Tensor(Arc::new(TensorImpl {
            storage,
            shape,
            strides,
            offset,
            dtype,
            device: Device::CPU,
            autograd: Mutex::new(AutogradMeta::default()),
        }))
    }

    /// A zero-filled contiguous tensor.
    pub fn zeros(shape: &[i64], dtype: DType) -> Result<Tensor> {
        let n = checked_numel(shape)?;
        let too_large = || crate::error::CoreError::Invalid(format!("cannot allocate a {dtype} tensor of shape {shape:?}: out of memory"));
        let nbytes = n.checked_mul(dtype.size()).ok_or_else(too_large)?;
        let storage = Storage::zeroed(nbytes).ok_or_else(too_large)?;
        Ok(Tensor::from_parts(Arc::new(storage), shape.to_vec(), contiguous_strides(shape), 0, dtype))
    }

    /// A tensor filled with `value` converted to `dtype`.
    pub fn full(shape: &[i64], value: f64, dtype: DType) -> Result<Tensor> {
        let t = Tensor::zeros(shape, dtype)?;
        if value != 0.0 {
            let p = t.data_ptr();
            let e = dtype.size();
            for i in 0..t.numel() {
                // SAFETY: freshly allocated contiguous storage of numel elements.
                unsafe { store_f64(p.add(i * e), dtype, value) }
            }
        }
        Ok(t)
    }

    /// A contiguous tensor from row-major bytes; `data.len()` must equal `numel × dtype size`.
    pub fn from_bytes(shape: &[i64], dtype: DType, data: &[u8]) -> Result<Tensor> {
        if !DType::ALL.contains(&dtype) {
            return invalid!("unsupported dtype {:?}", dtype);
        }
        let n = checked_numel(shape)?;
        if n * dtype.size() != data.len() {
            return invalid!("shape {shape:?} of {dtype} needs {} bytes, got {}", n * dtype.size(), data.len());
        }
        let t = Tensor::zeros(shape, dtype)?;
        // SAFETY: sizes checked above; fresh allocation does not overlap `data`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), t.data_ptr(), data.len()) };
        Ok(t)
    }

    /// A contiguous tensor of f64 values converted to `dtype`.
    pub fn from_f64(shape: &[i64], values: &[f64], dtype: DType) -> Result<Tensor> {
        let t = Tensor::zeros(shape, dtype)?;
        if values.len() != t.numel() {
            return invalid!("shape {shape:?} needs {} values, got {}", t.numel(), values.len());
        }
        let p = t.data_ptr();
        for (i, &v) in values.iter().enumerate() {
            // SAFETY: contiguous fresh storage.
            unsafe { store_f64(p.add(i * dtype.size()), dtype, v) }
        }
        Ok(t)
    }

    /// Sizes.
    pub fn shape(&self) -> &[i64] {
        &self.0.shape
    }

    /// Strides in elements.
    pub fn strides(&self) -> &[i64] {
        &self.0.strides
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.shape.iter().map(|&d| d as usize).product()
    }

    /// Pointer to the first element.
    pub fn data_ptr(&self) -> *mut u8 {
        self.0.storage.ptr().wrapping_add(self.0.offset * self.0.dtype.size())
    }

    /// Whether the layout is compact row-major.
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1i64;
        for (&d, &s) in self.0.shape.iter().zip(&self.0.strides).rev() {
            if d != 1 && s != expected {
                return false;
            }
            expected *= d;
        }
        true
    }

    /// The DLPack view kernels receive; valid while `self` lives.
    pub fn view(&self) -> TensorView {
        TensorView {
            data: self.0.storage.ptr() as *mut _,
            device: self.0.device,
            ndim: self.0.shape.len() as i32,
            dtype: self.0.dtype,
            shape: self.0.shape.as_ptr(),
            strides: self.0.strides.as_ptr(),
            byte_offset: (self.0.offset * self.0.dtype.size()) as u64,
        }
    }

    /// Every element as f64, row-major.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        // SAFETY: the view is valid while self lives.
        unsafe { ferrite_sdk::kernel::io::read_f64(&self.view()) }
    }

    /// The autograd metadata, locked. A poisoned lock (a panic while holding it) is recovered:
    /// the metadata is plain data and stays consistent.
    pub fn meta(&self) -> MutexGuard<'_, AutogradMeta> {
        self.0.autograd.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this tensor requires grad.
    pub fn requires_grad(&self) -> bool {
        self.meta().requires_grad
    }

    /// Same identity (same `TensorImpl`).
    pub fn same(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// A tensor sharing storage and layout but with no autograd history.
    pub fn detach(&self) -> Tensor {
        Tensor::from_parts(self.0.storage.clone(), self.0.shape.clone(), self.0.strides.clone(), self.0.offset, self.0.dtype)
    }

    /// Reads element `flat` (row-major position) as f64.
    pub fn get_f64(&self, flat: usize) -> f64 {
        let mut off = self.0.offset as i64;
        let mut rem = flat as i64;
        for d in (0..self.0.shape.len()).rev() {
            let size = self.0.shape[d].max(1);
            off += (rem % size) * self.0.strides[d];
            rem /= size;
        }
        // SAFETY: flat < numel by caller contract; offsets derived from a valid layout.
        unsafe { load_f64(self.0.storage.ptr().add(off as usize * self.0.dtype.size()), self.0.dtype) }
    }
}

#[cfg(test)]
mod tests;
