//! Host memory for tensors: 64-byte aligned, zero-initialised, with a version counter.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Alignment of every allocation (a cache line; enough for AVX-512 loads).
pub const ALIGN: usize = 64;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Bytes currently allocated for tensor storage.
pub fn live_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Highest value [`live_bytes`] reached.
pub fn peak_bytes() -> usize {
    PEAK_BYTES.load(Ordering::Relaxed)
}

/// A block of tensor memory shared by a tensor and all its views.
pub struct Storage {
    ptr: NonNull<u8>,
    nbytes: usize,
    /// Bumped by every in-place write; autograd compares it with the value seen at save time.
    pub version: AtomicU64,
}

// SAFETY: the memory is plain bytes; concurrent writes are the caller's responsibility, as with
// any tensor library (kernels write only to freshly allocated outputs or via `copy_`).
unsafe impl Send for Storage {}
unsafe impl Sync for Storage {}

impl Storage {
    /// Allocates `nbytes` zeroed bytes (a dangling aligned pointer for 0 bytes, never null).
    /// Returns `None` when the size is impossible or the allocator refuses it, so an absurd
    /// shape is an error for the caller instead of an abort.
    pub fn zeroed(nbytes: usize) -> Option<Storage> {
        let ptr = if nbytes == 0 {
            NonNull::new(ALIGN as *mut u8).expect("non-null")
        } else {
            let layout = Layout::from_size_align(nbytes, ALIGN).ok()?;
            // SAFETY: non-zero size.
            let p = NonNull::new(unsafe { alloc_zeroed(layout) })?;
            let live = LIVE_BYTES.fetch_add(nbytes, Ordering::Relaxed) + nbytes;
            PEAK_BYTES.fetch_max(live, Ordering::Relaxed);
            p
        };
        Some(Storage { ptr, nbytes, version: AtomicU64::new(0) })
    }

    /// Base pointer.
    pub fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Size in bytes.
    pub fn nbytes(&self) -> usize {
        self.nbytes
    }

    /// Current version.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Records an in-place write.
    pub fn bump_version(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if self.nbytes > 0 {
            LIVE_BYTES.fetch_sub(self.nbytes, Ordering::Relaxed);
            // SAFETY: allocated in `zeroed` with this layout.
            unsafe { dealloc(self.ptr.as_ptr(), Layout::from_size_align_unchecked(self.nbytes, ALIGN)) }
        }
    }
}
