//! The hot-path C ABI: kernel context, attribute values, status codes and function types.

use super::host::HostApi;
use abi_stable::std_types::RStr;
use abi_stable::StableAbi;
use std::ffi::c_void;

use super::view::{TensorMeta, TensorView};

/// Status codes returned by every kernel and shape function.
pub mod status {
    /// Success.
    pub const OK: i32 = 0;
    /// Bad arguments (shape, dtype, attribute); the message says which.
    pub const BAD_ARGS: i32 = 1;
    /// The kernel panicked; the panic was caught inside the plugin.
    pub const PANICKED: i32 = 2;
    /// Not supported by this kernel (dtype, device, feature).
    pub const UNSUPPORTED: i32 = 3;
    /// Any other failure.
    pub const FAILED: i32 = 4;
}

/// What the core hands every kernel call: where to report errors, and host services.
///
/// Plugins must never keep this pointer after the call returns.
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
    pub fn error(&self, msg: &str) {
        // SAFETY: the core guarantees `set_error` and `err_state` are valid during the call.
        unsafe { (self.set_error)(self.err_state, RStr::from_str(msg)) }
    }
}

/// Kind tag of an [`AttrValue`] / [`super::op::AttrDesc`].
pub mod attr_kind {
    /// Not given (uses the schema default if any).
    pub const NONE: u32 = 0;
    /// `i64` in `int`.
    pub const INT: u32 = 1;
    /// `f64` in `float`.
    pub const FLOAT: u32 = 2;
    /// Boolean in `int` (0 or 1).
    pub const BOOL: u32 = 3;
    /// List of `i64` in `ints`/`n_ints`.
    pub const INTS: u32 = 4;
    /// UTF-8 string in `str_ptr`/`str_len`.
    pub const STR: u32 = 5;
}

/// One attribute value, passed positionally in the order of the op's schema (56 bytes).
/// Pointers are owned by the caller and valid only during the call.
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
pub type ShapeFn = unsafe extern "C" fn(
    ctx: *const KernelCtx,
    inputs: *const TensorView,
    n_inputs: usize,
    attrs: *const AttrValue,
    n_attrs: usize,
    outputs: *mut TensorMeta,
    n_outputs: usize,
) -> i32;
