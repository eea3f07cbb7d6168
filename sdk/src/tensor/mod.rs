//! [`Tensor`]: a safe, reference-counted handle to a core-owned tensor, and [`Host`], the entry
//! point that creates tensors. Every operation goes through the host table, so autograd records
//! the same way whether a Rust user, the host binary or a model plugin calls it.

use crate::abi::dtype::DType;
use crate::abi::host::{HostApi, TensorHandle};
use crate::abi::kernel::status;
use crate::error::{Error, Result};
use std::fmt;

/// Turns a host status code into a `Result`, fetching the thread's last error message.
pub(crate) fn check(api: &HostApi, code: i32) -> Result<()> {
    if code == status::OK {
        Ok(())
    } else {
        Err(Error::Host((api.last_error)().into_string()))
    }
}

/// Element types that can be copied in and out of tensors.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::{DType, Element};
/// fn dtype_of<T: Element>(_: &[T]) -> DType {
///     T::DTYPE
/// }
/// assert_eq!(dtype_of(&[1.0f32]), DType::F32);
/// assert_eq!(dtype_of(&[1i64]), DType::I64);
/// assert_eq!(<ferrite_sdk::half::bf16 as Element>::DTYPE, DType::BF16);
/// ```
pub trait Element: Copy + 'static {
    /// The matching dtype.
    const DTYPE: DType;
}
impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for f64 {
    const DTYPE: DType = DType::F64;
}
impl Element for i64 {
    const DTYPE: DType = DType::I64;
}
impl Element for i32 {
    const DTYPE: DType = DType::I32;
}
impl Element for u8 {
    const DTYPE: DType = DType::U8;
}
impl Element for half::f16 {
    const DTYPE: DType = DType::F16;
}
impl Element for half::bf16 {
    const DTYPE: DType = DType::BF16;
}

mod autocast;
mod autograd;
mod custom;
mod host;
mod ops;
mod storage;
mod views;

pub use autocast::AutocastState;
pub use host::Host;

/// A reference-counted handle to a core tensor (like `torch.Tensor`). Cloning shares the tensor;
/// dropping releases the reference.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// let w = host.randn(&[3, 2], 0.0, 1.0, DType::F32)?.requires_grad_(true)?;
/// let x = host.ones(&[4, 3], DType::F32)?;
/// let loss = x.matmul(&w)?.relu()?.mean_all()?;
/// loss.backward()?;
/// assert_eq!(w.grad().unwrap().shape(), vec![3, 2]);
/// # Ok(())
/// # }
/// ```
pub struct Tensor {
    h: TensorHandle,
    api: &'static HostApi,
}

// SAFETY: core tensors are thread-safe (atomic reference counts, locked autograd metadata).
unsafe impl Send for Tensor {}
unsafe impl Sync for Tensor {}

impl Clone for Tensor {
    fn clone(&self) -> Tensor {
        (self.api.retain)(self.h);
        Tensor { h: self.h, api: self.api }
    }
}

impl Drop for Tensor {
    fn drop(&mut self) {
        (self.api.release)(self.h);
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor({:?}, {}, {})", self.shape(), self.dtype(), self.device().name())?;
        if self.numel() <= 16 {
            if let Ok(v) = self.to_vec_f64() {
                write!(f, " {v:?}")?;
            }
        }
        Ok(())
    }
}

impl Tensor {
    /// Takes ownership of a handle (one reference).
    ///
    /// # Safety
    /// `h` must be a live, non-null handle from `api`, whose reference the caller gives up.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::abi::{host::TensorHandle, kernel::status};
    /// # fn demo(host: Host) -> Result<()> {
    /// let (api, shape, mut out) = (host.api(), [2i64], TensorHandle::NULL);
    /// assert_eq!((api.full)(DType::F32, shape.as_ptr(), 1, 3.0, &mut out), status::OK);
    /// // SAFETY: `out` is a fresh handle from `api`; the tensor now owns its reference.
    /// let t = unsafe { Tensor::from_raw(api, out) };
    /// assert_eq!(t.to_vec::<f32>()?, vec![3.0, 3.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub unsafe fn from_raw(api: &'static HostApi, h: TensorHandle) -> Tensor {
        debug_assert!(!h.is_null());
        Tensor { h, api }
    }

    /// Borrows a handle owned elsewhere (adds a reference).
    ///
    /// # Safety
    /// `h` must be a live, non-null handle from `api`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::abi::host::TensorHandle;
    /// // A kernel or hook receives a borrowed handle it must not release.
    /// fn read_borrowed(host: Host, h: TensorHandle) -> Result<Vec<f32>> {
    ///     // SAFETY: `h` is live for this call; `from_borrowed` adds the reference `t` drops.
    ///     let t = unsafe { Tensor::from_borrowed(host.api(), h) };
    ///     t.to_vec::<f32>()
    /// }
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.ones(&[2], DType::F32)?;
    /// assert_eq!(read_borrowed(host, x.handle())?, vec![1.0, 1.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub unsafe fn from_borrowed(api: &'static HostApi, h: TensorHandle) -> Tensor {
        (api.retain)(h);
        Tensor { h, api }
    }

    /// Gives up ownership, returning the handle (its reference now belongs to the caller).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.ones(&[2], DType::F32)?;
    /// let h = t.into_raw(); // e.g. an output handed back through the ABI
    /// // ... and later taken back, so the reference is released on drop.
    /// let back = unsafe { Tensor::from_raw(host.api(), h) };
    /// assert_eq!(back.shape(), vec![2]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_raw(self) -> TensorHandle {
        let h = self.h;
        std::mem::forget(self);
        h
    }

    /// The handle (borrowed).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.ones(&[2], DType::F32)?;
    /// let u = t.clone();
    /// assert_eq!(t.handle(), u.handle()); // clones share the core tensor
    /// assert!((host.api().requires_grad)(t.handle()) == t.requires_grad());
    /// # Ok(())
    /// # }
    /// ```
    pub fn handle(&self) -> TensorHandle {
        self.h
    }

    /// The host this tensor belongs to.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[1], DType::F32)?;
    /// let same = t.host();
    /// let u = same.ones(&[1], DType::F32)?;
    /// # let _ = u;
    /// # Ok(())
    /// # }
    /// ```
    pub fn host(&self) -> Host {
        Host { api: self.api }
    }

}

/// An empty `Vec<f64>` with room for exactly `shape.iter().product()` values, or a one-line
/// error when that is impossible (overflow, or the allocator refuses) instead of an abort.
fn try_vec(what: &str, shape: &[usize]) -> Result<Vec<f64>> {
    let too_big = || crate::Error::Invalid(format!("{what}: cannot allocate a tensor of shape {shape:?}: out of memory"));
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(too_big)?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| too_big())?;
    Ok(v)
}

/// Normalises a possibly negative dimension index against `ndim`.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::tensor::normalize_dim;
/// assert_eq!(normalize_dim(-1, 3).unwrap(), 2);
/// assert_eq!(normalize_dim(1, 3).unwrap(), 1);
/// assert!(normalize_dim(3, 3).is_err());
/// ```
pub fn normalize_dim(d: isize, ndim: usize) -> Result<usize> {
    let n = ndim as isize;
    let r = if d < 0 { d + n } else { d };
    if r < 0 || r >= n.max(1) {
        crate::bail!("dimension {d} out of range for a {ndim}-d tensor");
    }
    Ok(r as usize)
}
