//! The core's single thread pool (rayon), sized by the user, lent to kernels through
//! `HostApi::parallel_for` so plugins never create threads of their own.

use ferrite_sdk::abi::host::ParallelBody;
use std::ffi::c_void;
use std::sync::{Arc, Mutex, OnceLock};

static POOL: OnceLock<Mutex<Option<Arc<rayon::ThreadPool>>>> = OnceLock::new();

fn slot() -> &'static Mutex<Option<Arc<rayon::ThreadPool>>> {
    POOL.get_or_init(|| Mutex::new(None))
}

/// The pool for `n` threads (rebuilt when the requested size changes).
pub fn pool(n: usize) -> Arc<rayon::ThreadPool> {
    let mut guard = slot().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = guard.as_ref() {
        if p.current_num_threads() == n {
            return p.clone();
        }
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("ferrite-worker-{i}"))
            .build()
            .expect("building the thread pool"),
    );
    *guard = Some(p.clone());
    p
}

struct SendPtr(*mut c_void);
// SAFETY: the pointer is only passed back to the caller's body function, which the caller
// guarantees is safe to run concurrently (the sdk wrapper requires `Fn + Sync`).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// Runs `body` over chunks of `0..n` on the pool; a loop issued from inside the pool (nested)
/// runs on the calling worker's share of the pool.
pub fn parallel_for(threads: usize, n: usize, grain: usize, body: ParallelBody, user: *mut c_void) {
    if n == 0 {
        return;
    }
    let grain = grain.max(1);
    let chunks = n.div_ceil(grain);
    if threads <= 1 || chunks == 1 {
        (body.0)(user, 0, n);
        return;
    }
    let user = SendPtr(user);
    let user = &user;
    pool(threads).install(|| {
        use rayon::prelude::*;
        (0..chunks).into_par_iter().for_each(|c| {
            let start = c * grain;
            (body.0)(user.0, start, (start + grain).min(n));
        });
    });
}
