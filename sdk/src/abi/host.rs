//! The host API table: every service the core offers to plugins and to sdk users.
//!
//! Plugins never link against the core. They receive a `*const HostApi` (in [`KernelCtx`] and in
//! model/dataset factories) and reach tensors, ops and autograd through its function pointers.
//! The table is append-only within an SDK major version.
//!
//! Fallible functions return a [`super::kernel::status`] code; the message of the last failure
//! on the calling thread is returned by [`HostApi::last_error`].
//!
//! [`KernelCtx`]: super::kernel::KernelCtx

use super::dtype::{DType, Device};
use super::kernel::AttrValue;
use super::view::TensorMeta;
use abi_stable::std_types::{RStr, RString};
use abi_stable::StableAbi;
use std::ffi::c_void;

/// An owned reference to a core tensor. Each handle a host function hands out holds one
/// reference; give it back with [`HostApi::release`]. The sdk's `Tensor` does that on drop.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::host::TensorHandle;
/// let none = TensorHandle::NULL;
/// assert!(none.is_null());
/// // Handles are plain pointers: copying one does not add a reference.
/// let copy = none;
/// assert_eq!(copy, none);
/// ```
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorHandle(pub *mut c_void);

impl TensorHandle {
    /// The null handle ("no tensor").
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::host::TensorHandle;
    /// // "No gradient" as returned by `HostApi::grad`, or "keep it" from a `GradHook`.
    /// assert_eq!(TensorHandle::NULL, TensorHandle(std::ptr::null_mut()));
    /// ```
    pub const NULL: TensorHandle = TensorHandle(std::ptr::null_mut());

    /// True for the null handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::abi::host::TensorHandle;
    /// let mut x = 0u8;
    /// let h = TensorHandle(&mut x as *mut u8 as *mut std::ffi::c_void);
    /// assert!(!h.is_null());
    /// assert!(TensorHandle::NULL.is_null());
    /// ```
    pub fn is_null(self) -> bool {
        self.0.is_null()
    }
}

// SAFETY: handles refer to core tensors, which are reference-counted atomically and guarded.
unsafe impl Send for TensorHandle {}
unsafe impl Sync for TensorHandle {}

/// Kinds of view operation for [`HostApi::view`]. Views share storage and are recorded by autograd.
pub mod view_kind {
    /// Args: the new shape (one entry may be -1).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::abi::{host::{view_kind, TensorHandle}, kernel::status};
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.arange(6, DType::F32)?;
    /// let (api, args, mut out) = (host.api(), [3i64, -1], TensorHandle::NULL);
    /// let rc = (api.view)(x.handle(), view_kind::RESHAPE, args.as_ptr(), args.len(), &mut out);
    /// assert_eq!(rc, status::OK);
    /// assert_eq!(unsafe { Tensor::from_raw(api, out) }.shape(), vec![3, 2]);
    /// # Ok(())
    /// # }
    /// ```
    pub const RESHAPE: u32 = 0;
    /// Args: a permutation of the dimensions.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::abi::{host::{view_kind, TensorHandle}, kernel::status};
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.zeros(&[2, 3, 4], DType::F32)?;
    /// let (api, args, mut out) = (host.api(), [2i64, 0, 1], TensorHandle::NULL);
    /// let rc = (api.view)(x.handle(), view_kind::PERMUTE, args.as_ptr(), args.len(), &mut out);
    /// assert_eq!(rc, status::OK);
    /// assert_eq!(unsafe { Tensor::from_raw(api, out) }.shape(), vec![4, 2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub const PERMUTE: u32 = 1;
    /// Args: the target shape (-1 keeps a dimension); new leading dims allowed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::abi::{host::{view_kind, TensorHandle}, kernel::status};
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.ones(&[3, 1], DType::F32)?;
    /// let (api, args, mut out) = (host.api(), [2i64, -1, 4], TensorHandle::NULL);
    /// let rc = (api.view)(x.handle(), view_kind::EXPAND, args.as_ptr(), args.len(), &mut out);
    /// assert_eq!(rc, status::OK);
    /// assert_eq!(unsafe { Tensor::from_raw(api, out) }.shape(), vec![2, 3, 4]);
    /// # Ok(())
    /// # }
    /// ```
    pub const EXPAND: u32 = 2;
    /// Args: `[dim, start, end, step]` with `0 <= start <= end <= size`, `step >= 1`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ferrite_sdk::{DType, Host, Tensor, Result};
    /// # use ferrite_sdk::abi::{host::{view_kind, TensorHandle}, kernel::status};
    /// # fn demo(host: Host) -> Result<()> {
    /// let x = host.arange(10, DType::I64)?;
    /// let (api, args, mut out) = (host.api(), [0i64, 1, 7, 2], TensorHandle::NULL);
    /// let rc = (api.view)(x.handle(), view_kind::SLICE, args.as_ptr(), args.len(), &mut out);
    /// assert_eq!(rc, status::OK);
    /// assert_eq!(unsafe { Tensor::from_raw(api, out) }.to_vec::<i64>()?, vec![1, 3, 5]);
    /// # Ok(())
    /// # }
    /// ```
    pub const SLICE: u32 = 3;
}

