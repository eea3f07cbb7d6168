//! The core's implementation of the sdk's [`HostApi`] table. Every entry catches panics (none
//! may unwind into a plugin) and reports failures through a thread-local last-error message.

use crate::autograd::{self, Hook};
use crate::dispatch;
use crate::error::{CoreError, Result};
use crate::handles::{borrow_handle, clone_handle, into_handle, take_handle};
use crate::ops;
use crate::runtime::Runtime;
use crate::tensor::Tensor;
use abi_stable::std_types::{RStr, RString};
use ferrite_sdk::abi::host::{AutocastState, CustomBackward, FetchHook, GradHook, HostApi, TensorHandle};
use ferrite_sdk::abi::kernel::{status, AttrValue};
use ferrite_sdk::abi::view::TensorMeta;
use ferrite_sdk::abi::{ABI_MAJOR, ABI_MINOR};
use ferrite_sdk::{DType, Device};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(msg: String) {
    LAST_ERROR.with(|e| *e.borrow_mut() = msg);
}

/// Runs `f`, turning an error or a panic into a status code plus last-error message.
pub(crate) fn guard(f: impl FnOnce() -> Result<()>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => status::OK,
        Ok(Err(e)) => {
            set_last_error(e.to_string());
            match e {
                CoreError::Kernel { .. } => status::FAILED,
                _ => status::BAD_ARGS,
            }
        }
        Err(p) => {
            let msg = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
            set_last_error(format!("internal error in the core: {}", msg.unwrap_or_else(|| "panic".into())));
            status::FAILED
        }
    }
}

/// Borrows the tensor behind a handle for the duration of a call.
///
/// # Safety
/// `h` must be a live handle.
pub(crate) unsafe fn t(h: TensorHandle) -> Result<Tensor> {
    if h.is_null() {
        return Err(CoreError::Invalid("null tensor handle".into()));
    }
    Ok(clone_handle(h))
}

unsafe fn slice<'a, T>(p: *const T, n: usize) -> &'a [T] {
    if n == 0 || p.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(p, n)
    }
}

fn out(o: *mut TensorHandle, v: Tensor) -> Result<()> {
    if o.is_null() {
        return Err(CoreError::Invalid("null output pointer".into()));
    }
    // SAFETY: caller passes a writable slot.
    unsafe { *o = into_handle(v) };
    Ok(())
}

