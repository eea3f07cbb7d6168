//! Size classes: every request is rounded up to a class and blocks are reused only within
//! their class. Up to 512 B the classes are multiples of 64 B (one cache line); above, each
//! power of two is split in four (`2^k · {1, 1.25, 1.5, 1.75}`), so rounding wastes at most 25%
//! and a loop that allocates the same shapes every step finds its blocks again.

/// Smallest class (and alignment granule) in bytes.
pub const MIN_CLASS: usize = 64;

/// The class `nbytes` (> 0) rounds up to, or `None` when that would overflow.
pub fn class_of(nbytes: usize) -> Option<usize> {
    if nbytes <= 8 * MIN_CLASS {
        return nbytes.max(1).checked_next_multiple_of(MIN_CLASS);
    }
    // 2^k ≤ nbytes - 1 < 2^(k+1); step = 2^(k-2).
    let k = usize::BITS - 1 - (nbytes - 1).leading_zeros();
    let step = 1usize << (k - 2);
    nbytes.checked_next_multiple_of(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_the_request_and_waste_at_most_a_quarter() {
        for n in (1..5000).chain([1 << 20, (1 << 20) + 1, 3 << 20, 1 << 30, (1 << 30) + 12345]) {
            let c = class_of(n).unwrap();
            assert!(c >= n, "{n} -> {c}");
            assert_eq!(c % MIN_CLASS, 0, "{n} -> {c}");
            assert!(c <= n.max(MIN_CLASS) + n / 4 + MIN_CLASS, "{n} -> {c}");
            assert_eq!(class_of(c), Some(c), "a class is its own class");
        }
        assert_eq!(class_of(1), Some(64));
        assert_eq!(class_of(513), Some(640));
        assert_eq!(class_of(usize::MAX), None);
    }
}