/// A gradient hook: `call` receives the gradient (borrowed) and returns either a new gradient
/// (owned handle) to use instead, or the null handle to keep it; `drop_user` frees `user` when
/// the hook is dropped with its tensor.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::host::{GradHook, TensorHandle};
/// use std::ffi::c_void;
/// // Safe code uses `Tensor::register_hook`, which builds this from a closure.
/// extern "C" fn keep(_user: *mut c_void, _grad: TensorHandle) -> TensorHandle {
///     TensorHandle::NULL // keep the gradient as it is
/// }
/// extern "C" fn nothing_to_free(_user: *mut c_void) {}
/// let hook = GradHook { user: std::ptr::null_mut(), call: keep, drop_user: nothing_to_free };
/// assert!((hook.call)(hook.user, TensorHandle::NULL).is_null());
/// (hook.drop_user)(hook.user);
/// ```
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct GradHook {
    /// Opaque state passed back to `call` and `drop_user`.
    pub user: *mut c_void,
    /// The hook itself.
    pub call: extern "C" fn(user: *mut c_void, grad: TensorHandle) -> TensorHandle,
    /// Frees `user`.
    pub drop_user: extern "C" fn(user: *mut c_void),
}

// SAFETY: hook state is required to be thread-safe by `Tensor::register_hook`'s bounds.
unsafe impl Send for GradHook {}
unsafe impl Sync for GradHook {}

