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
    pub fn from_f64(&self, data: &[f64], shape: &[usize], dtype: DType) -> Result<Tensor> {
        let t = self.from_slice(data, shape)?;
        if dtype == DType::F64 {
            Ok(t)
        } else {
            t.to_dtype(dtype)
        }
    }

    /// A 0-d tensor holding `v`.
    pub fn scalar(&self, v: f64, dtype: DType) -> Result<Tensor> {
        self.full(&[], v, dtype)
    }

    /// Tensor filled with `value`.
    pub fn full(&self, shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let mut out = TensorHandle::NULL;
        check(self.api, (self.api.full)(dtype, dims.as_ptr(), dims.len(), value, &mut out))?;
        Ok(unsafe { Tensor::from_raw(self.api, out) })
    }

    /// Zeros.
    pub fn zeros(&self, shape: &[usize], dtype: DType) -> Result<Tensor> {
        self.full(shape, 0.0, dtype)
    }

    /// Ones.
    pub fn ones(&self, shape: &[usize], dtype: DType) -> Result<Tensor> {
        self.full(shape, 1.0, dtype)
    }

    /// `[0, 1, ..., n-1]`.
    pub fn arange(&self, n: usize, dtype: DType) -> Result<Tensor> {
        let mut v = try_vec("arange", &[n])?;
        v.extend((0..n).map(|i| i as f64));
        self.from_f64(&v, &[n], dtype)
    }

    /// Uniform samples in `[low, high)` from the core's seeded generator.
    pub fn rand(&self, shape: &[usize], low: f64, high: f64, dtype: DType) -> Result<Tensor> {
        let mut v = try_vec("rand", shape)?;
        let mut rng = Rng::new(self.next_seed());
        v.extend((0..shape.iter().product::<usize>()).map(|_| low + (high - low) * rng.uniform()));
        self.from_f64(&v, shape, dtype)
    }

    /// Normal samples with the given mean and standard deviation.
    pub fn randn(&self, shape: &[usize], mean: f64, std: f64, dtype: DType) -> Result<Tensor> {
        let mut v = try_vec("randn", shape)?;
        let mut rng = Rng::new(self.next_seed());
        v.extend((0..shape.iter().product::<usize>()).map(|_| mean + std * rng.normal()));
        self.from_f64(&v, shape, dtype)
    }

    /// Seeds the core's generator (`torch.manual_seed`).
    pub fn manual_seed(&self, seed: u64) {
        (self.api.manual_seed)(seed)
    }

    /// Next seed from the core's generator.
    pub fn next_seed(&self) -> u64 {
        (self.api.next_seed)()
    }

    /// Whether autograd records on this thread.
    pub fn is_grad_enabled(&self) -> bool {
        (self.api.is_grad_enabled)()
    }

    /// Runs `f` with autograd recording off (`torch.no_grad()`), restoring the previous state
    /// even if `f` panics.
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
    pub fn resolve_op(&self, name: &str) -> Result<u32> {
        let mut id = 0u32;
        check(self.api, (self.api.resolve_op)(abi_stable::std_types::RStr::from_str(name), &mut id))?;
        Ok(id)
    }
}

