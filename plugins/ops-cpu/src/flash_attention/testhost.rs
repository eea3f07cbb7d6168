//! A minimal host table for exercising kernels without the core: only `num_threads` and
//! `parallel_for` work (chunks of `grain` handed out dynamically to N scoped threads, like the
//! core's rayon pool); every tensor/op service fails. Used by the FlashAttention tests and by
//! `examples/flash_attention_bench.rs` (included with `#[path]`).
#![allow(dead_code)]

use ferrite_sdk::abi::dtype::{DType, Device};
use ferrite_sdk::abi::host::{AutocastState, CustomBackward, GradHook, HostApi, ParallelBody, TensorHandle};
use ferrite_sdk::abi::kernel::{AttrValue, KernelCtx};
use ferrite_sdk::abi::view::TensorMeta;
use ferrite_sdk::abi_stable::std_types::{RStr, RString};
use std::cell::RefCell;
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};

static THREADS: AtomicUsize = AtomicUsize::new(1);

/// Sets how many threads the fake pool uses.
pub fn set_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

const FAIL: i32 = ferrite_sdk::abi::kernel::status::FAILED;

extern "C" fn last_error() -> RString {
    RString::from("fake host: no tensor services")
}
extern "C" fn warn(_: RStr<'_>) {}
extern "C" fn retain(_: TensorHandle) {}
extern "C" fn release(_: TensorHandle) {}
extern "C" fn meta(_: TensorHandle, _: *mut TensorMeta) -> i32 {
    FAIL
}
extern "C" fn device(_: TensorHandle) -> Device {
    Device::CPU
}
extern "C" fn from_data(_: DType, _: *const i64, _: usize, _: *const u8, _: usize, _: *mut TensorHandle) -> i32 {
    FAIL
}
extern "C" fn full(_: DType, _: *const i64, _: usize, _: f64, _: *mut TensorHandle) -> i32 {
    FAIL
}
extern "C" fn read(_: TensorHandle, _: *mut u8, _: usize) -> i32 {
    FAIL
}
extern "C" fn view(_: TensorHandle, _: u32, _: *const i64, _: usize, _: *mut TensorHandle) -> i32 {
    FAIL
}
extern "C" fn unary(_: TensorHandle, _: *mut TensorHandle) -> i32 {
    FAIL
}
extern "C" fn to_dtype(_: TensorHandle, _: DType, _: *mut TensorHandle) -> i32 {
    FAIL
}
extern "C" fn copy_(_: TensorHandle, _: TensorHandle) -> i32 {
    FAIL
}
extern "C" fn version(_: TensorHandle) -> u64 {
    0
}
extern "C" fn resolve_op(_: RStr<'_>, _: *mut u32) -> i32 {
    FAIL
}
extern "C" fn op_num_outputs(_: u32) -> i32 {
    -1
}
extern "C" fn call_op(_: u32, _: *const TensorHandle, _: usize, _: *const AttrValue, _: usize, _: *mut TensorHandle, _: usize) -> i32 {
    FAIL
}
extern "C" fn set_requires_grad(_: TensorHandle, _: bool) -> i32 {
    FAIL
}
extern "C" fn requires_grad(_: TensorHandle) -> bool {
    false
}
extern "C" fn grad(_: TensorHandle) -> TensorHandle {
    TensorHandle::NULL
}
extern "C" fn set_grad(_: TensorHandle, _: TensorHandle) -> i32 {
    FAIL
}
extern "C" fn backward(_: TensorHandle, _: TensorHandle, _: bool) -> i32 {
    FAIL
}
extern "C" fn detach(_: TensorHandle) -> TensorHandle {
    TensorHandle::NULL
}
extern "C" fn set_grad_enabled(_: bool) -> bool {
    false
}
extern "C" fn is_grad_enabled() -> bool {
    false
}
extern "C" fn register_hook(_: TensorHandle, _: GradHook) -> i32 {
    FAIL
}
extern "C" fn manual_seed(_: u64) {}
extern "C" fn next_seed() -> u64 {
    0
}
extern "C" fn num_threads() -> usize {
    THREADS.load(Ordering::Relaxed)
}
extern "C" fn set_autocast(_: bool, _: DType) -> AutocastState {
    AutocastState { enabled: false, dtype: DType::BF16 }
}
extern "C" fn autocast_state() -> AutocastState {
    AutocastState { enabled: false, dtype: DType::BF16 }
}
extern "C" fn no_storage(_: TensorHandle) -> i32 {
    ferrite_sdk::abi::kernel::status::FAILED
}
extern "C" fn storage_is_released(_: TensorHandle) -> bool {
    false
}
extern "C" fn no_fetch(_: TensorHandle, hook: ferrite_sdk::abi::host::FetchHook) -> i32 {
    (hook.drop_user)(hook.user);
    ferrite_sdk::abi::kernel::status::FAILED
}
extern "C" fn no_post_hook(_: TensorHandle, hook: ferrite_sdk::abi::host::GradHook) -> i32 {
    (hook.drop_user)(hook.user);
    ferrite_sdk::abi::kernel::status::FAILED
}
extern "C" fn custom_function(_: *const TensorHandle, _: usize, _: *const TensorHandle, _: usize, bw: CustomBackward, _: *mut TensorHandle) -> i32 {
    (bw.drop_user)(bw.user);
    FAIL
}

#[derive(Clone, Copy)]
struct SendPtr(*mut c_void);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

extern "C" fn parallel_for(n: usize, grain: usize, body: ParallelBody, user: *mut c_void) {
    if n == 0 {
        return;
    }
    let grain = grain.max(1);
    let chunks = n.div_ceil(grain);
    let threads = num_threads().min(chunks);
    if threads <= 1 {
        (body.0)(user, 0, n);
        return;
    }
    let next = AtomicUsize::new(0);
    let user = SendPtr(user);
    let work = |u: SendPtr| loop {
        let c = next.fetch_add(1, Ordering::Relaxed);
        if c >= chunks {
            break;
        }
        let start = c * grain;
        (body.0)(u.0, start, (start + grain).min(n));
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(|| work(user));
        }
        work(user);
    });
}

/// The fake host table.
pub static HOST: HostApi = HostApi {
    abi_major: ferrite_sdk::abi::ABI_MAJOR,
    abi_minor: 0,
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
    contiguous: unary,
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
    storage_release: no_storage,
    storage_restore: no_storage,
    storage_is_released,
    storage_set_fetch: no_fetch,
    register_post_accumulate_hook: no_post_hook,
};

thread_local! {
    static LAST: RefCell<String> = const { RefCell::new(String::new()) };
}

unsafe extern "C" fn set_error(_: *mut c_void, msg: RStr<'_>) {
    LAST.with(|l| *l.borrow_mut() = msg.as_str().to_string());
}

/// A kernel context whose errors go to [`last_kernel_error`]; `threaded` attaches [`HOST`].
pub fn ctx(threaded: bool) -> KernelCtx {
    KernelCtx {
        err_state: std::ptr::null_mut(),
        set_error,
        stream: std::ptr::null_mut(),
        host: if threaded { &HOST } else { std::ptr::null() },
    }
}

/// The last error a kernel reported on this thread through a [`ctx`].
pub fn last_kernel_error() -> String {
    LAST.with(|l| l.borrow().clone())
}