/// The core's service table (ABI v1).
///
/// # Examples
///
/// ```no_run
/// # use ferrite_sdk::{DType, Host, Tensor, Result};
/// # fn demo(host: Host) -> Result<()> {
/// use ferrite_sdk::abi::{host::HostApi, ABI_MAJOR};
/// let api: &HostApi = host.api();
/// assert_eq!(api.abi_major, ABI_MAJOR);
/// assert!((api.num_threads)() >= 1);
/// let x = host.ones(&[2], DType::F32)?;
/// assert_eq!((api.device)(x.handle()), ferrite_sdk::Device::CPU);
/// # Ok(())
/// # }
/// ```
#[repr(C)]
#[derive(StableAbi)]
pub struct HostApi {
    /// SDK ABI major version the core implements.
    pub abi_major: u32,
    /// SDK ABI minor version the core implements.
    pub abi_minor: u32,
    /// Message of the last failed call on this thread (empty if none).
    pub last_error: extern "C" fn() -> RString,
    /// Prints a warning once per distinct message.
    pub warn: extern "C" fn(msg: RStr<'_>),

    /// Adds a reference to a tensor.
    pub retain: extern "C" fn(t: TensorHandle),
    /// Drops a reference to a tensor.
    pub release: extern "C" fn(t: TensorHandle),
    /// Writes the tensor's dtype and shape; fails for more than `MAX_NDIM` dims.
    pub meta: extern "C" fn(t: TensorHandle, out: *mut TensorMeta) -> i32,
    /// Device of the tensor.
    pub device: extern "C" fn(t: TensorHandle) -> Device,
    /// New tensor on the CPU from `nbytes` of row-major data of `dtype` and `shape`.
    pub from_data: extern "C" fn(
        dtype: DType,
        shape: *const i64,
        ndim: usize,
        data: *const u8,
        nbytes: usize,
        out: *mut TensorHandle,
    ) -> i32,
    /// New tensor filled with `value` (converted to `dtype`).
    pub full: extern "C" fn(dtype: DType, shape: *const i64, ndim: usize, value: f64, out: *mut TensorHandle) -> i32,
    /// Copies the tensor's elements in row-major order into `dst` (`nbytes` must match exactly).
    pub read: extern "C" fn(t: TensorHandle, dst: *mut u8, nbytes: usize) -> i32,
    /// A view ([`view_kind`]) of `t`; recorded by autograd.
    pub view: extern "C" fn(t: TensorHandle, kind: u32, args: *const i64, n_args: usize, out: *mut TensorHandle) -> i32,
    /// A contiguous tensor with the same values (the same tensor if already contiguous).
    pub contiguous: extern "C" fn(t: TensorHandle, out: *mut TensorHandle) -> i32,
    /// Converts to another dtype (differentiable between float types).
    pub to_dtype: extern "C" fn(t: TensorHandle, dtype: DType, out: *mut TensorHandle) -> i32,
    /// Copies `src` into `dst` in place (broadcasting, converting dtype) and bumps `dst`'s version.
    /// Not recorded by autograd; fails if `dst` is a leaf that requires grad while grad mode is on.
    pub copy_: extern "C" fn(dst: TensorHandle, src: TensorHandle) -> i32,
    /// Storage version counter of the tensor (bumped by every in-place write).
    pub version: extern "C" fn(t: TensorHandle) -> u64,

    /// Resolves an exported name (canonical, API name, alias or deprecated) to an op id.
    pub resolve_op: extern "C" fn(name: RStr<'_>, out: *mut u32) -> i32,
    /// Number of outputs of an op, or -1 for an unknown id.
    pub op_num_outputs: extern "C" fn(op: u32) -> i32,
    /// Calls an op through the dispatcher; records autograd when grad mode is on.
    pub call_op: extern "C" fn(
        op: u32,
        inputs: *const TensorHandle,
        n_inputs: usize,
        attrs: *const AttrValue,
        n_attrs: usize,
        outputs: *mut TensorHandle,
        n_outputs: usize,
    ) -> i32,

    /// Sets `requires_grad` (leaf tensors only).
    pub set_requires_grad: extern "C" fn(t: TensorHandle, requires_grad: bool) -> i32,
    /// Whether the tensor requires grad.
    pub requires_grad: extern "C" fn(t: TensorHandle) -> bool,
    /// The accumulated `.grad` (null handle if none).
    pub grad: extern "C" fn(t: TensorHandle) -> TensorHandle,
    /// Replaces `.grad` (null clears it).
    pub set_grad: extern "C" fn(t: TensorHandle, grad: TensorHandle) -> i32,
    /// Runs backward from `t` with an optional seed gradient (null = ones for a scalar).
    pub backward: extern "C" fn(t: TensorHandle, grad: TensorHandle, retain_graph: bool) -> i32,
    /// A tensor sharing storage with `t` but cut from the graph.
    pub detach: extern "C" fn(t: TensorHandle) -> TensorHandle,
    /// Turns gradient recording on or off for this thread; returns the previous state.
    pub set_grad_enabled: extern "C" fn(enabled: bool) -> bool,
    /// Whether gradient recording is on for this thread.
    pub is_grad_enabled: extern "C" fn() -> bool,
    /// Registers a hook called with the gradient of `t` during backward.
    pub register_hook: extern "C" fn(t: TensorHandle, hook: GradHook) -> i32,

    /// Seeds the core's random generator.
    pub manual_seed: extern "C" fn(seed: u64),
    /// Next 64-bit seed from the core's generator (for dropout and initialisers).
    pub next_seed: extern "C" fn() -> u64,
    /// Threads a kernel may use.
    pub num_threads: extern "C" fn() -> usize,
    /// Runs `body(user, start, end)` over disjoint chunks covering `0..n` (each at least `grain`
    /// long except the last) on the core's one thread pool, and returns when all are done.
    /// Plugins never start threads of their own. The sdk's `kernel::parallel::parallel_for`
    /// wraps this for closures.
    pub parallel_for: extern "C" fn(n: usize, grain: usize, body: ParallelBody, user: *mut c_void),

    /// Sets this thread's autocast state (`torch.autocast(device_type="cpu", dtype=...)`) and
    /// returns the previous one. While enabled, `call_op` casts floating inputs of ops on
    /// PyTorch's lower-precision list (matmul, linear, conv, attention) to `dtype`, casts 16-bit
    /// inputs of ops on the fp32 list (softmax, losses, norms, exp/log/pow, sum) up to f32, and
    /// runs other ops with mixed float inputs in the widest one. `dtype` must be `F16` or `BF16`
    /// when `enabled`; any other dtype leaves the state unchanged (and warns once).
    pub set_autocast: extern "C" fn(enabled: bool, dtype: DType) -> AutocastState,
    /// This thread's autocast state.
    pub autocast_state: extern "C" fn() -> AutocastState,
    /// A custom autograd function (`torch.autograd.Function`): returns in `out[..n_out]` new
    /// handles sharing storage with `outputs` (computed by the caller, usually under no_grad),
    /// whose gradient is computed by `backward` from the outputs' gradients. Graph edges go to
    /// every input that requires grad; when grad mode is off, the outputs are returned as they
    /// are and `backward` is dropped. `backward` may itself run `backward` (reentrant).
    pub custom_function: extern "C" fn(
        inputs: *const TensorHandle,
        n_inputs: usize,
        outputs: *const TensorHandle,
        n_outputs: usize,
        backward: CustomBackward,
        out: *mut TensorHandle,
    ) -> i32,
    /// Frees the memory of `t`'s storage (shared with all its views), keeping shape and dtype
    /// (`storage().resize_(0)`, as FSDP / ZeRO-3 do with sharded parameters). Any later use of
    /// a tensor on that storage fails until [`HostApi::storage_restore`] (or its fetch hook runs).
    /// The caller guarantees that nothing uses the storage meanwhile; a storage pinned by a
    /// running kernel is kept and [`STORAGE_IN_USE`] returned (since ABI 1.2).
    pub storage_release: extern "C" fn(t: TensorHandle) -> i32,
    /// Gives a released storage fresh zeroed memory (no-op if not released); fails when memory
    /// is exhausted.
    pub storage_restore: extern "C" fn(t: TensorHandle) -> i32,
    /// Whether `t`'s storage is released.
    pub storage_is_released: extern "C" fn(t: TensorHandle) -> bool,
    /// ABI 1.2. Installs (or, with `hook.call == None`, removes) the fetch hook of `t`'s
    /// storage: when an op reads that storage while it is released, the core calls
    /// `hook.call(hook.user)` first, which must restore the storage with the values it had
    /// when it was released (ZeRO-3 / FSDP gather on demand). The storage's version is left as
    /// it was. While a kernel runs, the storages of its hooked inputs are *pinned*:
    /// [`HostApi::storage_release`] on them reports "in use" instead of freeing.
    pub storage_set_fetch: extern "C" fn(t: TensorHandle, hook: FetchHook) -> i32,
    /// ABI 1.2. Registers a hook run on leaf `t` right after a backward pass accumulated into
    /// its `.grad` (`Tensor.register_post_accumulate_grad_hook`); `call` gets the leaf
    /// (borrowed) and its return value is ignored (return the null handle).
    pub register_post_accumulate_hook: extern "C" fn(t: TensorHandle, hook: GradHook) -> i32,
}

/// [`HostApi::storage_release`]'s status when the storage is pinned by a running kernel
/// (see [`HostApi::storage_set_fetch`]); nothing was freed.
pub const STORAGE_IN_USE: i32 = 1;

/// A storage's fetch hook (see [`HostApi::storage_set_fetch`]): `call` restores the released
/// storage and returns `ROk`, or an error message; `drop_user` frees `user` when the hook is
/// replaced or the storage is freed.
///
/// # Examples
///
/// ```
/// use abi_stable::std_types::{RResult, RString};
/// use ferrite_sdk::abi::host::FetchHook;
/// use std::ffi::c_void;
/// // Safe code uses `Tensor::set_fetch_hook`, which builds this from a closure.
/// extern "C" fn gather(_user: *mut c_void) -> RResult<(), RString> { RResult::ROk(()) }
/// extern "C" fn nothing_to_free(_user: *mut c_void) {}
/// let hook = FetchHook { user: std::ptr::null_mut(), call: Some(gather), drop_user: nothing_to_free };
/// assert!(hook.call.is_some());
/// ```
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct FetchHook {
    /// Opaque state passed back to `call` and `drop_user`.
    pub user: *mut c_void,
    /// Restores the storage; `None` removes the storage's hook.
    pub call: Option<extern "C" fn(user: *mut c_void) -> abi_stable::std_types::RResult<(), RString>>,
    /// Frees `user`.
    pub drop_user: extern "C" fn(user: *mut c_void),
}

// SAFETY: hook state is required to be thread-safe by `Tensor::set_fetch_hook`'s bounds.
unsafe impl Send for FetchHook {}
unsafe impl Sync for FetchHook {}

/// A thread's autocast state, as set by [`HostApi::set_autocast`].
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::host::AutocastState;
/// use ferrite_sdk::DType;
/// let on = AutocastState { enabled: true, dtype: DType::BF16 };
/// let off = AutocastState { enabled: false, ..on };
/// assert_ne!(on, off);
/// // `Host::with_autocast(off, ..)` turns autocast off inside an autocast region.
/// ```
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutocastState {
    /// Whether autocast is on.
    pub enabled: bool,
    /// The lower-precision dtype (`F16` or `BF16`; `BF16` by default, as PyTorch's CPU autocast).
    pub dtype: DType,
}

/// The backward of a [`HostApi::custom_function`].
///
/// `call(user, grads, n_grads, grad_inputs, n_inputs, err)` receives one borrowed gradient per
/// forward output (never null: missing ones are zeros) and writes one owned handle per forward
/// input into `grad_inputs` (null: no gradient). On failure it returns a non-zero
/// [`super::kernel::status`] and writes a one-line message into `*err`. It must not unwind.
/// `drop_user` frees `user` when the graph node is released.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::host::{CustomBackward, TensorHandle};
/// use ferrite_sdk::abi::kernel::status;
/// use ferrite_sdk::abi_stable::std_types::RString;
/// use std::ffi::c_void;
/// // Safe code uses `Tensor::custom_function`, which builds this from a closure.
/// extern "C" fn no_grads(
///     _user: *mut c_void, _grads: *const TensorHandle, _n_grads: usize,
///     grad_inputs: *mut TensorHandle, n_inputs: usize, _err: *mut RString,
/// ) -> i32 {
///     for i in 0..n_inputs {
///         unsafe { *grad_inputs.add(i) = TensorHandle::NULL };
///     }
///     status::OK
/// }
/// extern "C" fn nothing_to_free(_user: *mut c_void) {}
/// let bw = CustomBackward { user: std::ptr::null_mut(), call: no_grads, drop_user: nothing_to_free };
/// let mut gi = [TensorHandle(8 as *mut c_void)];
/// let rc = (bw.call)(bw.user, std::ptr::null(), 0, gi.as_mut_ptr(), 1, std::ptr::null_mut());
/// assert_eq!(rc, status::OK);
/// assert!(gi[0].is_null());
/// ```
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct CustomBackward {
    /// Opaque state passed back to `call` and `drop_user`.
    pub user: *mut c_void,
    /// Computes input gradients from output gradients.
    pub call: extern "C" fn(
        user: *mut c_void,
        grads: *const TensorHandle,
        n_grads: usize,
        grad_inputs: *mut TensorHandle,
        n_inputs: usize,
        err: *mut RString,
    ) -> i32,
    /// Frees `user`.
    pub drop_user: extern "C" fn(user: *mut c_void),
}

// SAFETY: `Tensor::custom_function`'s bounds require the backward state to be thread-safe.
unsafe impl Send for CustomBackward {}
unsafe impl Sync for CustomBackward {}

/// One chunk of a [`HostApi::parallel_for`] loop. Must not unwind (the sdk wrapper catches
/// panics and reports them after the loop).
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::host::ParallelBody;
/// use std::ffi::c_void;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// // Safe code uses `kernel::parallel::parallel_for`, which builds this from a closure.
/// extern "C" fn count(user: *mut c_void, start: usize, end: usize) {
///     let total = unsafe { &*(user as *const AtomicUsize) };
///     total.fetch_add(end - start, Ordering::Relaxed);
/// }
/// let total = AtomicUsize::new(0);
/// let body = ParallelBody(count);
/// let user = &total as *const AtomicUsize as *mut c_void;
/// (body.0)(user, 0, 6);
/// (body.0)(user, 6, 10);
/// assert_eq!(total.load(Ordering::Relaxed), 10);
/// ```
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy)]
pub struct ParallelBody(pub extern "C" fn(user: *mut c_void, start: usize, end: usize));