/// A reference-counted handle to a core tensor (like `torch.Tensor`). Cloning shares the tensor;
/// dropping releases the reference.
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
    pub fn shape(&self) -> Vec<usize> {
        self.meta().dims()
    }

    /// Number of dimensions.
    pub fn dim(&self) -> usize {
        self.meta().ndim as usize
    }

    /// Size of dimension `d` (negative counts from the end).
    pub fn size(&self, d: isize) -> Result<usize> {
        let s = self.shape();
        let i = normalize_dim(d, s.len())?;
        Ok(s[i])
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape().iter().product()
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.meta().dtype
    }

    /// Device.
    pub fn device(&self) -> Device {
        (self.api.device)(self.h)
    }

    /// Copies the elements out in row-major order as `T` (must be the tensor's dtype).
    pub fn to_vec<T: Element + Default>(&self) -> Result<Vec<T>> {
        if self.dtype() != T::DTYPE {
            crate::bail!("to_vec: tensor is {}, asked for {}", self.dtype(), T::DTYPE);
        }
        let mut v = vec![T::default(); self.numel()];
        check(self.api, (self.api.read)(self.h, v.as_mut_ptr() as *mut u8, std::mem::size_of_val(&v[..])))?;
        Ok(v)
    }

    /// Copies the elements out as f64 (any dtype).
    pub fn to_vec_f64(&self) -> Result<Vec<f64>> {
        if self.dtype() == DType::F64 {
            self.to_vec::<f64>()
        } else {
            self.to_dtype(DType::F64)?.to_vec::<f64>()
        }
    }

    /// The single value of a one-element tensor.
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
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        let args: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        self.view_op(view_kind::RESHAPE, &args)
    }

    /// View with permuted dimensions.
    pub fn permute(&self, dims: &[usize]) -> Result<Tensor> {
        let args: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        self.view_op(view_kind::PERMUTE, &args)
    }

    /// Swaps two dimensions (negative counts from the end).
    pub fn transpose(&self, d0: isize, d1: isize) -> Result<Tensor> {
        let n = self.dim();
        let (a, b) = (normalize_dim(d0, n)?, normalize_dim(d1, n)?);
        let mut p: Vec<usize> = (0..n).collect();
        p.swap(a, b);
        self.permute(&p)
    }

    /// Transpose of a 2-D tensor (`.t()`).
    pub fn t(&self) -> Result<Tensor> {
        if self.dim() != 2 {
            crate::bail!("t(): expected a 2-D tensor, got {:?}", self.shape());
        }
        self.transpose(0, 1)
    }

    /// Elements `start..end` with `step` along `dim` (a view).
    pub fn slice(&self, dim: isize, start: usize, end: usize, step: usize) -> Result<Tensor> {
        let d = normalize_dim(dim, self.dim())?;
        self.view_op(view_kind::SLICE, &[d as i64, start as i64, end as i64, step as i64])
    }

    /// `slice(dim, i, i+1, 1)` followed by removing `dim`.
    pub fn select(&self, dim: isize, index: usize) -> Result<Tensor> {
        let d = normalize_dim(dim, self.dim())?;
        let s = self.slice(d as isize, index, index + 1, 1)?;
        s.squeeze_dim(d as isize)
    }

    /// Broadcasts to `shape` without copying (-1 keeps a dimension).
    pub fn expand(&self, shape: &[isize]) -> Result<Tensor> {
        let args: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        self.view_op(view_kind::EXPAND, &args)
    }

    /// Inserts a dimension of size 1 at `dim`.
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let mut s: Vec<isize> = self.shape().iter().map(|&d| d as isize).collect();
        let d = normalize_dim(dim, s.len() + 1)?;
        s.insert(d, 1);
        self.reshape(&s)
    }

    /// Removes dimension `dim`, which must have size 1.
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
    pub fn contiguous(&self) -> Result<Tensor> {
        let mut out = TensorHandle::NULL;
        check(self.api, (self.api.contiguous)(self.h, &mut out))?;
        Ok(unsafe { Tensor::from_raw(self.api, out) })
    }

    /// Converts to `dtype` (differentiable between float types).
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        let mut out = TensorHandle::NULL;
        check(self.api, (self.api.to_dtype)(self.h, dtype, &mut out))?;
        Ok(unsafe { Tensor::from_raw(self.api, out) })
    }

    /// Copies `src` into this tensor in place (broadcasting, converting dtype); bumps the
    /// version counter, so a pending backward that saved this tensor will refuse to run.
    pub fn copy_(&self, src: &Tensor) -> Result<()> {
        check(self.api, (self.api.copy_)(self.h, src.h))
    }

    /// Version counter of the storage (bumped by in-place writes).
    pub fn version(&self) -> u64 {
        (self.api.version)(self.h)
    }

    /// Sets `requires_grad` on a leaf (`requires_grad_`). Returns `self` for chaining.
    pub fn requires_grad_(self, requires_grad: bool) -> Result<Tensor> {
        check(self.api, (self.api.set_requires_grad)(self.h, requires_grad))?;
        Ok(self)
    }

    /// Whether this tensor requires grad.
    pub fn requires_grad(&self) -> bool {
        (self.api.requires_grad)(self.h)
    }

    /// The accumulated gradient (`.grad`), if any.
    pub fn grad(&self) -> Option<Tensor> {
        let g = (self.api.grad)(self.h);
        (!g.is_null()).then(|| unsafe { Tensor::from_raw(self.api, g) })
    }

    /// Replaces `.grad` (`None` clears it, like `zero_grad(set_to_none=True)`).
    pub fn set_grad(&self, grad: Option<&Tensor>) -> Result<()> {
        check(self.api, (self.api.set_grad)(self.h, grad.map_or(TensorHandle::NULL, |g| g.h)))
    }

    /// Backward from a scalar (`loss.backward()`); frees the graph.
    pub fn backward(&self) -> Result<()> {
        check(self.api, (self.api.backward)(self.h, TensorHandle::NULL, false))
    }

    /// Backward with an explicit upstream gradient and `retain_graph`.
    pub fn backward_with(&self, grad: Option<&Tensor>, retain_graph: bool) -> Result<()> {
        check(self.api, (self.api.backward)(self.h, grad.map_or(TensorHandle::NULL, |g| g.h), retain_graph))
    }

    /// Same data, cut from the graph (`detach`).
    pub fn detach(&self) -> Tensor {
        unsafe { Tensor::from_raw(self.api, (self.api.detach)(self.h)) }
    }

    /// Registers a gradient hook: called with this tensor's gradient during backward; return
    /// `Some(g)` to replace the gradient, `None` to keep it (`Tensor.register_hook`).
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
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::add(self, other)
    }
    /// `self - other`.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::sub(self, other)
    }
    /// `self * other`.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::mul(self, other)
    }
    /// `self / other`.
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::div(self, other)
    }
    /// `self + v`.
    pub fn add_scalar(&self, v: f64) -> Result<Tensor> {
        self.add(&crate::functional::scalar_like(self, v)?)
    }
    /// `self * v`.
    pub fn mul_scalar(&self, v: f64) -> Result<Tensor> {
        self.mul(&crate::functional::scalar_like(self, v)?)
    }
    /// `self ^ v`.
    pub fn pow_scalar(&self, v: f64) -> Result<Tensor> {
        crate::functional::pow(self, &crate::functional::scalar_like(self, v)?)
    }
    /// `-self`.
    pub fn neg(&self) -> Result<Tensor> {
        crate::functional::neg(self)
    }
    /// `e^self`.
    pub fn exp(&self) -> Result<Tensor> {
        crate::functional::exp(self)
    }
    /// `ln(self)`.
    pub fn log(&self) -> Result<Tensor> {
        crate::functional::log(self)
    }
    /// `sqrt(self)`.
    pub fn sqrt(&self) -> Result<Tensor> {
        crate::functional::sqrt(self)
    }
    /// `max(self, 0)`.
    pub fn relu(&self) -> Result<Tensor> {
        crate::functional::relu(self)
    }
    /// Matrix product (`torch.matmul`).
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        crate::functional::matmul(self, other)
    }
    /// Sum of all elements (0-d).
    pub fn sum_all(&self) -> Result<Tensor> {
        crate::functional::sum(self, &[], false)
    }
    /// Mean of all elements (0-d).
    pub fn mean_all(&self) -> Result<Tensor> {
        crate::functional::mean(self, &[], false)
    }
    /// Index of the maximum along `dim`.
    pub fn argmax(&self, dim: isize) -> Result<Tensor> {
        crate::functional::argmax(self, dim, false)
    }
}
