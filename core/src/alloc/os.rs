//! Raw memory from the operating system. Blocks of at least [`HUGE_THRESHOLD`] bytes are
//! anonymous `mmap` regions aligned to 2 MiB and advised `MADV_HUGEPAGE` (transparent huge
//! pages: one fault per 2 MiB instead of one per 4 KiB; silently ignored where the OS does not
//! allow it); smaller ones, and large ones when `mmap` is refused, come from the global
//! allocator. Both are zero-filled when fresh. Failures return `None`, never abort.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

/// Alignment of every block (a cache line; enough for AVX-512 loads).
pub const ALIGN: usize = 64;

/// Blocks of at least this many bytes are mapped with huge pages where the OS allows.
pub const HUGE_THRESHOLD: usize = 2 << 20;

const HUGE_PAGE: usize = 2 << 20;

/// A block of OS memory: where it is, its size (a size class) and how it was obtained.
#[derive(Debug)]
pub struct RawBlock {
    /// Start (64-byte aligned; 2 MiB aligned when `mapped`).
    pub ptr: NonNull<u8>,
    /// Size in bytes.
    pub size: usize,
    /// Whether it is an `mmap` region (else a global-allocator block).
    pub mapped: bool,
}

// SAFETY: a RawBlock is exclusively owned memory; moving it between threads is fine.
unsafe impl Send for RawBlock {}

/// Allocates `size` (> 0) zeroed bytes.
pub fn alloc(size: usize) -> Option<RawBlock> {
    if size >= HUGE_THRESHOLD {
        if let Some(ptr) = map_huge(size) {
            return Some(RawBlock { ptr, size, mapped: true });
        }
    }
    let layout = Layout::from_size_align(size, ALIGN).ok()?;
    // SAFETY: size > 0.
    let ptr = NonNull::new(unsafe { alloc_zeroed(layout) })?;
    Some(RawBlock { ptr, size, mapped: false })
}

/// Returns a block to the OS.
pub fn free(b: RawBlock) {
    // SAFETY: the block came from `alloc` with this size and kind, and is consumed here.
    unsafe {
        if b.mapped {
            libc::munmap(b.ptr.as_ptr().cast(), b.size.next_multiple_of(4096));
        } else {
            dealloc(b.ptr.as_ptr(), Layout::from_size_align_unchecked(b.size, ALIGN));
        }
    }
}

fn map_huge(size: usize) -> Option<NonNull<u8>> {
    let len = size.checked_next_multiple_of(4096)?;
    let span = len.checked_add(HUGE_PAGE)?;
    // SAFETY: anonymous private mapping; the result is checked against MAP_FAILED.
    let raw = unsafe {
        libc::mmap(std::ptr::null_mut(), span, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
    };
    if raw == libc::MAP_FAILED {
        return None;
    }
    let start = raw as usize;
    let aligned = start.next_multiple_of(HUGE_PAGE);
    // SAFETY: trimming the unaligned head and the unused tail of our own fresh mapping.
    unsafe {
        if aligned > start {
            libc::munmap(raw, aligned - start);
        }
        let tail = start + span - (aligned + len);
        if tail > 0 {
            libc::munmap((aligned + len) as *mut libc::c_void, tail);
        }
        // Advisory only: ignored where transparent huge pages are off or unsupported.
        libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
    NonNull::new(aligned as *mut u8)
}