extern "C" fn last_error() -> RString {
    LAST_ERROR.with(|e| RString::from(e.borrow().as_str()))
}
extern "C" fn warn(msg: RStr<'_>) {
    Runtime::global().warn_once(msg.as_str());
}
extern "C" fn retain(h: TensorHandle) {
    if !h.is_null() {
        // SAFETY: live handle.
        unsafe { Arc::increment_strong_count(h.0 as *const crate::tensor::TensorImpl) }
    }
}
extern "C" fn release(h: TensorHandle) {
    if !h.is_null() {
        // SAFETY: the caller gives up one reference.
        drop(unsafe { take_handle(h) })
    }
}
extern "C" fn meta(h: TensorHandle, o: *mut TensorMeta) -> i32 {
    guard(|| {
        let x = unsafe { t(h)? };
        let dims: Vec<usize> = x.shape().iter().map(|&d| d as usize).collect();
        let m = TensorMeta::new(x.dtype(), &dims).map_err(CoreError::Invalid)?;
        unsafe { *o = m };
        Ok(())
    })
}
extern "C" fn device(h: TensorHandle) -> Device {
    unsafe { t(h) }.map(|x| x.0.device).unwrap_or(Device::CPU)
}
extern "C" fn from_data(dtype: DType, shape: *const i64, ndim: usize, data: *const u8, nbytes: usize, o: *mut TensorHandle) -> i32 {
    guard(|| {
        let shape = unsafe { slice(shape, ndim) };
        let bytes = unsafe { slice(data, nbytes) };
        out(o, Tensor::from_bytes(shape, dtype, bytes)?)
    })
}
extern "C" fn full(dtype: DType, shape: *const i64, ndim: usize, value: f64, o: *mut TensorHandle) -> i32 {
    guard(|| {
        if !DType::ALL.contains(&dtype) {
            return Err(CoreError::Invalid(format!("unsupported dtype {dtype:?}")));
        }
        out(o, Tensor::full(unsafe { slice(shape, ndim) }, value, dtype)?)
    })
}
extern "C" fn read(h: TensorHandle, dst: *mut u8, nbytes: usize) -> i32 {
    guard(|| {
        let x = unsafe { t(h)? };
        let bytes = {
            let _pins = crate::tensor::fetch::materialize([&x].into_iter(), |_| "read".into())?;
            x.to_bytes()?
        };
        if bytes.len() != nbytes {
            return Err(CoreError::Invalid(format!("read: tensor has {} bytes, buffer has {nbytes}", bytes.len())));
        }
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, nbytes) };
        Ok(())
    })
}
extern "C" fn view(h: TensorHandle, kind: u32, args: *const i64, n: usize, o: *mut TensorHandle) -> i32 {
    guard(|| out(o, ops::view(&unsafe { t(h)? }, kind, unsafe { slice(args, n) })?))
}
extern "C" fn contiguous(h: TensorHandle, o: *mut TensorHandle) -> i32 {
    guard(|| out(o, ops::contiguous(&unsafe { t(h)? })?))
}
extern "C" fn to_dtype(h: TensorHandle, dtype: DType, o: *mut TensorHandle) -> i32 {
    guard(|| out(o, ops::to_dtype(&unsafe { t(h)? }, dtype)?))
}
extern "C" fn copy_(dst: TensorHandle, src: TensorHandle) -> i32 {
    guard(|| ops::copy_(&unsafe { t(dst)? }, &unsafe { t(src)? }))
}
extern "C" fn version(h: TensorHandle) -> u64 {
    unsafe { t(h) }.map(|x| x.0.storage.version()).unwrap_or(0)
}
extern "C" fn resolve_op(name: RStr<'_>, o: *mut u32) -> i32 {
    guard(|| {
        let id = Runtime::global().resolve_op(name.as_str())?;
        unsafe { *o = id };
        Ok(())
    })
}
extern "C" fn op_num_outputs(op: u32) -> i32 {
    Runtime::global().registry().op(op).map_or(-1, |o| o.schema().outputs.len() as i32)
}
extern "C" fn call_op(
    op: u32,
    inputs: *const TensorHandle,
    n_in: usize,
    attrs: *const AttrValue,
    n_attrs: usize,
    outputs: *mut TensorHandle,
    n_out: usize,
) -> i32 {
    guard(|| {
        let ins: Vec<Option<Tensor>> = unsafe { slice(inputs, n_in) }
            .iter()
            .map(|&h| if h.is_null() { Ok(None) } else { unsafe { t(h) }.map(Some) })
            .collect::<Result<_>>()?;
        let res = dispatch::call_op(op, &ins, unsafe { slice(attrs, n_attrs) })?;
        if res.len() != n_out {
            return Err(CoreError::Invalid(format!("op has {} outputs, caller expected {n_out}", res.len())));
        }
        for (i, r) in res.into_iter().enumerate() {
            unsafe { *outputs.add(i) = into_handle(r) };
        }
        Ok(())
    })
}
extern "C" fn set_requires_grad(h: TensorHandle, on: bool) -> i32 {
    guard(|| unsafe { t(h)? }.set_requires_grad(on))
}
extern "C" fn requires_grad(h: TensorHandle) -> bool {
    unsafe { t(h) }.map(|x| x.requires_grad()).unwrap_or(false)
}
extern "C" fn grad(h: TensorHandle) -> TensorHandle {
    match unsafe { t(h) } {
        Ok(x) => x.meta().grad.clone().map_or(TensorHandle::NULL, into_handle),
        Err(_) => TensorHandle::NULL,
    }
}
extern "C" fn set_grad(h: TensorHandle, g: TensorHandle) -> i32 {
    guard(|| {
        let x = unsafe { t(h)? };
        let g = if g.is_null() { None } else { Some(unsafe { t(g)? }) };
        if let Some(g) = &g {
            if g.shape() != x.shape() || g.dtype() != x.dtype() {
                return Err(CoreError::Invalid(format!(
                    "set_grad: gradient is {} {:?}, the tensor is {} {:?}",
                    g.dtype(),
                    g.shape(),
                    x.dtype(),
                    x.shape()
                )));
            }
        }
        x.meta().grad = g;
        Ok(())
    })
}
extern "C" fn backward(h: TensorHandle, g: TensorHandle, retain_graph: bool) -> i32 {
    guard(|| {
        let x = unsafe { t(h)? };
        let g = if g.is_null() { None } else { Some(unsafe { t(g)? }) };
        autograd::backward(&x, g, retain_graph)
    })
}
extern "C" fn detach(h: TensorHandle) -> TensorHandle {
    match unsafe { t(h) } {
        Ok(x) => into_handle(x.detach()),
        Err(_) => TensorHandle::NULL,
    }
}
extern "C" fn set_grad_enabled(on: bool) -> bool {
    autograd::set_grad_enabled(on)
}
extern "C" fn is_grad_enabled() -> bool {
    autograd::is_grad_enabled()
}
extern "C" fn register_hook(h: TensorHandle, hook: GradHook) -> i32 {
    guard(|| {
        let x = unsafe { t(h)? };
        let hook = Arc::new(Hook(hook));
        let mut m = x.meta();
        if !m.requires_grad {
            return Err(CoreError::Invalid("cannot register a hook on a tensor that doesn't require gradient".into()));
        }
        match &m.grad_fn {
            Some(node) => node.hooks.lock().unwrap_or_else(|e| e.into_inner()).push((m.output_nr, hook)),
            None => m.hooks.push(hook),
        }
        Ok(())
    })
}
extern "C" fn manual_seed(seed: u64) {
    Runtime::global().manual_seed(seed)
}
extern "C" fn next_seed() -> u64 {
    Runtime::global().next_seed()
}
extern "C" fn num_threads() -> usize {
    Runtime::global().num_threads()
}
extern "C" fn parallel_for(n: usize, grain: usize, body: ferrite_sdk::abi::host::ParallelBody, user: *mut std::ffi::c_void) {
    // The body (the sdk wrapper) never unwinds; guard anyway so nothing crosses into a plugin.
    let _ = catch_unwind(AssertUnwindSafe(|| crate::threads::parallel_for(Runtime::global().num_threads(), n, grain, body, user)));
}

