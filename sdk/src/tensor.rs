//! [`Tensor`]: a safe, reference-counted handle to a core-owned tensor, and [`Host`], the entry
//! point that creates tensors. Every operation goes through the host table, so autograd records
//! the same way whether a Rust user, the host binary or a model plugin calls it.

use crate::abi::dtype::{DType, Device};
use crate::abi::host::{view_kind, GradHook, HostApi, TensorHandle};
use crate::abi::kernel::status;
use crate::abi::view::TensorMeta;
use crate::error::{Error, Result};
use crate::rng::Rng;
use std::ffi::c_void;
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

/// The host services as seen by safe code: creates tensors and controls global state
/// (grad mode, seeds). Cheap to copy.
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # use ferrite_sdk::functional as F;
/// # fn demo(host: Host) -> Result<()> {
/// // `host` comes from the core (`Host::new(ferrite_core::host_api())`) or a plugin factory.
/// let x = host.from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
/// let y = host.ones(&[2, 2], DType::F32)?;
/// assert_eq!(x.add(&y)?.to_vec::<f32>()?, vec![2.0, 3.0, 4.0, 5.0]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy)]
pub struct Host {
    api: &'static HostApi,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Host(abi {}.{})", self.api.abi_major, self.api.abi_minor)
    }
}

impl Host {
    /// Wraps the table the core hands out (`ferrite_core::host_api()`, or the pointer a
    /// factory receives).
    ///
    /// # Safety
    /// `api` must point to a live host table that outlives the process (the core's is static).
    pub unsafe fn from_raw(api: *const HostApi) -> Host {
        Host { api: &*api }
    }

    /// Wraps a static table.
    pub fn new(api: &'static HostApi) -> Host {
        Host { api }
    }

