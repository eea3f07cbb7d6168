//! The caching allocator: freed blocks wait in per-size-class free lists and are handed out
//! again (cleared) instead of going back to the OS, as PyTorch's CUDA caching allocator does.
//! The bytes kept are capped; past the cap the least recently freed blocks are released first.

use super::os::{self, RawBlock};
use super::size_class::class_of;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// A block handed out by [`CachingAllocator::allocate`]: `nbytes` usable, zeroed bytes at
/// [`Block::ptr`] (the underlying size class may be larger).
#[derive(Debug)]
pub struct Block {
    raw: RawBlock,
    nbytes: usize,
}

impl Block {
    /// Start of the block (64-byte aligned).
    pub fn ptr(&self) -> *mut u8 {
        self.raw.ptr.as_ptr()
    }

    /// Bytes requested.
    pub fn nbytes(&self) -> usize {
        self.nbytes
    }

    /// Bytes reserved (the size class).
    pub fn class_bytes(&self) -> usize {
        self.raw.size
    }

    /// Whether the block is an `mmap` region advised for huge pages.
    pub fn is_mapped(&self) -> bool {
        self.raw.mapped
    }
}

/// A snapshot of an allocator's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Bytes requested by blocks currently in use.
    pub live_bytes: usize,
    /// Highest `live_bytes` since start or the last [`CachingAllocator::reset_peak`].
    pub peak_bytes: usize,
    /// Bytes held in the free lists, ready for reuse.
    pub cached_bytes: usize,
    /// Cap on `cached_bytes`.
    pub cache_limit: usize,
    /// Allocations served from the free lists.
    pub hits: u64,
    /// Allocations that went to the OS.
    pub misses: u64,
    /// Bytes handed back to the OS from the cache (evictions and [`CachingAllocator::empty_cache`]).
    pub released_bytes: u64,
    /// Blocks obtained as huge-page `mmap` regions.
    pub mapped_blocks: u64,
}

#[derive(Default)]
struct FreeLists {
    /// Size class → cached blocks with the sequence number of their release (most recent last).
    by_class: BTreeMap<usize, Vec<(u64, RawBlock)>>,
    /// Release sequence number → size class: the eviction order (oldest first).
    lru: BTreeMap<u64, usize>,
    next_seq: u64,
    bytes: usize,
}

impl FreeLists {
    fn take(&mut self, class: usize) -> Option<RawBlock> {
        let list = self.by_class.get_mut(&class)?;
        let (seq, raw) = list.pop()?;
        if list.is_empty() {
            self.by_class.remove(&class);
        }
        self.lru.remove(&seq);
        self.bytes -= raw.size;
        Some(raw)
    }

    fn put(&mut self, raw: RawBlock) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += raw.size;
        self.lru.insert(seq, raw.size);
        self.by_class.entry(raw.size).or_default().push((seq, raw));
    }

    fn evict_oldest(&mut self) -> Option<RawBlock> {
        let (seq, class) = self.lru.pop_first()?;
        let list = self.by_class.get_mut(&class).expect("lru and free lists agree");
        let i = list.iter().position(|(s, _)| *s == seq).expect("lru and free lists agree");
        let (_, raw) = list.remove(i);
        if list.is_empty() {
            self.by_class.remove(&class);
        }
        self.bytes -= raw.size;
        Some(raw)
    }
}

/// A thread-safe caching allocator (one global instance backs every tensor: [`super::global`]).
pub struct CachingAllocator {
    lists: Mutex<FreeLists>,
    limit: AtomicUsize,
    live: AtomicUsize,
    peak: AtomicUsize,
    cached: AtomicUsize,
    hits: AtomicU64,
    misses: AtomicU64,
    released: AtomicU64,
    mapped: AtomicU64,
}

impl CachingAllocator {
    /// An empty allocator keeping at most `cache_limit` bytes of freed blocks.
    pub fn new(cache_limit: usize) -> CachingAllocator {
        CachingAllocator {
            lists: Mutex::new(FreeLists::default()),
            limit: AtomicUsize::new(cache_limit),
            live: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            cached: AtomicUsize::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            released: AtomicU64::new(0),
            mapped: AtomicU64::new(0),
        }
    }

