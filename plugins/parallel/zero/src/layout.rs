//! How ZeRO shards the parameters: grouped by module, each group partitioned evenly.
//!
//! Parameters are grouped by their module (the dotted name without its last part:
//! `features.0.weight` and `features.0.bias` form group `features.0`), so ZeRO-3 can gather one
//! module at a time and ZeRO-2/3 can reduce-scatter one module's gradients as soon as they are
//! complete. A group's parameters are concatenated (registration order) into `numel` elements,
//! padded to `world_size × piece`, and rank `r` owns elements `[r·piece, (r+1)·piece)` of it
//! (ZeRO §5: "partition ... into N_d equal partitions", applied per module as DeepSpeed and
//! FSDP do). A rank's master shard is its pieces of every group, in group order.

use serde::{Deserialize, Serialize};

/// One module's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Module name (`""` for parameters at the root).
    pub name: String,
    /// Indices of its parameters (registration order).
    pub params: Vec<usize>,
    /// Elements of all its parameters.
    pub numel: usize,
    /// Elements per rank (`ceil(numel / world_size)`).
    pub piece: usize,
    /// Where this group's piece starts in a rank's master shard.
    pub shard_offset: usize,
}

impl Group {
    /// Padded length (`world_size × piece`): the all-gather output and reduce-scatter input.
    pub fn padded(&self, world_size: usize) -> usize {
        self.piece * world_size
    }
}

/// Where each parameter lies, and the shard geometry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Dotted names, registration order.
    pub names: Vec<String>,
    /// Shapes.
    pub shapes: Vec<Vec<usize>>,
    /// Group of each parameter.
    pub group_of: Vec<usize>,
    /// First element of each parameter inside its group's flat vector.
    pub offsets: Vec<usize>,
    /// The groups, in order of first appearance.
    pub groups: Vec<Group>,
    /// Elements of all parameters.
    pub total: usize,
    /// Number of ranks.
    pub world_size: usize,
    /// Elements of one rank's master shard (the sum of the pieces).
    pub shard: usize,
}

/// The module a parameter belongs to: its name without the last dotted part.
pub fn module_of(name: &str) -> &str {
    name.rsplit_once('.').map_or("", |(m, _)| m)
}

impl Layout {
    /// Lays out `(name, shape)` pairs (registration order) for `world_size` ranks.
    pub fn new(params: &[(String, Vec<usize>)], world_size: usize) -> Layout {
        let world_size = world_size.max(1);
        let mut groups: Vec<Group> = Vec::new();
        let mut group_of = Vec::with_capacity(params.len());
        let mut offsets = Vec::with_capacity(params.len());
        for (i, (name, shape)) in params.iter().enumerate() {
            let m = module_of(name);
            let g = match groups.iter().position(|g| g.name == m) {
                Some(g) => g,
                None => {
                    groups.push(Group { name: m.to_string(), params: Vec::new(), numel: 0, piece: 0, shard_offset: 0 });
                    groups.len() - 1
                }
            };
            group_of.push(g);
            offsets.push(groups[g].numel);
            groups[g].params.push(i);
            groups[g].numel += shape.iter().product::<usize>();
        }
        let mut shard = 0;
        for g in &mut groups {
            g.piece = g.numel.div_ceil(world_size);
            g.shard_offset = shard;
            shard += g.piece;
        }
        Layout {
            names: params.iter().map(|(n, _)| n.clone()).collect(),
            shapes: params.iter().map(|(_, s)| s.clone()).collect(),
            group_of,
            offsets,
            total: groups.iter().map(|g| g.numel).sum(),
            world_size,
            shard,
            groups,
        }
    }

    /// Elements of parameter `i`.
    pub fn numel(&self, i: usize) -> usize {
        self.shapes[i].iter().product()
    }

    /// Range `[start, end)` of group `g`'s piece in a master shard.
    pub fn piece_range(&self, g: usize) -> (usize, usize) {
        let gr = &self.groups[g];
        (gr.shard_offset, gr.shard_offset + gr.piece)
    }

    /// Range `[start, end)` of parameter `i` in its group's flat vector.
    pub fn param_range(&self, i: usize) -> (usize, usize) {
        (self.offsets[i], self.offsets[i] + self.numel(i))
    }

    /// Range of rank `r`'s piece inside group `g`'s padded flat vector.
    pub fn rank_range(&self, g: usize, r: usize) -> (usize, usize) {
        let p = self.groups[g].piece;
        (r * p, (r + 1) * p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(world: usize) -> Layout {
        Layout::new(
            &[
                ("fc1.weight".into(), vec![2, 3]),
                ("fc1.bias".into(), vec![2]),
                ("fc2.weight".into(), vec![5]),
                ("scale".into(), vec![1]),
            ],
            world,
        )
    }

    #[test]
    fn groups_follow_modules_and_pad_per_group() {
        let l = l(4);
        assert_eq!(l.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["fc1", "fc2", ""]);
        assert_eq!(l.group_of, [0, 0, 1, 2]);
        assert_eq!(l.offsets, [0, 6, 0, 0]);
        assert_eq!(l.groups.iter().map(|g| (g.numel, g.piece, g.shard_offset)).collect::<Vec<_>>(), [(8, 2, 0), (5, 2, 2), (1, 1, 4)]);
        assert_eq!((l.total, l.shard), (14, 5));
        assert_eq!(l.piece_range(1), (2, 4));
        assert_eq!(l.param_range(1), (6, 8));
        assert_eq!(l.rank_range(1, 3), (6, 8));
        assert_eq!(l.groups[1].padded(4), 8);
    }

    #[test]
    fn one_rank_holds_everything_unpadded() {
        let l = l(1);
        assert_eq!(l.shard, l.total);
        assert!(l.groups.iter().all(|g| g.piece == g.numel));
    }

    #[test]
    fn module_names() {
        assert_eq!(module_of("a.b.weight"), "a.b");
        assert_eq!(module_of("weight"), "");
    }
}
