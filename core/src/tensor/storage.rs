//! Host memory for tensors: 64-byte aligned, zero-initialised, with a version counter. Blocks
//! come from the core's caching allocator ([`crate::alloc`]), which reuses freed blocks and
//! maps large ones with huge pages.

use crate::alloc::{self, Block};
use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::alloc::os::ALIGN;
pub use crate::alloc::{stats, AllocStats};

/// Bytes currently allocated for tensor storage.
pub fn live_bytes() -> usize {
    alloc::stats().live_bytes
}

/// Highest value [`live_bytes`] reached (since start or the last [`reset_peak_bytes`]).
pub fn peak_bytes() -> usize {
    alloc::stats().peak_bytes
}

/// Bytes of freed storage kept by the allocator for reuse.
pub fn cached_bytes() -> usize {
    alloc::stats().cached_bytes
}

/// Restarts peak tracking from the current live bytes.
pub fn reset_peak_bytes() {
    alloc::global().reset_peak()
}

/// A block of tensor memory shared by a tensor and all its views.
pub struct Storage {
    /// `None` for 0 bytes (the pointer is then dangling but aligned, never null).
    block: Option<Block>,
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
        let block = if nbytes == 0 { None } else { Some(alloc::global().allocate(nbytes)?) };
        Some(Storage { block, version: AtomicU64::new(0) })
    }

    /// Base pointer.
    pub fn ptr(&self) -> *mut u8 {
        self.block.as_ref().map_or(ALIGN as *mut u8, |b| b.ptr())
    }

    /// Size in bytes.
    pub fn nbytes(&self) -> usize {
        self.block.as_ref().map_or(0, |b| b.nbytes())
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
        if let Some(b) = self.block.take() {
            alloc::global().release(b);
        }
    }
}
