//! The per-rank batch plan of an epoch: each input size's train split sharded by a
//! [`DistributedSampler`], cut into batches, sizes interleaved as in single-process training;
//! then grouped into optimizer steps of `grad_accumulation` micro-batches.

use ferrite_sdk::distributed::DistributedSampler;

/// Interleaved micro-batches of one epoch for one rank: `(size index, sample indices)`. Every
/// rank gets the same number of batches of each size in the same order (the collectives of
/// every step must line up).
pub fn rank_plan(samplers: &[DistributedSampler], epoch: u64, batch_size: usize) -> Vec<(usize, Vec<u64>)> {
    interleave(samplers.iter().map(|s| s.indices(epoch).chunks(batch_size).map(|c| c.to_vec()).collect()).collect())
}

/// Round-robin over input sizes (SPP-net's multi-size training: one batch of each size in
/// turn) until every size's batches are used: `(size index, batch)`.
pub fn interleave(per_size: Vec<Vec<Vec<u64>>>) -> Vec<(usize, Vec<u64>)> {
    let mut iters: Vec<std::vec::IntoIter<Vec<u64>>> = per_size.into_iter().map(Vec::into_iter).collect();
    let mut plan = Vec::new();
    loop {
        let before = plan.len();
        for (i, it) in iters.iter_mut().enumerate() {
            if let Some(b) = it.next() {
                plan.push((i, b));
            }
        }
        if plan.len() == before {
            return plan;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_get_disjoint_equal_plans() {
        let mk = |r| vec![DistributedSampler::new(20, 2, r, 1, true).unwrap(), DistributedSampler::new(9, 2, r, 2, true).unwrap()];
        let (p0, p1) = (rank_plan(&mk(0), 3, 4), rank_plan(&mk(1), 3, 4));
        assert_eq!(p0.iter().map(|(d, b)| (*d, b.len())).collect::<Vec<_>>(), p1.iter().map(|(d, b)| (*d, b.len())).collect::<Vec<_>>());
        // 10 samples of size 0 per rank → 4 + 4 + 2; 4 of size 1 → one batch of 4.
        assert_eq!(p0.iter().map(|(d, b)| (*d, b.len())).collect::<Vec<_>>(), vec![(0, 4), (1, 4), (0, 4), (0, 2)]);
        for d in 0..2 {
            let a: Vec<u64> = p0.iter().filter(|(i, _)| *i == d).flat_map(|(_, b)| b.clone()).collect();
            let b: Vec<u64> = p1.iter().filter(|(i, _)| *i == d).flat_map(|(_, b)| b.clone()).collect();
            assert!(a.iter().all(|x| !b.contains(x)));
        }
    }
}
