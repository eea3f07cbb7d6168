//! Host memory for tensors: 64-byte aligned, zero-initialised, with a version counter. Blocks
//! come from the core's caching allocator ([`crate::alloc`]), which reuses freed blocks and
//! maps large ones with huge pages.

use crate::alloc::{self, Block};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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
    /// `None` for 0 bytes (the pointer is then dangling but aligned, never null) and while
    /// released. Mutated only by [`Storage::release`]/[`Storage::restore`], whose callers
    /// guarantee that nothing else uses the storage meanwhile.
    block: UnsafeCell<Option<Block>>,
    /// Size in bytes (kept while released).
    nbytes: usize,
    /// Memory handed back by [`Storage::release`] (ZeRO-3 parameters between uses).
    released: AtomicBool,
    /// Bumped by every in-place write; autograd compares it with the value seen at save time.
    pub version: AtomicU64,
    /// Running kernels that read this storage (see [`super::fetch`]): a pinned storage is
    /// not released.
    pub(crate) pins: AtomicUsize,
    /// Restores the storage on demand when an op reads it released (ZeRO-3 gather).
    pub(crate) fetch: Mutex<Option<Arc<super::fetch::FetchHookBox>>>,
    /// Whether `fetch` is set (read on every op input without taking the lock).
    pub(crate) has_fetch: AtomicBool,
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
        Some(Storage {
            block: UnsafeCell::new(block),
            nbytes,
            released: AtomicBool::new(false),
            version: AtomicU64::new(0),
            pins: AtomicUsize::new(0),
            fetch: Mutex::new(None),
            has_fetch: AtomicBool::new(false),
        })
    }

    /// Base pointer.
    ///
    /// # Panics
    /// If the storage is released: every use of such a tensor is a bug of the caller (the
    /// host table turns the panic into an error naming it).
    pub fn ptr(&self) -> *mut u8 {
        if self.released.load(Ordering::Acquire) {
            panic!(
                "tensor storage of {} bytes was released (a ZeRO-3 parameter used while sharded: \
                 gather it first, e.g. with the strategy's pre_forward)",
                self.nbytes
            );
        }
        // SAFETY: not released, and `release` is never concurrent with users (its contract).
        unsafe { (*self.block.get()).as_ref().map_or(ALIGN as *mut u8, |b| b.ptr()) }
    }

    /// Size in bytes (also while released).
    pub fn nbytes(&self) -> usize {
        self.nbytes
    }

    /// Whether [`Storage::release`] freed the memory.
    pub fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    /// Hands the memory back to the allocator, keeping the size (PyTorch's
    /// `storage().resize_(0)` as used by FSDP). Every tensor sharing this storage becomes
    /// unusable until [`Storage::restore`].
    ///
    /// Returns `false`, freeing nothing, while a running kernel has the storage pinned.
    ///
    /// # Safety
    /// Nothing may read or write the storage concurrently or keep a pointer into it.
    pub unsafe fn release(&self) -> bool {
        if self.pins.load(Ordering::Acquire) > 0 {
            return false;
        }
        if self.released.swap(true, Ordering::AcqRel) {
            return true;
        }
        if let Some(b) = (*self.block.get()).take() {
            alloc::global().release(b);
        }
        true
    }

    /// Allocates fresh zeroed memory for a released storage (no-op otherwise). Returns `false`
    /// when the allocator refuses.
    ///
    /// # Safety
    /// As for [`Storage::release`].
    pub unsafe fn restore(&self) -> bool {
        if !self.released.load(Ordering::Acquire) {
            return true;
        }
        let block = if self.nbytes == 0 {
            None
        } else {
            match alloc::global().allocate(self.nbytes) {
                Some(b) => Some(b),
                None => return false,
            }
        };
        *self.block.get() = block;
        self.bump_version();
        self.released.store(false, Ordering::Release);
        true
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
        if let Some(b) = self.block.get_mut().take() {
            alloc::global().release(b);
        }
    }
}
