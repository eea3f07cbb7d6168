//! Unit tests of the caching allocator, each on its own instance (the global one is shared by
//! every test in the crate).

use super::*;
use std::sync::Arc;

const MIB: usize = 1 << 20;

fn fill(b: &Block, v: u8) {
    // SAFETY: the block has nbytes writable bytes.
    unsafe { std::ptr::write_bytes(b.ptr(), v, b.nbytes()) }
}

fn all_zero(b: &Block) -> bool {
    // SAFETY: nbytes readable bytes.
    unsafe { std::slice::from_raw_parts(b.ptr(), b.nbytes()) }.iter().all(|&x| x == 0)
}

#[test]
fn freed_blocks_are_reused_within_their_class() {
    let a = CachingAllocator::new(64 * MIB);
    let b = a.allocate(1000).unwrap();
    let p = b.ptr();
    assert_eq!(p as usize % os::ALIGN, 0);
    a.release(b);
    let s = a.stats();
    assert_eq!((s.hits, s.misses, s.live_bytes), (0, 1, 0));
    assert_eq!(s.cached_bytes, size_class::class_of(1000).unwrap());
    // 1000 and 1010 share a class: the same block comes back.
    let c = a.allocate(1010).unwrap();
    assert_eq!(c.ptr(), p);
    let s = a.stats();
    assert_eq!((s.hits, s.misses, s.cached_bytes, s.live_bytes), (1, 1, 0, 1010));
    // Another class misses.
    let d = a.allocate(100_000).unwrap();
    assert_ne!(d.ptr(), p);
    assert_eq!(a.stats().misses, 2);
    a.release(c);
    a.release(d);
}

#[test]
fn reused_blocks_are_zeroed() {
    let a = CachingAllocator::new(64 * MIB);
    for n in [1usize, 64, 1000, 70_000, 3 * MIB] {
        let b = a.allocate(n).unwrap();
        assert!(all_zero(&b), "fresh {n}");
        fill(&b, 0xAB);
        a.release(b);
        let b = a.allocate(n).unwrap();
        assert!(all_zero(&b), "reused {n}");
        a.release(b);
    }
    assert!(a.stats().hits >= 5);
}

#[test]
fn live_peak_and_reset_are_right() {
    let a = CachingAllocator::new(64 * MIB);
    let x = a.allocate(100).unwrap();
    let y = a.allocate(300).unwrap();
    assert_eq!(a.stats().live_bytes, 400);
    assert_eq!(a.stats().peak_bytes, 400);
    a.release(y);
    let s = a.stats();
    assert_eq!((s.live_bytes, s.peak_bytes), (100, 400));
    a.reset_peak();
    assert_eq!(a.stats().peak_bytes, 100);
    a.release(x);
    assert_eq!(a.stats().live_bytes, 0);
    a.empty_cache();
    let s = a.stats();
    assert_eq!(s.cached_bytes, 0);
    assert_eq!(s.released_bytes as usize, size_class::class_of(100).unwrap() + size_class::class_of(300).unwrap());
}

#[test]
fn the_cap_evicts_the_oldest_blocks_and_refuses_oversized_ones() {
    let a = CachingAllocator::new(10_000);
    let blocks: Vec<Block> = (0..4).map(|i| a.allocate(4096 + i * 1024).unwrap()).collect();
    let sizes: Vec<usize> = blocks.iter().map(|b| b.class_bytes()).collect();
    for b in blocks {
        a.release(b);
    }
    assert_eq!(sizes, vec![4096, 5120, 6144, 7168]);
    // Freed in that order under a 10 000-byte cap: 4096 + 5120 fit, 6144 evicts both older
    // blocks, 7168 evicts 6144. Only the newest stays.
    let s = a.stats();
    assert_eq!(s.cached_bytes, 7168, "{s:?}");
    assert_eq!(s.released_bytes, 4096 + 5120 + 6144);
    let again = a.allocate(7168).unwrap();
    assert_eq!(a.stats().hits, 1, "the newest block was kept");
    a.release(again);
    // A block larger than the whole cap goes straight back to the OS.
    let big = a.allocate(20_000).unwrap();
    let before = a.stats().cached_bytes;
    a.release(big);
    assert_eq!(a.stats().cached_bytes, before);
    // Lowering the cap evicts.
    a.set_cache_limit(0);
    assert_eq!(a.stats().cached_bytes, 0);
}

#[test]
fn large_blocks_are_mapped_and_aligned() {
    let a = CachingAllocator::new(64 * MIB);
    let b = a.allocate(4 * MIB + 1).unwrap();
    if b.is_mapped() {
        assert_eq!(b.ptr() as usize % (2 * MIB), 0);
        assert_eq!(a.stats().mapped_blocks, 1);
    }
    fill(&b, 1);
    a.release(b);
    let small = a.allocate(4096).unwrap();
    assert!(!small.is_mapped());
    a.release(small);
}

#[test]
fn impossible_sizes_are_errors_not_aborts() {
    let a = CachingAllocator::new(MIB);
    assert!(a.allocate(usize::MAX).is_none());
    assert!(a.allocate(usize::MAX / 2).is_none());
    assert!(a.allocate(1 << 50).is_none(), "a petabyte cannot be mapped");
    assert_eq!(a.stats().live_bytes, 0);
}

#[test]
fn concurrent_alloc_and_free_keep_counts_and_contents() {
    let a = Arc::new(CachingAllocator::new(8 * MIB));
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let a = a.clone();
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for i in 0..2000usize {
                    let n = 64 + (i * 37 + t as usize * 101) % 20_000;
                    let b = a.allocate(n).unwrap();
                    assert!(all_zero(&b), "a block was handed out twice or not cleared");
                    fill(&b, t + 1);
                    held.push(b);
                    if held.len() > 8 {
                        let b = held.swap_remove(i % held.len());
                        // Still ours: nobody else wrote into it.
                        // SAFETY: nbytes readable bytes.
                        assert!(unsafe { std::slice::from_raw_parts(b.ptr(), b.nbytes()) }.iter().all(|&x| x == t + 1));
                        a.release(b);
                    }
                }
                for b in held {
                    a.release(b);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = a.stats();
    assert_eq!(s.live_bytes, 0);
    assert_eq!(s.hits + s.misses, 8 * 2000);
    assert!(s.hits > s.misses, "{s:?}");
    assert!(s.cached_bytes <= 8 * MIB);
}

#[test]
fn tensor_storage_from_a_reused_block_is_zero() {
    use crate::tensor::Storage;
    for _ in 0..3 {
        let s = Storage::zeroed(12_345).unwrap();
        // SAFETY: 12 345 writable bytes.
        unsafe { std::ptr::write_bytes(s.ptr(), 0x5A, s.nbytes()) };
    }
    let s = Storage::zeroed(12_345).unwrap();
    // SAFETY: 12 345 readable bytes.
    assert!(unsafe { std::slice::from_raw_parts(s.ptr(), s.nbytes()) }.iter().all(|&x| x == 0));
    assert!(super::stats().hits > 0);
    let t = crate::Tensor::zeros(&[7, 441], ferrite_sdk::DType::F32).unwrap();
    assert!(t.to_f64_vec().iter().all(|&x| x == 0.0));
}