extern "C" fn set_autocast(enabled: bool, dtype: DType) -> AutocastState {
    if enabled && !crate::autocast::valid_dtype(dtype) {
        Runtime::global().warn_once(&format!("set_autocast: {dtype} is not an autocast dtype (bf16 or f16); state unchanged"));
        return crate::autocast::state();
    }
    crate::autocast::set_state(AutocastState { enabled, dtype })
}
extern "C" fn autocast_state() -> AutocastState {
    crate::autocast::state()
}
extern "C" fn storage_release(h: TensorHandle) -> i32 {
    let mut pinned = false;
    // SAFETY: the table's contract: nothing uses the storage meanwhile.
    let code = guard(|| unsafe {
        pinned = !t(h)?.0.storage.release();
        Ok(())
    });
    if code == status::OK && pinned {
        ferrite_sdk::abi::host::STORAGE_IN_USE
    } else {
        code
    }
}

extern "C" fn storage_set_fetch(h: TensorHandle, hook: FetchHook) -> i32 {
    // Owned at once, so the plugin's state is freed on every path.
    let mut hook = Some(hook);
    let code = guard(|| {
        let x = unsafe { t(h)? };
        x.0.storage.set_fetch(hook.take().expect("taken once"));
        Ok(())
    });
    if let Some(h) = hook {
        (h.drop_user)(h.user);
    }
    code
}