    /// The raw table.
    pub fn api(&self) -> &'static HostApi {
        self.api
    }

    /// Tensor from row-major data of any [`Element`] type; errors if `data.len()` does not
    /// match `shape`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.from_slice(&[1i64, 2, 3, 4, 5, 6], &[2, 3])?;
    /// assert_eq!(t.dtype(), DType::I64);
    /// assert_eq!(t.shape(), vec![2, 3]);
    /// assert!(host.from_slice(&[1.0f32, 2.0], &[3]).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_slice<T: Element>(&self, data: &[T], shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            crate::bail!("from_slice: shape {shape:?} needs {n} elements, got {}", data.len());
        }
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let mut out = TensorHandle::NULL;
        let nbytes = std::mem::size_of_val(data);
        check(
            self.api,
            (self.api.from_data)(T::DTYPE, dims.as_ptr(), dims.len(), data.as_ptr() as *const u8, nbytes, &mut out),
        )?;
        Ok(unsafe { Tensor::from_raw(self.api, out) })
    }

    /// Tensor of `dtype` from f64 values (rounded once).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.from_f64(&[0.5, 1.5], &[2], DType::BF16)?;
    /// assert_eq!(t.to_vec_f64()?, vec![0.5, 1.5]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_f64(&self, data: &[f64], shape: &[usize], dtype: DType) -> Result<Tensor> {
        let t = self.from_slice(data, shape)?;
        if dtype == DType::F64 {
            Ok(t)
        } else {
            t.to_dtype(dtype)
        }
    }

    /// A 0-d tensor holding `v`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let s = host.scalar(2.5, DType::F64)?;
    /// assert_eq!(s.dim(), 0);
    /// assert_eq!(s.item()?, 2.5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn scalar(&self, v: f64, dtype: DType) -> Result<Tensor> {
        self.full(&[], v, dtype)
    }

    /// Tensor filled with `value`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.full(&[2, 2], 7.0, DType::F32)?;
    /// assert_eq!(t.to_vec::<f32>()?, vec![7.0; 4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn full(&self, shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let mut out = TensorHandle::NULL;
        check(self.api, (self.api.full)(dtype, dims.as_ptr(), dims.len(), value, &mut out))?;
        Ok(unsafe { Tensor::from_raw(self.api, out) })
    }

    /// Zeros.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[3], DType::F64)?;
    /// assert_eq!(t.to_vec::<f64>()?, vec![0.0; 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn zeros(&self, shape: &[usize], dtype: DType) -> Result<Tensor> {
        self.full(shape, 0.0, dtype)
    }

    /// Ones.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.ones(&[2, 3], DType::F32)?;
    /// assert_eq!(t.sum_all()?.item()?, 6.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn ones(&self, shape: &[usize], dtype: DType) -> Result<Tensor> {
        self.full(shape, 1.0, dtype)
    }

    /// `[0, 1, ..., n-1]`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.arange(4, DType::I64)?;
    /// assert_eq!(t.to_vec::<i64>()?, vec![0, 1, 2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn arange(&self, n: usize, dtype: DType) -> Result<Tensor> {
        let mut v = try_vec("arange", &[n])?;
        v.extend((0..n).map(|i| i as f64));
        self.from_f64(&v, &[n], dtype)
    }

    /// Uniform samples in `[low, high)` from the core's seeded generator.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// host.manual_seed(0);
    /// let t = host.rand(&[100], -1.0, 1.0, DType::F32)?;
    /// assert!(t.to_vec::<f32>()?.iter().all(|v| (-1.0..1.0).contains(v)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn rand(&self, shape: &[usize], low: f64, high: f64, dtype: DType) -> Result<Tensor> {
        let mut v = try_vec("rand", shape)?;
        let mut rng = Rng::new(self.next_seed());
        v.extend((0..shape.iter().product::<usize>()).map(|_| low + (high - low) * rng.uniform()));
        self.from_f64(&v, shape, dtype)
    }

    /// Normal samples with the given mean and standard deviation.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.randn(&[2, 3], 0.0, 0.02, DType::F32)?;
    /// assert_eq!(t.numel(), 6);
    /// # Ok(())
    /// # }
    /// ```
    pub fn randn(&self, shape: &[usize], mean: f64, std: f64, dtype: DType) -> Result<Tensor> {
        let mut v = try_vec("randn", shape)?;
        let mut rng = Rng::new(self.next_seed());
        v.extend((0..shape.iter().product::<usize>()).map(|_| mean + std * rng.normal()));
        self.from_f64(&v, shape, dtype)
    }

    /// Seeds the core's generator (`torch.manual_seed`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// host.manual_seed(42);
    /// let a = host.rand(&[4], 0.0, 1.0, DType::F32)?.to_vec::<f32>()?;
    /// host.manual_seed(42);
    /// let b = host.rand(&[4], 0.0, 1.0, DType::F32)?.to_vec::<f32>()?;
    /// assert_eq!(a, b);
    /// # Ok(())
    /// # }
    /// ```
    pub fn manual_seed(&self, seed: u64) {
        (self.api.manual_seed)(seed)
    }

    /// Next seed from the core's generator.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// host.manual_seed(1);
    /// let s = host.next_seed();
    /// host.manual_seed(1);
    /// assert_eq!(host.next_seed(), s);
    /// # Ok(())
    /// # }
    /// ```
    pub fn next_seed(&self) -> u64 {
        (self.api.next_seed)()
    }

    /// Whether autograd records on this thread.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// assert!(host.is_grad_enabled());
    /// host.no_grad(|| assert!(!host.is_grad_enabled()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_grad_enabled(&self) -> bool {
        (self.api.is_grad_enabled)()
    }

    /// Runs `f` with autograd recording off (`torch.no_grad()`), restoring the previous state
    /// even if `f` panics.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let w = host.ones(&[2], DType::F32)?.requires_grad_(true)?;
    /// let y = host.no_grad(|| w.mul_scalar(2.0))?;
    /// assert!(!y.requires_grad());
    /// # Ok(())
    /// # }
    /// ```
    pub fn no_grad<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore(&'static HostApi, bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                (self.0.set_grad_enabled)(self.1);
            }
        }
        let _restore = Restore(self.api, (self.api.set_grad_enabled)(false));
        f()
    }

    /// Resolves an exported op name to its id.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let id = host.resolve_op("ferrite::add")?;
    /// assert!(host.resolve_op("no::such_op").is_err());
    /// # let _ = id;
    /// # Ok(())
    /// # }
    /// ```
    pub fn resolve_op(&self, name: &str) -> Result<u32> {
        let mut id = 0u32;
        check(self.api, (self.api.resolve_op)(abi_stable::std_types::RStr::from_str(name), &mut id))?;
        Ok(id)
    }
}

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
    pub unsafe fn from_raw(api: &'static HostApi, h: TensorHandle) -> Tensor {
        debug_assert!(!h.is_null());
        Tensor { h, api }
    }

    /// Borrows a handle owned elsewhere (adds a reference).
    ///
    /// # Safety
    /// `h` must be a live, non-null handle from `api`.
    pub unsafe fn from_borrowed(api: &'static HostApi, h: TensorHandle) -> Tensor {
        (api.retain)(h);
        Tensor { h, api }
    }

    /// Gives up ownership, returning the handle (its reference now belongs to the caller).
    pub fn into_raw(self) -> TensorHandle {
        let h = self.h;
        std::mem::forget(self);
        h
    }

    /// The handle (borrowed).
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

    fn meta(&self) -> TensorMeta {
        let mut m = TensorMeta { dtype: DType::F32, ndim: 0, shape: [0; crate::abi::view::MAX_NDIM] };
        // A failure here (more than MAX_NDIM dims) leaves ndim 0; creation already rejects those.
        (self.api.meta)(self.h, &mut m);
        m
    }

    /// Sizes of each dimension.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[2, 3, 4], DType::F32)?;
    /// assert_eq!(t.shape(), vec![2, 3, 4]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn shape(&self) -> Vec<usize> {
        self.meta().dims()
    }

    /// Number of dimensions.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// assert_eq!(host.zeros(&[2, 3], DType::F32)?.dim(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn dim(&self) -> usize {
        self.meta().ndim as usize
    }

    /// Size of dimension `d` (negative counts from the end).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[2, 3], DType::F32)?;
    /// assert_eq!(t.size(0)?, 2);
    /// assert_eq!(t.size(-1)?, 3);
    /// assert!(t.size(2).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn size(&self, d: isize) -> Result<usize> {
        let s = self.shape();
        let i = normalize_dim(d, s.len())?;
        Ok(s[i])
    }

    /// Number of elements.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// assert_eq!(host.zeros(&[2, 3], DType::F32)?.numel(), 6);
    /// # Ok(())
    /// # }
    /// ```
    pub fn numel(&self) -> usize {
        self.shape().iter().product()
    }

    /// Element type.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// assert_eq!(host.zeros(&[1], DType::BF16)?.dtype(), DType::BF16);
    /// # Ok(())
    /// # }
    /// ```
    pub fn dtype(&self) -> DType {
        self.meta().dtype
    }

    /// Device.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[1], DType::F32)?;
    /// assert_eq!(t.device().name(), "cpu");
    /// # Ok(())
    /// # }
    /// ```
    pub fn device(&self) -> Device {
        (self.api.device)(self.h)
    }

    /// Copies the elements out in row-major order as `T` (must be the tensor's dtype).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.from_slice(&[1.0f32, 2.0], &[2])?;
    /// assert_eq!(t.to_vec::<f32>()?, vec![1.0, 2.0]);
    /// assert!(t.to_vec::<f64>().is_err()); // wrong dtype
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_vec<T: Element + Default>(&self) -> Result<Vec<T>> {
        if self.dtype() != T::DTYPE {
            crate::bail!("to_vec: tensor is {}, asked for {}", self.dtype(), T::DTYPE);
        }
        let mut v = vec![T::default(); self.numel()];
        check(self.api, (self.api.read)(self.h, v.as_mut_ptr() as *mut u8, std::mem::size_of_val(&v[..])))?;
        Ok(v)
    }

    /// Copies the elements out as f64 (any dtype).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.from_slice(&[1i32, 2], &[2])?;
    /// assert_eq!(t.to_vec_f64()?, vec![1.0, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        if self.dtype() == DType::F64 {
            self.to_vec::<f64>()
        } else {
            self.to_dtype(DType::F64)?.to_vec::<f64>()
        }
    }

    /// The single value of a one-element tensor.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let loss = host.from_slice(&[1.0f32, 3.0], &[2])?.mean_all()?;
    /// assert_eq!(loss.item()?, 2.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn item(&self) -> Result<f64> {
        if self.numel() != 1 {
            crate::bail!("item: tensor has {} elements, expected 1", self.numel());
        }
        Ok(self.to_vec_f64()?[0])
    }

    fn view_op(&self, kind: u32, args: &[i64]) -> Result<Tensor> {
        let mut out = TensorHandle::NULL;
        check(self.api, (self.api.view)(self.h, kind, args.as_ptr(), args.len(), &mut out))?;
        Ok(unsafe { Tensor::from_raw(self.api, out) })
    }

    /// View with a new shape (one entry may be -1); copies only if the layout requires it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.arange(6, DType::F32)?.reshape(&[2, -1])?;
    /// assert_eq!(t.shape(), vec![2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        let args: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        self.view_op(view_kind::RESHAPE, &args)
    }

    /// View with permuted dimensions.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[2, 3, 4], DType::F32)?.permute(&[2, 0, 1])?;
    /// assert_eq!(t.shape(), vec![4, 2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn permute(&self, dims: &[usize]) -> Result<Tensor> {
        let args: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        self.view_op(view_kind::PERMUTE, &args)
    }

    /// Swaps two dimensions (negative counts from the end).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[2, 3, 4], DType::F32)?.transpose(0, -1)?;
    /// assert_eq!(t.shape(), vec![4, 3, 2]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn transpose(&self, d0: isize, d1: isize) -> Result<Tensor> {
        let n = self.dim();
        let (a, b) = (normalize_dim(d0, n)?, normalize_dim(d1, n)?);
        let mut p: Vec<usize> = (0..n).collect();
        p.swap(a, b);
        self.permute(&p)
    }

    /// Transpose of a 2-D tensor (`.t()`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let m = host.arange(6, DType::F32)?.reshape(&[2, 3])?;
    /// assert_eq!(m.t()?.shape(), vec![3, 2]);
    /// assert_eq!(m.t()?.contiguous()?.to_vec::<f32>()?, vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn t(&self) -> Result<Tensor> {
        if self.dim() != 2 {
            crate::bail!("t(): expected a 2-D tensor, got {:?}", self.shape());
        }
        self.transpose(0, 1)
    }

    /// Elements `start..end` with `step` along `dim` (a view).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.arange(10, DType::I64)?;
    /// assert_eq!(t.slice(0, 1, 8, 3)?.to_vec::<i64>()?, vec![1, 4, 7]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn slice(&self, dim: isize, start: usize, end: usize, step: usize) -> Result<Tensor> {
        let d = normalize_dim(dim, self.dim())?;
        self.view_op(view_kind::SLICE, &[d as i64, start as i64, end as i64, step as i64])
    }

    /// `slice(dim, i, i+1, 1)` followed by removing `dim`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let m = host.arange(6, DType::I64)?.reshape(&[2, 3])?;
    /// assert_eq!(m.select(0, 1)?.to_vec::<i64>()?, vec![3, 4, 5]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn select(&self, dim: isize, index: usize) -> Result<Tensor> {
        let d = normalize_dim(dim, self.dim())?;
        let s = self.slice(d as isize, index, index + 1, 1)?;
        s.squeeze_dim(d as isize)
    }

    /// Broadcasts to `shape` without copying (-1 keeps a dimension).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let row = host.arange(3, DType::F32)?.unsqueeze(0)?;
    /// assert_eq!(row.expand(&[4, -1])?.shape(), vec![4, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn expand(&self, shape: &[isize]) -> Result<Tensor> {
        let args: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        self.view_op(view_kind::EXPAND, &args)
    }

    /// Inserts a dimension of size 1 at `dim`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[3], DType::F32)?;
    /// assert_eq!(t.unsqueeze(0)?.shape(), vec![1, 3]);
    /// assert_eq!(t.unsqueeze(-1)?.shape(), vec![3, 1]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let mut s: Vec<isize> = self.shape().iter().map(|&d| d as isize).collect();
        let d = normalize_dim(dim, s.len() + 1)?;
        s.insert(d, 1);
        self.reshape(&s)
    }

    /// Removes dimension `dim`, which must have size 1.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[3, 1], DType::F32)?;
    /// assert_eq!(t.squeeze_dim(1)?.shape(), vec![3]);
    /// assert!(t.squeeze_dim(0).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn squeeze_dim(&self, dim: isize) -> Result<Tensor> {
        let mut s: Vec<isize> = self.shape().iter().map(|&d| d as isize).collect();
        let d = normalize_dim(dim, s.len())?;
        if s[d] != 1 {
            crate::bail!("squeeze: dim {d} has size {}, not 1", s[d]);
        }
        s.remove(d);
        self.reshape(&s)
    }

    /// Flattens dimensions `start..=end` into one.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[2, 3, 4], DType::F32)?;
    /// assert_eq!(t.flatten(1, -1)?.shape(), vec![2, 12]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        let s = self.shape();
        if s.is_empty() {
            return self.reshape(&[1]);
        }
        let (a, b) = (normalize_dim(start, s.len())?, normalize_dim(end, s.len())?);
        if a > b {
            crate::bail!("flatten: start {a} after end {b}");
        }
        let mut out: Vec<isize> = s[..a].iter().map(|&d| d as isize).collect();
        out.push(s[a..=b].iter().product::<usize>() as isize);
        out.extend(s[b + 1..].iter().map(|&d| d as isize));
        self.reshape(&out)
    }

    /// Contiguous copy (or the same tensor if already contiguous).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[2, 3], DType::F32)?.t()?.contiguous()?;
    /// assert_eq!(t.shape(), vec![3, 2]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn contiguous(&self) -> Result<Tensor> {
        let mut out = TensorHandle::NULL;
        check(self.api, (self.api.contiguous)(self.h, &mut out))?;
        Ok(unsafe { Tensor::from_raw(self.api, out) })
    }

    /// Converts to `dtype` (differentiable between float types).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.from_slice(&[1.5f32], &[1])?.to_dtype(DType::F64)?;
    /// assert_eq!(t.to_vec::<f64>()?, vec![1.5]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        let mut out = TensorHandle::NULL;
        check(self.api, (self.api.to_dtype)(self.h, dtype, &mut out))?;
        Ok(unsafe { Tensor::from_raw(self.api, out) })
    }

    /// Copies `src` into this tensor in place (broadcasting, converting dtype); bumps the
    /// version counter, so a pending backward that saved this tensor will refuse to run.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let dst = host.zeros(&[2, 2], DType::F32)?;
    /// let v = dst.version();
    /// dst.copy_(&host.scalar(3.0, DType::F64)?)?; // broadcasts and converts
    /// assert_eq!(dst.to_vec::<f32>()?, vec![3.0; 4]);
    /// assert!(dst.version() > v);
    /// # Ok(())
    /// # }
    /// ```
    pub fn copy_(&self, src: &Tensor) -> Result<()> {
        check(self.api, (self.api.copy_)(self.h, src.h))
    }

    /// Version counter of the storage (bumped by in-place writes).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let t = host.zeros(&[1], DType::F32)?;
    /// let v0 = t.version();
    /// t.copy_(&host.ones(&[1], DType::F32)?)?;
    /// assert!(t.version() > v0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn version(&self) -> u64 {
        (self.api.version)(self.h)
    }

    /// Sets `requires_grad` on a leaf (`requires_grad_`). Returns `self` for chaining.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let w = host.zeros(&[2], DType::F32)?.requires_grad_(true)?;
    /// assert!(w.requires_grad());
    /// # Ok(())
    /// # }
    /// ```
    pub fn requires_grad_(self, requires_grad: bool) -> Result<Tensor> {
        check(self.api, (self.api.set_requires_grad)(self.h, requires_grad))?;
        Ok(self)
    }

    /// Whether this tensor requires grad.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// assert!(!host.zeros(&[1], DType::F32)?.requires_grad());
    /// # Ok(())
    /// # }
    /// ```
    pub fn requires_grad(&self) -> bool {
        (self.api.requires_grad)(self.h)
    }

    /// The accumulated gradient (`.grad`), if any.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.from_slice(&[3.0f32], &[1])?.requires_grad_(true)?;
    /// x.mul(&x)?.sum_all()?.backward()?; // d(x²)/dx = 2x
    /// assert_eq!(x.grad().unwrap().to_vec::<f32>()?, vec![6.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn grad(&self) -> Option<Tensor> {
        let g = (self.api.grad)(self.h);
        (!g.is_null()).then(|| unsafe { Tensor::from_raw(self.api, g) })
    }

    /// Replaces `.grad` (`None` clears it, like `zero_grad(set_to_none=True)`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.ones(&[2], DType::F32)?.requires_grad_(true)?;
    /// x.sum_all()?.backward()?;
    /// x.set_grad(None)?; // zero_grad(set_to_none=True)
    /// assert!(x.grad().is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_grad(&self, grad: Option<&Tensor>) -> Result<()> {
        check(self.api, (self.api.set_grad)(self.h, grad.map_or(TensorHandle::NULL, |g| g.h)))
    }

    /// Backward from a scalar (`loss.backward()`); frees the graph.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let w = host.from_slice(&[1.0f32, 2.0], &[2])?.requires_grad_(true)?;
    /// let loss = w.pow_scalar(2.0)?.sum_all()?;
    /// loss.backward()?;
    /// assert_eq!(w.grad().unwrap().to_vec::<f32>()?, vec![2.0, 4.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn backward(&self) -> Result<()> {
        check(self.api, (self.api.backward)(self.h, TensorHandle::NULL, false))
    }

    /// Backward with an explicit upstream gradient and `retain_graph`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.ones(&[2], DType::F32)?.requires_grad_(true)?;
    /// let y = x.mul_scalar(3.0)?;
    /// let g = host.from_slice(&[1.0f32, 10.0], &[2])?;
    /// y.backward_with(Some(&g), true)?; // keep the graph for a second pass
    /// assert_eq!(x.grad().unwrap().to_vec::<f32>()?, vec![3.0, 30.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn backward_with(&self, grad: Option<&Tensor>, retain_graph: bool) -> Result<()> {
        check(self.api, (self.api.backward)(self.h, grad.map_or(TensorHandle::NULL, |g| g.h), retain_graph))
    }

    /// Same data, cut from the graph (`detach`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.ones(&[2], DType::F32)?.requires_grad_(true)?;
    /// assert!(!x.mul_scalar(2.0)?.detach().requires_grad());
    /// # Ok(())
    /// # }
    /// ```
    pub fn detach(&self) -> Tensor {
        unsafe { Tensor::from_raw(self.api, (self.api.detach)(self.h)) }
    }

    /// Registers a gradient hook: called with this tensor's gradient during backward; return
    /// `Some(g)` to replace the gradient, `None` to keep it (`Tensor.register_hook`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.ones(&[2], DType::F32)?.requires_grad_(true)?;
    /// // Double the incoming gradient.
    /// x.register_hook(|g| g.mul_scalar(2.0).ok())?;
    /// x.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec::<f32>()?, vec![2.0, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn register_hook<F>(&self, hook: F) -> Result<()>
    where
        F: Fn(&Tensor) -> Option<Tensor> + Send + Sync + 'static,
    {
        struct State<F> {
            f: F,
            api: &'static HostApi,
        }
        extern "C" fn call<F: Fn(&Tensor) -> Option<Tensor>>(user: *mut c_void, grad: TensorHandle) -> TensorHandle {
            // SAFETY: `user` is the Box<State<F>> leaked below, alive until `drop_user`.
            let st = unsafe { &*(user as *const State<F>) };
            let g = unsafe { Tensor::from_borrowed(st.api, grad) };
            // A panicking hook must not unwind into the core.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (st.f)(&g))) {
                Ok(Some(t)) => t.into_raw(),
                Ok(None) => TensorHandle::NULL,
                Err(_) => {
                    (st.api.warn)(abi_stable::std_types::RStr::from_str(
                        "a gradient hook panicked; the gradient was left unchanged",
                    ));
                    TensorHandle::NULL
                }
            }
        }
        extern "C" fn drop_user<F>(user: *mut c_void) {
            // SAFETY: called once by the core when the hook is dropped.
            drop(unsafe { Box::from_raw(user as *mut State<F>) });
        }
        let user = Box::into_raw(Box::new(State { f: hook, api: self.api })) as *mut c_void;
        let hook = GradHook { user, call: call::<F>, drop_user: drop_user::<F> };
        check(self.api, (self.api.register_hook)(self.h, hook))
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

