//! The hot-path C ABI: kernel context, attribute values, status codes and function types.

use super::host::HostApi;
use abi_stable::std_types::RStr;
use abi_stable::StableAbi;
use std::ffi::c_void;

use super::view::{TensorMeta, TensorView};

/// Status codes returned by every kernel and shape function.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::kernel::status;
/// use ferrite_sdk::kernel::io::guarded;
/// // `guarded` maps a kernel body's outcome to a status code.
/// let ok = unsafe { guarded(std::ptr::null(), || Ok(())) };
/// let bad = unsafe { guarded(std::ptr::null(), || Err("dim out of range".to_string())) };
/// assert_eq!((ok, bad), (status::OK, status::BAD_ARGS));
/// ```
pub mod status {
    /// Success.
    ///
    /// # Examples
    ///
    /// ```
    /// let ok = unsafe { ferrite_sdk::kernel::io::guarded(std::ptr::null(), || Ok(())) };
    /// assert_eq!(ok, ferrite_sdk::abi::kernel::status::OK);
    /// ```
    pub const OK: i32 = 0;
    /// Bad arguments (shape, dtype, attribute); the message says which.
    ///
    /// # Examples
    ///
    /// ```
    /// let code = unsafe { ferrite_sdk::kernel::io::guarded(std::ptr::null(), || Err("bad shape".to_string())) };
    /// assert_eq!(code, ferrite_sdk::abi::kernel::status::BAD_ARGS);
    /// ```
    pub const BAD_ARGS: i32 = 1;
    /// The kernel panicked; the panic was caught inside the plugin.
    ///
    /// # Examples
    ///
    /// ```
    /// let code = unsafe { ferrite_sdk::kernel::io::guarded(std::ptr::null(), || panic!("index out of bounds")) };
    /// assert_eq!(code, ferrite_sdk::abi::kernel::status::PANICKED);
    /// ```
    pub const PANICKED: i32 = 2;
    /// Not supported by this kernel (dtype, device, feature).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::kernel::status;
    /// // Returned by raw kernels that refuse a dtype or device (after reporting why).
    /// assert!(![status::OK, status::BAD_ARGS, status::PANICKED, status::FAILED].contains(&status::UNSUPPORTED));
    /// ```
    pub const UNSUPPORTED: i32 = 3;
    /// Any other failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::kernel::status;
    /// // Any other non-zero failure; callers treat every code but OK as an error.
    /// assert_ne!(status::FAILED, status::OK);
    /// ```
    pub const FAILED: i32 = 4;
}

