//! [`Host`]: the entry point that creates tensors and controls global state.

use super::{check, try_vec, Element, Tensor};
use crate::abi::dtype::DType;
use crate::abi::host::{HostApi, TensorHandle};
use crate::error::Result;
use crate::rng::Rng;
use std::fmt;

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
    pub(super) api: &'static HostApi,
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
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::abi::host::HostApi;
    /// # use ferrite_sdk::{DType, Host, Result};
    /// // In a model factory: `extern "C" fn make(host: *const HostApi, ...)`.
    /// fn factory_body(api: *const HostApi) -> Result<()> {
    ///     // SAFETY: the core passes its static table.
    ///     let host = unsafe { Host::from_raw(api) };
    ///     let _w = host.zeros(&[4, 4], DType::F32)?;
    ///     Ok(())
    /// }
    /// ```
    pub unsafe fn from_raw(api: *const HostApi) -> Host {
        Host { api: &*api }
    }

    /// Wraps a static table.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::abi::host::HostApi;
    /// # fn demo(table: &'static HostApi) {
    /// use ferrite_sdk::Host;
    /// // `table` is `ferrite_core::host_api()` in the host binary and in tests.
    /// let host = Host::new(table);
    /// assert_eq!(host.api().abi_major, table.abi_major);
    /// # }
    /// ```
    pub fn new(api: &'static HostApi) -> Host {
        Host { api }
    }

    /// The raw table.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # fn demo(host: Host) -> Result<()> {
    /// let api = host.api();
    /// assert_eq!(api.abi_major, ferrite_sdk::abi::ABI_MAJOR);
    /// let x = host.ones(&[3], DType::F32)?;
    /// assert_eq!((api.version)(x.handle()), x.version());
    /// # Ok(())
    /// # }
    /// ```
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