    fn lists(&self) -> MutexGuard<'_, FreeLists> {
        // The free lists are plain data and every update completes before unlocking.
        self.lists.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `nbytes` (> 0) zeroed bytes, from the cache when a block of the same size class is
    /// there, else from the OS (after emptying the cache and retrying once if the OS refuses).
    /// `None` when the size is impossible or memory is exhausted.
    pub fn allocate(&self, nbytes: usize) -> Option<Block> {
        let class = class_of(nbytes.max(1))?;
        let cached = {
            let mut l = self.lists();
            let r = l.take(class);
            self.cached.store(l.bytes, Ordering::Relaxed);
            r
        };
        let raw = match cached {
            Some(raw) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                // SAFETY: the block has `raw.size ≥ nbytes` bytes and is exclusively ours.
                unsafe { std::ptr::write_bytes(raw.ptr.as_ptr(), 0, nbytes) };
                raw
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                let raw = match os::alloc(class) {
                    Some(r) => r,
                    None => {
                        self.empty_cache();
                        os::alloc(class)?
                    }
                };
                if raw.mapped {
                    self.mapped.fetch_add(1, Ordering::Relaxed);
                }
                raw
            }
        };
        let live = self.live.fetch_add(nbytes, Ordering::Relaxed) + nbytes;
        self.peak.fetch_max(live, Ordering::Relaxed);
        Some(Block { raw, nbytes })
    }

    /// Takes a block back: cached for reuse, or released to the OS when it alone exceeds the
    /// cap. Caching it may evict the least recently freed blocks to stay under the cap.
    pub fn release(&self, block: Block) {
        self.live.fetch_sub(block.nbytes, Ordering::Relaxed);
        let limit = self.limit.load(Ordering::Relaxed);
        if block.raw.size > limit {
            self.released.fetch_add(block.raw.size as u64, Ordering::Relaxed);
            os::free(block.raw);
            return;
        }
        let mut evicted = Vec::new();
        {
            let mut l = self.lists();
            l.put(block.raw);
            while l.bytes > limit {
                evicted.extend(l.evict_oldest());
            }
            self.cached.store(l.bytes, Ordering::Relaxed);
        }
        self.free_all(evicted);
    }

    fn free_all(&self, blocks: Vec<RawBlock>) {
        for raw in blocks {
            self.released.fetch_add(raw.size as u64, Ordering::Relaxed);
            os::free(raw);
        }
    }

    /// Releases every cached block to the OS.
    pub fn empty_cache(&self) {
        let mut evicted = Vec::new();
        {
            let mut l = self.lists();
            while let Some(raw) = l.evict_oldest() {
                evicted.push(raw);
            }
            self.cached.store(0, Ordering::Relaxed);
        }
        self.free_all(evicted);
    }

    /// Sets the cap on cached bytes (evicting the oldest blocks if the cache is above it).
    pub fn set_cache_limit(&self, bytes: usize) {
        self.limit.store(bytes, Ordering::Relaxed);
        let mut evicted = Vec::new();
        {
            let mut l = self.lists();
            while l.bytes > bytes {
                evicted.extend(l.evict_oldest());
            }
            self.cached.store(l.bytes, Ordering::Relaxed);
        }
        self.free_all(evicted);
    }

    /// Restarts peak tracking from the current live bytes (to measure one region's peak).
    pub fn reset_peak(&self) {
        self.peak.store(self.live.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// The counters now.
    pub fn stats(&self) -> AllocStats {
        AllocStats {
            live_bytes: self.live.load(Ordering::Relaxed),
            peak_bytes: self.peak.load(Ordering::Relaxed),
            cached_bytes: self.cached.load(Ordering::Relaxed),
            cache_limit: self.limit.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            released_bytes: self.released.load(Ordering::Relaxed),
            mapped_blocks: self.mapped.load(Ordering::Relaxed),
        }
    }
}

impl Drop for CachingAllocator {
    fn drop(&mut self) {
        self.empty_cache();
    }
}
