//! Strategies of the data-movement ops: `cat`, `stack`, `index_select`, `gather`, `embedding`,
//! `dropout`.

use crate::case::{Case, Input};
use crate::gen::{layout, numel, pick_dim, scale, shape, shape_nonzero, Opts, Rng};
use ferrite_sdk::kernel::Attr;
use proptest::prelude::*;

/// `cat` of 1..=3 tensors differing along `dim`.
pub fn cat(o: &Opts) -> BoxedStrategy<Case> {
    (shape_nonzero(o, 1, 3), 1usize..=3, prop::collection::vec(layout(o), 3), scale(o, 1e3), any::<u64>(), any::<bool>())
        .prop_map(|(base, count, lays, k, seed, tr)| {
            let mut r = Rng::new(seed);
            let dim = pick_dim(&mut r, base.len());
            let d = dim.rem_euclid(base.len() as isize) as usize;
            let ins = (0..count)
                .map(|i| {
                    let mut s = base.clone();
                    s[d] = 1 + r.below(3);
                    Some(Input::float(r.vals(numel(&s), -2.0, 2.0).into_iter().map(|v| v * k).collect(), &s, lays[i]))
                })
                .collect();
            Case::new("ferrite::cat", ins, vec![Attr::Int(dim as i64)], 1).grads(seed, tr)
        })
        .boxed()
}

/// `stack` of 1..=3 equal-shaped tensors along a new `dim`.
pub fn stack(o: &Opts) -> BoxedStrategy<Case> {
    (shape(o, 0, 3), 1usize..=3, prop::collection::vec(layout(o), 3), scale(o, 1e3), any::<u64>(), any::<bool>())
        .prop_map(|(s, count, lays, k, seed, tr)| {
            let mut r = Rng::new(seed);
            let dim = pick_dim(&mut r, s.len() + 1);
            let ins = (0..count)
                .map(|i| Some(Input::float(r.vals(numel(&s), -2.0, 2.0).into_iter().map(|v| v * k).collect(), &s, lays[i])))
                .collect();
            Case::new("ferrite::stack", ins, vec![Attr::Int(dim as i64)], 1).grads(seed, tr)
        })
        .boxed()
}

/// `index_select` along one dim with repeated indices (the backward must accumulate).
pub fn index_select(o: &Opts) -> BoxedStrategy<Case> {
    (shape_nonzero(o, 1, 3), layout(o), layout(o), 1usize..=5, any::<u64>(), any::<bool>())
        .prop_map(|(s, lay, li, len, seed, tr)| {
            let mut r = Rng::new(seed);
            let dim = pick_dim(&mut r, s.len());
            let size = s[dim.rem_euclid(s.len() as isize) as usize];
            let idx: Vec<i64> = (0..len).map(|_| r.below(size) as i64).collect();
            let x = r.vals(numel(&s), -2.0, 2.0);
            let ins = vec![Some(Input::float(x, &s, lay)), Some(Input::i64(&idx, &[len], li))];
            Case::new("ferrite::index_select", ins, vec![Attr::Int(dim as i64)], 1).grads(seed, tr)
        })
        .boxed()
}

/// `gather` along one dim with an index of the input's rank.
pub fn gather(o: &Opts) -> BoxedStrategy<Case> {
    (shape_nonzero(o, 1, 3), layout(o), layout(o), any::<u64>(), any::<bool>())
        .prop_map(|(s, lay, li, seed, tr)| {
            let mut r = Rng::new(seed);
            let dim = pick_dim(&mut r, s.len());
            let d = dim.rem_euclid(s.len() as isize) as usize;
            let is: Vec<usize> = s.iter().enumerate().map(|(k, &n)| if k == d { 1 + r.below(4) } else { 1 + r.below(n) }).collect();
            let idx: Vec<i64> = (0..numel(&is)).map(|_| r.below(s[d]) as i64).collect();
            let x = r.vals(numel(&s), -2.0, 2.0);
            let ins = vec![Some(Input::float(x, &s, lay)), Some(Input::i64(&idx, &is, li))];
            Case::new("ferrite::gather", ins, vec![Attr::Int(dim as i64)], 1).grads(seed, tr)
        })
        .boxed()
}

/// `embedding` of an index tensor of any shape into `[V, D]`, sometimes with a padding row
/// (whose gradient is 0 by definition: frozen).
pub fn embedding(o: &Opts) -> BoxedStrategy<Case> {
    ((1usize..=5, 1usize..=4), shape(o, 0, 2), layout(o), layout(o), any::<bool>(), any::<u64>(), any::<bool>())
        .prop_map(|((v, d), is, lay, li, pad, seed, tr)| {
            let mut r = Rng::new(seed);
            let idx: Vec<i64> = (0..numel(&is)).map(|_| r.below(v) as i64).collect();
            let padding_idx = pad.then(|| r.below(v));
            let w = r.vals(v * d, -2.0, 2.0);
            let ins = vec![Some(Input::i64(&idx, &is, li)), Some(Input::float(w, &[v, d], lay))];
            let mut c = Case::new("ferrite::embedding", ins, vec![Attr::Int(padding_idx.map_or(-1, |p| p as i64))], 1).grads(seed, tr);
            if let Some(p) = padding_idx {
                c.frozen = (p * d..(p + 1) * d).map(|j| (1, j)).collect();
            }
            c
        })
        .boxed()
}

/// `dropout` with an explicit seed attribute (the same mask for every evaluation).
pub fn dropout(o: &Opts) -> BoxedStrategy<Case> {
    (shape(o, 1, 3), layout(o), 0usize..3, any::<bool>(), any::<u64>(), any::<bool>())
        .prop_map(|(s, lay, pi, training, seed, tr)| {
            let mut r = Rng::new(seed);
            let p = [0.2, 0.5, 0.8][pi];
            let x = r.vals(numel(&s), -2.0, 2.0);
            let attrs = vec![Attr::Float(p), Attr::Bool(training || seed % 4 != 0), Attr::Int((seed >> 2) as i64)];
            Case::new("ferrite::dropout", vec![Some(Input::float(x, &s, lay))], attrs, 2).grads(seed, tr)
        })
        .boxed()
}