extern "C" fn register_post_accumulate_hook(h: TensorHandle, hook: GradHook) -> i32 {
    guard(|| {
        let x = unsafe { t(h)? };
        let hook = Arc::new(Hook(hook));
        let mut m = x.meta();
        if !m.requires_grad || m.grad_fn.is_some() {
            return Err(CoreError::Invalid(
                "post-accumulate gradient hooks can only be registered on leaf tensors that require grad".into(),
            ));
        }
        m.post_accumulate_hooks.push(hook);
        Ok(())
    })
}

extern "C" fn storage_restore(h: TensorHandle) -> i32 {
    guard(|| unsafe {
        let x = t(h)?;
        if !x.0.storage.restore() {
            return Err(CoreError::Invalid(format!("out of memory restoring a storage of {} bytes", x.0.storage.nbytes())));
        }
        Ok(())
    })
}

extern "C" fn storage_is_released(h: TensorHandle) -> bool {
    // SAFETY: a live handle (the table's contract).
    unsafe { t(h) }.map(|x| x.0.storage.is_released()).unwrap_or(false)
}

extern "C" fn custom_function(
    inputs: *const TensorHandle,
    n_in: usize,
    outputs: *const TensorHandle,
    n_out: usize,
    bw: CustomBackward,
    o: *mut TensorHandle,
) -> i32 {
    // Own the callback state at once, so it is freed on every early return.
    let owned = autograd::CustomFn(bw);
    guard(move || {
        let ins: Vec<Tensor> = unsafe { slice(inputs, n_in) }.iter().map(|&h| unsafe { t(h) }).collect::<Result<_>>()?;
        let outs: Vec<Tensor> = unsafe { slice(outputs, n_out) }.iter().map(|&h| unsafe { t(h) }).collect::<Result<_>>()?;
        if o.is_null() && n_out > 0 {
            return Err(CoreError::Invalid("custom_function: null output pointer".into()));
        }
        let bw = owned.0;
        std::mem::forget(owned);
        for (i, r) in autograd::custom_function(&ins, &outs, bw)?.into_iter().enumerate() {
            unsafe { *o.add(i) = into_handle(r) };
        }
        Ok(())
    })
}

static HOST_API: HostApi = HostApi {
    abi_major: ABI_MAJOR,
    abi_minor: ABI_MINOR,
    last_error,
    warn,
    retain,
    release,
    meta,
    device,
    from_data,
    full,
    read,
    view,
    contiguous,
    to_dtype,
    copy_,
    version,
    resolve_op,
    op_num_outputs,
    call_op,
    set_requires_grad,
    requires_grad,
    grad,
    set_grad,
    backward,
    detach,
    set_grad_enabled,
    is_grad_enabled,
    register_hook,
    manual_seed,
    next_seed,
    num_threads,
    parallel_for,
    set_autocast,
    autocast_state,
    custom_function,
    storage_release,
    storage_restore,
    storage_is_released,
    storage_set_fetch,
    register_post_accumulate_hook,
};

/// The host table handed to plugins and sdk users.
pub fn host_api() -> &'static HostApi {
    &HOST_API
}

/// The sdk's safe entry point over this core.
pub fn host() -> ferrite_sdk::Host {
    ferrite_sdk::Host::new(&HOST_API)
}

/// Wraps a core tensor as an sdk tensor (adds a reference).
pub fn to_sdk(x: &Tensor) -> ferrite_sdk::Tensor {
    // SAFETY: borrowed handle of a live tensor; from_borrowed retains it.
    unsafe { ferrite_sdk::Tensor::from_borrowed(&HOST_API, borrow_handle(x)) }
}
