//! Assigning parameters to gradient buckets (PyTorch's `compute_bucket_assignment_by_size`):
//! parameters in reverse registration order — roughly the order backward produces their
//! gradients — filled into buckets of at most `cap` bytes, one dtype per bucket.

use ferrite_sdk::DType;

/// Where one parameter's gradient lives: bucket index and element offset inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Bucket index.
    pub bucket: usize,
    /// First element in the bucket's flat buffer.
    pub offset: usize,
}

/// The layout: one [`Slot`] per parameter and each bucket's (dtype, element count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Per parameter (registration order).
    pub slots: Vec<Slot>,
    /// Per bucket: dtype and number of elements.
    pub buckets: Vec<(DType, usize)>,
}

/// Lays out parameters given as `(numel, dtype)` in registration order; a parameter larger
/// than `cap_bytes` gets a bucket of its own.
pub fn assign(params: &[(usize, DType)], cap_bytes: usize) -> Layout {
    let mut slots = vec![Slot { bucket: 0, offset: 0 }; params.len()];
    let mut buckets: Vec<(DType, usize)> = Vec::new();
    for i in (0..params.len()).rev() {
        let (n, dt) = params[i];
        let fits = buckets.last().is_some_and(|&(bdt, bn)| bdt == dt && bn > 0 && (bn + n) * dt.size() <= cap_bytes);
        if !fits {
            buckets.push((dt, 0));
        }
        let b = buckets.len() - 1;
        slots[i] = Slot { bucket: b, offset: buckets[b].1 };
        buckets[b].1 += n;
    }
    Layout { slots, buckets }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_order_cap_and_dtype_split() {
        let f = DType::F32;
        // 4 params of 10 f32 (40 bytes); cap 80 bytes → two per bucket, last params first.
        let l = assign(&[(10, f), (10, f), (10, f), (10, f)], 80);
        assert_eq!(l.buckets, vec![(f, 20), (f, 20)]);
        assert_eq!(l.slots[3], Slot { bucket: 0, offset: 0 });
        assert_eq!(l.slots[2], Slot { bucket: 0, offset: 10 });
        assert_eq!(l.slots[0], Slot { bucket: 1, offset: 10 });
        // An oversized parameter gets its own bucket; a dtype change starts a new one.
        let l = assign(&[(5, f), (100, f), (5, DType::F64)], 80);
        assert_eq!(l.buckets, vec![(DType::F64, 5), (f, 100), (f, 5)]);
        // Everything in one bucket when the cap is large.
        assert_eq!(assign(&[(3, f), (4, f)], 1 << 20).buckets, vec![(f, 7)]);
    }
}
