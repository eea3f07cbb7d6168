//! MPI's process-wide state: initialisation, the lock that serialises our MPI calls, and
//! finalisation at exit.
//!
//! * **Threading.** The core calls collectives from each process group's own comm thread, not
//!   from the thread that called `create`, and two groups may run at once. We ask for
//!   `MPI_THREAD_SERIALIZED` (enough for calls from several threads, one at a time) and make
//!   "one at a time" true with [`MPI_LOCK`], held around every single MPI call (never across a
//!   whole collective, so two groups' collectives still progress side by side).
//! * **RTLD_GLOBAL.** abi_stable loads this plugin with `RTLD_LOCAL`, so libmpi (a dependency)
//!   is local too; Open MPI then `dlopen`s its MCA components, which expect libmpi's and
//!   libopen-pal's symbols in the global scope (mpi4py does the same promotion). We re-open the
//!   library that holds `MPI_Init_thread` with `RTLD_NOLOAD | RTLD_GLOBAL` before `MPI_Init`.
//!   (Debian's Open MPI 4.1.4 links its components against libopen-pal and works without it —
//!   checked — but builds whose components rely on the global scope fail in `MPI_Init`.)
//! * **Finalisation.** `MPI_Finalize` must run once, after every MPI call, on the thread that
//!   initialised MPI (MPI-3.1 §12.4.3 "the main thread"). Dropping the last communicator is no
//!   good: it happens on a comm thread. So when we initialise MPI we register an `atexit`
//!   hook: `exit` (returning from `main`) runs it on the main thread, after the host's work.
//!   The hook takes [`MPI_LOCK`] (a comm thread still inside an MPI call finishes first) and
//!   then finalises — unless a collective timed out and is still in flight: `MPI_Finalize`
//!   would wait for the dead or stuck peer forever, so it calls `MPI_Abort`, which ends the
//!   whole job (what a failed rank must do under MPI without fault tolerance). If someone else
//!   initialised MPI, finalising is theirs. The plugin is never unloaded, so the hook stays valid.

use mpi::ffi;
use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once};

/// Held around every MPI call of this plugin (the SERIALIZED contract).
static MPI_LOCK: Mutex<()> = Mutex::new(());
/// Set when a collective was abandoned in flight (timeout): finalising would hang.
static IN_FLIGHT_ABANDONED: AtomicBool = AtomicBool::new(false);
static ATEXIT: Once = Once::new();

/// Takes the MPI lock (a poisoned lock is recovered: it guards no data).
pub fn lock() -> MutexGuard<'static, ()> {
    MPI_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records that a request was left pending, so exit aborts instead of finalising.
pub fn mark_abandoned() {
    IN_FLIGHT_ABANDONED.store(true, Ordering::SeqCst);
}

/// Whether MPI is finalised (callers hold [`lock`]).
pub fn finalized() -> bool {
    let mut f: c_int = 0;
    // SAFETY: MPI_Finalized may be called at any time.
    unsafe { ffi::MPI_Finalized(&mut f) };
    f != 0
}

/// Promotes the already-loaded MPI library to the global symbol scope (see the module doc).
/// Returns the library path, or `None` when it cannot be found (then nothing changes).
fn promote_libmpi_global() -> Option<String> {
    // SAFETY: dladdr on the address of a function of a loaded library; dlopen with NOLOAD
    // only bumps the reference count of that library (never loads anything new).
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        let sym = ffi::MPI_Init_thread as *const c_void;
        if libc::dladdr(sym, &mut info) == 0 || info.dli_fname.is_null() {
            return None;
        }
        let handle = libc::dlopen(info.dli_fname, libc::RTLD_NOW | libc::RTLD_GLOBAL | libc::RTLD_NOLOAD);
        if handle.is_null() {
            return None;
        }
        Some(CStr::from_ptr(info.dli_fname).to_string_lossy().into_owned())
    }
}

extern "C" fn finalize_at_exit() {
    // No panic may leave an atexit hook.
    let _ = std::panic::catch_unwind(|| {
        let _g = lock();
        if finalized() {
            return;
        }
        // SAFETY: MPI is initialised and not finalised; no other MPI call runs (we hold the lock).
        unsafe {
            if IN_FLIGHT_ABANDONED.load(Ordering::SeqCst) {
                ffi::MPI_Abort(ffi::RSMPI_COMM_WORLD, 1);
            } else {
                ffi::MPI_Finalize();
            }
        }
    });
}

/// Initialises MPI with at least `MPI_THREAD_SERIALIZED`, or checks the level of an MPI that is
/// already initialised (a second `create`, or a host that initialised MPI itself).
///
/// # Errors
/// MPI already finalised; the library provides less than SERIALIZED.
pub fn init() -> Result<(), String> {
    let _g = lock();
    if finalized() {
        return Err("MPI was already finalized in this process".into());
    }
    if !mpi::environment::is_initialized() {
        promote_libmpi_global();
        let Some((universe, _)) = mpi::initialize_with_threading(mpi::Threading::Serialized) else {
            return Err("MPI_Init_thread: MPI was initialized concurrently by someone else".into());
        };
        // Finalising is the atexit hook's job (see the module doc), not the Universe's drop.
        std::mem::forget(universe);
        ATEXIT.call_once(|| {
            // SAFETY: registering a plain extern "C" fn of a library that is never unloaded.
            unsafe { libc::atexit(finalize_at_exit) };
        });
    }
    let provided = mpi::environment::threading_support();
    if !matches!(provided, mpi::Threading::Serialized | mpi::Threading::Multiple) {
        return Err(format!(
            "the MPI library provides thread level {provided:?}, but comm.mpi needs at least Serialized (collectives run on the core's comm thread)"
        ));
    }
    // Errors come back as codes (reported as one line) instead of aborting the process.
    // SAFETY: MPI is initialised; we hold the lock.
    unsafe { ffi::MPI_Comm_set_errhandler(ffi::RSMPI_COMM_WORLD, ffi::RSMPI_ERRORS_RETURN) };
    Ok(())
}

/// "Open MPI v4.1.4" (the library version string up to its first comma).
pub fn library_name() -> String {
    let v = mpi::environment::library_version().unwrap_or_else(|_| "unknown MPI".into());
    v.split([',', '\n']).next().unwrap_or("unknown MPI").trim().to_string()
}

/// MPI's message for an error code.
pub fn error_string(code: c_int) -> String {
    let mut buf = vec![0u8; 512];
    let mut len: c_int = 0;
    // SAFETY: the buffer is MPI_MAX_ERROR_STRING (256 in Open MPI and MPICH) or more bytes.
    unsafe { ffi::MPI_Error_string(code, buf.as_mut_ptr() as *mut std::ffi::c_char, &mut len) };
    buf.truncate(len.max(0) as usize);
    String::from_utf8_lossy(&buf).trim().to_string()
}
