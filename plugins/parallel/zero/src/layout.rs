//! The flat parameter layout ZeRO shards: every parameter's elements, in registration order,
//! concatenated into one vector of `total` elements, padded to `world × shard` so each rank
//! owns one contiguous `shard`-long range (ZeRO §5: "partition ... into N_d equal partitions").

use serde::{Deserialize, Serialize};

/// Where each parameter lies in the flat vector, and the shard geometry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlatLayout {
    /// Dotted names, registration order.
    pub names: Vec<String>,
    /// Shapes.
    pub shapes: Vec<Vec<usize>>,
    /// First flat element of each parameter.
    pub offsets: Vec<usize>,
    /// Elements of all parameters.
    pub total: usize,
    /// Number of ranks.
    pub world_size: usize,
    /// Elements per rank (`ceil(total / world_size)`).
    pub shard: usize,
}

impl FlatLayout {
    /// Lays out `(name, shape)` pairs for `world_size` ranks.
    pub fn new(params: &[(String, Vec<usize>)], world_size: usize) -> FlatLayout {
        let mut offsets = Vec::with_capacity(params.len());
        let mut total = 0;
        for (_, s) in params {
            offsets.push(total);
            total += s.iter().product::<usize>();
        }
        let shard = total.div_ceil(world_size.max(1));
        FlatLayout {
            names: params.iter().map(|(n, _)| n.clone()).collect(),
            shapes: params.iter().map(|(_, s)| s.clone()).collect(),
            offsets,
            total,
            world_size,
            shard,
        }
    }

    /// Padded length (`world_size × shard`).
    pub fn padded(&self) -> usize {
        self.world_size * self.shard
    }

    /// Flat range `[start, end)` of rank `r`'s shard.
    pub fn shard_range(&self, r: usize) -> (usize, usize) {
        (r * self.shard, (r + 1) * self.shard)
    }

    /// Elements of parameter `i`.
    pub fn numel(&self, i: usize) -> usize {
        self.shapes[i].iter().product()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_padding_and_shards() {
        let l = FlatLayout::new(&[("a".into(), vec![2, 3]), ("b".into(), vec![5])], 4);
        assert_eq!((l.offsets.clone(), l.total, l.shard, l.padded()), (vec![0, 6], 11, 3, 12));
        assert_eq!(l.shard_range(3), (9, 12));
        let one = FlatLayout::new(&[("a".into(), vec![7])], 1);
        assert_eq!((one.shard, one.padded()), (7, 7));
    }
}
