//! Strategies of the elementwise ops: unary math, broadcasting arithmetic, comparisons, `where`.

use crate::case::{Case, Input};
use crate::gen::{bshape, layout, numel, scale, shape, Opts, Rng};
use ferrite_sdk::kernel::Attr;
use proptest::prelude::*;

/// Value domain of a unary op's input.
#[derive(Clone, Copy)]
enum Dom {
    /// `[-2, 2)`.
    Any,
    /// `[-3, 3)`.
    Wide,
    /// `[0.2, 3)` (log, sqrt).
    Pos,
    /// Distinct magnitudes away from 0 (abs, relu: no kinks).
    Kinked,
}

fn unary_vals(r: &mut Rng, dom: Dom, n: usize) -> Vec<f64> {
    match dom {
        Dom::Any => r.vals(n, -2.0, 2.0),
        Dom::Wide => r.vals(n, -3.0, 3.0),
        Dom::Pos => r.vals(n, 0.2, 3.0),
        Dom::Kinked => r.distinct_nonzero(n),
    }
}

/// Unary ops: `(op, domain, largest safe magnitude scale)`.
fn unary_spec(op: &str) -> Option<(Dom, f64)> {
    Some(match op {
        "ferrite::neg" => (Dom::Any, 1e3),
        "ferrite::exp" => (Dom::Any, 4.0),
        "ferrite::log" | "ferrite::sqrt" => (Dom::Pos, 1e3),
        "ferrite::abs" | "ferrite::relu" => (Dom::Kinked, 1e3),
        "ferrite::tanh" | "ferrite::sigmoid" => (Dom::Wide, 1e2),
        "ferrite::gelu" => (Dom::Wide, 1e2),
        _ => return None,
    })
}

/// A unary op's strategy, if `op` is one.
pub fn unary(op: &'static str, o: &Opts) -> Option<BoxedStrategy<Case>> {
    let (dom, big) = unary_spec(op)?;
    Some(
        (shape(o, 0, 4), layout(o), any::<bool>(), scale(o, big), any::<u64>(), any::<bool>())
            .prop_map(move |(s, lay, tanh_approx, k, seed, tr)| {
                let mut r = Rng::new(seed);
                let x: Vec<f64> = unary_vals(&mut r, dom, numel(&s)).into_iter().map(|v| v * k).collect();
                let attrs = if op == "ferrite::gelu" { vec![Attr::from(if tanh_approx { "tanh" } else { "none" })] } else { vec![] };
                Case::new(op, vec![Some(Input::float(x, &s, lay))], attrs, 1).grads(seed, tr)
            })
            .boxed(),
    )
}

/// Broadcasting arithmetic (`add`, `sub`, `mul`, `div`, `pow`), if `op` is one.
pub fn arith(op: &'static str, o: &Opts) -> Option<BoxedStrategy<Case>> {
    let big = match op {
        "ferrite::add" | "ferrite::sub" => 1e3,
        "ferrite::mul" | "ferrite::div" => 1e2,
        "ferrite::pow" => 1.0,
        _ => return None,
    };
    Some(
        (shape(o, 0, 4), layout(o), layout(o), scale(o, big), any::<u64>(), any::<bool>())
            .prop_map(move |(full, la, lb, k, seed, tr)| {
                let mut r = Rng::new(seed);
                let (sa, sb) = (bshape(&mut r, &full), bshape(&mut r, &full));
                let (a, b) = match op {
                    "ferrite::div" => (r.vals(numel(&sa), -2.0, 2.0), r.signed(numel(&sb), 0.5, 2.0)),
                    "ferrite::pow" => (r.vals(numel(&sa), 0.4, 2.0), r.vals(numel(&sb), -2.0, 2.5)),
                    _ => (r.vals(numel(&sa), -2.0, 2.0), r.vals(numel(&sb), -2.0, 2.0)),
                };
                let a = a.into_iter().map(|v| v * k).collect();
                let b = if op == "ferrite::div" { b } else { b.into_iter().map(|v| v * k).collect() };
                Case::new(op, vec![Some(Input::float(a, &sa, la)), Some(Input::float(b, &sb, lb))], vec![], 1).grads(seed, tr)
            })
            .boxed(),
    )
}

/// Comparisons (`eq`, `ne`, `lt`, `le`, `gt`, `ge`), if `op` is one: small integers, so ties
/// occur and every dtype (including the int kernels) holds the values exactly.
pub fn compare(op: &'static str, o: &Opts) -> Option<BoxedStrategy<Case>> {
    if !matches!(op, "ferrite::eq" | "ferrite::ne" | "ferrite::lt" | "ferrite::le" | "ferrite::gt" | "ferrite::ge") {
        return None;
    }
    Some(
        (shape(o, 0, 4), layout(o), layout(o), scale(o, 1e3), any::<u64>())
            .prop_map(move |(full, la, lb, k, seed)| {
                let mut r = Rng::new(seed);
                let (sa, sb) = (bshape(&mut r, &full), bshape(&mut r, &full));
                let a = r.ints(numel(&sa), -2, 2).into_iter().map(|v| v * k).collect();
                let b = r.ints(numel(&sb), -2, 2).into_iter().map(|v| v * k).collect();
                let mut ia = Input::float(a, &sa, la);
                let mut ib = Input::float(b, &sb, lb);
                ia.grad = false;
                ib.grad = false;
                Case::new(op, vec![Some(ia), Some(ib)], vec![], 1)
            })
            .boxed(),
    )
}

/// Bool values with the given shape.
pub fn bools(r: &mut Rng, shape: &[usize]) -> Vec<bool> {
    (0..numel(shape)).map(|_| r.coin()).collect()
}

/// `where(condition, input, other)` with all three broadcast.
pub fn where_(o: &Opts) -> BoxedStrategy<Case> {
    (shape(o, 0, 4), layout(o), layout(o), layout(o), scale(o, 1e3), any::<u64>(), any::<bool>())
        .prop_map(|(full, lc, la, lb, k, seed, tr)| {
            let mut r = Rng::new(seed);
            let sc = bshape(&mut r, &full);
            let c = bools(&mut r, &sc);
            let (sa, sb) = (bshape(&mut r, &full), bshape(&mut r, &full));
            let a = r.vals(numel(&sa), -2.0, 2.0).into_iter().map(|v| v * k).collect();
            let b = r.vals(numel(&sb), -2.0, 2.0).into_iter().map(|v| v * k).collect();
            Case::new(
                "ferrite::where",
                vec![Some(Input::bool(&c, &sc, lc)), Some(Input::float(a, &sa, la)), Some(Input::float(b, &sb, lb))],
                vec![],
                1,
            )
            .grads(seed, tr)
        })
        .boxed()
}
