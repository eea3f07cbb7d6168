//! The core's CPU memory allocator for tensor storage: a caching allocator with size-class
//! free lists ([`size_class`]), huge pages for large blocks ([`os`]), a cap on cached bytes,
//! and counters ([`AllocStats`]: live, peak, cached bytes, hits, misses).
//!
//! Every block handed out is zeroed (fresh OS memory is zero; reused blocks are cleared), so
//! `Tensor::zeros` stays zero. The cap defaults to [`DEFAULT_CACHE_LIMIT`] and can be set with
//! the `FERRITE_CACHE_LIMIT_MB` environment variable or [`CachingAllocator::set_cache_limit`];
//! `FERRITE_CACHE_LIMIT_MB=0` turns caching off.

pub mod cache;
pub mod os;
pub mod size_class;

pub use cache::{AllocStats, Block, CachingAllocator};
use std::sync::OnceLock;

/// Default cap on cached bytes (2 GiB).
pub const DEFAULT_CACHE_LIMIT: usize = 2 << 30;

/// The allocator behind every tensor storage.
pub fn global() -> &'static CachingAllocator {
    static GLOBAL: OnceLock<CachingAllocator> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let limit = std::env::var("FERRITE_CACHE_LIMIT_MB")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or(DEFAULT_CACHE_LIMIT, |mb| mb.saturating_mul(1 << 20));
        CachingAllocator::new(limit)
    })
}

/// The global allocator's counters.
pub fn stats() -> AllocStats {
    global().stats()
}

#[cfg(test)]
mod tests;
