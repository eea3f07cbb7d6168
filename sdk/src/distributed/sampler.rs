//! `torch.utils.data.DistributedSampler`: each rank gets a disjoint, equally long slice of a
//! (per-epoch shuffled) index list.

use crate::rng::Rng;

/// Shards `0..len` across `world_size` ranks without overlap (PyTorch's `DistributedSampler`
/// with `drop_last=True`: the tail that does not divide evenly is dropped, so every rank runs
/// the same number of steps — a rank with more steps would wait forever in a collective).
///
/// Rank `r` takes positions `r, r + world, r + 2·world, ...` of the epoch's order, so with the
/// same seed the union over ranks of the first `k` samples of each rank is exactly the first
/// `k·world` samples of one process's order.
///
/// # Examples
///
/// ```
/// use ferrite_sdk::distributed::DistributedSampler;
/// let s0 = DistributedSampler::new(10, 2, 0, 7, false).unwrap();
/// let s1 = DistributedSampler::new(10, 2, 1, 7, false).unwrap();
/// assert_eq!(s0.indices(0), vec![0, 2, 4, 6, 8]);
/// assert_eq!(s1.indices(0), vec![1, 3, 5, 7, 9]);
/// ```
#[derive(Debug, Clone)]
pub struct DistributedSampler {
    len: usize,
    world_size: usize,
    rank: usize,
    seed: u64,
    shuffle: bool,
}

impl DistributedSampler {
    /// A sampler over `len` samples for `rank` of `world_size`, shuffled per epoch from `seed`
    /// when `shuffle`.
    ///
    /// # Errors
    /// A message if `world_size` is 0 or `rank >= world_size`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::distributed::DistributedSampler;
    /// assert!(DistributedSampler::new(100, 4, 3, 0, true).is_ok());
    /// assert_eq!(DistributedSampler::new(100, 4, 4, 0, true).unwrap_err(), "DistributedSampler: rank 4 is not in 0..4");
    /// ```
    pub fn new(len: usize, world_size: usize, rank: usize, seed: u64, shuffle: bool) -> Result<DistributedSampler, String> {
        if world_size == 0 || rank >= world_size {
            return Err(format!("DistributedSampler: rank {rank} is not in 0..{world_size}"));
        }
        Ok(DistributedSampler { len, world_size, rank, seed, shuffle })
    }

    /// Samples per rank and epoch (`len / world_size`).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::distributed::DistributedSampler;
    /// // 10 samples over 3 ranks: 3 each, the last sample is dropped (drop_last).
    /// assert_eq!(DistributedSampler::new(10, 3, 0, 0, false).unwrap().num_samples(), 3);
    /// ```
    pub fn num_samples(&self) -> usize {
        self.len / self.world_size
    }

    /// The epoch's order over all ranks (same on every rank).
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::distributed::DistributedSampler;
    /// let s = DistributedSampler::new(10, 3, 0, 42, true).unwrap();
    /// let (e0, e1) = (s.global_order(0), s.global_order(1));
    /// assert_eq!(e0.len(), 9);
    /// assert_ne!(e0, e1, "reshuffled every epoch");
    /// assert_eq!(e0, DistributedSampler::new(10, 3, 2, 42, true).unwrap().global_order(0), "same order on every rank");
    /// ```
    pub fn global_order(&self, epoch: u64) -> Vec<u64> {
        let mut idx: Vec<u64> = (0..self.len as u64).collect();
        if self.shuffle {
            Rng::new(self.seed.wrapping_add(epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15))).shuffle(&mut idx);
        }
        idx.truncate(self.num_samples() * self.world_size);
        idx
    }

    /// This rank's sample indices for `epoch`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ferrite_sdk::distributed::DistributedSampler;
    /// let ranks: Vec<Vec<u64>> = (0..3).map(|r| DistributedSampler::new(10, 3, r, 42, true).unwrap().indices(5)).collect();
    /// let order = DistributedSampler::new(10, 3, 0, 42, true).unwrap().global_order(5);
    /// assert_eq!(ranks[1], vec![order[1], order[4], order[7]]); // positions r, r + world, ...
    /// ```
    pub fn indices(&self, epoch: u64) -> Vec<u64> {
        self.global_order(epoch).into_iter().skip(self.rank).step_by(self.world_size).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_disjoint_and_cover_the_kept_samples() {
        for world in 1..5 {
            let mut all: Vec<u64> = (0..world).flat_map(|r| DistributedSampler::new(23, world, r, 3, true).unwrap().indices(2)).collect();
            all.sort();
            let mut want = DistributedSampler::new(23, world, 0, 3, true).unwrap().global_order(2);
            want.sort();
            assert_eq!(all, want);
            assert_eq!(want.len(), 23 / world * world);
        }
    }

    #[test]
    fn epochs_differ_and_bad_rank_is_refused() {
        let s = DistributedSampler::new(50, 2, 1, 9, true).unwrap();
        assert_ne!(s.indices(0), s.indices(1));
        assert!(DistributedSampler::new(5, 2, 2, 0, true).unwrap_err().contains("rank 2"));
    }
}