/// Arithmetic and common ops as methods, mirroring `torch.Tensor`.
impl Tensor {
    /// `self + other` (broadcasting).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f32, 2.0], &[2])?;
    /// let b = host.from_slice(&[10.0f32], &[1])?; // broadcasts
    /// assert_eq!(a.add(&b)?.to_vec::<f32>()?, vec![11.0, 12.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::add(self, other)
    }
    /// `self - other`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[5.0f32, 7.0], &[2])?;
    /// assert_eq!(a.sub(&a)?.to_vec::<f32>()?, vec![0.0, 0.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::sub(self, other)
    }
    /// `self * other`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[2.0f32, 3.0], &[2])?;
    /// assert_eq!(a.mul(&a)?.to_vec::<f32>()?, vec![4.0, 9.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::mul(self, other)
    }
    /// `self / other`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[2.0f32, 3.0], &[2])?;
    /// assert_eq!(a.div(&a)?.to_vec::<f32>()?, vec![1.0, 1.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::div(self, other)
    }
    /// `self + v`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.zeros(&[2], DType::F32)?;
    /// assert_eq!(a.add_scalar(1.5)?.to_vec::<f32>()?, vec![1.5, 1.5]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_scalar(&self, v: f64) -> Result<Tensor> {
        self.add(&crate::functional::scalar_like(self, v)?)
    }
    /// `self * v`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.ones(&[2], DType::F32)?;
    /// assert_eq!(a.mul_scalar(-2.0)?.to_vec::<f32>()?, vec![-2.0, -2.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn mul_scalar(&self, v: f64) -> Result<Tensor> {
        self.mul(&crate::functional::scalar_like(self, v)?)
    }
    /// `self ^ v`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[2.0f32, 3.0], &[2])?;
    /// assert_eq!(a.pow_scalar(2.0)?.to_vec::<f32>()?, vec![4.0, 9.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn pow_scalar(&self, v: f64) -> Result<Tensor> {
        crate::functional::pow(self, &crate::functional::scalar_like(self, v)?)
    }
    /// `-self`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f32, -2.0], &[2])?;
    /// assert_eq!(a.neg()?.to_vec::<f32>()?, vec![-1.0, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn neg(&self) -> Result<Tensor> {
        crate::functional::neg(self)
    }
    /// `e^self`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.zeros(&[1], DType::F64)?;
    /// assert_eq!(a.exp()?.item()?, 1.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn exp(&self) -> Result<Tensor> {
        crate::functional::exp(self)
    }
    /// `ln(self)`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.ones(&[1], DType::F64)?;
    /// assert_eq!(a.log()?.item()?, 0.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn log(&self) -> Result<Tensor> {
        crate::functional::log(self)
    }
    /// `sqrt(self)`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[9.0f64], &[1])?;
    /// assert_eq!(a.sqrt()?.item()?, 3.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn sqrt(&self) -> Result<Tensor> {
        crate::functional::sqrt(self)
    }
    /// `max(self, 0)`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[-1.0f32, 2.0], &[2])?;
    /// assert_eq!(a.relu()?.to_vec::<f32>()?, vec![0.0, 2.0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn relu(&self) -> Result<Tensor> {
        crate::functional::relu(self)
    }
    /// Matrix product (`torch.matmul`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.ones(&[2, 3], DType::F32)?;
    /// let b = host.ones(&[3, 4], DType::F32)?;
    /// let c = a.matmul(&b)?;
    /// assert_eq!(c.shape(), vec![2, 4]);
    /// assert_eq!(c.to_vec::<f32>()?[0], 3.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::matmul(self, other)
    }
    /// Sum of all elements (0-d).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.arange(4, DType::F32)?;
    /// assert_eq!(a.sum_all()?.item()?, 6.0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn sum_all(&self) -> Result<Tensor> {
        crate::functional::sum(self, &[], false)
    }
    /// Mean of all elements (0-d).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.arange(4, DType::F32)?;
    /// assert_eq!(a.mean_all()?.item()?, 1.5);
    /// # Ok(())
    /// # }
    /// ```
    pub fn mean_all(&self) -> Result<Tensor> {
        crate::functional::mean(self, &[], false)
    }
    /// Index of the maximum along `dim`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::functional as F;
    /// # fn demo(host: Host) -> Result<()> {
    /// let a = host.from_slice(&[1.0f32, 5.0, 2.0, 7.0, 0.0, 3.0], &[2, 3])?;
    /// assert_eq!(a.argmax(1)?.to_vec::<i64>()?, vec![1, 0]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn argmax(&self, dim: isize) -> Result<Tensor> {
        crate::functional::argmax(self, dim, false)
    }
}