/// What the core hands every kernel call: where to report errors, and host services.
///
/// Plugins must never keep this pointer after the call returns.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::kernel::KernelCtx;
/// use ferrite_sdk::abi_stable::std_types::RStr;
/// // What a core (or a test harness) passes: an error sink and its writer.
/// unsafe extern "C" fn keep(state: *mut std::ffi::c_void, msg: RStr<'_>) {
///     *(state as *mut String) = msg.to_string();
/// }
/// let mut last = String::new();
/// let ctx = KernelCtx { err_state: &mut last as *mut String as *mut _, set_error: keep, stream: std::ptr::null_mut(), host: std::ptr::null() };
/// ctx.error("conv2d: weight must be 4-d");
/// assert_eq!(last, "conv2d: weight must be 4-d");
/// ```
#[repr(C)]
#[derive(StableAbi)]
pub struct KernelCtx {
    /// Opaque error sink owned by the core.
    pub err_state: *mut c_void,
    /// Records a one-line error message for the current call (the last call wins).
    pub set_error: unsafe extern "C" fn(err_state: *mut c_void, msg: RStr<'_>),
    /// Device stream (null on the CPU).
    pub stream: *mut c_void,
    /// Host services (thread pool size, allocator, tensor handles...).
    pub host: *const HostApi,
}

impl KernelCtx {
    /// Reports an error message through the core's sink.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::kernel::{status, AttrValue, KernelCtx};
    /// use ferrite_sdk::abi::view::TensorView;
    /// // A raw kernel that refuses every call, reporting why through the context.
    /// unsafe extern "C" fn unsupported(ctx: *const KernelCtx, _: *const TensorView, _: usize, _: *const TensorView, _: usize, _: *const AttrValue, _: usize) -> i32 {
    ///     if let Some(ctx) = ctx.as_ref() {
    ///         ctx.error("my_op: only float32 is implemented");
    ///     }
    ///     status::UNSUPPORTED
    /// }
    /// let f: ferrite_sdk::abi::kernel::KernelFn = unsupported;
    /// assert_eq!(unsafe { f(std::ptr::null(), std::ptr::null(), 0, std::ptr::null(), 0, std::ptr::null(), 0) }, status::UNSUPPORTED);
    /// ```
    pub fn error(&self, msg: &str) {
        // SAFETY: the core guarantees `set_error` and `err_state` are valid during the call.
        unsafe { (self.set_error)(self.err_state, RStr::from_str(msg)) }
    }
}

/// Kind tag of an [`AttrValue`] / [`super::op::AttrDesc`].
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::kernel::attr_kind;
/// use ferrite_sdk::kernel::Attr;
/// let kinds = [Attr::None, Attr::Int(1), Attr::Float(0.5), Attr::Bool(true), Attr::Ints(vec![1]), Attr::Str("x".into())].map(|a| a.as_abi().kind);
/// assert_eq!(kinds, [attr_kind::NONE, attr_kind::INT, attr_kind::FLOAT, attr_kind::BOOL, attr_kind::INTS, attr_kind::STR]);
/// ```
pub mod attr_kind {
    /// Not given (uses the schema default if any).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::{abi::kernel::attr_kind, kernel::Attr};
    /// assert_eq!(Attr::None.as_abi().kind, attr_kind::NONE);
    /// ```
    pub const NONE: u32 = 0;
    /// `i64` in `int`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::{abi::kernel::attr_kind, kernel::Attr};
    /// let v = Attr::Int(-3).as_abi();
    /// assert_eq!((v.kind, v.int), (attr_kind::INT, -3));
    /// ```
    pub const INT: u32 = 1;
    /// `f64` in `float`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::{abi::kernel::attr_kind, kernel::Attr};
    /// let v = Attr::Float(0.5).as_abi();
    /// assert_eq!((v.kind, v.float), (attr_kind::FLOAT, 0.5));
    /// ```
    pub const FLOAT: u32 = 2;
    /// Boolean in `int` (0 or 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::{abi::kernel::attr_kind, kernel::Attr};
    /// let v = Attr::Bool(true).as_abi();
    /// assert_eq!((v.kind, v.int), (attr_kind::BOOL, 1));
    /// ```
    pub const BOOL: u32 = 3;
    /// List of `i64` in `ints`/`n_ints`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::{abi::kernel::attr_kind, kernel::Attr};
    /// let a = Attr::Ints(vec![2, 3]);
    /// let v = a.as_abi(); // borrows `a`'s list
    /// assert_eq!((v.kind, v.n_ints), (attr_kind::INTS, 2));
    /// ```
    pub const INTS: u32 = 4;
    /// UTF-8 string in `str_ptr`/`str_len`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::{abi::kernel::attr_kind, kernel::Attr};
    /// let a = Attr::Str("mean".into());
    /// let v = a.as_abi();
    /// assert_eq!((v.kind, v.str_len), (attr_kind::STR, 4));
    /// ```
    pub const STR: u32 = 5;
}

/// One attribute value, passed positionally in the order of the op's schema (56 bytes).
/// Pointers are owned by the caller and valid only during the call.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::kernel::{attr_kind, AttrValue};
/// use ferrite_sdk::kernel::{Attr, Attrs};
/// let stride = [2i64, 2];
/// let raw = [AttrValue { kind: attr_kind::INTS, ints: stride.as_ptr(), n_ints: 2, ..AttrValue::NONE }, AttrValue::NONE];
/// // SAFETY: two valid values whose pointers outlive the call.
/// let attrs = unsafe { Attrs::from_raw(raw.as_ptr(), raw.len()) };
/// assert_eq!(attrs.0, vec![Attr::Ints(vec![2, 2]), Attr::None]);
/// ```
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct AttrValue {
    /// One of [`attr_kind`].
    pub kind: u32,
    /// Integer or boolean payload.
    pub int: i64,
    /// Float payload.
    pub float: f64,
    /// List payload.
    pub ints: *const i64,
    /// Length of `ints`.
    pub n_ints: usize,
    /// String payload (UTF-8, not NUL-terminated).
    pub str_ptr: *const u8,
    /// Length of `str_ptr` in bytes.
    pub str_len: usize,
}

impl AttrValue {
    /// An attribute that was not given.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::kernel::{attr_kind, AttrValue};
    /// assert!(AttrValue::NONE.kind == attr_kind::NONE && AttrValue::NONE.ints.is_null());
    /// ```
    pub const NONE: AttrValue = AttrValue {
        kind: attr_kind::NONE,
        int: 0,
        float: 0.0,
        ints: std::ptr::null(),
        n_ints: 0,
        str_ptr: std::ptr::null(),
        str_len: 0,
    };
}

/// Signature of every forward and backward kernel.
///
/// Forward: `inputs` in schema order (variadic inputs expand in place), `outputs` preallocated by
/// the core (contiguous, shapes from the shape function). Backward: inputs are
/// `[grad of each output..., each forward input..., each forward output...]`, outputs are one
/// gradient per forward input, preallocated with that input's shape and dtype, or absent when not
/// needed. Returns a [`status`] code; on error the kernel calls [`KernelCtx::error`].
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::kernel::{status, AttrValue, KernelCtx, KernelFn};
/// use ferrite_sdk::abi::view::TensorView;
/// use ferrite_sdk::kernel::io::{guarded, read_f64, write_f64};
/// // A raw f64 kernel: out = 2·x (any strides), panics caught by `guarded`.
/// unsafe extern "C" fn double(ctx: *const KernelCtx, i: *const TensorView, ni: usize, o: *const TensorView, no: usize, _: *const AttrValue, _: usize) -> i32 {
///     guarded(ctx, || {
///         if ni != 1 || no != 1 {
///             return Err("double: expected 1 input and 1 output".into());
///         }
///         let x = read_f64(&*i);
///         write_f64(&*o, &x.iter().map(|v| 2.0 * v).collect::<Vec<_>>())
///     })
/// }
/// let f: KernelFn = double;
/// let (x, mut y, shape, strides) = ([1.5f64, -2.0], [0f64; 2], [2i64], [1i64]);
/// let v = |p: *const f64| TensorView { data: p as *mut _, ndim: 1, dtype: ferrite_sdk::DType::F64, shape: shape.as_ptr(), strides: strides.as_ptr(), ..TensorView::ABSENT };
/// let (vi, vo) = (v(x.as_ptr()), v(y.as_mut_ptr()));
/// assert_eq!(unsafe { f(std::ptr::null(), &vi, 1, &vo, 1, std::ptr::null(), 0) }, status::OK);
/// assert_eq!(y, [3.0, -4.0]);
/// ```
pub type KernelFn = unsafe extern "C" fn(
    ctx: *const KernelCtx,
    inputs: *const TensorView,
    n_inputs: usize,
    outputs: *const TensorView,
    n_outputs: usize,
    attrs: *const AttrValue,
    n_attrs: usize,
) -> i32;

/// Signature of a shape function: from the input views (the same ones the kernel will get; only
/// shape and dtype are meant to be read; absent optional inputs have null `data`) and attributes,
/// write one [`TensorMeta`] per output. Returns a [`status`] code.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::kernel::{status, AttrValue, KernelCtx, ShapeFn};
/// use ferrite_sdk::abi::view::{TensorMeta, TensorView};
/// // A raw shape function: the output is the input's shape and dtype.
/// unsafe extern "C" fn same(_: *const KernelCtx, i: *const TensorView, ni: usize, _: *const AttrValue, _: usize, o: *mut TensorMeta, no: usize) -> i32 {
///     if ni != 1 || no != 1 {
///         return status::BAD_ARGS;
///     }
///     let dims: Vec<usize> = (*i).shape().iter().map(|&d| d as usize).collect();
///     match TensorMeta::new((*i).dtype, &dims) {
///         Ok(m) => { *o = m; status::OK }
///         Err(_) => status::BAD_ARGS,
///     }
/// }
/// let f: ShapeFn = same;
/// let (x, shape, strides) = ([0u8; 1], [4i64, 2], [2i64, 1]);
/// let v = TensorView { data: x.as_ptr() as *mut _, ndim: 2, shape: shape.as_ptr(), strides: strides.as_ptr(), ..TensorView::ABSENT };
/// let mut out = [TensorMeta::new(ferrite_sdk::DType::F32, &[]).unwrap()];
/// assert_eq!(unsafe { f(std::ptr::null(), &v, 1, std::ptr::null(), 0, out.as_mut_ptr(), 1) }, status::OK);
/// assert_eq!(out[0].dims(), vec![4, 2]);
/// ```
pub type ShapeFn = unsafe extern "C" fn(
    ctx: *const KernelCtx,
    inputs: *const TensorView,
    n_inputs: usize,
    attrs: *const AttrValue,
    n_attrs: usize,
    outputs: *mut TensorMeta,
    n_outputs: usize,
) -> i32;
