//! Safe parallel loops for kernels over the core's thread pool (`HostApi::parallel_for`).

use crate::abi::host::{HostApi, ParallelBody};
use crate::abi::kernel::KernelCtx;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

struct State<'a, F> {
    f: &'a F,
    panic: Mutex<Option<String>>,
}

extern "C" fn trampoline<F: Fn(usize, usize) + Sync>(user: *mut c_void, start: usize, end: usize) {
    // SAFETY: `user` is the `State` on `parallel_for`'s stack, alive until the host returns.
    let st = unsafe { &*(user as *const State<'_, F>) };
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| (st.f)(start, end))) {
        let msg = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
        *st.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg.unwrap_or_else(|| "panic".into()));
    }
}

/// Runs `f(start, end)` over disjoint chunks covering `0..n` (at least `grain` long) on the
/// host's thread pool, and returns when all are done. A panic in any chunk is re-raised here,
/// on the calling thread, so the kernel's panic firewall reports it.
///
/// `host` may be null (then the loop runs inline), as in unit tests without a core.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::kernel::parallel::parallel_for;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let total = AtomicUsize::new(0);
/// // A null host runs inline; inside a kernel pass `(*ctx).host` (or use `parallel_for_ctx`).
/// parallel_for(std::ptr::null(), 1000, 64, |start, end| {
///     total.fetch_add((start..end).sum::<usize>(), Ordering::Relaxed);
/// });
/// assert_eq!(total.into_inner(), 999 * 1000 / 2);
/// ```
pub fn parallel_for<F: Fn(usize, usize) + Sync>(host: *const HostApi, n: usize, grain: usize, f: F) {
    // SAFETY: a non-null host pointer comes from the core and lives for the process.
    let Some(api) = (unsafe { host.as_ref() }) else {
        f(0, n);
        return;
    };
    let st = State { f: &f, panic: Mutex::new(None) };
    (api.parallel_for)(n, grain, ParallelBody(trampoline::<F>), &st as *const State<'_, F> as *mut c_void);
    if let Some(msg) = st.panic.into_inner().unwrap_or_else(|e| e.into_inner()) {
        panic!("{msg}");
    }
}

/// [`parallel_for`] with the host table of a kernel context.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::abi::kernel::KernelCtx;
/// use ferrite_sdk::kernel::parallel::parallel_for_ctx;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// // Inside a kernel: `parallel_for_ctx(ctx, n, grain, ..)` with the `ctx` the core passes.
/// let ctx: *const KernelCtx = std::ptr::null(); // null: runs inline, as in unit tests
/// let hits = AtomicUsize::new(0);
/// parallel_for_ctx(ctx, 100, 16, |s, e| {
///     hits.fetch_add(e - s, Ordering::Relaxed);
/// });
/// assert_eq!(hits.into_inner(), 100);
/// ```
pub fn parallel_for_ctx<F: Fn(usize, usize) + Sync>(ctx: *const KernelCtx, n: usize, grain: usize, f: F) {
    // SAFETY: ctx is valid during a kernel call (or null in tests).
    let host = unsafe { ctx.as_ref() }.map_or(std::ptr::null(), |c| c.host);
    parallel_for(host, n, grain, f)
}
