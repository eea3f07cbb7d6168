//! Strategies of reductions, softmax-like ops and losses.

use crate::case::{Case, Input};
use crate::gen::{class_targets, layout, numel, pick_dim, reduce_dims, scale, shape, shape_nonzero, Opts, Rng, REDUCTIONS};
use ferrite_sdk::kernel::Attr;
use proptest::prelude::*;

fn dims_attr(d: &[isize]) -> Attr {
    Attr::Ints(d.iter().map(|&v| v as i64).collect())
}

/// `sum`, `mean`, `logsumexp` over a dim subset, with keepdim. `logsumexp` gets `-inf` entries
/// (sometimes a whole slice) when `opts.extremes`, and a large common offset.
pub fn sum_like(op: &'static str, o: &Opts) -> BoxedStrategy<Case> {
    let lse = op == "ferrite::logsumexp";
    let inf = o.extremes && lse;
    let s = if op == "ferrite::mean" { shape_nonzero(o, 0, 4) } else { shape(o, 0, 4) };
    (s, layout(o), prop::collection::vec(any::<bool>(), 4), any::<bool>(), scale(o, 1e2), any::<bool>(), any::<u64>(), any::<bool>())
        .prop_map(move |(s, lay, mask, keep, k, neg_inf, seed, tr)| {
            let mut r = Rng::new(seed);
            let dims = reduce_dims(&mut r, &s, &mask);
            let mut x: Vec<f64> = r.vals(numel(&s), if lse { -3.0 } else { -2.0 }, if lse { 3.0 } else { 2.0 });
            if lse {
                // Shift invariance: a large offset overflows exp unless the max is subtracted.
                let off = if k > 1.0 { 1e3 } else { 0.0 };
                x.iter_mut().for_each(|v| *v += off);
            } else {
                x.iter_mut().for_each(|v| *v *= k);
            }
            if inf && neg_inf {
                for v in x.iter_mut() {
                    if r.below(3) == 0 {
                        *v = f64::NEG_INFINITY;
                    }
                }
            }
            Case::new(op, vec![Some(Input::float(x, &s, lay))], vec![dims_attr(&dims), Attr::Bool(keep)], 1).grads(seed, tr)
        })
        .boxed()
}

/// `max`, `min` (values + indices) and `argmax` along one dim, distinct values.
pub fn max_like(op: &'static str, o: &Opts) -> BoxedStrategy<Case> {
    let n_out = if op == "ferrite::argmax" { 1 } else { 2 };
    (shape_nonzero(o, 1, 4), layout(o), any::<bool>(), scale(o, 1e3), any::<u64>(), any::<bool>())
        .prop_map(move |(s, lay, keep, k, seed, tr)| {
            let mut r = Rng::new(seed);
            let dim = pick_dim(&mut r, s.len());
            let x = r.distinct(numel(&s), -3.0, 3.0).into_iter().map(|v| v * k).collect();
            let mut inp = Input::distinct(x, &s, lay);
            inp.grad = op != "ferrite::argmax";
            Case::new(op, vec![Some(inp)], vec![Attr::Int(dim as i64), Attr::Bool(keep)], n_out).grads(seed, tr)
        })
        .boxed()
}

/// `softmax`, `log_softmax` along one dim (sometimes with a large offset).
pub fn softmax_like(op: &'static str, o: &Opts) -> BoxedStrategy<Case> {
    (shape(o, 1, 4), layout(o), scale(o, 1e3), any::<u64>(), any::<bool>())
        .prop_map(move |(s, lay, k, seed, tr)| {
            let mut r = Rng::new(seed);
            let dim = pick_dim(&mut r, s.len());
            let off = if k > 1.0 { if r.coin() { k } else { -k } } else { 0.0 };
            let x = r.vals(numel(&s), -3.0, 3.0).into_iter().map(|v| v + off).collect();
            Case::new(op, vec![Some(Input::float(x, &s, lay))], vec![Attr::Int(dim as i64)], 1).grads(seed, tr)
        })
        .boxed()
}

/// `cross_entropy` and `nll_loss`: logits/log-probabilities `[N, C]`, targets (some ignored),
/// optional class weights, label smoothing, every reduction.
pub fn class_loss(op: &'static str, o: &Opts) -> BoxedStrategy<Case> {
    let ce = op == "ferrite::cross_entropy";
    let m = o.max_dim.min(5);
    ((1usize..=m, 1usize..=m), layout(o), layout(o), any::<bool>(), 0usize..3, 0usize..3, 0usize..3, any::<u64>())
        .prop_map(move |((n, c), lay, lt, weighted, ign, ls, red, seed)| {
            let mut r = Rng::new(seed);
            let (target, ignore_index) = class_targets(&mut r, n, c, ign);
            let weight = weighted.then(|| Input::constant(r.vals(c, 0.5, 2.0), &[c], crate::gen::Layout::Contig));
            let x = if ce { r.vals(n * c, -2.0, 2.0) } else { r.vals(n * c, -3.0, 0.0) };
            let inputs = vec![Some(Input::float(x, &[n, c], lay)), Some(Input::i64(&target, &[n], lt)), weight];
            let mut attrs = vec![Attr::Int(ignore_index)];
            if ce {
                attrs.push(Attr::Float([0.0, 0.1, 0.35][ls]));
            }
            attrs.push(Attr::from(REDUCTIONS[red]));
            Case::new(op, inputs, attrs, 1).grads(seed, false)
        })
        .boxed()
}

/// `mse_loss` with every reduction.
pub fn mse_loss(o: &Opts) -> BoxedStrategy<Case> {
    (shape(o, 0, 4), layout(o), layout(o), 0usize..3, any::<u64>(), any::<bool>())
        .prop_map(|(s, la, lb, red, seed, tr)| {
            let mut r = Rng::new(seed);
            let (a, b) = (r.vals(numel(&s), -2.0, 2.0), r.vals(numel(&s), -2.0, 2.0));
            let inputs = vec![Some(Input::float(a, &s, la)), Some(Input::float(b, &s, lb))];
            Case::new("ferrite::mse_loss", inputs, vec![Attr::from(REDUCTIONS[red])], 1).grads(seed, tr)
        })
        .boxed()
}
